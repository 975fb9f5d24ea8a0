//! The layer cache: layers by the chain they sit on (BuildKit's cache key: the parent's
//! identity, the action component, the epoch, then each component's canonical content and
//! inputs, in order). Its blobs are an OCI layout's `blobs/sha256`, checked by digest when
//! they leave it; its keys are small JSON records under `keys/`.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::oci::layer::{Layer, sha256};
use crate::oci::layout::Layout;

/// A layer the cache holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedLayer {
    pub digest: String,
    pub diff_id: String,
    pub size: u64,
}

/// The cache under a directory.
pub struct LayerCache {
    blobs: Layout,
    keys: PathBuf,
}

/// The first link of a chain: what every layer of this build sits on.
pub fn chain_start(base: &str, action_component: &str, epoch: u64) -> String {
    sha256(format!("davit layer chain 1\n{base}\n{action_component}\n{epoch}").as_bytes())
}

/// The next link: `previous`, then a component's document text and its parameters.
pub fn chain_next(previous: &str, document: &str, parameters: &[(String, String)]) -> String {
    let params = serde_json::to_string(parameters).expect("parameters serialize");
    sha256(format!("{previous}\n{}\n{params}", sha256(document.as_bytes())).as_bytes())
}

impl LayerCache {
    /// Opens (or makes) the cache at `dir`.
    ///
    /// # Errors
    ///
    /// When it cannot be made.
    pub fn open(dir: &Path) -> io::Result<LayerCache> {
        let keys = dir.join("keys");
        std::fs::create_dir_all(&keys)?;
        Ok(LayerCache {
            blobs: Layout::create(dir)?,
            keys,
        })
    }

    /// Where new layers are written.
    pub fn blobs(&self) -> PathBuf {
        self.blobs.blobs()
    }

    /// The layers' layout (to copy a blob from).
    pub fn layout(&self) -> &Layout {
        &self.blobs
    }

    fn key_path(&self, key: &str) -> PathBuf {
        self.keys
            .join(format!("{}.json", key.trim_start_matches("sha256:")))
    }

    /// The layer cached for `key`, if its blob is still there.
    ///
    /// # Errors
    ///
    /// When the record exists and cannot be read.
    pub fn get(&self, key: &str) -> io::Result<Option<CachedLayer>> {
        let bytes = match std::fs::read(self.key_path(key)) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let Ok(layer) = serde_json::from_slice::<CachedLayer>(&bytes) else {
            // A record cut short by a crash: as if absent, rebuilt and rewritten.
            return Ok(None);
        };
        Ok(self
            .blobs
            .blob_path(&layer.digest)?
            .exists()
            .then_some(layer))
    }

    /// Records `layer` (already among the blobs) for `key`.
    ///
    /// # Errors
    ///
    /// When the record cannot be written.
    pub fn put(&self, key: &str, layer: &Layer) -> io::Result<CachedLayer> {
        let cached = CachedLayer {
            digest: layer.digest.clone(),
            diff_id: layer.diff_id.clone(),
            size: layer.size,
        };
        let bytes = serde_json::to_vec(&cached).expect("record serializes");
        davit_lifecycle::write_atomically(&self.key_path(key), &bytes)?;
        Ok(cached)
    }

    /// Copies the layer's blob into `out`, checking its digest.
    ///
    /// # Errors
    ///
    /// When it is missing, corrupt or cannot be written.
    pub fn export(&self, layer: &CachedLayer, out: &Layout) -> io::Result<()> {
        out.copy_blob(&self.blobs, &layer.digest)
    }
}
