//! CodeDeploy's Install event, done atomically: the previous revision's files go, the new
//! revision's `files` are copied, `permissions` are applied; if any step fails, or davit is
//! killed, the host is left on the previous revision, or on the new one, complete.
//!
//! The semantics follow the CodeDeploy agent:
//! - a `files` source that is a file is copied to `destination/<name>`; a directory source has
//!   its contents copied (recursively) into `destination`; missing directories are created and
//!   recorded;
//! - the files of the previous revision's [`CleanupRecord`] go, then the directories it
//!   created if they are left empty;
//! - a destination that exists and is not from the previous revision is handled by
//!   [`FileExistsBehavior`]: `DISALLOW` fails before anything is touched, naming every such
//!   file; `OVERWRITE` replaces it; `RETAIN` keeps it (not copied, not recorded);
//! - each `permissions` entry applies `owner`, `group`, `mode`, `acls` and SELinux `context` to
//!   what this Install put at or under `object` whose name matches `pattern` (default `**`) and
//!   no `except`, of the given `type`s (default both); a path under two entries is refused, as
//!   the agent refuses it. ACLs and contexts the host cannot apply fail before anything is
//!   written, unless the policy skips them (`xattr.rs`).
//!
//! How it is atomic (`switch.rs`, `undo.rs`): a destination directory that is missing, or holds
//! only the previous revision's files, is built beside itself with every owner and mode final
//! and switched in with one rename (`RENAME_EXCHANGE` where there was an old tree); files in
//! shared directories are each prepared under a sibling name and renamed or swapped in. Every
//! change is written to the journal before it is made; nothing is deleted before the Install
//! commits, which it does by replacing the cleanup record with one that names it. [`recover`]
//! takes back an Install a kill interrupted, or finishes one that had committed.
//!
//! Every destination is an absolute path under the target root (`/` for the live host), and
//! must lie beneath one of the host policy's install prefixes (`[install] destinations`): each
//! path is resolved beneath the broadest prefix that contains it, through
//! [`davit_fsroot::Root`], so a link planted under a prefix (by a hook, since the last Install)
//! cannot lead the copy, the directories and links Install creates, the owners and modes it
//! sets, or the cleanup of the previous revision out of it (see `install/roots.rs`).
//! The prefix itself and its missing parents are created when needed (and removed again if the
//! Install fails) but never recorded: they are the policy's, not the revision's.
//!
//! Everything that can be checked without writing is checked first ([`check`] runs it alone,
//! before any hook); [`precheck`] checks the bundle's links and file modes against the policy.

mod perms;
mod plan;
mod precheck;
mod record;
mod roots;
mod switch;
mod undo;
mod xattr;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::io;

use std::path::{Path, PathBuf};

use davit_fsroot::{Escape, MetadataExt, OpenOptions, escape_of, is_escape};
use davit_spec::{AbsPath, AppSpec, FileExistsBehavior, HostPolicy, InstallRefusal, Location};

pub use precheck::precheck;
pub use record::{CleanupRecord, Installed, RECORD_SCHEMA_VERSION, RecordError};
pub use undo::{Recovered, recover};

