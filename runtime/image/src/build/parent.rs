//! The parent of an image: its layers, history and run settings.
//!
//! - `oci-layout:PATH[:TAG]`: the image the layout's index names, its blobs checked when they
//!   are copied into the output.
//! - `debian:SUITE`: a minbase root made by `mmdebstrap` from Debian's packages, once per
//!   suite, with a lock of its packages and `.deb`s by sha256 (`debian.rs`: made again from
//!   the lock alone, without network, when the tar is gone), then written as one
//!   reproducible layer, cached by the base's digest.

use std::io;
use std::path::Path;

use super::cache::{CachedLayer, LayerCache};
use super::{BuildError, io as io_error};
use crate::oci::layer::{self, Snapshot, sha256};
use crate::oci::layout::{self, Descriptor, History, LAYER_GZIP, Layout, RunConfig, file_digest};
use crate::oci::registry::{self, Repository};
use crate::recipe::{Parent, Recipe};

/// One layer of the parent.
pub(super) struct BaseLayer {
    pub descriptor: Descriptor,
    pub diff_id: String,
}

pub(super) struct Base {
    pub layers: Vec<BaseLayer>,
    pub history: Vec<History>,
    pub config: RunConfig,
    /// Where its blobs are: the parent's layout, or the layer cache's.
    blobs: Layout,
}

impl Base {
    /// The identity of everything the parent holds (OCI's chain of diff ids).
    pub fn chain_id(&self) -> String {
        let ids: Vec<&str> = self.layers.iter().map(|l| l.diff_id.as_str()).collect();
        sha256(ids.join("\n").as_bytes())
    }

    /// Copies the parent's blob `digest` into `out`.
    pub fn copy_into(&self, out: &Layout, digest: &str) -> io::Result<()> {
        out.copy_blob(&self.blobs, digest)
    }
}

pub(super) async fn resolve(
    recipe: &Recipe,
    cache: &LayerCache,
    deployment_root: &Path,
    epoch: u64,
) -> Result<Base, BuildError> {
    match &recipe.parent {
        Parent::OciLayout { path, tag } => from_layout(path, tag.as_deref()),
        Parent::Debian { suite } => debian(suite, cache, deployment_root, epoch),
        Parent::Registry {
            host,
            repository,
            tag,
        } => {
            let repo = Repository {
                host: host.clone(),
                repository: repository.clone(),
            };
            let dir = registry::pull_cache(deployment_root, &repo);
            let into =
                Layout::create(&dir).map_err(io_error("making the pulled parents' cache"))?;
            registry::pull(&repo, tag, &into)
                .await
                .map_err(|e| BuildError::Parent {
                    parent: format!("docker://{repo}:{tag}"),
                    source: io::Error::other(e),
                })?;
            from_layout(&dir, Some(tag))
        }
    }
}

fn from_layout(path: &Path, tag: Option<&str>) -> Result<Base, BuildError> {
    let shown = match tag {
        Some(t) => format!("oci-layout:{}:{t}", path.display()),
        None => format!("oci-layout:{}", path.display()),
    };
    let parent_error = |source| BuildError::Parent {
        parent: shown.clone(),
        source,
    };
    let from = Layout::open(path).map_err(parent_error)?;
    let image = from.image(tag).map_err(parent_error)?;
    let layers = image
        .manifest
        .layers
        .iter()
        .zip(&image.config.rootfs.diff_ids)
        .map(|(d, id)| BaseLayer {
            descriptor: d.clone(),
            diff_id: id.clone(),
        })
        .collect();
    Ok(Base {
        layers,
        history: image.config.history.clone(),
        config: image.config.config.clone(),
        blobs: from,
    })
}

fn debian(
    suite: &str,
    cache: &LayerCache,
    deployment_root: &Path,
    epoch: u64,
) -> Result<Base, BuildError> {
    super::debian::ensure(suite, deployment_root)?;
    let (tar, lock) = super::debian::paths(deployment_root, suite);
    let tar_digest = remembered_digest(&tar).map_err(io_error("reading the Debian base"))?;
    let lock_digest = file_digest(&lock).map_err(io_error("reading the Debian base's lock"))?;
    let key = sha256(format!("davit debian base 1\n{tar_digest}\n{epoch}").as_bytes());
    let layer = match cache
        .get(&key)
        .map_err(io_error("reading the layer cache"))?
    {
        Some(hit) => hit,
        None => debian_layer(&tar, cache, &key, deployment_root, epoch)?,
    };
    Ok(Base {
        layers: vec![BaseLayer {
            descriptor: Descriptor {
                media_type: LAYER_GZIP.into(),
                digest: layer.digest.clone(),
                size: layer.size,
                annotations: Default::default(),
            },
            diff_id: layer.diff_id.clone(),
        }],
        history: vec![History {
            created: Some(layout::rfc3339(epoch)),
            created_by: Some(format!(
                "mmdebstrap --variant=minbase {suite} (packages: {lock_digest})"
            )),
            comment: Some("davit: Debian base from Debian's packages".into()),
            empty_layer: false,
        }],
        config: RunConfig {
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            cmd: Some(vec!["bash".into()]),
            working_dir: None,
            labels: Default::default(),
        },
        blobs: cache.layout().clone(),
    })
}

/// The digest of `file`, kept beside it (`FILE.sha256`, with the size, inode and change time
/// it was computed for) so that a build does not read the whole base again; computed anew
/// when the file is not the one it was computed for.
fn remembered_digest(file: &Path) -> io::Result<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(file)?;
    let stamp = format!(
        "{} {} {}.{}",
        meta.size(),
        meta.ino(),
        meta.ctime(),
        meta.ctime_nsec()
    );
    let kept = file.with_extension("tar.sha256");
    if let Ok(text) = std::fs::read_to_string(&kept)
        && let Some((digest, for_stamp)) = text.trim_end().split_once(' ')
        && for_stamp == stamp
    {
        return Ok(digest.to_owned());
    }
    let digest = file_digest(file)?;
    let tmp = kept.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, format!("{digest} {stamp}\n"))?;
    std::fs::rename(&tmp, &kept)?;
    Ok(digest)
}

/// The Debian base tar as one reproducible layer: unpacked, then written as davit writes
/// every layer (sorted, clamped, numeric owners).
fn debian_layer(
    tar: &Path,
    cache: &LayerCache,
    key: &str,
    deployment_root: &Path,
    epoch: u64,
) -> Result<CachedLayer, BuildError> {
    let work = super::roots::WorkRoot::create(&deployment_root.join("image-builds"))?;
    let root = work.open()?;
    super::apply_file(&root, tar, &format!("`{}`", tar.display()))?;
    let after = Snapshot::of(&root).map_err(io_error("reading the Debian base"))?;
    let made = layer::write(&root, &Snapshot::default(), &after, epoch, &cache.blobs())
        .map_err(io_error("writing the Debian base layer"))?;
    cache
        .put(key, &made)
        .map_err(io_error("writing the layer cache"))
}
