//! CodeDeploy's Install event, done atomically: the previous revision's files go, the new
//! revision's `files` are copied, `permissions` are applied; if any step fails, every change is
//! undone and the host is left on the previous revision.
//!
//! The semantics follow the CodeDeploy agent:
//! - a `files` source that is a file is copied to `destination/<name>`; a directory source has
//!   its contents copied (recursively) into `destination`; missing directories are created and
//!   recorded;
//! - first, the files of the previous revision's [`CleanupRecord`] are removed, then the
//!   directories it created if they are empty;
//! - a destination that exists and is not from the previous revision is handled by
//!   [`FileExistsBehavior`]: `DISALLOW` fails before anything is touched, naming every such
//!   file; `OVERWRITE` replaces it; `RETAIN` keeps it (not copied, not recorded);
//! - each `permissions` entry applies `owner`, `group` and `mode` to what this Install put at or
//!   under `object` whose name matches `pattern` (default `**`) and no `except`, of the given
//!   `type`s (default both). `acls` and SELinux `context` are not supported here: they become
//!   warnings in the report, naming the appspec line.
//!
//! Every destination is re-rooted under the target root (`/` for the live host). Files removed
//! or replaced are moved to the backup directory, not deleted, until the Install succeeds.
//! Everything that can be checked without writing is checked first, so most mistakes fail
//! before the host is touched.

mod perms;
mod plan;
mod record;
mod undo;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use davit_spec::{AppSpec, FileExistsBehavior, Location};

pub use record::{CleanupRecord, RECORD_SCHEMA_VERSION, RecordError};

use plan::{OpKind, Plan};
use undo::Journal;

/// Mode of the directories Install creates (as `mkdir` under the usual umask would).
const CREATED_DIR_MODE: u32 = 0o755;

/// What to install, where.
#[derive(Debug)]
pub struct InstallRequest<'a> {
    /// The staged revision.
    pub bundle_dir: &'a Path,
    /// Its appspec.
    pub spec: &'a AppSpec,
    /// Where `/` of the appspec is: `/` for the live host, or an image's root filesystem.
    pub target_root: &'a Path,
    /// Already resolved: command line, else appspec, else `DISALLOW`.
    pub behavior: FileExistsBehavior,
    /// The record of the previous Install in this deployment group, if any.
    pub previous: Option<CleanupRecord>,
    /// An empty scratch directory for the files removed or replaced until the Install succeeds;
    /// on the same filesystem as the target, or moves become copies.
    pub backup_dir: &'a Path,
}

/// What an Install did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallReport {
    /// What the next Install must remove: save it with [`CleanupRecord::save`].
    pub record: CleanupRecord,
    /// Files and symlinks copied.
    pub copied: usize,
    /// Files kept because of `RETAIN`.
    pub retained: usize,
    /// Files of the previous revision removed.
    pub removed: usize,
    /// One line each: what was ignored (`acls`, `context`, ...) and where.
    pub warnings: Vec<String>,
}

/// Why an Install failed. Unless it is [`InstallError::NotUndone`], the host is as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// A `files` source that the bundle does not have.
    #[error("{at}: `files` source `{source_path}` is not in the bundle")]
    MissingSource {
        /// The `files` entry.
        at: Location,
        /// The source as written.
        source_path: String,
    },
    /// A Windows destination (this host installs Linux appspecs).
    #[error(
        "{at}: destination `{destination}` is a Windows path, this host installs only `os: linux` appspecs"
    )]
    WindowsDestination {
        /// The `files` entry.
        at: Location,
        /// The destination as written.
        destination: String,
    },
    /// Two `files` entries put something at the same path.
    #[error("{at}: `{}` would be installed twice (also by the `files` entry at {first})", path.display())]
    DuplicateDestination {
        /// The path on the host.
        path: PathBuf,
        /// The second `files` entry.
        at: Location,
        /// The first one.
        first: Location,
    },
    /// A directory must be created or used where something else is.
    #[error("{}`{}` exists and is not a directory, cannot install into it", at_prefix(at), path.display())]
    NotADirectory {
        /// The path on the host.
        path: PathBuf,
        /// The `files` entry, if one asked for it.
        at: Option<Location>,
    },
    /// `OVERWRITE` of a directory by a file.
    #[error("{at}: `{}` is a directory, a file from the bundle cannot overwrite it", path.display())]
    DirectoryInTheWay {
        /// The path on the host.
        path: PathBuf,
        /// The `files` entry.
        at: Location,
    },
    /// Files exist where the revision puts files and `file_exists_behavior` is `DISALLOW`.
    #[error("{}", files_exist(paths))]
    FilesExist {
        /// Every such file, in copy order.
        paths: Vec<PathBuf>,
    },
    /// A `permissions` owner that is no user here.
    #[error("{at}: unknown owner `{name}`, there is no such user on this host")]
    UnknownOwner {
        /// The `permissions` entry.
        at: Location,
        /// The name.
        name: String,
    },
    /// A `permissions` group that is no group here.
    #[error("{at}: unknown group `{name}`, there is no such group on this host")]
    UnknownGroup {
        /// The `permissions` entry.
        at: Location,
        /// The name.
        name: String,
    },
    /// An I/O error.
    #[error("cannot {action} `{}`", path.display())]
    Io {
        /// "copy to", "create directory", ...
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The Install failed (the source), and putting the host back failed too.
    #[error(
        "the install failed and {} change{} could not be undone (first: {}); the removed files are kept in `{}`",
        failures.len(),
        if failures.len() == 1 { "" } else { "s" },
        failures[0],
        backup_dir.display()
    )]
    NotUndone {
        /// What could not be undone, one line each.
        failures: Vec<String>,
        /// Where the backups are: do not delete it.
        backup_dir: PathBuf,
        /// Why the install failed.
        source: Box<InstallError>,
    },
}

