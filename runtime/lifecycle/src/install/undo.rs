//! The undo journal of one Install: every change to the host is written to disk before it is
//! made, so a failure, or a kill, can put the host back on the previous revision.
//!
//! The journal is a file of JSON lines in the group's state directory: a [`Header`] (where the
//! Install resolved its paths), then one [`Step`] per change, each written before the change
//! it describes, so the steps on disk are always a superset of what was done. Every undo is
//! idempotent: it looks at the host and takes back only what it finds done. Nothing is deleted
//! before the Install commits: a file that must go (the previous revision's, or one OVERWRITE
//! replaces) is moved into the backup directory, and a directory destination is built beside
//! its old tree and swapped with it. The Install commits when the new cleanup record, carrying
//! the Install's id, replaces the old one; only then are backups and old trees deleted. A run
//! that finds a journal ([`recover`]) compares the ids: not committed, it rolls back; committed,
//! it finishes the deletions. Every step names its paths as [`Loc`]s and is undone through
//! [`Roots`], so undoing is held beneath the install prefixes as well.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use davit_fsroot::{Metadata, MetadataExt, OpenOptions, OpenOptionsExt, Root};
use serde::{Deserialize, Serialize};

use super::record::CleanupRecord;
use super::roots::{Loc, PrefixSpec, Roots};

/// The schema of the journal file.
const JOURNAL_SCHEMA: u32 = 1;

/// The first line of a journal: enough to open the same roots again after a kill.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Header {
    pub schema_version: u32,
    /// Also in the cleanup record this Install writes when it commits.
    pub install_id: String,
    pub target_root: PathBuf,
    pub prefixes: Vec<PrefixSpec>,
    pub backup_dir: PathBuf,
}

/// One change, and how to take it back.
#[derive(Debug, Serialize, Deserialize)]
enum Step {
    /// `original` is moved to `backup` (a name in the backup directory).
    MovedAway { original: Loc, backup: PathBuf },
    /// A file or symlink is created.
    CreatedFile(Loc),
    /// A directory is created.
    CreatedDir(Loc),
    /// A directory is created on the way to an install prefix (or the prefix itself), at
    /// `rel` in the target root.
    CreatedPrefixDir { rel: PathBuf, host: PathBuf },
    /// An empty directory of the previous revision is removed.
    RemovedDir(Loc, Meta),
    /// The owner or mode of an existing path is changed.
    Changed(Loc, Meta),
    /// The new tree of the directory destination `unit` is built beside it.
    Building { unit: Loc },
    /// The new tree of `unit` takes its place: swapped with the old tree (`old_ino`, the old
    /// directory's inode), or renamed into place where there was none.
    Switched { unit: Loc, old_ino: Option<u64> },
    /// The new file `tmp` (inode `new_ino`) is swapped with the file at `dest`.
    Exchanged { dest: Loc, tmp: Loc, new_ino: u64 },
    /// The new file `tmp` is renamed to `dest`, where nothing was.
    Placed { dest: Loc, tmp: Loc },
}

