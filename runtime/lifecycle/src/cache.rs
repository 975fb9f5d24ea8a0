//! The host's chunk cache, kept to what the kept revisions use: after every deployment, and on
//! `davit cache gc`, chunks and manifests of revisions no deployment group keeps are removed.

use std::collections::HashSet;
use std::io;

use davit_bundle::{ChunkCache, Digest, GcReport};

use crate::journal::RootLock;
use crate::layout::Layout;
use crate::state::GroupState;
use crate::{DeployError, GroupLayout};

/// Every revision some deployment group under `layout` keeps (its staged revisions, which
/// include the current and the last good one).
///
/// # Errors
///
/// When a group's state cannot be read.
pub fn kept_revisions(layout: &Layout) -> io::Result<HashSet<Digest>> {
    let mut kept = HashSet::new();
    for app in subdirs(&layout.root().join("apps"))? {
        for group in subdirs(&app)? {
            let state = GroupState::load(&group.join(GroupLayout::STATE))?;
            let last_good = state.last_good.iter().map(|g| &g.revision);
            kept.extend(
                state
                    .revisions
                    .iter()
                    .chain(last_good)
                    .filter_map(|r| r.parse::<Digest>().ok()),
            );
        }
    }
    Ok(kept)
}

/// Removes from the chunk cache what no kept revision uses, holding the deployment root's lock.
///
/// # Errors
///
/// [`DeployError::Lock`] while a deployment runs, or an I/O error.
pub fn collect_garbage(layout: &Layout) -> Result<GcReport, DeployError> {
    let (_lock, _) = RootLock::acquire(&layout.lock(), &layout.journal())?;
    collect_locked(layout).map_err(|e| DeployError::io("collecting the chunk cache", e))
}

/// [`collect_garbage`] for a caller that holds the lock.
pub(crate) fn collect_locked(layout: &Layout) -> io::Result<GcReport> {
    let keep = kept_revisions(layout)?;
    ChunkCache::new(layout.chunk_cache()).gc(&keep)
}

/// The directories in `dir` (none when it does not exist).
pub(crate) fn subdirs(dir: &std::path::Path) -> io::Result<Vec<std::path::PathBuf>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}
