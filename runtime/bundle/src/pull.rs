//! `pull`: fetch a revision's manifest, download only the chunks the host's cache lacks (each
//! checked against its name), then build the tree in a fresh directory and rename it into place.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::cache::ChunkCache;
use crate::digest::Digest;
use crate::manifest::{ChunkRef, Entry, Limits, Manifest};
use crate::store::Store;
use crate::{BundleError, Progress};

/// What a pull did.
#[derive(Clone, Debug, Serialize)]
pub struct PullReport {
    /// The revision id.
    pub revision: Digest,
    /// Files in the tree.
    pub files: usize,
    /// Bytes of all files.
    pub total_bytes: u64,
    /// Distinct chunks the tree needs.
    pub chunks: usize,
    /// Chunks downloaded (the rest were cached).
    pub fetched_chunks: usize,
    /// Their bytes.
    pub fetched_bytes: u64,
    /// Whether the manifest came from the cache.
    pub manifest_cached: bool,
}

/// What [`fetch`] brought: the verified manifest, the report, and the chunks it checked (every
/// chunk the tree needs, cached or downloaded).
#[derive(Debug)]
pub struct Fetched {
    /// The manifest, checked against the revision id.
    pub manifest: Manifest,
    /// What was downloaded.
    pub report: PullReport,
    /// Chunks checked against their names in this fetch; [`materialize`] need not hash them
    /// again.
    pub verified: HashSet<Digest>,
}

/// Makes sure every chunk of revision `id` is in `cache`, downloading at most `concurrency` at
/// once, and returns the verified manifest.
///
/// # Errors
///
/// A manifest or chunk that does not hash to its name, a manifest beyond `limits`, a store
/// failure, or a cache that cannot be written. Chunks fetched before the error stay cached, so a
/// second pull resumes.
pub async fn fetch(
    id: &Digest,
    store: &Store,
    cache: &ChunkCache,
    limits: &Limits,
    concurrency: usize,
    progress: &dyn Progress,
) -> Result<Fetched, BundleError> {
    // A cached manifest is used only if it still hashes to the id.
    let cached = cache
        .manifest(id)
        .and_then(|bytes| Manifest::decode(&bytes, id, limits).ok());
    let manifest_cached = cached.is_some();
    let manifest = match cached {
        Some(m) => m,
        None => {
            let bytes = store
                .get_manifest(id, limits.max_manifest_size as u64)
                .await?;
            let manifest = Manifest::decode(&bytes, id, limits)?;
            cache
                .put_manifest(id, &bytes)
                .map_err(|e| BundleError::io("caching the manifest", cache.root(), e))?;
            manifest
        }
    };
    let needed = manifest.unique_chunks();
    // A cached chunk counts only if it still hashes to its name: one torn by a crash or changed
    // on disk is removed and downloaded again, instead of failing every later pull.
    let missing: Vec<ChunkRef> = {
        let cache = cache.clone();
        let needed = needed.clone();
        tokio::task::spawn_blocking(move || {
            needed
                .into_iter()
                .filter(|c| match cache.read_chunk(&c.0) {
                    Ok(data) if verify(c, &data).is_ok() => false,
                    Ok(_) => {
                        let _ = std::fs::remove_file(cache.chunk_path(&c.0));
                        true
                    }
                    Err(_) => true,
                })
                .collect()
        })
        .await
        .expect("cache check task")
    };
    progress.start(missing.iter().map(|c| u64::from(c.1)).sum());
    let fetched_bytes = futures::stream::iter(missing.iter().copied())
        .map(|chunk| fetch_chunk(store, cache, chunk, progress))
        .buffer_unordered(concurrency.max(1))
        .try_fold(0u64, |sum, size| async move { Ok(sum + size) })
        .await?;
    let report = PullReport {
        revision: *id,
        files: manifest.files().count(),
        total_bytes: manifest.total_size(),
        chunks: needed.len(),
        fetched_chunks: missing.len(),
        fetched_bytes,
        manifest_cached,
    };
    Ok(Fetched {
        manifest,
        report,
        verified: needed.iter().map(|c| c.0).collect(),
    })
}

async fn fetch_chunk(
    store: &Store,
    cache: &ChunkCache,
    chunk: ChunkRef,
    progress: &dyn Progress,
) -> Result<u64, BundleError> {
    let data = store.get_chunk(&chunk.0, u64::from(chunk.1)).await?;
    verify(&chunk, &data)?;
    // Written in place (a chunk is at most 1 MiB), not on a blocking thread: when a failed
    // chunk cancels the others, each is then cached whole or not at all, never still in flight.
    let size = data.len() as u64;
    cache
        .put_chunk(&chunk.0, &data)
        .map_err(|e| BundleError::io("caching chunk in", cache.root(), e))?;
    progress.advance(size);
    Ok(size)
}

