//! Directory destinations, built beside and switched into place in one step.
//!
//! A *unit* is a directory that this Install may replace as a whole: a destination that does
//! not exist yet (the topmost missing directory on its way), or an existing destination
//! directory that holds nothing but the previous revision's files and directories (and is no
//! link and no mount point). Its new tree is built under the sibling name `.NAME.davit-next`,
//! with every owner and mode already final, and then takes `NAME`'s place: renamed where there
//! was nothing, swapped with the old tree (`RENAME_EXCHANGE`) where there was one. A reader of
//! `NAME` sees the old tree or the new one, complete, at every moment, even if davit is
//! killed. The old tree waits under the sibling name until the Install commits.
//!
//! Everything else goes into a *shared* directory (`/etc`, or a destination that holds files
//! davit did not install): there each file is prepared under its own sibling name and renamed
//! or swapped into place, and every change is journaled so the next run puts them back.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use davit_fsroot::{MetadataExt, OpenOptions, OpenOptionsExt, Root};
use davit_spec::Destination;

use super::perms::Resolved;
use super::plan::{OpKind, Plan};
use super::precheck::Kind;
use super::record::CleanupRecord;
use super::roots::Loc;
use super::undo::{Meta, chown, set_mode, staging_name};
use super::{CREATED_DIR_MODE, InstallError, Point, Run, failpoint, io_err};

/// A directory replaced as a whole.
#[derive(Debug)]
pub(super) struct Unit {
    pub loc: Loc,
    /// The inode and the owner and mode of the directory it replaces, if there is one.
    pub old: Option<(u64, Meta)>,
    /// Whether the directory itself goes into the cleanup record (davit created it).
    pub recorded: bool,
    /// How many files of the previous revision its old tree holds.
    pub previous_files: usize,
}

/// The previous revision's files and the directories it created, as host paths.
struct Previous<'p> {
    files: HashSet<&'p Path>,
    dirs: HashSet<&'p Path>,
}

impl Unit {
    /// Whether `loc` is the unit or lies beneath it.
    pub(super) fn holds(&self, loc: &Loc) -> bool {
        loc.prefix == self.loc.prefix && loc.rel.starts_with(&self.loc.rel)
    }
}

/// An open directory and the chain of directories opened beneath it, one name at a time, so a
/// walk in tree order opens each directory once.
pub(super) struct Cursor {
    stack: Vec<(PathBuf, Root)>,
}

impl Cursor {
    pub(super) fn new(root: Root) -> Self {
        Cursor {
            stack: vec![(PathBuf::new(), root)],
        }
    }

    /// The directory `rel` beneath the cursor's root.
    pub(super) fn dir(&mut self, rel: &Path) -> io::Result<&Root> {
        while !rel.starts_with(&self.stack.last().expect("the root stays").0) {
            self.stack.pop();
        }
        let (base, _) = self.stack.last().expect("the root stays");
        let rest: PathBuf = rel.strip_prefix(base).unwrap_or(rel).to_owned();
        for name in rest.iter() {
            let (path, top) = self.stack.last().expect("the root stays");
            let next = top.open_dir(Path::new(name))?;
            let path = path.join(name);
            self.stack.push((path, next));
        }
        Ok(&self.stack.last().expect("the root stays").1)
    }

    /// The directory holding `rel`, and `rel`'s name.
    pub(super) fn parent_of<'p>(&mut self, rel: &'p Path) -> io::Result<(&Root, &'p OsStr)> {
        let name = rel.file_name().unwrap_or_default();
        let dir = self.dir(rel.parent().unwrap_or(Path::new("")))?;
        Ok((dir, name))
    }
}

/// Final owner, group and mode of something installed: what it starts with, then what the
/// `permissions` entry that applies to it sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Target {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

