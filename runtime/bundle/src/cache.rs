//! A host's chunk cache: one file per chunk, shared by every revision that uses it, so a pull
//! downloads only what no cached revision had, and an interrupted pull resumes where it stopped.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::digest::Digest;

/// The cache at a directory: `chunks/<first 2 hex>/<digest>`, `manifests/<id>`.
#[derive(Clone, Debug)]
pub struct ChunkCache {
    root: PathBuf,
}

impl ChunkCache {
    /// The cache in `root` (created when first written).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Its directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a chunk is kept.
    pub fn chunk_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.to_hex();
        self.root.join("chunks").join(&hex[..2]).join(hex)
    }

    /// Where a manifest is kept.
    pub fn manifest_path(&self, id: &Digest) -> PathBuf {
        self.root.join("manifests").join(id.to_hex())
    }

    /// Whether the chunk is cached.
    pub fn has_chunk(&self, digest: &Digest) -> bool {
        self.chunk_path(digest).is_file()
    }

    /// Writes a chunk whose digest the caller checked; atomic, so a crash leaves it whole or
    /// absent.
    ///
    /// # Errors
    ///
    /// When the file cannot be written.
    pub fn put_chunk(&self, digest: &Digest, data: &[u8]) -> io::Result<()> {
        write_atomically(&self.chunk_path(digest), data)
    }

    /// Writes a manifest whose digest the caller checked.
    ///
    /// # Errors
    ///
    /// When the file cannot be written.
    pub fn put_manifest(&self, id: &Digest, data: &[u8]) -> io::Result<()> {
        write_atomically(&self.manifest_path(id), data)
    }

    /// A cached manifest's bytes, if any (unverified).
    pub fn manifest(&self, id: &Digest) -> Option<Vec<u8>> {
        std::fs::read(self.manifest_path(id)).ok()
    }

    /// A cached chunk's bytes, unverified: the caller checks the digest before use.
    ///
    /// # Errors
    ///
    /// When it is not cached or cannot be read.
    pub fn read_chunk(&self, digest: &Digest) -> io::Result<Vec<u8>> {
        std::fs::read(self.chunk_path(digest))
    }
}

/// What a collection removed and kept.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    /// Manifests kept (the revisions asked for that are cached).
    pub kept_manifests: usize,
    /// Chunks kept: those the kept manifests use.
    pub kept_chunks: usize,
    /// Their bytes.
    pub kept_bytes: u64,
    /// Manifests removed.
    pub removed_manifests: usize,
    /// Chunks removed.
    pub removed_chunks: usize,
    /// Their bytes.
    pub removed_bytes: u64,
}

impl ChunkCache {
    /// Removes every manifest but those of `keep`, and every chunk those manifests do not use
    /// (a cached manifest that is corrupt is removed, and its chunks with it). Stray temporary
    /// files of an interrupted write go too.
    ///
    /// # Errors
    ///
    /// When the cache cannot be listed or a file cannot be removed.
    pub fn gc(&self, keep: &std::collections::HashSet<Digest>) -> io::Result<GcReport> {
        use crate::manifest::{Limits, Manifest};

        let mut report = GcReport::default();
        let mut live = std::collections::HashSet::new();
        for (path, name) in files(&self.root.join("manifests"))? {
            let id = name.parse::<Digest>().ok().filter(|id| keep.contains(id));
            let manifest = id.and_then(|id| {
                let bytes = std::fs::read(&path).ok()?;
                Manifest::decode(&bytes, &id, &Limits::default()).ok()
            });
            match manifest {
                Some(m) => {
                    live.extend(m.unique_chunks().into_iter().map(|c| c.0));
                    report.kept_manifests += 1;
                }
                None => {
                    std::fs::remove_file(&path)?;
                    report.removed_manifests += 1;
                }
            }
        }
        let chunks = self.root.join("chunks");
        if let Ok(shards) = std::fs::read_dir(&chunks) {
            for shard in shards {
                for (path, name) in files(&shard?.path())? {
                    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                    if name.parse::<Digest>().is_ok_and(|d| live.contains(&d)) {
                        report.kept_chunks += 1;
                        report.kept_bytes += size;
                    } else {
                        std::fs::remove_file(&path)?;
                        report.removed_chunks += 1;
                        report.removed_bytes += size;
                    }
                }
            }
        }
        Ok(report)
    }
}

/// The files directly in `dir` with their names (none if it does not exist).
fn files(dir: &Path) -> io::Result<Vec<(PathBuf, String)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            out.push((
                entry.path(),
                entry.file_name().to_string_lossy().into_owned(),
            ));
        }
    }
    Ok(out)
}

/// Writes `data` to `path` through a temporary file in the same directory and a rename.
pub(crate) fn write_atomically(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path.parent().expect("a cache path has a parent");
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(data)?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
