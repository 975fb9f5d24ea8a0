//! The undo journal of one Install: every change to the host is recorded before (or as) it is
//! made, so a failure can put the host back on the previous revision.
//!
//! Nothing is deleted during an Install: a file that must go (the previous revision's, or one
//! OVERWRITE replaces) is moved into the backup directory. On success the backups are deleted;
//! on failure the journal is replayed backwards. Every step names its path as a [`Loc`] and is
//! undone through the same [`Roots`], so undoing is held beneath the install prefixes as well.

use std::io;
use std::path::{Path, PathBuf};

use davit_fsroot::{Metadata, MetadataExt, OpenOptions, OpenOptionsExt, Root};

use super::roots::{Loc, Roots};

/// One change, and how to take it back.
#[derive(Debug)]
enum Step {
    /// `original` was moved to `backup` (a name in the backup directory).
    MovedAway { original: Loc, backup: PathBuf },
    /// A file or symlink was created.
    CreatedFile(Loc),
    /// A directory was created.
    CreatedDir(Loc),
    /// A directory was created on the way to an install prefix (or the prefix itself), at
    /// `rel` in the target root.
    CreatedPrefixDir { rel: PathBuf, host: PathBuf },
    /// An empty directory of the previous revision was removed.
    RemovedDir(Loc, Meta),
    /// The owner or mode of an existing path was changed.
    Changed(Loc, Meta),
}

/// Owner and permission bits of a path.
#[derive(Clone, Copy, Debug)]
pub(super) struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
}

impl Meta {
    pub(super) fn of(meta: &Metadata) -> Self {
        Self {
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
        }
    }

    fn apply(self, roots: &Roots, loc: &Loc) -> io::Result<()> {
        let root = roots.root(loc)?;
        let now = root.symlink_metadata(&loc.rel)?;
        if now.uid() != self.uid || now.gid() != self.gid {
            chown(root, &loc.rel, Some(self.uid), Some(self.gid))?;
        }
        root.set_mode(&loc.rel, self.mode)
    }
}

/// Sets the owner of `rel` itself in `root`; the root itself (an install prefix) through the
/// descriptor that was opened.
pub(super) fn chown(root: &Root, rel: &Path, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    if rel.as_os_str().is_empty() {
        std::os::unix::fs::chown(root.fd_path(), uid, gid)
    } else {
        root.chown(rel, uid, gid)
    }
}

/// The changes made so far.
#[derive(Debug, Default)]
pub(super) struct Journal {
    steps: Vec<Step>,
    backups: usize,
}

impl Journal {
    /// Moves the file or symlink at `loc` into the backup directory.
    pub(super) fn move_away(&mut self, roots: &Roots, loc: &Loc) -> io::Result<()> {
        self.backups += 1;
        let backup = PathBuf::from(self.backups.to_string());
        move_entry(roots.root(loc)?, &loc.rel, &roots.backup, &backup)?;
        self.steps.push(Step::MovedAway {
            original: loc.clone(),
            backup,
        });
        Ok(())
    }

    pub(super) fn created_file(&mut self, loc: &Loc) {
        self.steps.push(Step::CreatedFile(loc.clone()));
    }

    pub(super) fn created_dir(&mut self, loc: &Loc) {
        self.steps.push(Step::CreatedDir(loc.clone()));
    }

    pub(super) fn created_prefix_dir(&mut self, rel: &Path, host: &Path) {
        self.steps.push(Step::CreatedPrefixDir {
            rel: rel.to_owned(),
            host: host.to_owned(),
        });
    }

    /// Removes the empty directory `loc`, remembering its owner and mode.
    pub(super) fn remove_dir(
        &mut self,
        roots: &Roots,
        loc: &Loc,
        meta: &Metadata,
    ) -> io::Result<()> {
        roots.root(loc)?.remove_dir(&loc.rel)?;
        self.steps
            .push(Step::RemovedDir(loc.clone(), Meta::of(meta)));
        Ok(())
    }

