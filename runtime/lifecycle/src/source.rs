//! Where a deployment's revision comes from, and getting it onto this host: a directory or
//! archive as it is, or a revision pulled from a bundle store through the host's chunk cache.
//! Both happen under the deployment root's lock, so collecting the cache never races a pull, and
//! a policy that requires signatures is enforced here, for every front end.

use std::path::{Path, PathBuf};

use davit_bundle::sign::{PublicKey, verify_signed};
use davit_bundle::{ChunkCache, Digest, Quiet, Store};
use davit_spec::HostPolicy;

use crate::DeployError;
use crate::layout::Layout;
use crate::stage::remove_tree;

/// The revision a deployment installs.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    /// A bundle directory or a `.zip`, `.tar`, `.tgz` archive on this host.
    Local(&'a Path),
    /// A revision in a bundle store.
    Store {
        /// The store.
        store: &'a Store,
        /// The revision id.
        revision: Digest,
    },
}

impl Source<'_> {
    /// How messages name the appspec `name` of this source: `bundle/appspec.yml`,
    /// `bundle.tgz!appspec.yml`, or `revision 0123456789ab!appspec.yml`.
    pub(crate) fn label(&self, name: &str) -> String {
        match self {
            Source::Local(path) if path.is_dir() => path.join(name).display().to_string(),
            Source::Local(archive) => format!("{}!{name}", archive.display()),
            Source::Store { revision, .. } => format!("revision {}!{name}", revision.short()),
        }
    }

    /// What to call it in errors.
    pub(crate) fn describe(&self) -> PathBuf {
        match self {
            Source::Local(path) => path.to_path_buf(),
            Source::Store { store, revision } => {
                PathBuf::from(format!("{}#{}", store.url(), revision))
            }
        }
    }
}

/// A pulled revision's scratch directory, removed when dropped (even with read-only
/// directories inside).
pub(crate) struct Pulled {
    scratch: PathBuf,
}

impl Pulled {
    /// The tree.
    pub(crate) fn tree(&self) -> PathBuf {
        self.scratch.join("revision")
    }
}

impl Drop for Pulled {
    fn drop(&mut self) {
        let _ = remove_tree(&self.scratch);
    }
}

/// Refuses, before anything is fetched or run, a revision no key of the policy trusts signed
/// (when the policy's `[signatures]` requires one). Every front end that pulls from a store
/// calls it: deployments and package versions.
///
/// # Errors
///
/// [`DeployError::Unsigned`] naming the policy rule and why, or a store failure.
pub async fn check_signature(policy: &HostPolicy, source: &Source<'_>) -> Result<(), DeployError> {
    let Some(required) = policy.require_signature.as_ref().filter(|r| r.value) else {
        return Ok(());
    };
    let rule = required.at.to_string();
    let Source::Store { store, revision } = source else {
        return Err(DeployError::Unsigned {
            rule,
            detail: "a directory or archive carries no signature".into(),
        });
    };
    let trusted = policy
        .trusted_keys
        .iter()
        .map(|k| k.value.parse::<PublicKey>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| DeployError::Unsigned {
            rule: rule.clone(),
            detail: e.to_string(),
        })?;
    match verify_signed(revision, store, &trusted).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(unsigned)) => Err(DeployError::Unsigned {
            rule,
            detail: unsigned.to_string(),
        }),
        Err(e) => Err(DeployError::Pull(e.into())),
    }
}

/// Pulls a store's revision into scratch space through the host's chunk cache.
pub(crate) async fn pull(
    store: &Store,
    revision: &Digest,
    layout: &Layout,
) -> Result<Pulled, DeployError> {
    std::fs::create_dir_all(layout.scratch())
        .map_err(|e| DeployError::io("creating the scratch directory", e))?;
    let scratch = tempfile::Builder::new()
        .prefix("pull-")
        .tempdir_in(layout.scratch())
        .map_err(|e| DeployError::io("creating a scratch directory", e))?
        .keep();
    let pulled = Pulled { scratch };
    let cache = ChunkCache::new(layout.chunk_cache());
    davit_bundle::pull(revision, store, &cache, &pulled.tree(), &Quiet)
        .await
        .map_err(DeployError::Pull)?;
    Ok(pulled)
}
