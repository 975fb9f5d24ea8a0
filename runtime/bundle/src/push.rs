//! `push`: a tree becomes chunks and a manifest in a store; what the store has is not sent again.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::chunker::Chunk;
use crate::digest::Digest;
use crate::manifest::Manifest;
use crate::store::{Store, StoreError};
use crate::{BundleError, Progress};

/// What a push did.
#[derive(Clone, Debug, Serialize)]
pub struct PushReport {
    /// The revision id: the manifest's digest.
    pub revision: Digest,
    /// Files in the tree.
    pub files: usize,
    /// Bytes of all files.
    pub total_bytes: u64,
    /// Distinct chunks.
    pub chunks: usize,
    /// Chunks the store did not have, now uploaded.
    pub new_chunks: usize,
    /// Their bytes.
    pub new_bytes: u64,
    /// Whether the manifest was new to the store.
    pub new_manifest: bool,
}

/// Pushes the tree at `dir` to `store`, with at most `concurrency` uploads in flight: about
/// twice that many chunks in memory (in flight and queued), plus the chunker's read-ahead. A
/// tree a bundle cannot hold (a special file, a link leaving it) is refused before anything is
/// sent.
///
/// # Errors
///
/// A tree a bundle cannot hold (see [`Manifest::build`]), or a store failure.
pub async fn push(
    dir: &Path,
    store: &Store,
    concurrency: usize,
    progress: &dyn Progress,
) -> Result<PushReport, BundleError> {
    let (tx, mut rx) = mpsc::channel::<Chunk>(concurrency.max(1));
    let root = dir.to_path_buf();
    let builder = tokio::task::spawn_blocking(move || {
        Manifest::build(&root, |chunk| {
            tx.blocking_send(chunk)
                .map_err(|_| std::io::Error::other("the upload stopped"))
        })
    });

    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut uploads: JoinSet<Result<Option<u64>, StoreError>> = JoinSet::new();
    let mut seen: HashSet<Digest> = HashSet::new();
    let mut tally = Tally::default();
    while let Some(chunk) = rx.recv().await {
        progress.advance(chunk.data.len() as u64);
        if !seen.insert(chunk.digest) {
            continue;
        }
        let permit = permits.clone().acquire_owned().await.expect("never closed");
        let store = store.clone();
        uploads.spawn(async move {
            let _permit = permit;
            if store.has_chunk(&chunk.digest).await? {
                return Ok(None);
            }
            let size = chunk.data.len() as u64;
            store
                .put_chunk(&chunk.digest, Bytes::from(chunk.data))
                .await?;
            Ok(Some(size))
        });
        // Settle finished uploads as we go, so a failure stops the push early.
        while let Some(done) = uploads.try_join_next() {
            tally.settle(done.expect("upload task"));
        }
        if tally.error.is_some() {
            break;
        }
    }
    drop(rx);
    while let Some(done) = uploads.join_next().await {
        tally.settle(done.expect("upload task"));
    }
    if let Some(e) = tally.error {
        return Err(e.into());
    }
    let manifest = builder.await.expect("manifest task")?;
    let bytes = manifest.encode();
    let revision = Digest::of(&bytes);
    let new_manifest = !store.has_manifest(&revision).await?;
    if new_manifest {
        store.put_manifest(&revision, Bytes::from(bytes)).await?;
    }
    Ok(PushReport {
        revision,
        files: manifest.files().count(),
        total_bytes: manifest.total_size(),
        chunks: seen.len(),
        new_chunks: tally.chunks,
        new_bytes: tally.bytes,
        new_manifest,
    })
}

/// Uploads done so far: chunks and bytes sent, and the first failure.
#[derive(Default)]
struct Tally {
    chunks: usize,
    bytes: u64,
    error: Option<StoreError>,
}

impl Tally {
    fn settle(&mut self, upload: Result<Option<u64>, StoreError>) {
        match upload {
            Ok(Some(size)) => {
                self.chunks += 1;
                self.bytes += size;
            }
            Ok(None) => {}
            Err(e) => self.error = self.error.take().or(Some(e)),
        }
    }
}