impl Target {
    /// What this process gives what it creates: its own user and group, and `mode`.
    pub(super) fn mine(mode: u32) -> Self {
        Target {
            // SAFETY: geteuid and getegid cannot fail.
            uid: unsafe { libc::geteuid() },
            gid: unsafe { libc::getegid() },
            mode,
        }
    }

    /// This, with the owner, group and mode `entry` sets.
    pub(super) fn under(self, entry: Option<&Resolved<'_>>) -> Self {
        let Some(entry) = entry else { return self };
        Target {
            uid: entry.uid.unwrap_or(self.uid),
            gid: entry.gid.unwrap_or(self.gid),
            mode: entry.spec.mode.map_or(self.mode, |m| m.bits()),
        }
    }
}

/// Sets the ACLs and SELinux context of `entry`, if it has any, on `rel` in `dir`.
pub(super) fn set_xattrs(
    entry: Option<&Resolved<'_>>,
    dir: &Root,
    rel: &Path,
    is_dir: bool,
) -> io::Result<()> {
    match entry {
        Some(entry) if entry.has_xattrs() => entry.apply_xattrs(dir, rel, is_dir),
        _ => Ok(()),
    }
}

impl<'r> Run<'r> {
    /// The `permissions` entry that applies to `host`: at most one does, the plan refuses two.
    pub(super) fn entry_for(&self, host: &Path, is_dir: bool) -> Option<&'r Resolved<'r>> {
        let plan: &'r Plan<'r> = self.plan;
        let root = self.roots.target_path();
        plan.perms.iter().find(|e| e.applies_to(root, host, is_dir))
    }
}