use plan::{OpKind, Plan};
use precheck::Kind;
use roots::{Loc, Roots};
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
    /// The host policy: its `[install]` table says where the revision may install (every
    /// destination lies beneath one of its prefixes and is resolved beneath it) and which
    /// modes, owners and groups it may set, checked again here with [`precheck`].
    pub policy: &'a HostPolicy,
    /// Already resolved: command line, else appspec, else `DISALLOW`.
    pub behavior: FileExistsBehavior,
    /// The record of the previous Install in this deployment group, if any.
    pub previous: Option<CleanupRecord>,
    /// An empty scratch directory for the files removed or replaced until the Install succeeds;
    /// on the same filesystem as the target, or moves become copies. Kept until a journal that
    /// names it is recovered.
    pub backup_dir: &'a Path,
    /// Where the Install keeps its journal ([`JOURNAL`]) while it runs and writes the cleanup
    /// record ([`RECORD`]) when it commits: the deployment group's directory.
    pub state_dir: &'a Path,
    /// What is installed, for the cleanup record (the installed revision is the one there).
    pub revision: Option<Installed>,
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
    /// A destination beneath none of the host policy's install prefixes.
    #[error(
        "{at}: destination `{destination}` lies under no `[install] destinations` of the host policy"
    )]
    NotAllowed {
        /// The `files` entry.
        at: Location,
        /// The destination as written.
        destination: AbsPath,
    },
    /// A path that would lead out of its install prefix, through a link (planted since the
    /// last Install) or `..`: refused, nothing done there.
    #[error("{}refused to {action} `{}`: {}", at_prefix(at), path.display(), leads_out(escape))]
    Escape {
        /// "copy to", "read", ...
        action: &'static str,
        /// The path on the host.
        path: PathBuf,
        /// The `files` entry, where one asked for it.
        at: Option<Location>,
        /// The prefix and the link that leads out.
        escape: Box<Escape>,
    },
    /// What the host policy refuses to let this revision install (see [`precheck`]).
    #[error("{}", refused(refusals))]
    Refused {
        /// Every refusal, in appspec order.
        refusals: Vec<InstallRefusal>,
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
    /// Two `permissions` entries apply to one installed path (the CodeDeploy agent refuses it
    /// too: "the permissions setting for (…) is specified more than once").
    #[error("{at}: `{}` is already under the `permissions` entry at {first}; each installed path may be under one entry only", path.display())]
    PermissionsOverlap {
        /// The path on the host.
        path: PathBuf,
        /// The second entry.
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
    /// `acls` the host policy applies on a filesystem that takes no POSIX ACLs.
    #[error(
        "{at}: `acls` for `{object}` cannot be applied: this host's filesystem does not support POSIX ACLs"
    )]
    AclsUnsupported {
        /// The `permissions` entry.
        at: Location,
        /// Its object.
        object: AbsPath,
    },
    /// A SELinux `context` the host policy applies on a host without SELinux.
    #[error(
        "{at}: SELinux `context` for `{object}` cannot be applied: SELinux is not enabled on this host"
    )]
    SelinuxDisabled {
        /// The `permissions` entry.
        at: Location,
        /// Its object.
        object: AbsPath,
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

fn refused(refusals: &[InstallRefusal]) -> String {
    let more = match refusals.len() {
        0 | 1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    match refusals.first() {
        Some(first) => format!("the host policy refuses to install this revision: {first}{more}"),
        None => "the host policy refuses to install this revision".to_owned(),
    }
}

fn leads_out(escape: &Escape) -> String {
    let how = match &escape.link {
        Some((name, target)) => format!(
            "through the link `{}` -> `{}`",
            name.display(),
            target.display()
        ),
        None => "through `..`".to_owned(),
    };
    format!(
        "it leads out of the install prefix `{}` {how}",
        escape.root.display()
    )
}

/// `error` with the `files` entry that led to it, where it has none.
pub(crate) fn located(error: InstallError, mapping: Location) -> InstallError {
    match error {
        InstallError::Escape {
            action,
            path,
            at: None,
            escape,
        } => InstallError::Escape {
            action,
            path,
            at: Some(mapping),
            escape,
        },
        other => other,
    }
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

/// An I/O error on `path`, or [`InstallError::Escape`] when the path was refused because it leads
/// out of its root.
pub(crate) fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> InstallError {
    let path = path.to_owned();
    move |source| match escape_of(&source) {
        Some(escape) => InstallError::Escape {
            action,
            path,
            at: None,
            escape: Box::new(escape.clone()),
        },
        None => InstallError::Io {
            action,
            path,
            source,
        },
    }
}

/// Runs the Install event for `req` (see the module docs).
///
/// # Errors
///
/// An [`InstallError`]. All checks that need no writing come first; after that, a failure
/// undoes every change, and only [`InstallError::NotUndone`] leaves the host changed.
pub fn install(req: &InstallRequest<'_>) -> Result<InstallReport, InstallError> {
    install_then(req, Cleanup::Now)
}

/// When a committed Install deletes what it kept until it committed (the old trees of its
/// directory destinations, the files it replaced).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// Before [`install`] returns.
    Now,
    /// Later, by [`recover`] on its journal (which stays until then): the new revision is in
    /// place as soon as the Install returns, and the deletion (as long as an `rm -rf` of the old
    /// tree) waits until the deployment has run its other events. A kill before then leaves
    /// nothing undone: the next run finishes it.
    Later,
}

/// [`install`], deleting what it replaced `when` the caller says.
///
/// # Errors
///
/// As [`install`].
pub fn install_then(
    req: &InstallRequest<'_>,
    when: Cleanup,
) -> Result<InstallReport, InstallError> {
    // The one walk of the bundle: what it checks is what the plan copies.
    let (refusals, sources) = precheck::scan(req.bundle_dir, req.spec, req.policy)
        .map_err(io_err("read", req.bundle_dir))?;
    if !refusals.is_empty() {
        return Err(InstallError::Refused { refusals });
    }
    let roots = Roots::open(req, true)?;
    let plan = plan::plan(req, &roots, &sources)?;
    let install_id = uuid::Uuid::new_v4().simple().to_string();
    let journal_path = req.state_dir.join(JOURNAL);
    let header = undo::header(&install_id, req.target_root, roots.specs(), req.backup_dir);
    let journal =
        Journal::create(&journal_path, &header).map_err(io_err("write", &journal_path))?;
    let mut run = Run {
        req,
        roots: &roots,
        plan: &plan,
        journal,
        report: InstallReport {
            record: CleanupRecord {
                install_id: Some(install_id),
                revision: req.revision.clone(),
                ..CleanupRecord::default()
            },
            copied: 0,
            retained: 0,
            removed: 0,
            warnings: plan.warnings.clone(),
        },
        installed: Vec::new(),
        created: HashSet::new(),
    };
    let record_path = req.state_dir.join(RECORD);
    // The commit point: the record that names this Install replaces the previous one.
    let done = run.execute().and_then(|()| {
        failpoint(Point::Commit, 1, &record_path)?;
        run.report
            .record
            .save(&record_path)
            .map_err(|e| io_err("write", &record_path)(io::Error::other(e)))
    });
    let Run {
        journal,
        mut report,
        ..
    } = run;
    match done {
        Ok(()) if when == Cleanup::Later => Ok(report),
        Ok(()) => {
            report.warnings.extend(journal.commit(&roots));
            let _ = std::fs::remove_file(&journal_path);
            Ok(report)
        }
        Err(error) => {
            let failures = journal.roll_back(&roots);
            if failures.is_empty() {
                let _ = std::fs::remove_file(&journal_path);
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

/// Everything [`install`] checks before it writes, against the host as it is now, writing
/// nothing: sources, destinations beneath the policy's prefixes, no two files on one path, no
/// file where a directory must go, `DISALLOW` conflicts, owner and group names, and no
/// installed path under two `permissions` entries. A deployment runs it before any hook (and
/// Install again, as the hooks before it may have changed the host). `backup_dir` is not used.
///
/// # Errors
///
/// The first [`InstallError`] the Install would meet before writing.
pub fn check(req: &InstallRequest<'_>) -> Result<(), InstallError> {
    let roots = Roots::open(req, false)?;
    let (_, sources) = precheck::scan(req.bundle_dir, req.spec, req.policy)
        .map_err(io_err("read", req.bundle_dir))?;
    plan::plan(req, &roots, &sources).map(|_| ())
}

/// The journal of the Install in flight, in [`InstallRequest::state_dir`].
pub const JOURNAL: &str = "install.journal";
/// The cleanup record, in [`InstallRequest::state_dir`].
pub const RECORD: &str = "cleanup.json";

/// One Install in progress.
struct Run<'r> {
    req: &'r InstallRequest<'r>,
    roots: &'r Roots,
    plan: &'r Plan<'r>,
    journal: Journal,
    report: InstallReport,
    /// What `permissions` may apply to in shared directories: target directories and
    /// directories created (files get theirs before they are put in place).
    installed: Vec<(Loc, bool)>,
    /// Host paths this Install created (their old owner and mode need no restoring).
    created: HashSet<PathBuf>,
}

impl Run<'_> {
    fn execute(&mut self) -> Result<(), InstallError> {
        self.ensure_prefixes()?;
        let units = self.select_units()?;
        for unit in &units {
            self.build(unit)?;
        }
        self.remove_previous(&units)?;
        self.copy(&units)?;
        self.apply_permissions()?;
        self.switch(&units)
    }

    fn journal_err(path: &Path) -> impl FnOnce(io::Error) -> InstallError {
        io_err("write the install journal for", path)
    }

    /// Creates the install prefixes the plan needs (journaled).
    fn ensure_prefixes(&mut self) -> Result<(), InstallError> {
        for op in &self.plan.ops {
            let dest = &op.dest;
            if let (OpKind::Dir { target }, true) = (op.kind, dest.is_prefix()) {
                let at = self.req.spec.files[op.mapping].at.clone();
                let (_, created) = self
                    .roots
                    .ensure(dest.prefix, &mut self.journal)
                    .map_err(|e| located(e, at))?;
                if target {
                    self.installed.push((dest.clone(), true));
                }
                if created {
                    self.created.insert(dest.host.clone());
                }
            }
        }
        Ok(())
    }

    fn left_in_place(&mut self, path: &Path, why: impl std::fmt::Display) {
        self.report.warnings.push(format!(
            "`{}` of the previous revision was left in place: {why}",
            path.display()
        ));
    }

    /// Moves the previous revision's files away, then removes its directories left empty;
    /// those in a unit go with its old tree, those a new file replaces are swapped in
    /// [`Run::copy`]. A path that now leads out of its prefix (a link was put on the way) is
    /// left alone, with a warning.
    fn remove_previous(&mut self, units: &[switch::Unit]) -> Result<(), InstallError> {
        let roots = self.roots;
        let in_unit = |loc: &Loc| units.iter().any(|u| u.holds(loc));
        let replaced: HashSet<&Path> = self
            .plan
            .ops
            .iter()
            .filter(|op| matches!(op.kind, OpKind::File | OpKind::Link))
            .map(|op| op.dest.host.as_path())
            .collect();
        self.report.removed += units.iter().map(|u| u.previous_files).sum::<usize>();
        for loc in &self.plan.previous_files {
            if in_unit(loc) {
                continue;
            }
            if replaced.contains(loc.host.as_path()) {
                continue;
            }
            let Some(root) = roots.existing(loc.prefix)? else {
                continue;
            };
            match root.symlink_metadata(&loc.rel) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) if is_escape(&e) => {
                    let why = leads_out(escape_of(&e).expect("an escape"));
                    self.left_in_place(&loc.host, why);
                }
                Err(e) => return Err(io_err("read", &loc.host)(e)),
                Ok(m) if m.is_dir() => self.report.warnings.push(format!(
                    "`{}` of the previous revision is now a directory and was left in place",
                    loc.host.display()
                )),
                Ok(_) => {
                    self.journal
                        .move_away(roots, loc)
                        .map_err(io_err("move away", &loc.host))?;
                    self.report.removed += 1;
                }
            }
        }
        let mut kept = Vec::new();
        let dirs = self.req.previous.iter().flat_map(|r| &r.dirs_created);
        for dir in dirs.rev() {
            let loc = match roots.locate_host(dir) {
                Ok(Some(loc)) => loc,
                // A prefix or above: the policy's, never removed.
                Ok(None) => continue,
                Err(why) => {
                    self.left_in_place(dir, why);
                    continue;
                }
            };
            if in_unit(&loc) {
                continue;
            }
            let Some(root) = roots.existing(loc.prefix)? else {
                continue;
            };
            let meta = match root.symlink_metadata(&loc.rel) {
                Ok(meta) if meta.is_dir() => meta,
                Err(e) if is_escape(&e) => {
                    let why = leads_out(escape_of(&e).expect("an escape"));
                    self.left_in_place(dir, why);
                    continue;
                }
                _ => continue,
            };
            let empty = root
                .read_dir(&loc.rel)
                .map_err(io_err("read", dir))?
                .is_empty();
            if empty {
                self.journal
                    .remove_dir(roots, &loc, &meta)
                    .map_err(io_err("remove directory", dir))?;
            } else {
                // Still ours: the next Install removes it once it is empty.
                kept.push(dir.clone());
            }
        }
        kept.reverse();
        // Parents before children: a kept directory existed before anything created now.
        kept.append(&mut self.report.record.dirs_created);
        self.report.record.dirs_created = kept;
        Ok(())
    }

    /// Installs what goes into shared directories (outside every unit), one entry at a time.
    fn copy(&mut self, units: &[switch::Unit]) -> Result<(), InstallError> {
        let roots = self.roots;
        let previous: HashSet<&Path> = self
            .plan
            .previous_files
            .iter()
            .map(|l| l.host.as_path())
            .collect();
        for op in &self.plan.ops {
            let dest = &op.dest;
            if dest.is_prefix() || units.iter().any(|u| u.holds(dest)) {
                continue;
            }
            let at = || self.req.spec.files[op.mapping].at.clone();
            let root = roots.root(dest).map_err(io_err("open", &dest.host))?;
            let found = match root.symlink_metadata(&dest.rel) {
                Ok(meta) => Some(meta),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(located(io_err("read", &dest.host)(e), at())),
            };
            match (op.kind, found) {
                (OpKind::Dir { target }, Some(meta)) => {
                    let linked_dir = meta.is_symlink()
                        && match root.metadata(&dest.rel) {
                            Ok(m) => m.is_dir(),
                            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
                            Err(e) => return Err(located(io_err("read", &dest.host)(e), at())),
                        };
                    if !(meta.is_dir() || linked_dir) {
                        return Err(InstallError::NotADirectory {
                            path: dest.host.clone(),
                            at: Some(at()),
                        });
                    }
                    if target {
                        self.installed.push((dest.clone(), true));
                    }
                }
                (OpKind::Dir { .. }, None) => {
                    self.journal
                        .will_create_dir(dest)
                        .map_err(Self::journal_err(&dest.host))?;
                    root.create_dir(&dest.rel, CREATED_DIR_MODE)
                        .map_err(io_err("create directory", &dest.host))?;
                    root.set_mode(&dest.rel, CREATED_DIR_MODE)
                        .map_err(io_err("set the mode of", &dest.host))?;
                    self.report.record.dirs_created.push(dest.host.clone());
                    self.installed.push((dest.clone(), true));
                    self.created.insert(dest.host.clone());
                }
                (OpKind::File | OpKind::Link, found) => {
                    let ours = previous.contains(dest.host.as_path());
                    if let Some(meta) = &found {
                        match self.req.behavior {
                            _ if ours && !meta.is_dir() => self.report.removed += 1,
                            FileExistsBehavior::Retain => {
                                self.report.retained += 1;
                                continue;
                            }
                            FileExistsBehavior::Disallow => {
                                return Err(InstallError::FilesExist {
                                    paths: vec![dest.host.clone()],
                                });
                            }
                            FileExistsBehavior::Overwrite if meta.is_dir() => {
                                return Err(InstallError::DirectoryInTheWay {
                                    path: dest.host.clone(),
                                    at: at(),
                                });
                            }
                            FileExistsBehavior::Overwrite => {}
                        }
                    }
                    self.place(&op.read, &op.src, dest, found.is_some())?;
                    self.report.record.files.push(dest.host.clone());
                    self.report.copied += 1;
                    self.created.insert(dest.host.clone());
                    failpoint(Point::Copy, self.report.copied, &dest.host)?;
                }
            }
        }
        Ok(())
    }

    /// Prepares one file (contents, owner and mode final) or symlink (its target as stored,
    /// never followed) under the sibling staging name of `dest`, then renames it into place,
    /// or swaps it with what is there (`replace`): `dest` is never missing or half-written.
    fn place(
        &mut self,
        read: &Kind,
        src: &Path,
        dest: &Loc,
        replace: bool,
    ) -> Result<(), InstallError> {
        let (roots, host) = (self.roots, &dest.host);
        let bundle = roots.bundle();
        let root = roots.root(dest).map_err(io_err("open", host))?;
        let tmp = undo::staging_of(dest);
        // One left by a run that could not be recovered (or planted): davit's own name.
        root.remove_all(&tmp.rel)
            .map_err(io_err("remove", &tmp.host))?;
        self.journal
            .will_create_file(&tmp)
            .map_err(Self::journal_err(host))?;
        let ino = if let Kind::Link(target) = read {
            root.symlink(target, &tmp.rel)
                .map_err(io_err("create symlink", host))?;
            root.symlink_metadata(&tmp.rel)
                .map_err(io_err("read", &tmp.host))?
                .ino()
        } else {
            let from = bundle
                .open_file(src, OpenOptions::new().read(true))
                .map_err(io_err("read", &bundle.display(src)))?;
            let entry = self.entry_for(host, false);
            let target = |mode| switch::Target::mine(mode).under(entry);
            let me = switch::Target::mine(0);
            let file = switch::write_file(root, &tmp.rel, from, read, target, me)
                .map_err(io_err("copy to", host))?;
            let meta = file.metadata().map_err(io_err("read", &tmp.host))?;
            let ino = std::os::unix::fs::MetadataExt::ino(&meta);
            switch::set_xattrs(entry, root, &tmp.rel, false)
                .map_err(io_err("set the ACLs and context of", host))?;
            ino
        };
        if replace {
            self.journal
                .will_exchange(dest, &tmp, ino)
                .map_err(Self::journal_err(host))?;
            root.exchange(&dest.rel, &tmp.rel)
                .map_err(io_err("replace", host))
        } else {
            self.journal
                .will_place(dest, &tmp)
                .map_err(Self::journal_err(host))?;
            root.rename_noreplace(&tmp.rel, &dest.rel)
                .map_err(io_err("create", host))
        }
    }

    /// Applies `permissions` to the directories of shared places that this Install created or
    /// that are destinations (files got theirs before they were put in place).
    fn apply_permissions(&mut self) -> Result<(), InstallError> {
        let roots = self.roots;
        let mut saved = HashSet::new();
        let mut applied = 0;
        for entry in &self.plan.perms {
            for (loc, is_dir) in &self.installed {
                if !entry.applies_to(roots.target_path(), &loc.host, *is_dir) {
                    continue;
                }
                let root = roots.root(loc).map_err(io_err("open", &loc.host))?;
                let meta = root
                    .symlink_metadata(&loc.rel)
                    .map_err(io_err("read", &loc.host))?;
                if meta.is_symlink() {
                    // A destination directory that is a link: Linux has no modes on links,
                    // and what it points at is not ours.
                    self.report.warnings.push(format!(
                        "{}: `{}` is a link, its owner and mode were left as they are",
                        entry.spec.at,
                        loc.host.display()
                    ));
                    continue;
                }
                if !entry.would_change(&meta) {
                    continue;
                }
                if !self.created.contains(&loc.host) && saved.insert(loc.host.clone()) {
                    self.journal
                        .will_change(loc, &meta)
                        .map_err(Self::journal_err(&loc.host))?;
                }
                entry
                    .apply(root, &loc.rel, &meta)
                    .map_err(io_err("set the owner and mode of", &loc.host))?;
                applied += 1;
                failpoint(Point::Permission, applied, &loc.host)?;
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
    /// After a unit is switched.
    Switch,
    /// Just before the Install commits.
    Commit,
}

#[cfg(test)]
thread_local! {
    static FAIL_AFTER: std::cell::Cell<Option<(Point, usize)>> = const { std::cell::Cell::new(None) };
    /// Instead of failing there, die there: unwind without undoing anything, as a kill would.
    static KILL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn failpoint(point: Point, count: usize, path: &Path) -> Result<(), InstallError> {
    #[cfg(test)]
    if FAIL_AFTER.get() == Some((point, count)) {
        if KILL.get() {
            panic!("killed at {point:?} {count}");
        }
        return Err(io_err("finish (injected failure)", path)(io::Error::other(
            "injected",
        )));
    }
    let _ = (point, count, path);
    Ok(())
}