fn at_prefix(at: &Option<Location>) -> String {
    at.as_ref().map(|at| format!("{at}: ")).unwrap_or_default()
}

fn files_exist(paths: &[PathBuf]) -> String {
    const SHOWN: usize = 5;
    let list: Vec<String> = paths
        .iter()
        .take(SHOWN)
        .map(|p| format!("`{}`", p.display()))
        .collect();
    let more = match paths.len().saturating_sub(SHOWN) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    let (noun, verb) = if paths.len() == 1 {
        ("file", "exists")
    } else {
        ("files", "exist")
    };
    format!(
        "{} {noun} already {verb} and `file_exists_behavior` is `DISALLOW`: {}{more}",
        paths.len(),
        list.join(", ")
    )
}

pub(crate) fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> InstallError {
    let path = path.to_owned();
    move |source| InstallError::Io {
        action,
        path,
        source,
    }
}

/// Runs the Install event for `req` (see the module docs).
///
/// # Errors
///
/// An [`InstallError`]. All checks that need no writing come first; after that, a failure
/// undoes every change, and only [`InstallError::NotUndone`] leaves the host changed.
pub fn install(req: &InstallRequest<'_>) -> Result<InstallReport, InstallError> {
    let plan = plan::plan(req)?;
    let mut run = Run {
        req,
        plan: &plan,
        journal: Journal::new(req.backup_dir),
        report: InstallReport {
            record: CleanupRecord::default(),
            copied: 0,
            retained: 0,
            removed: 0,
            warnings: plan.warnings.clone(),
        },
        installed: Vec::new(),
        created: HashSet::new(),
    };
    match run.execute() {
        Ok(()) => {
            let mut report = run.report;
            report.warnings.extend(run.journal.commit());
            Ok(report)
        }
        Err(error) => {
            let failures = run.journal.roll_back();
            if failures.is_empty() {
                Err(error)
            } else {
                Err(InstallError::NotUndone {
                    failures,
                    backup_dir: req.backup_dir.to_owned(),
                    source: Box::new(error),
                })
            }
        }
    }
}

/// One Install in progress.
struct Run<'r> {
    req: &'r InstallRequest<'r>,
    plan: &'r Plan<'r>,
    journal: Journal<'r>,
    report: InstallReport,
    /// What `permissions` may apply to: files copied, target directories, directories created.
    installed: Vec<(PathBuf, bool)>,
    /// Paths this Install created (their old owner and mode need no restoring).
    created: HashSet<PathBuf>,
}