/// Owner and permission bits of a path.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(super) struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Meta {
    pub(super) fn of(meta: &Metadata) -> Self {
        Self {
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
        }
    }

    /// Sets these on `rel` in `root` (the root itself when `rel` is empty).
    pub(super) fn set(self, root: &Root, rel: &Path) -> io::Result<()> {
        let now = root.symlink_metadata(rel)?;
        if now.uid() != self.uid || now.gid() != self.gid {
            chown(root, rel, Some(self.uid), Some(self.gid))?;
        }
        set_mode(root, rel, self.mode)
    }

    fn apply(self, roots: &Roots, loc: &Loc) -> io::Result<()> {
        self.set(roots.root(loc)?, &loc.rel)
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

/// Sets the mode of `rel` itself in `root`; the root itself through its descriptor.
pub(super) fn set_mode(root: &Root, rel: &Path, mode: u32) -> io::Result<()> {
    if rel.as_os_str().is_empty() {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(root.fd_path(), std::fs::Permissions::from_mode(mode))
    } else {
        root.set_mode(rel, mode)
    }
}

/// The sibling name under which a new file or tree is prepared before it takes `name`'s place
/// (and under which the old one waits, once swapped, until the Install commits).
pub(super) fn staging_name(name: &OsStr) -> OsString {
    let mut staged = OsString::from(".");
    staged.push(name);
    staged.push(".davit-next");
    staged
}

/// `loc`'s sibling [`staging_name`].
pub(super) fn staging_of(loc: &Loc) -> Loc {
    let name = loc.host.file_name().unwrap_or_default();
    let staged = staging_name(name);
    Loc {
        prefix: loc.prefix,
        rel: loc.rel.with_file_name(&staged),
        host: loc.host.with_file_name(&staged),
    }
}

/// The changes made so far, in memory and in the journal file.
#[derive(Debug)]
pub(super) struct Journal {
    steps: Vec<Step>,
    backups: usize,
    file: Option<File>,
}

impl Journal {
    /// Starts the journal file at `path` with `header`.
    pub(super) fn create(path: &Path, header: &Header) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = File::options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        let mut line = serde_json::to_vec(header).map_err(io::Error::other)?;
        line.push(b'\n');
        file.write_all(&line)?;
        file.sync_all()?;
        Ok(Journal {
            steps: Vec::new(),
            backups: 0,
            file: Some(file),
        })
    }

    /// Writes `step` to the journal file (before the change it describes is made) and keeps it.
    fn log(&mut self, step: Step) -> io::Result<()> {
        if let Some(file) = &mut self.file {
            let mut line = serde_json::to_vec(&step).map_err(io::Error::other)?;
            line.push(b'\n');
            // One write per step: what the kernel has is kept when the process is killed.
            file.write_all(&line)?;
        }
        self.steps.push(step);
        Ok(())
    }

    /// Moves the file or symlink at `loc` into the backup directory.
    pub(super) fn move_away(&mut self, roots: &Roots, loc: &Loc) -> io::Result<()> {
        self.backups += 1;
        let backup = PathBuf::from(self.backups.to_string());
        self.log(Step::MovedAway {
            original: loc.clone(),
            backup: backup.clone(),
        })?;
        move_entry(roots.root(loc)?, &loc.rel, roots.backup()?, &backup)
    }

    pub(super) fn will_create_file(&mut self, loc: &Loc) -> io::Result<()> {
        self.log(Step::CreatedFile(loc.clone()))
    }

    pub(super) fn will_create_dir(&mut self, loc: &Loc) -> io::Result<()> {
        self.log(Step::CreatedDir(loc.clone()))
    }

    pub(super) fn will_create_prefix_dir(&mut self, rel: &Path, host: &Path) -> io::Result<()> {
        self.log(Step::CreatedPrefixDir {
            rel: rel.to_owned(),
            host: host.to_owned(),
        })
    }

    /// Removes the empty directory `loc`, remembering its owner and mode.
    pub(super) fn remove_dir(
        &mut self,
        roots: &Roots,
        loc: &Loc,
        meta: &Metadata,
    ) -> io::Result<()> {
        self.log(Step::RemovedDir(loc.clone(), Meta::of(meta)))?;
        roots.root(loc)?.remove_dir(&loc.rel)
    }

    /// Remembers the owner and mode of `loc` before they are changed.
    pub(super) fn will_change(&mut self, loc: &Loc, meta: &Metadata) -> io::Result<()> {
        self.log(Step::Changed(loc.clone(), Meta::of(meta)))
    }

    pub(super) fn will_build(&mut self, unit: &Loc) -> io::Result<()> {
        self.log(Step::Building { unit: unit.clone() })
    }

    pub(super) fn will_switch(&mut self, unit: &Loc, old_ino: Option<u64>) -> io::Result<()> {
        self.log(Step::Switched {
            unit: unit.clone(),
            old_ino,
        })
    }

    pub(super) fn will_exchange(&mut self, dest: &Loc, tmp: &Loc, new_ino: u64) -> io::Result<()> {
        self.log(Step::Exchanged {
            dest: dest.clone(),
            tmp: tmp.clone(),
            new_ino,
        })
    }

    pub(super) fn will_place(&mut self, dest: &Loc, tmp: &Loc) -> io::Result<()> {
        self.log(Step::Placed {
            dest: dest.clone(),
            tmp: tmp.clone(),
        })
    }

    /// The Install committed: deletes the backups and the old trees. Returns what could not be
    /// deleted.
    pub(super) fn commit(self, roots: &Roots) -> Vec<String> {
        finish(&self.steps, roots)
    }

    /// The Install failed: undoes every change, newest first. Returns what could not be undone.
    pub(super) fn roll_back(self, roots: &Roots) -> Vec<String> {
        roll_back(self.steps, roots)
    }
}

