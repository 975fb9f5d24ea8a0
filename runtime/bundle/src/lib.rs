//! Bundles: a revision's tree as content-defined chunks named by their blake3 digest, plus a
//! manifest whose digest is the revision id. Stores hold them (a directory, davit's HTTP store,
//! an S3 bucket); a host pulls only the chunks its cache lacks and checks every byte.
//!
//! ```text
//! push:  tree ──chunker──▶ chunks ──(store lacks?)──▶ store      manifest ──▶ store
//! pull:  store ──manifest (digest = id?)──▶ missing chunks ──(digest = name?)──▶ cache ──▶ tree
//! ```

mod cache;
mod chunker;
mod digest;
mod manifest;
mod pull;
mod push;
mod release;
pub mod serve;
pub mod sign;
mod store;

use std::path::{Path, PathBuf};

pub use cache::{ChunkCache, GcReport};
pub use chunker::{Chunk, Chunking, chunks};
pub use digest::{BadDigest, Digest};
pub use manifest::{
    ChunkRef, Entry, EntryProblem, Limits, MAX_CHUNK, MAX_PATH, Manifest, ManifestError,
    SCHEMA_VERSION, link_stays_inside,
};
pub use pull::{Fetched, PullReport, fetch, materialize};
pub use push::{PushReport, push};
pub use release::{Created, Release};
pub use store::{RefWrite, Store, StoreError, chunk_key};

/// Downloads at once by default.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Why a push or pull failed.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The manifest or the tree.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A chunk whose bytes do not hash to its name.
    #[error("chunk {digest} is corrupt: its {size} bytes hash to {actual}")]
    ChunkMismatch {
        /// The name.
        digest: Digest,
        /// What the bytes hash to.
        actual: Digest,
        /// How many bytes arrived.
        size: u64,
    },
    /// Local I/O.
    #[error("{action} `{}`", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl BundleError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        BundleError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Progress of a long transfer, in bytes; the CLI draws a bar.
pub trait Progress: Send + Sync {
    /// The bytes the transfer will move, when known.
    fn start(&self, _total: u64) {}
    /// Bytes done since the last call.
    fn advance(&self, _bytes: u64) {}
}

/// No progress to show.
#[derive(Debug, Default)]
pub struct Quiet;

impl Progress for Quiet {}

/// Pulls revision `id` from `store` into `dest` (which must not exist) through `cache`: the
/// manifest is checked against the id, only missing chunks are downloaded, and every chunk is
/// checked against its name before use.
///
/// # Errors
///
/// As [`fetch`] and [`materialize`].
pub async fn pull(
    id: &Digest,
    store: &Store,
    cache: &ChunkCache,
    dest: &Path,
    progress: &dyn Progress,
) -> Result<PullReport, BundleError> {
    let fetched = fetch(
        id,
        store,
        cache,
        &Limits::default(),
        DEFAULT_CONCURRENCY,
        progress,
    )
    .await?;
    let (cache, dest) = (cache.clone(), dest.to_path_buf());
    let Fetched {
        manifest,
        report,
        verified,
    } = fetched;
    tokio::task::spawn_blocking(move || materialize(&manifest, &cache, &dest, &verified))
        .await
        .expect("materialize task")?;
    Ok(report)
}