impl Run<'_> {
    /// Chooses the units (see the module docs): for each `files` entry, the topmost missing
    /// directory on its way, or its destination when that holds only the previous revision.
    pub(super) fn select_units(&self) -> Result<Vec<Unit>, InstallError> {
        let roots = self.roots;
        let set = |f: fn(&CleanupRecord) -> &Vec<PathBuf>| -> HashSet<&Path> {
            self.req
                .previous
                .iter()
                .flat_map(f)
                .map(PathBuf::as_path)
                .collect()
        };
        let previous = Previous {
            files: set(|r| &r.files),
            dirs: set(|r| &r.dirs_created),
        };
        let mut units: Vec<Unit> = Vec::new();
        for mapping in &self.req.spec.files {
            let Destination::Unix(path) = &mapping.destination else {
                continue;
            };
            let Some(dest) = roots.locate(path) else {
                continue;
            };
            let Some(root) = roots.existing(dest.prefix)? else {
                continue;
            };
            let mut chain = Loc {
                prefix: dest.prefix,
                rel: PathBuf::new(),
                host: dest.host.clone(),
            };
            for _ in dest.rel.iter() {
                chain.host.pop();
            }
            let mut unit = None;
            for name in dest.rel.iter() {
                chain = chain.child(name);
                match root.symlink_metadata(&chain.rel) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        unit = Some(Unit {
                            loc: chain.clone(),
                            old: None,
                            recorded: true,
                            previous_files: 0,
                        });
                        break;
                    }
                    Err(e) => return Err(io_err("read", &chain.host)(e)),
                    Ok(_) => {}
                }
            }
            if unit.is_none()
                && let Some((ino, meta, files)) = owned(root, &dest, &previous)?
            {
                unit = Some(Unit {
                    recorded: previous.dirs.contains(dest.host.as_path()),
                    loc: dest,
                    old: Some((ino, meta)),
                    previous_files: files,
                });
            }
            if let Some(unit) = unit
                && !units.iter().any(|u| u.holds(&unit.loc))
            {
                units.retain(|u| !unit.holds(&u.loc));
                units.push(unit);
            }
        }
        Ok(units)
    }

    /// Builds the new tree of `unit` beside it: every planned directory, file and link beneath
    /// it, owners and modes final.
    pub(super) fn build(&mut self, unit: &Unit) -> Result<(), InstallError> {
        let roots = self.roots;
        let (parent, name) = roots
            .unit_parent(&unit.loc)
            .map_err(io_err("open the parent of", &unit.loc.host))?;
        let staged = staging_name(&name);
        let staged = Path::new(&staged);
        let staged_host = unit.loc.host.with_file_name(staged);
        // A tree left by a run that could not be recovered: davit's own name.
        parent
            .remove_all(staged)
            .map_err(io_err("remove", &staged_host))?;
        self.journal
            .will_build(&unit.loc)
            .map_err(io_err("write the install journal for", &unit.loc.host))?;
        parent
            .create_dir(staged, 0o700)
            .map_err(io_err("create directory", &staged_host))?;
        let tree = parent
            .open_dir(staged)
            .map_err(io_err("open", &staged_host))?;
        let me = Target::mine(CREATED_DIR_MODE);
        let mut dest = Cursor::new(tree);
        let mut src = Cursor::new(
            roots
                .bundle()
                .try_clone()
                .map_err(io_err("open", roots.bundle().path()))?,
        );
        // Directories get their final owner and mode last, deepest first, so a read-only one
        // can still be filled.
        let mut dirs: Vec<(PathBuf, Target, Option<&Resolved<'_>>)> = Vec::new();
        if unit.recorded {
            self.report.record.dirs_created.push(unit.loc.host.clone());
        }
        let start = match unit.old {
            Some((_, meta)) => Target {
                uid: meta.uid,
                gid: meta.gid,
                mode: meta.mode,
            },
            None => me,
        };
        let entry = self.entry_for(&unit.loc.host, true);
        dirs.push((PathBuf::new(), start.under(entry), entry));
        for op in &self.plan.ops {
            if !unit.holds(&op.dest) {
                continue;
            }
            let rel = op
                .dest
                .rel
                .strip_prefix(&unit.loc.rel)
                .unwrap_or(&op.dest.rel);
            if rel.as_os_str().is_empty() {
                continue;
            }
            let host = &op.dest.host;
            match op.kind {
                OpKind::Dir { .. } => {
                    let (dir, name) = dest.parent_of(rel).map_err(io_err("open", host))?;
                    dir.create_dir(Path::new(name), 0o700)
                        .map_err(io_err("create directory", host))?;
                    self.report.record.dirs_created.push(host.clone());
                    let entry = self.entry_for(host, true);
                    dirs.push((rel.to_owned(), me.under(entry), entry));
                }
                OpKind::Link => {
                    let Kind::Link(link) = &op.read else {
                        unreachable!("a link op carries its target");
                    };
                    let (dir, name) = dest.parent_of(rel).map_err(io_err("open", host))?;
                    dir.symlink(link, Path::new(name))
                        .map_err(io_err("create symlink", host))?;
                    self.copied(host)?;
                }
                OpKind::File => {
                    let (from, from_name) =
                        src.parent_of(&op.src).map_err(io_err("read", &op.src))?;
                    let from = from
                        .open_file(Path::new(from_name), OpenOptions::new().read(true))
                        .map_err(io_err("read", &roots.bundle().display(&op.src)))?;
                    let (dir, name) = dest.parent_of(rel).map_err(io_err("open", host))?;
                    let entry = self.entry_for(host, false);
                    // `me`, not `Target::mine` again: no geteuid and getegid per file.
                    let target = |mode| Target { mode, ..me }.under(entry);
                    write_file(dir, Path::new(name), from, &op.read, target, me)
                        .map_err(io_err("copy to", host))?;
                    set_xattrs(entry, dir, Path::new(name), false)
                        .map_err(io_err("set the ACLs and context of", host))?;
                    self.copied(host)?;
                }
            }
        }
        drop(src);
        for (rel, t, entry) in dirs.iter().rev() {
            let host = unit.loc.host.join(rel);
            let (dir, name) = if rel.as_os_str().is_empty() {
                (dest.dir(rel), OsStr::new(""))
            } else {
                let name = rel.file_name().unwrap_or_default();
                (dest.dir(rel.parent().unwrap_or(Path::new(""))), name)
            };
            let dir = dir.map_err(io_err("open", &host))?;
            set_owner_and_mode(dir, Path::new(name), *t, me)
                .map_err(io_err("set the owner and mode of", &host))?;
            set_xattrs(*entry, dir, Path::new(name), true)
                .map_err(io_err("set the ACLs and context of", &host))?;
        }
        Ok(())
    }

    /// Counts one file or link copied and records it.
    fn copied(&mut self, host: &Path) -> Result<(), InstallError> {
        self.report.record.files.push(host.to_owned());
        self.report.copied += 1;
        failpoint(Point::Copy, self.report.copied, host)
    }

    /// Puts every unit's new tree in place (after flushing it to disk).
    pub(super) fn switch(&mut self, units: &[Unit]) -> Result<(), InstallError> {
        for unit in units {
            let (parent, name) = self
                .roots
                .unit_parent(&unit.loc)
                .map_err(io_err("open the parent of", &unit.loc.host))?;
            let staged = staging_name(&name);
            let (name, staged) = (Path::new(&name), Path::new(&staged));
            parent
                .sync_filesystem()
                .map_err(io_err("flush", &unit.loc.host))?;
            let journal_err = io_err("write the install journal for", &unit.loc.host);
            match unit.old {
                Some((ino, _)) => {
                    let now = parent
                        .symlink_metadata(name)
                        .map_err(io_err("read", &unit.loc.host))?;
                    if now.ino() != ino || !now.is_dir() {
                        return Err(io_err("replace", &unit.loc.host)(io::Error::other(
                            "it was replaced by something else during the install",
                        )));
                    }
                    self.journal
                        .will_switch(&unit.loc, Some(ino))
                        .map_err(journal_err)?;
                    parent
                        .exchange(name, staged)
                        .map_err(io_err("switch to the new tree", &unit.loc.host))?;
                }
                None => {
                    self.journal
                        .will_switch(&unit.loc, None)
                        .map_err(journal_err)?;
                    parent
                        .rename_noreplace(staged, name)
                        .map_err(io_err("put the new tree in place at", &unit.loc.host))?;
                }
            }
            failpoint(Point::Switch, 1, &unit.loc.host)?;
        }
        Ok(())
    }
}