/// Deletes what a committed Install kept until it committed.
fn finish(steps: &[Step], roots: &Roots) -> Vec<String> {
    let mut left = Vec::new();
    for step in steps {
        let (path, result) = match step {
            Step::MovedAway { backup, .. } => (
                backup.clone(),
                match roots.backup() {
                    Ok(b) => b.remove_all(backup),
                    // The backup directory is gone, and what was in it with it.
                    Err(_) => Ok(()),
                },
            ),
            // Swapped: the old tree, or the old file, waits under the staging name.
            Step::Switched {
                unit,
                old_ino: Some(_),
            } => {
                let result = roots
                    .unit_parent(unit)
                    .and_then(|(parent, name)| parent.remove_all(Path::new(&staging_name(&name))));
                (staging_of(unit).host, result)
            }
            Step::Exchanged { tmp, .. } => (
                tmp.host.clone(),
                roots.root(tmp).and_then(|r| r.remove_all(&tmp.rel)),
            ),
            _ => continue,
        };
        if let Err(e) = result {
            left.push(format!("cannot delete `{}`: {e}", path.display()));
        }
    }
    left
}

fn exists(root: &Root, rel: &Path) -> io::Result<Option<Metadata>> {
    match root.symlink_metadata(rel) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Takes back one step, as far as it was done.
fn undo(step: &Step, roots: &Roots) -> io::Result<()> {
    match step {
        Step::MovedAway { original, backup } => {
            let backups = roots.backup()?;
            if exists(backups, backup)?.is_some() {
                move_entry(backups, backup, roots.root(original)?, &original.rel)?;
            }
            Ok(())
        }
        Step::CreatedFile(loc) => {
            let root = roots.root(loc)?;
            match exists(root, &loc.rel)? {
                Some(meta) if !meta.is_dir() => root.remove_file(&loc.rel),
                _ => Ok(()),
            }
        }
        Step::CreatedDir(loc) => {
            let root = roots.root(loc)?;
            match exists(root, &loc.rel)? {
                Some(meta) if meta.is_dir() => root.remove_dir(&loc.rel),
                _ => Ok(()),
            }
        }
        Step::CreatedPrefixDir { rel, .. } => match exists(roots.target(), rel)? {
            Some(meta) if meta.is_dir() => roots.target().remove_dir(rel),
            _ => Ok(()),
        },
        Step::RemovedDir(loc, meta) => {
            let root = roots.root(loc)?;
            if exists(root, &loc.rel)?.is_none() {
                root.create_dir(&loc.rel, 0o700)?;
                meta.apply(roots, loc)?;
            }
            Ok(())
        }
        Step::Changed(loc, meta) => match roots.root(loc) {
            Ok(root) if exists(root, &loc.rel)?.is_some() => meta.apply(roots, loc),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        },
        Step::Building { unit } => {
            let (parent, name) = roots.unit_parent(unit)?;
            parent.remove_all(Path::new(&staging_name(&name)))
        }
        Step::Switched { unit, old_ino } => {
            let (parent, name) = roots.unit_parent(unit)?;
            let staged = staging_name(&name);
            let (name, staged) = (Path::new(&name), Path::new(&staged));
            let (now, beside) = (exists(&parent, name)?, exists(&parent, staged)?);
            match (old_ino, now, beside) {
                // Swapped: swap back; the new tree, now beside, goes with `Building`.
                (Some(ino), Some(now), Some(beside))
                    if now.ino() != *ino && beside.ino() == *ino =>
                {
                    parent.exchange(name, staged)
                }
                // Renamed into place: move it back beside.
                (None, Some(_), None) => parent.rename_noreplace(name, staged),
                _ => Ok(()),
            }
        }
        Step::Exchanged { dest, tmp, new_ino } => {
            let root = roots.root(dest)?;
            match (exists(root, &dest.rel)?, exists(root, &tmp.rel)?) {
                (Some(now), Some(_)) if now.ino() == *new_ino => root.exchange(&dest.rel, &tmp.rel),
                _ => Ok(()),
            }
        }
        Step::Placed { dest, tmp } => {
            let root = roots.root(dest)?;
            match (exists(root, &dest.rel)?, exists(root, &tmp.rel)?) {
                (Some(_), None) => root.rename_noreplace(&dest.rel, &tmp.rel),
                _ => Ok(()),
            }
        }
    }
}

fn describe(step: &Step) -> (&'static str, PathBuf) {
    match step {
        Step::MovedAway { original, .. } => ("restore", original.host.clone()),
        Step::CreatedFile(loc) => ("remove", loc.host.clone()),
        Step::CreatedDir(loc) | Step::Building { unit: loc } => {
            ("remove directory", loc.host.clone())
        }
        Step::CreatedPrefixDir { host, .. } => ("remove directory", host.clone()),
        Step::RemovedDir(loc, _) => ("recreate directory", loc.host.clone()),
        Step::Changed(loc, _) => ("restore owner and mode of", loc.host.clone()),
        Step::Switched { unit, .. } => ("put back the previous tree of", unit.host.clone()),
        Step::Exchanged { dest, .. } | Step::Placed { dest, .. } => ("put back", dest.host.clone()),
    }
}

fn roll_back(steps: Vec<Step>, roots: &Roots) -> Vec<String> {
    let mut failures = Vec::new();
    for step in steps.iter().rev() {
        if let Err(e) = undo(step, roots) {
            let (what, path) = describe(step);
            failures.push(format!("cannot {what} `{}`: {e}", path.display()));
        }
    }
    failures
}

/// What [`recover`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The id of the Install that was interrupted.
    pub install_id: String,
    /// Whether it had committed (its files stay) or not (the previous revision's are back).
    pub committed: bool,
    /// What could not be put back or deleted, one line each.
    pub failures: Vec<String>,
}