    /// Remembers the owner and mode of `loc` before they are changed.
    pub(super) fn will_change(&mut self, loc: &Loc, meta: &Metadata) {
        self.steps.push(Step::Changed(loc.clone(), Meta::of(meta)));
    }

    /// The Install succeeded: deletes the backups. Returns what could not be deleted.
    pub(super) fn commit(self, roots: &Roots) -> Vec<String> {
        let mut left = Vec::new();
        for step in self.steps {
            if let Step::MovedAway { backup, .. } = step
                && let Err(e) = roots.backup.remove_file(&backup)
            {
                left.push(format!(
                    "cannot delete backup `{}`: {e}",
                    roots.backup.display(&backup).display()
                ));
            }
        }
        left
    }

    /// The Install failed: undoes every change, newest first. Returns what could not be undone.
    pub(super) fn roll_back(self, roots: &Roots) -> Vec<String> {
        let mut failures = Vec::new();
        for step in self.steps.into_iter().rev() {
            let in_root =
                |loc: &Loc, f: &dyn Fn(&Root) -> io::Result<()>| roots.root(loc).and_then(f);
            let (what, path, result) = match &step {
                Step::MovedAway { original, backup } => (
                    "restore",
                    &original.host,
                    in_root(original, &|root| {
                        move_entry(&roots.backup, backup, root, &original.rel)
                    }),
                ),
                Step::CreatedFile(loc) => (
                    "remove",
                    &loc.host,
                    in_root(loc, &|root| match root.remove_file(&loc.rel) {
                        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                        other => other,
                    }),
                ),
                Step::CreatedDir(loc) => (
                    "remove directory",
                    &loc.host,
                    in_root(loc, &|root| root.remove_dir(&loc.rel)),
                ),
                Step::CreatedPrefixDir { rel, host } => {
                    ("remove directory", host, roots.target().remove_dir(rel))
                }
                Step::RemovedDir(loc, meta) => (
                    "recreate directory",
                    &loc.host,
                    in_root(loc, &|root| root.create_dir(&loc.rel, 0o700))
                        .and_then(|()| meta.apply(roots, loc)),
                ),
                Step::Changed(loc, meta) => (
                    "restore owner and mode of",
                    &loc.host,
                    meta.apply(roots, loc),
                ),
            };
            if let Err(e) = result {
                failures.push(format!("cannot {what} `{}`: {e}", path.display()));
            }
        }
        failures
    }
}

/// Renames `from_rel` in `from` to `to_rel` in `to` (the entry itself: a link moves as a link);
/// across filesystems, copies it (keeping mode and, where allowed, owner) and removes the
/// original.
pub(super) fn move_entry(from: &Root, from_rel: &Path, to: &Root, to_rel: &Path) -> io::Result<()> {
    match from.rename(from_rel, to, to_rel) {
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            copy_entry(from, from_rel, to, to_rel)?;
            from.remove_file(from_rel)
        }
        other => other,
    }
}

/// Copies the file or link `from_rel` to the new `to_rel`, owner (where allowed) and mode kept.
pub(super) fn copy_entry(from: &Root, from_rel: &Path, to: &Root, to_rel: &Path) -> io::Result<()> {
    let meta = from.symlink_metadata(from_rel)?;
    if meta.is_symlink() {
        return to.symlink(&from.read_link(from_rel)?, to_rel);
    }
    let mut src = from.open_file(from_rel, OpenOptions::new().read(true))?;
    let mut dst = to.open_file(
        to_rel,
        OpenOptions::new().write(true).create_new(true).mode(0o600),
    )?;
    io::copy(&mut src, &mut dst)?;
    let _ = std::os::unix::fs::fchown(&dst, Some(meta.uid()), Some(meta.gid()));
    use std::os::unix::fs::PermissionsExt as _;
    dst.set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o7777))
}
