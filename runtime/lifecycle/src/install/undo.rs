//! The undo journal of one Install: every change to the host is recorded before (or as) it is
//! made, so a failure can put the host back on the previous revision.
//!
//! Nothing is deleted during an Install: a file that must go (the previous revision's, or one
//! OVERWRITE replaces) is moved into the backup directory. On success the backups are deleted;
//! on failure the journal is replayed backwards.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// One change, and how to take it back.
#[derive(Debug)]
enum Step {
    /// `original` was moved to `backup`.
    MovedAway { original: PathBuf, backup: PathBuf },
    /// A file or symlink was created.
    CreatedFile(PathBuf),
    /// A directory was created.
    CreatedDir(PathBuf),
    /// An empty directory of the previous revision was removed.
    RemovedDir(PathBuf, Meta),
    /// The owner or mode of an existing path was changed.
    Changed(PathBuf, Meta),
}

/// Owner and permission bits of a path.
#[derive(Clone, Copy, Debug)]
pub(super) struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
}

impl Meta {
    pub(super) fn of(meta: &fs::Metadata) -> Self {
        Self {
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
        }
    }

    fn apply(self, path: &Path) -> io::Result<()> {
        let now = fs::metadata(path)?;
        if now.uid() != self.uid || now.gid() != self.gid {
            std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))?;
        }
        fs::set_permissions(path, fs::Permissions::from_mode(self.mode))
    }
}

/// The changes made so far.
#[derive(Debug)]
pub(super) struct Journal<'a> {
    backup_dir: &'a Path,
    steps: Vec<Step>,
    backups: usize,
}

impl<'a> Journal<'a> {
    pub(super) fn new(backup_dir: &'a Path) -> Self {
        Self {
            backup_dir,
            steps: Vec::new(),
            backups: 0,
        }
    }

    /// Moves the file or symlink at `path` into the backup directory.
    pub(super) fn move_away(&mut self, path: &Path) -> io::Result<()> {
        self.backups += 1;
        let backup = self.backup_dir.join(self.backups.to_string());
        move_entry(path, &backup)?;
        self.steps.push(Step::MovedAway {
            original: path.to_owned(),
            backup,
        });
        Ok(())
    }

    pub(super) fn created_file(&mut self, path: &Path) {
        self.steps.push(Step::CreatedFile(path.to_owned()));
    }

    pub(super) fn created_dir(&mut self, path: &Path) {
        self.steps.push(Step::CreatedDir(path.to_owned()));
    }

    /// Removes the empty directory `path`, remembering its owner and mode.
    pub(super) fn remove_dir(&mut self, path: &Path, meta: &fs::Metadata) -> io::Result<()> {
        fs::remove_dir(path)?;
        self.steps
            .push(Step::RemovedDir(path.to_owned(), Meta::of(meta)));
        Ok(())
    }

    /// Remembers the owner and mode of `path` before they are changed.
    pub(super) fn will_change(&mut self, path: &Path, meta: &fs::Metadata) {
        self.steps
            .push(Step::Changed(path.to_owned(), Meta::of(meta)));
    }

    /// The Install succeeded: deletes the backups. Returns what could not be deleted.
    pub(super) fn commit(self) -> Vec<String> {
        let mut left = Vec::new();
        for step in self.steps {
            if let Step::MovedAway { backup, .. } = step
                && let Err(e) = fs::remove_file(&backup)
            {
                left.push(format!("cannot delete backup `{}`: {e}", backup.display()));
            }
        }
        left
    }

    /// The Install failed: undoes every change, newest first. Returns what could not be undone.
    pub(super) fn roll_back(self) -> Vec<String> {
        let mut failures = Vec::new();
        for step in self.steps.into_iter().rev() {
            let (what, path, result) = match &step {
                Step::MovedAway { original, backup } => {
                    ("restore", original, move_entry(backup, original))
                }
                Step::CreatedFile(path) => ("remove", path, remove_file(path)),
                Step::CreatedDir(path) => ("remove directory", path, fs::remove_dir(path)),
                Step::RemovedDir(path, meta) => (
                    "recreate directory",
                    path,
                    fs::create_dir(path).and_then(|()| meta.apply(path)),
                ),
                Step::Changed(path, meta) => ("restore owner and mode of", path, meta.apply(path)),
            };
            if let Err(e) = result {
                failures.push(format!("cannot {what} `{}`: {e}", path.display()));
            }
        }
        failures
    }
}

fn remove_file(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Renames `from` to `to`; across filesystems, copies (keeping mode and, where allowed, owner)
/// and removes the original.
pub(super) fn move_entry(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            let meta = fs::symlink_metadata(from)?;
            if meta.file_type().is_symlink() {
                std::os::unix::fs::symlink(fs::read_link(from)?, to)?;
            } else {
                fs::copy(from, to)?;
                let _ = std::os::unix::fs::chown(to, Some(meta.uid()), Some(meta.gid()));
                fs::set_permissions(to, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
            }
            fs::remove_file(from)
        }
        other => other,
    }
}