/// Checks that `data` is the chunk `chunk` names.
fn verify(chunk: &ChunkRef, data: &[u8]) -> Result<(), BundleError> {
    let actual = Digest::of(data);
    if actual != chunk.0 || data.len() as u64 != u64::from(chunk.1) {
        return Err(BundleError::ChunkMismatch {
            digest: chunk.0,
            actual,
            size: data.len() as u64,
        });
    }
    Ok(())
}

/// Builds `manifest`'s tree at `dest`, which must not exist, from chunks in `cache`, each
/// checked against its name before use unless it is in `verified` (checked moments before). The tree is built in a sibling directory and renamed into place,
/// so `dest` appears whole or not at all.
///
/// # Errors
///
/// `dest` exists, a chunk is missing or corrupt, or a write fails. Nothing is left behind.
pub fn materialize(
    manifest: &Manifest,
    cache: &ChunkCache,
    dest: &Path,
    verified: &HashSet<Digest>,
) -> Result<(), BundleError> {
    if dest.exists() {
        return Err(BundleError::io(
            "materializing",
            dest,
            std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        ));
    }
    let parent = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| BundleError::io("creating", parent, e))?;
    let temp = tempfile::Builder::new()
        .prefix(".partial-")
        .tempdir_in(parent)
        .map_err(|e| BundleError::io("creating a staging directory in", parent, e))?;
    fill(manifest, cache, verified, temp.path())?;
    let built = temp.keep();
    std::fs::rename(&built, dest).map_err(|e| {
        let _ = std::fs::remove_dir_all(&built);
        BundleError::io("renaming the tree to", dest, e)
    })
}

fn fill(
    manifest: &Manifest,
    cache: &ChunkCache,
    verified: &HashSet<Digest>,
    root: &Path,
) -> Result<(), BundleError> {
    use std::os::unix::fs::PermissionsExt;

    let mut dirs: Vec<(PathBuf, u32)> = Vec::new();
    let mut files: Vec<(PathBuf, u32, &[ChunkRef])> = Vec::new();
    let mut links: Vec<(PathBuf, &str)> = Vec::new();
    for entry in &manifest.entries {
        let path = root.join(entry.path());
        match entry {
            Entry::Dir { mode, .. } => {
                std::fs::create_dir(&path)
                    .map_err(|e| BundleError::io("creating directory", &path, e))?;
                dirs.push((path, *mode));
            }
            Entry::File { mode, chunks, .. } => files.push((path, *mode, chunks)),
            Entry::Symlink { target, .. } => links.push((path, target)),
        }
    }
    write_files(&files, cache, verified)?;
    // Links after every file, so no write can pass through one; directory modes last, so a
    // read-only directory does not stop its own files being written.
    for (path, target) in links {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| BundleError::io("creating", parent, e))?;
        }
        std::os::unix::fs::symlink(target, &path)
            .map_err(|e| BundleError::io("creating symlink", &path, e))?;
    }
    for (path, mode) in dirs.into_iter().rev() {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| BundleError::io("setting the mode of", &path, e))?;
    }
    Ok(())
}

/// Writes the files from cached chunks (each checked unless `verified`), on up to 4 threads.
fn write_files(
    files: &[(PathBuf, u32, &[ChunkRef])],
    cache: &ChunkCache,
    verified: &HashSet<Digest>,
) -> Result<(), BundleError> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let next = AtomicUsize::new(0);
    let failed: Mutex<Option<BundleError>> = Mutex::new(None);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while failed.lock().expect("error slot").is_none() {
                    let Some((path, mode, chunks)) =
                        files.get(next.fetch_add(1, Ordering::Relaxed))
                    else {
                        return;
                    };
                    if let Err(e) = write_file(path, *mode, chunks, cache, verified) {
                        failed.lock().expect("error slot").get_or_insert(e);
                    }
                }
            });
        }
    });
    match failed.into_inner().expect("error slot") {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn write_file(
    path: &Path,
    mode: u32,
    chunks: &[ChunkRef],
    cache: &ChunkCache,
    verified: &HashSet<Digest>,
) -> Result<(), BundleError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    let io = |action| move |e| BundleError::io(action, path, e);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io("creating the directory of"))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io("creating"))?;
    for chunk in chunks {
        let data = cache
            .read_chunk(&chunk.0)
            .map_err(io("reading a chunk for"))?;
        if !verified.contains(&chunk.0) {
            verify(chunk, &data)?;
        }
        file.write_all(&data).map_err(io("writing"))?;
    }
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io("setting the mode of"))
}
