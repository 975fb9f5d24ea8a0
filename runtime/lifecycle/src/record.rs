//! Dry runs of components: each directory a component may write is a copy, made when a step
//! first mounts it and kept for the steps after it, and what it asks the host to do is
//! recorded instead of done (`davit_sandbox::Recorder`). Nothing on the host changes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use davit_fsroot::tree::{Bound, Change, Snapshot, copy_tree};
use davit_fsroot::{Resolve, Root};
use davit_sandbox::{Access, Effect, Mount, Recorder};
use serde::{Deserialize, Serialize};

/// The most a dry run copies of one directory a component may write.
pub const SHADOW_BOUND: Bound = Bound {
    bytes: 512 << 20,
    entries: 200_000,
};

/// One dry run: the copies it made and the effects recorded so far. Its copies are removed
/// when it is dropped.
pub struct Recording {
    recorder: Arc<Recorder>,
    dir: PathBuf,
    shadows: Mutex<Vec<Shadow>>,
}

struct Shadow {
    /// The directory it stands for, as the host names it.
    host: PathBuf,
    /// And as the script names it (its grant's path).
    guest: PathBuf,
    copy: Arc<Root>,
    /// The copy as the last [`Recording::take`] saw it.
    seen: Snapshot,
}

/// What the steps since the last [`Recording::take`] would have done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    /// Files they would have created, removed or changed, in path order, as the scripts name
    /// them (beneath the target root).
    pub files: Vec<FileEffect>,
    /// Commands they would have run, services started, requests sent, in their order.
    pub effects: Vec<String>,
}

impl Recorded {
    /// A line per effect, files first: `create /opt/app/x`, `run /usr/bin/true`.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        let files = self
            .files
            .iter()
            .map(|f| format!("{} {}", f.change, f.path.display()));
        files.chain(self.effects.iter().cloned())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEffect {
    pub path: PathBuf,
    pub change: FileChange,
}

/// How a file would change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileChange {
    Created,
    Removed,
    /// Its contents, the target of a link, or what kind of entry it is.
    Modified,
    /// Only its mode or owner.
    Attributes,
}

impl From<Change> for FileChange {
    fn from(change: Change) -> Self {
        match change {
            Change::Created => FileChange::Created,
            Change::Removed => FileChange::Removed,
            Change::Modified => FileChange::Modified,
            Change::Attributes => FileChange::Attributes,
        }
    }
}

/// As a verb: `create`, `remove`, `change`.
impl std::fmt::Display for FileChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FileChange::Created => "create",
            FileChange::Removed => "remove",
            FileChange::Modified => "change",
            FileChange::Attributes => "change the mode or owner of",
        })
    }
}

impl Recording {
    /// A dry run whose copies go in a fresh directory under `scratch` (which no grant
    /// reaches).
    ///
    /// # Errors
    ///
    /// When that directory cannot be made.
    pub fn new(scratch: &Path) -> std::io::Result<Recording> {
        std::fs::create_dir_all(scratch)?;
        let dir = scratch.join(format!("dry-run-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&dir)?;
        Ok(Recording {
            recorder: Arc::default(),
            dir,
            shadows: Mutex::default(),
        })
    }

    pub(crate) fn recorder(&self) -> Arc<Recorder> {
        self.recorder.clone()
    }

    /// `mount` as the dry run gives it: a read-write directory becomes its copy (made now, or
    /// the one an earlier step of this run wrote to); a read-only one is the directory itself.
    pub(crate) fn shadow(&self, mount: Mount) -> Result<Mount, String> {
        if mount.access != Access::ReadWrite {
            return Ok(mount);
        }
        let host = mount.host().to_owned();
        let mut shadows = self.shadows.lock().expect("shadows");
        if let Some(s) = shadows.iter().find(|s| s.host == host) {
            return Ok(Mount {
                dir: s.copy.clone(),
                ..mount
            });
        }
        let failed = |e: std::io::Error| {
            format!(
                "dry run: cannot copy `{}`, which the script may write: {e}",
                host.display()
            )
        };
        let path = self.dir.join(shadows.len().to_string());
        std::fs::create_dir(&path).map_err(failed)?;
        let copy = Root::open_ambient(&path, Resolve::Beneath).map_err(failed)?;
        copy_tree(&mount.dir, &copy, SHADOW_BOUND).map_err(failed)?;
        let seen = Snapshot::of(&copy, SHADOW_BOUND).map_err(failed)?;
        let copy = Arc::new(copy);
        shadows.push(Shadow {
            host,
            guest: PathBuf::from(&mount.guest),
            copy: copy.clone(),
            seen,
        });
        Ok(Mount { dir: copy, ..mount })
    }

    /// What the steps since the last call would have done.
    ///
    /// # Errors
    ///
    /// When a copy cannot be read back.
    pub fn take(&self) -> Result<Recorded, String> {
        let mut files = Vec::new();
        for s in self.shadows.lock().expect("shadows").iter_mut() {
            let now = Snapshot::of(&s.copy, SHADOW_BOUND)
                .map_err(|e| format!("dry run: cannot read back `{}`: {e}", s.host.display()))?;
            files.extend(
                s.seen
                    .changes(&now)
                    .into_iter()
                    .map(|(rel, change)| FileEffect {
                        path: s.guest.join(rel),
                        change: change.into(),
                    }),
            );
            s.seen = now;
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let effects = self.recorder.take().iter().map(Effect::to_string).collect();
        Ok(Recorded { files, effects })
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        let _ = crate::stage::remove_tree(&self.dir);
    }
}