impl Run<'_> {
    fn execute(&mut self) -> Result<(), InstallError> {
        self.remove_previous()?;
        self.copy()?;
        self.apply_permissions()
    }

    /// Moves the previous revision's files away, then removes its directories left empty.
    fn remove_previous(&mut self) -> Result<(), InstallError> {
        let root = self.req.target_root;
        for file in &self.plan.previous_files {
            match fs::symlink_metadata(file) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("read", file)(e)),
                Ok(m) if m.is_dir() => self.report.warnings.push(format!(
                    "`{}` of the previous revision is now a directory and was left in place",
                    file.display()
                )),
                Ok(_) => {
                    self.journal
                        .move_away(file)
                        .map_err(io_err("move away", file))?;
                    self.report.removed += 1;
                }
            }
        }
        let mut kept = Vec::new();
        let dirs = self.req.previous.iter().flat_map(|r| &r.dirs_created);
        for dir in dirs.rev() {
            if !plan::inside(root, dir, self.plan.follow_dir_links) {
                continue;
            }
            let Ok(meta) = fs::symlink_metadata(dir) else {
                continue;
            };
            if !meta.is_dir() {
                continue;
            }
            let empty = fs::read_dir(dir)
                .map_err(io_err("read", dir))?
                .next()
                .is_none();
            if empty {
                self.journal
                    .remove_dir(dir, &meta)
                    .map_err(io_err("remove directory", dir))?;
            } else {
                // Still ours: the next Install removes it once it is empty.
                kept.push(dir.clone());
            }
        }
        kept.reverse();
        self.report.record.dirs_created = kept;
        Ok(())
    }

    fn copy(&mut self) -> Result<(), InstallError> {
        for op in &self.plan.ops {
            let dest = &op.dest;
            let found = match fs::symlink_metadata(dest) {
                Ok(meta) => Some(meta),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(io_err("read", dest)(e)),
            };
            match (op.kind, found) {
                (OpKind::Dir { target }, Some(meta)) => {
                    let linked_dir =
                        meta.is_symlink() && self.plan.follow_dir_links && dest.is_dir();
                    if !(meta.is_dir() || linked_dir) {
                        let at = Some(self.req.spec.files[op.mapping].at.clone());
                        return Err(InstallError::NotADirectory {
                            path: dest.clone(),
                            at,
                        });
                    }
                    if target {
                        self.installed.push((dest.clone(), true));
                    }
                }
                (OpKind::Dir { .. }, None) => {
                    fs::create_dir(dest).map_err(io_err("create directory", dest))?;
                    self.journal.created_dir(dest);
                    fs::set_permissions(dest, fs::Permissions::from_mode(CREATED_DIR_MODE))
                        .map_err(io_err("set the mode of", dest))?;
                    self.report.record.dirs_created.push(dest.clone());
                    self.installed.push((dest.clone(), true));
                    self.created.insert(dest.clone());
                }
                (OpKind::File | OpKind::Link, found) => {
                    if let Some(meta) = found {
                        match self.req.behavior {
                            FileExistsBehavior::Retain => {
                                self.report.retained += 1;
                                continue;
                            }
                            FileExistsBehavior::Disallow => {
                                return Err(InstallError::FilesExist {
                                    paths: vec![dest.clone()],
                                });
                            }
                            FileExistsBehavior::Overwrite if meta.is_dir() => {
                                return Err(InstallError::DirectoryInTheWay {
                                    path: dest.clone(),
                                    at: self.req.spec.files[op.mapping].at.clone(),
                                });
                            }
                            FileExistsBehavior::Overwrite => {
                                self.journal
                                    .move_away(dest)
                                    .map_err(io_err("move away", dest))?;
                            }
                        }
                    }
                    self.copy_one(op.kind, &op.src, dest)?;
                    self.report.record.files.push(dest.clone());
                    self.report.copied += 1;
                    if op.kind == OpKind::File {
                        self.installed.push((dest.clone(), false));
                    }
                    self.created.insert(dest.clone());
                    failpoint(Point::Copy, self.report.copied, dest)?;
                }
            }
        }
        Ok(())
    }

    /// Copies one file (contents and mode) or recreates one symlink.
    fn copy_one(&mut self, kind: OpKind, src: &Path, dest: &Path) -> Result<(), InstallError> {
        if kind == OpKind::Link {
            let target = fs::read_link(src).map_err(io_err("read", src))?;
            std::os::unix::fs::symlink(target, dest).map_err(io_err("create symlink", dest))?;
            self.journal.created_file(dest);
            return Ok(());
        }
        let mut from = fs::File::open(src).map_err(io_err("read", src))?;
        let mode = from
            .metadata()
            .map_err(io_err("read", src))?
            .permissions()
            .mode();
        let mut to = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dest)
            .map_err(io_err("create", dest))?;
        self.journal.created_file(dest);
        io::copy(&mut from, &mut to).map_err(io_err("copy to", dest))?;
        to.set_permissions(fs::Permissions::from_mode(mode & 0o7777))
            .map_err(io_err("set the mode of", dest))
    }

    fn apply_permissions(&mut self) -> Result<(), InstallError> {
        let root = self.req.target_root;
        let mut saved = HashSet::new();
        let mut applied = 0;
        for entry in &self.plan.perms {
            for (path, is_dir) in &self.installed {
                if !entry.applies_to(root, path, *is_dir) {
                    continue;
                }
                let meta = fs::metadata(path).map_err(io_err("read", path))?;
                if !entry.would_change(&meta) {
                    continue;
                }
                if !self.created.contains(path) && saved.insert(path.clone()) {
                    self.journal.will_change(path, &meta);
                }
                entry
                    .apply(path, &meta)
                    .map_err(io_err("set the owner and mode of", path))?;
                applied += 1;
                failpoint(Point::Permission, applied, path)?;
            }
        }
        Ok(())
    }
}

/// Where tests inject a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Point {
    /// After the n-th file is copied.
    Copy,
    /// After the n-th owner/mode change.
    Permission,
}

#[cfg(test)]
thread_local! {
    static FAIL_AFTER: std::cell::Cell<Option<(Point, usize)>> = const { std::cell::Cell::new(None) };
}

fn failpoint(point: Point, count: usize, path: &Path) -> Result<(), InstallError> {
    #[cfg(test)]
    if FAIL_AFTER.get() == Some((point, count)) {
        return Err(io_err("finish (injected failure)", path)(io::Error::other(
            "injected",
        )));
    }
    let _ = (point, count, path);
    Ok(())
}
