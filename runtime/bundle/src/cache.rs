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

/// Writes `data` to `path` through a temporary file in the same directory and a rename.
pub(crate) fn write_atomically(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path.parent().expect("a cache path has a parent");
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(data)?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