/// Whether the existing directory `dest` holds only what the previous revision put there (then
/// it may be swapped as a whole): its inode, owner and mode, and how many files it holds, if
/// so. A link, a mount point, or a directory with anything else in it (a link where the
/// revision had a directory, too) is shared.
fn owned(
    root: &Root,
    dest: &Loc,
    previous: &Previous<'_>,
) -> Result<Option<(u64, Meta, usize)>, InstallError> {
    let meta = root
        .symlink_metadata(&dest.rel)
        .map_err(io_err("read", &dest.host))?;
    if !meta.is_dir() {
        return Ok(None);
    }
    let parent_dev = if dest.is_prefix() {
        // The prefix's parent is outside the prefix root: its device through `..` of the fd.
        std::fs::metadata(root.fd_path().join(".."))
            .map(|m| std::os::unix::fs::MetadataExt::dev(&m))
            .map_err(io_err("read", &dest.host))?
    } else {
        root.symlink_metadata(dest.rel.parent().unwrap_or(Path::new("")))
            .map_err(io_err("read", &dest.host))?
            .dev()
    };
    if meta.dev() != parent_dev {
        return Ok(None);
    }
    let dir = root
        .open_dir(&dest.rel)
        .map_err(io_err("open", &dest.host))?;
    let mut files = 0;
    if !only_previous(&dir, &dest.host, previous, &mut files).map_err(io_err("read", &dest.host))? {
        return Ok(None);
    }
    Ok(Some((meta.ino(), Meta::of(&meta), files)))
}