/// Finishes or takes back the Install whose journal is at `journal` (a previous davit was
/// killed during it): committed when `record` carries its id, then only the deletions are
/// finished; otherwise every step is undone. The journal is removed when nothing failed.
///
/// # Errors
///
/// When the journal or the record cannot be read, or the roots it names cannot be opened.
pub fn recover(journal: &Path, record: &Path) -> io::Result<Option<Recovered>> {
    let file = match File::open(journal) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut lines = io::BufReader::new(file).lines();
    let Some(first) = lines.next().transpose()? else {
        // Killed before the header was written: nothing was changed yet.
        std::fs::remove_file(journal)?;
        return Ok(None);
    };
    let header: Header = match serde_json::from_str(&first) {
        Ok(header) => header,
        // A header cut short by the kill: nothing was changed yet either.
        Err(e) if e.is_eof() => {
            std::fs::remove_file(journal)?;
            return Ok(None);
        }
        Err(e) => return Err(io::Error::other(e)),
    };
    if header.schema_version != JOURNAL_SCHEMA {
        return Err(io::Error::other(format!(
            "install journal `{}` has schema version {}, this davit reads version {JOURNAL_SCHEMA}",
            journal.display(),
            header.schema_version
        )));
    }
    let mut steps = Vec::new();
    for line in lines {
        let line = line?;
        match serde_json::from_str::<Step>(&line) {
            Ok(step) => steps.push(step),
            // The last line, cut short by the kill: its change was not made.
            Err(e) if e.is_eof() => break,
            Err(e) => return Err(io::Error::other(e)),
        }
    }
    let committed = CleanupRecord::load(record)
        .map_err(io::Error::other)?
        .is_some_and(|r| r.install_id.as_deref() == Some(header.install_id.as_str()));
    let roots = Roots::reopen(&header.target_root, &header.prefixes, &header.backup_dir)?;
    let failures = if committed {
        finish(&steps, &roots)
    } else {
        roll_back(steps, &roots)
    };
    if failures.is_empty() {
        std::fs::remove_file(journal)?;
        let _ = std::fs::remove_dir_all(&header.backup_dir);
    }
    Ok(Some(Recovered {
        install_id: header.install_id,
        committed,
        failures,
    }))
}

/// The new journal schema, for the header.
pub(super) fn header(
    install_id: &str,
    target_root: &Path,
    prefixes: Vec<PrefixSpec>,
    backup_dir: &Path,
) -> Header {
    Header {
        schema_version: JOURNAL_SCHEMA,
        install_id: install_id.to_owned(),
        target_root: target_root.to_owned(),
        prefixes,
        backup_dir: backup_dir.to_owned(),
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
