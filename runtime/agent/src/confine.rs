//! What a pipeline's run may touch on a builder. The recipe and distribution come from the
//! server; like a deployment's command, they cannot widen what this host's policy grants:
//!
//! - components and tests come from this host's component store only (read beneath it):
//!   never a `document:` path the server names, which davit would read as the agent's user;
//! - the parent is `debian:SUITE` or a registry, never a layout path on this host;
//! - every registry (the parent's, each distribution target's) must be under a `[[urls]]`
//!   rule of the policy (`http://HOST:PORT/v2/REPO`), so the server cannot make the builder
//!   reach other addresses;
//! - the image and its disks are written under `<deployment root>/pipelines/NAME/`, whatever
//!   the recipe's `outputs` say;
//! - the disk store must lie under a read-write `[[directories]]` rule, and is opened beneath
//!   it, one component at a time: a link on the way is refused.

use std::path::{Path, PathBuf};

use davit_fsroot::{Resolve, Root};
use davit_image::distribute::{DiskStore, Distribution};
use davit_image::oci::registry::Repository;
use davit_image::recipe::{Parent, Recipe};
use davit_spec::{AbsPath, Access, HostPolicy};

/// A run's recipe, its outputs moved under the deployment root, and its disk store opened.
pub(crate) struct Confined {
    pub recipe: Recipe,
    pub disk_store: Option<DiskStore>,
}

/// Checks a pipeline's recipe and distribution against `policy` (see the module); the first
/// refusal, naming the rule.
pub(crate) fn confine(
    pipeline: &str,
    mut recipe: Recipe,
    distribution: Option<&Distribution>,
    policy: &HostPolicy,
    deployment_root: &Path,
) -> Result<Confined, String> {
    recipe.check_for_pipeline()?;
    if let Parent::Registry {
        host, repository, ..
    } = &recipe.parent
    {
        allowed_registry(
            policy,
            &Repository {
                host: host.clone(),
                repository: repository.clone(),
            },
            "the parent",
        )?;
    }
    if let Some(d) = distribution {
        for target in &d.registries {
            allowed_registry(policy, &target.repository, "a distribution target")?;
        }
    }
    let out = pipeline_dir(deployment_root, pipeline);
    recipe.outputs.oci_layout = Some(out.join("layout"));
    recipe.outputs.registry = None;
    let disk = &mut recipe.outputs.disk;
    for file in [&mut disk.raw, &mut disk.qcow2].into_iter().flatten() {
        let name = file.file_name().map(PathBuf::from).unwrap_or_default();
        *file = out.join("disks").join(name);
    }
    let disk_store = match distribution.and_then(|d| d.disk_store.as_deref()) {
        None => None,
        Some(path) => Some(open_disk_store(policy, path)?),
    };
    Ok(Confined { recipe, disk_store })
}

/// Where a pipeline's images are written on this builder.
pub(crate) fn pipeline_dir(deployment_root: &Path, pipeline: &str) -> PathBuf {
    deployment_root.join("pipelines").join(pipeline)
}

fn allowed_registry(policy: &HostPolicy, repo: &Repository, what: &str) -> Result<(), String> {
    let url = format!("{}/", repo.base());
    if policy.urls.iter().any(|u| u.value.matches(&url)) {
        return Ok(());
    }
    Err(format!(
        "{what} `{repo}`: the policy `{}` has no `[[urls]]` rule for `{url}`",
        policy.file
    ))
}

/// The disk store at `path`, beneath the read-write `[[directories]]` rule that holds it.
fn open_disk_store(policy: &HostPolicy, path: &Path) -> Result<DiskStore, String> {
    let wanted = path
        .to_str()
        .and_then(|p| AbsPath::try_from(p).ok())
        .ok_or_else(|| {
            format!(
                "`disk-store: {}` is not an absolute path without `..`",
                path.display()
            )
        })?;
    let rule = policy
        .directories
        .iter()
        .filter(|d| d.value.access == Access::ReadWrite && wanted.starts_with(&d.value.path))
        .max_by_key(|d| d.value.path.components().count())
        .ok_or_else(|| {
            format!(
                "`disk-store: {wanted}`: the policy `{}` has no read-write `[[directories]]` rule that holds it",
                policy.file
            )
        })?;
    let base = &rule.value.path;
    let rel: PathBuf = wanted
        .components()
        .skip(base.components().count())
        .collect();
    let root = Root::open_ambient(base.as_path(), Resolve::Beneath)
        .map_err(|e| format!("opening `{base}` (the policy's rule at {}): {e}", rule.at))?;
    DiskStore::beneath(&root, &rel, wanted.as_path())
        .map_err(|e| format!("{:#}", anyhow::Error::new(e)))
}

#[cfg(test)]
mod tests;