/// Whether the tree `dir` (at `host`) holds only the previous revision's files and directories,
/// counting its files into `files`. Types come from the listing (`d_type`), so the old tree
/// costs one listing per directory, no `stat` per entry.
fn only_previous(
    dir: &Root,
    host: &Path,
    previous: &Previous<'_>,
    files: &mut usize,
) -> io::Result<bool> {
    for (name, kind) in dir.entries(Path::new(""))? {
        let path = host.join(&name);
        if kind.is_dir() {
            let sub = dir.open_dir(Path::new(&name))?;
            if !previous.dirs.contains(path.as_path())
                || !only_previous(&sub, &path, previous, files)?
            {
                return Ok(false);
            }
        } else if previous.files.contains(path.as_path()) {
            *files += 1;
        } else {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Creates the file `name` in `dir` from `from`, the bundle file the precheck listed as `read`
/// (its mode and size), with the owner and mode `target` gives for that mode (`me`: the owner
/// it has when created). Returns it, open.
pub(super) fn write_file(
    dir: &Root,
    name: &Path,
    mut from: std::fs::File,
    read: &Kind,
    target: impl Fn(u32) -> Target,
    me: Target,
) -> io::Result<std::fs::File> {
    use std::os::unix::fs::PermissionsExt as _;
    let &Kind::File { mode, size } = read else {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    };
    let mut to = dir.open_file(
        name,
        OpenOptions::new().write(true).create_new(true).mode(0o600),
    )?;
    copy_contents(&mut from, &mut to, size)?;
    let t = target(mode);
    if t.uid != me.uid || t.gid != me.gid {
        let uid = (t.uid != me.uid).then_some(t.uid);
        let gid = (t.gid != me.gid).then_some(t.gid);
        std::os::unix::fs::fchown(&to, uid, gid)?;
    }
    // After chown, which clears setuid and setgid bits.
    to.set_permissions(std::fs::Permissions::from_mode(t.mode))?;
    Ok(to)
}

/// Copies the `len` bytes the precheck listed from `from` to the new, empty `to`: in the
/// kernel (`copy_file_range`, no `stat` of either: the length is known) where it can, else by
/// reading and writing. What was listed is what is copied: a staged file that has grown since
/// is copied up to the listed length, one that has shrunk as it is now.
fn copy_contents(from: &mut std::fs::File, to: &mut std::fs::File, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd as _;
    let mut left = len;
    while left > 0 {
        let chunk = usize::try_from(left.min(1 << 30)).unwrap_or(1 << 30);
        // SAFETY: two descriptors open for the call; null offsets use (and advance) the files'
        // own positions.
        let n = unsafe {
            libc::copy_file_range(
                from.as_raw_fd(),
                std::ptr::null_mut(),
                to.as_raw_fd(),
                std::ptr::null_mut(),
                chunk,
                0,
            )
        };
        match u64::try_from(n) {
            Ok(0) => break,
            Ok(n) => left = left.saturating_sub(n),
            Err(_) => {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => {}
                    // Not between these two files (across filesystems on older kernels, or a
                    // filesystem without it) and nothing copied yet: the plain way.
                    Some(libc::EXDEV | libc::ENOSYS | libc::EOPNOTSUPP | libc::EINVAL)
                        if left == len =>
                    {
                        io::copy(from, to)?;
                        return Ok(());
                    }
                    _ => return Err(e),
                }
            }
        }
    }
    Ok(())
}

/// Sets `target`'s owner (where it differs from `me`) and mode on `rel` in `dir` (`dir` itself
/// when `rel` is empty).
fn set_owner_and_mode(dir: &Root, rel: &Path, target: Target, me: Target) -> io::Result<()> {
    if target.uid != me.uid || target.gid != me.gid {
        chown(dir, rel, Some(target.uid), Some(target.gid))?;
    }
    set_mode(dir, rel, target.mode)
}
