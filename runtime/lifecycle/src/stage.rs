//! Staging: a bundle (directory, zip or tarball) copied or unpacked into
//! `revisions/<digest>/`, content-addressed by [`tree_digest`].
//!
//! Everything is written into a fresh temporary directory inside the revisions directory (same
//! filesystem), checked entry by entry as it arrives, then renamed into place. An entry that
//! would land outside the tree (absolute path, `..`, a symlink or hard link leaving the tree, a
//! path beneath a symlink), a device or fifo, or an archive beyond [`MAX_ENTRIES`] or
//! [`MAX_UNPACKED_BYTES`] stops staging with a [`StageError`] and the temporary directory is
//! removed: nothing is ever written outside it.
//!
//! Kept from the bundle: the tree, file contents, permission bits ([`KEPT_MODE_BITS`]) and
//! relative symlinks that stay inside the tree. Not kept: owners, timestamps, setuid/setgid.

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;

use davit_fsroot::{Resolve, Root};
use std::path::{Path, PathBuf};

use crate::digest::{RevisionId, tree_digest};

/// Most entries (files, directories, links) a bundle may have.
pub const MAX_ENTRIES: usize = 100_000;
/// Most bytes of file content a bundle may unpack to (4 GiB).
pub const MAX_UNPACKED_BYTES: u64 = 4 << 30;

/// What staging one bundle may unpack: [`MAX_ENTRIES`] and [`MAX_UNPACKED_BYTES`] by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StageLimits {
    /// Entries (files, directories, links).
    pub max_entries: usize,
    /// Bytes of file content.
    pub max_unpacked_bytes: u64,
}

impl Default for StageLimits {
    fn default() -> Self {
        Self {
            max_entries: MAX_ENTRIES,
            max_unpacked_bytes: MAX_UNPACKED_BYTES,
        }
    }
}
/// The permission bits kept from a bundle: `rwx` for everyone and the sticky bit. Setuid and
/// setgid bits are dropped: a bundle does not get to mint privileged executables.
pub const KEPT_MODE_BITS: u32 = 0o1777;

const DEFAULT_FILE_MODE: u32 = 0o644;
const DEFAULT_DIR_MODE: u32 = 0o755;
const MAX_LINK_TARGET: u64 = 4096;

/// A bundle staged under the revisions directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagedRevision {
    /// The digest of the staged tree.
    pub id: RevisionId,
    /// `revisions_dir/<id>`.
    pub dir: PathBuf,
}

/// What a bundle source is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// A directory, copied.
    Directory,
    /// A `.zip` archive.
    Zip,
    /// An uncompressed `.tar` archive.
    Tar,
    /// A gzip-compressed tarball (`.tgz`, `.tar.gz`).
    TarGz,
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Directory => "directory",
            Self::Zip => "zip",
            Self::Tar => "tar",
            Self::TarGz => "gzip tar",
        })
    }
}

/// Why a bundle could not be staged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StageError {
    /// Neither a directory nor a recognised archive.
    #[error(
        "`{}` is not a directory or a `.zip`, `.tar`, `.tgz` or `.tar.gz` archive",
        path.display()
    )]
    UnknownFormat {
        /// The source.
        path: PathBuf,
    },
    /// The name says one archive format, the first bytes say otherwise.
    #[error("`{}` is named like a {expected} archive but its contents are not one", path.display())]
    FormatMismatch {
        /// The source.
        path: PathBuf,
        /// The format its name gives.
        expected: SourceKind,
    },
    /// The source directory holds the revisions directory: copying would never end.
    #[error("`{}` contains the revisions directory `{}`", path.display(), revisions.display())]
    SourceContainsRevisions {
        /// The source.
        path: PathBuf,
        /// The revisions directory.
        revisions: PathBuf,
    },
    /// An I/O error.
    #[error("cannot {action} `{}`", path.display())]
    Io {
        /// What was being done: "read", "create", ...
        action: &'static str,
        /// The file it was done to.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The zip library could not read the archive.
    #[error("cannot read zip archive `{}`", path.display())]
    Zip {
        /// The archive.
        path: PathBuf,
        /// The error.
        source: zip::result::ZipError,
    },
    /// An entry that must not be staged.
    #[error("`{}`: entry `{entry}` {problem}", archive.display())]
    Entry {
        /// The source directory or archive.
        archive: PathBuf,
        /// The entry's name as written in the archive.
        entry: String,
        /// What is wrong with it.
        problem: EntryProblem,
    },
    /// More than [`MAX_ENTRIES`] entries.
    #[error("`{}` has more than {limit} entries", path.display())]
    TooManyEntries {
        /// The source.
        path: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// More than [`MAX_UNPACKED_BYTES`] of file content.
    #[error("`{}` unpacks to more than {limit} bytes", path.display())]
    TooLarge {
        /// The source.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
}

/// What is wrong with one entry of a bundle. The message is a predicate following the entry name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryProblem {
    /// `/etc/passwd`, `C:\x`.
    #[error("is an absolute path")]
    Absolute,
    /// `a/../../b`.
    #[error("has a `..` component")]
    ParentComponent,
    /// A NUL byte in the name.
    #[error("has a NUL byte in its name")]
    Nul,
    /// A symlink whose target is absolute, goes up out of the tree, or goes up after going down.
    #[error("is a symlink to `{target}`, which may point outside the bundle")]
    SymlinkEscapes {
        /// The link target.
        target: String,
    },
    /// A hard link to something that is not a file already unpacked.
    #[error("is a hard link to `{target}`, which is not a file earlier in the archive")]
    HardlinkEscapes {
        /// The link target.
        target: String,
    },
    /// A device, fifo, socket or other special entry.
    #[error("is a {kind}; only files, directories and symlinks are allowed")]
    Special {
        /// "fifo", "character device", ...
        kind: &'static str,
    },
    /// Its parent is a symlink or a file already in the tree.
    #[error("lies beneath a symlink or a file")]
    BeneathNonDirectory,
    /// The same path twice (other than directories).
    #[error("appears twice")]
    Duplicate,
}

/// Stages `source` (a directory, or a `.zip`, `.tar`, `.tgz`/`.tar.gz` archive) under
/// `revisions_dir` and returns its id and directory. Staging the same content twice returns the
/// existing directory.
///
/// The format is chosen by the name, then checked against the first bytes; a file with another
/// name is recognised by its first bytes alone. A directory is copied without following the
/// symlinks inside it.
///
/// # Errors
///
/// A [`StageError`]: an unknown format, a refused entry ([`EntryProblem`]), a limit, or I/O.
pub fn stage(source: &Path, revisions_dir: &Path) -> Result<StagedRevision, StageError> {
    stage_with(source, revisions_dir, StageLimits::default())
}

/// [`stage`] with other limits.
///
/// # Errors
///
/// As [`stage`].
pub fn stage_with(
    source: &Path,
    revisions_dir: &Path,
    limits: StageLimits,
) -> Result<StagedRevision, StageError> {
    let kind = source_kind(source)?;
    fs::create_dir_all(revisions_dir).map_err(io_err("create", revisions_dir))?;
    if kind == SourceKind::Directory {
        let src = fs::canonicalize(source).map_err(io_err("read", source))?;
        let revs = fs::canonicalize(revisions_dir).map_err(io_err("read", revisions_dir))?;
        if revs.starts_with(&src) {
            return Err(StageError::SourceContainsRevisions {
                path: source.to_owned(),
                revisions: revisions_dir.to_owned(),
            });
        }
    }

    let temp = revisions_dir.join(format!(".staging-{}", uuid::Uuid::new_v4()));
    fs::create_dir(&temp).map_err(io_err("create", &temp))?;
    let staged = fill(kind, source, &temp, limits).and_then(|()| {
        fs::set_permissions(&temp, fs::Permissions::from_mode(DEFAULT_DIR_MODE))
            .map_err(io_err("set the mode of", &temp))?;
        tree_digest(&temp).map_err(io_err("hash", &temp))
    });
    let id = match staged {
        Ok(id) => id,
        Err(e) => {
            let _ = remove_tree(&temp);
            return Err(e);
        }
    };

    let dir = revisions_dir.join(id.as_str());
    if dir.is_dir() {
        let _ = remove_tree(&temp);
        return Ok(StagedRevision { id, dir });
    }
    if let Err(e) = fs::rename(&temp, &dir) {
        let _ = remove_tree(&temp);
        // Another process staged the same content between the check and the rename.
        if !dir.is_dir() {
            return Err(io_err("rename into place", &dir)(e));
        }
    }
    Ok(StagedRevision { id, dir })
}

/// Decides what `source` is: by its name, checked against its first bytes.
fn source_kind(source: &Path) -> Result<SourceKind, StageError> {
    let meta = fs::metadata(source).map_err(io_err("read", source))?;
    if meta.is_dir() {
        return Ok(SourceKind::Directory);
    }
    let name = source
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let named = if name.ends_with(".zip") {
        Some(SourceKind::Zip)
    } else if name.ends_with(".tgz") || name.ends_with(".tar.gz") {
        Some(SourceKind::TarGz)
    } else if name.ends_with(".tar") {
        Some(SourceKind::Tar)
    } else {
        None
    };

    let mut head = Vec::with_capacity(512);
    let file = fs::File::open(source).map_err(io_err("open", source))?;
    file.take(512)
        .read_to_end(&mut head)
        .map_err(io_err("read", source))?;
    let sniffed = sniff(&head);
    match (named, sniffed) {
        (Some(n), Some(s)) if n == s => Ok(n),
        (Some(expected), _) => Err(StageError::FormatMismatch {
            path: source.to_owned(),
            expected,
        }),
        (None, Some(s)) => Ok(s),
        (None, None) => Err(StageError::UnknownFormat {
            path: source.to_owned(),
        }),
    }
}

/// The archive format the first bytes of a file announce.
fn sniff(head: &[u8]) -> Option<SourceKind> {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some(SourceKind::Zip)
    } else if head.starts_with(&[0x1f, 0x8b]) {
        Some(SourceKind::TarGz)
    } else if head.get(257..262) == Some(b"ustar") {
        Some(SourceKind::Tar)
    } else {
        None
    }
}

fn fill(
    kind: SourceKind,
    source: &Path,
    temp: &Path,
    limits: StageLimits,
) -> Result<(), StageError> {
    let mut tree = Tree::new(temp, source, limits)?;
    match kind {
        SourceKind::Directory => copy_dir(&mut tree, source, &mut PathBuf::new())?,
        SourceKind::Zip => unzip(&mut tree, source)?,
        SourceKind::Tar | SourceKind::TarGz => {
            let file = fs::File::open(source).map_err(io_err("open", source))?;
            let reader: Box<dyn Read> = if kind == SourceKind::TarGz {
                Box::new(flate2::read::GzDecoder::new(io::BufReader::new(file)))
            } else {
                Box::new(io::BufReader::new(file))
            };
            untar(&mut tree, reader)?;
        }
    }
    tree.finish()
}

fn copy_dir(tree: &mut Tree<'_>, src_root: &Path, rel: &mut PathBuf) -> Result<(), StageError> {
    let dir = src_root.join(&*rel);
    let mut names = Vec::new();
    for entry in fs::read_dir(&dir).map_err(io_err("read", &dir))? {
        names.push(entry.map_err(io_err("read", &dir))?.file_name());
    }
    names.sort();
    for name in names {
        rel.push(&name);
        let path = src_root.join(&*rel);
        let meta = fs::symlink_metadata(&path).map_err(io_err("read", &path))?;
        let kind = meta.file_type();
        let mode = meta.permissions().mode();
        if kind.is_dir() {
            tree.dir(rel, mode)?;
            copy_dir(tree, src_root, rel)?;
        } else if kind.is_file() {
            let mut file = fs::File::open(&path).map_err(io_err("open", &path))?;
            tree.file(rel, mode, &mut file)?;
        } else if kind.is_symlink() {
            let target = fs::read_link(&path).map_err(io_err("read", &path))?;
            tree.symlink(rel, &target)?;
        } else {
            return Err(tree.refuse(
                rel,
                EntryProblem::Special {
                    kind: special_kind(mode),
                },
            ));
        }
        rel.pop();
    }
    Ok(())
}

fn untar(tree: &mut Tree<'_>, reader: Box<dyn Read>) -> Result<(), StageError> {
    use tar::EntryType as T;
    let origin = tree.origin.to_owned();
    let tar_err = |e| io_err("read tar archive", &origin)(e);
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(tar_err)? {
        let mut entry = entry.map_err(tar_err)?;
        let name = entry.path_bytes().into_owned();
        let kind = entry.header().entry_type();
        if kind == T::XGlobalHeader {
            continue;
        }
        let Some(rel) = tree.entry_path(&name)? else {
            continue;
        };
        let mode = entry.header().mode().map_err(tar_err)?;
        match kind {
            T::Regular | T::Continuous => tree.file(&rel, mode, &mut entry)?,
            T::Directory => tree.dir(&rel, mode)?,
            T::Symlink | T::Link => {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                let target = PathBuf::from(std::ffi::OsStr::from_bytes(&target));
                if kind == T::Symlink {
                    tree.symlink(&rel, &target)?;
                } else {
                    tree.hardlink(&rel, &target)?;
                }
            }
            T::Char => return Err(tree.refuse(&rel, special("character device"))),
            T::Block => return Err(tree.refuse(&rel, special("block device"))),
            T::Fifo => return Err(tree.refuse(&rel, special("fifo"))),
            _ => return Err(tree.refuse(&rel, special("tar entry of an unsupported type"))),
        }
    }
    Ok(())
}

fn unzip(tree: &mut Tree<'_>, source: &Path) -> Result<(), StageError> {
    let zip_err = |e| StageError::Zip {
        path: source.to_owned(),
        source: e,
    };
    let file = fs::File::open(source).map_err(io_err("open", source))?;
    let mut archive = zip::ZipArchive::new(io::BufReader::new(file)).map_err(zip_err)?;
    if archive.len() > tree.limits.max_entries {
        return Err(tree.too_many());
    }
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(zip_err)?;
        let name = entry.name().to_owned();
        let Some(rel) = tree.entry_path(name.as_bytes())? else {
            continue;
        };
        let unix = entry.unix_mode();
        let file_type = unix.map_or(0, |m| m & 0o170000);
        let named_dir = name.ends_with('/');
        match file_type {
            0o040000 => tree.dir(&rel, unix.unwrap_or(DEFAULT_DIR_MODE))?,
            0 if named_dir => tree.dir(&rel, DEFAULT_DIR_MODE)?,
            0 | 0o100000 => tree.file(&rel, unix.unwrap_or(DEFAULT_FILE_MODE), &mut entry)?,
            0o120000 => {
                let mut target = Vec::new();
                (&mut entry)
                    .take(MAX_LINK_TARGET)
                    .read_to_end(&mut target)
                    .map_err(io_err("read zip archive", source))?;
                let target = PathBuf::from(std::ffi::OsStr::from_bytes(&target));
                tree.symlink(&rel, &target)?;
            }
            other => return Err(tree.refuse(&rel, special(special_kind(other)))),
        }
    }
    Ok(())
}

fn special(kind: &'static str) -> EntryProblem {
    EntryProblem::Special { kind }
}

fn special_kind(mode: u32) -> &'static str {
    match mode & 0o170000 {
        0o010000 => "fifo",
        0o020000 => "character device",
        0o060000 => "block device",
        0o140000 => "socket",
        _ => "special file",
    }
}

/// The tree being built in the temporary directory, with its limits and checks.
struct Tree<'a> {
    /// The staging directory, through which every entry is written: nothing the archive names
    /// is ever opened outside it (see `davit_fsroot`).
    root: Root,
    /// Its path, for messages.
    dir: &'a Path,
    origin: &'a Path,
    limits: StageLimits,
    entries: usize,
    bytes: u64,
    /// Paths of non-directories already written (to refuse duplicates and paths beneath them).
    leaves: HashSet<PathBuf>,
    /// Directory modes, applied once everything is written (a `0555` directory can be filled).
    dir_modes: Vec<(PathBuf, u32)>,
}

impl<'a> Tree<'a> {
    fn new(dir: &'a Path, origin: &'a Path, limits: StageLimits) -> Result<Self, StageError> {
        let root = Root::open_ambient(dir, Resolve::Beneath).map_err(io_err("open", dir))?;
        Ok(Self {
            root,
            dir,
            origin,
            limits,
            entries: 0,
            bytes: 0,
            leaves: HashSet::new(),
            dir_modes: Vec::new(),
        })
    }

    fn refuse(&self, rel: &Path, problem: EntryProblem) -> StageError {
        self.refuse_name(&rel.to_string_lossy(), problem)
    }

    fn refuse_name(&self, entry: &str, problem: EntryProblem) -> StageError {
        StageError::Entry {
            archive: self.origin.to_owned(),
            entry: entry.to_owned(),
            problem,
        }
    }

    fn too_many(&self) -> StageError {
        StageError::TooManyEntries {
            path: self.origin.to_owned(),
            limit: self.limits.max_entries,
        }
    }

    /// The relative path of an archive entry name; `None` for the root itself.
    fn entry_path(&self, name: &[u8]) -> Result<Option<PathBuf>, StageError> {
        let refuse = |p| Err(self.refuse_name(&String::from_utf8_lossy(name), p));
        if name.contains(&0) {
            return refuse(EntryProblem::Nul);
        }
        let drive = name.len() >= 2 && name[0].is_ascii_alphabetic() && name[1] == b':';
        if name.starts_with(b"/") || name.starts_with(b"\\") || drive {
            return refuse(EntryProblem::Absolute);
        }
        // Backslashes are kept in names, but `..\` is refused as Windows tools would read it.
        if name
            .split(|b| *b == b'/' || *b == b'\\')
            .any(|c| c == b"..")
        {
            return refuse(EntryProblem::ParentComponent);
        }
        let rel: PathBuf = name
            .split(|b| *b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .map(std::ffi::OsStr::from_bytes)
            .collect();
        Ok((!rel.as_os_str().is_empty()).then_some(rel))
    }

    fn count(&mut self) -> Result<(), StageError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(self.too_many());
        }
        Ok(())
    }

    /// Makes sure every ancestor of `rel` is a directory of the tree (creating missing ones)
    /// and returns the absolute path of `rel`.
    fn prepare(&mut self, rel: &Path) -> Result<PathBuf, StageError> {
        let mut prefix = PathBuf::new();
        if let Some(parent) = rel.parent() {
            for part in parent.components() {
                prefix.push(part);
                if self.leaves.contains(&prefix) {
                    return Err(self.refuse(rel, EntryProblem::BeneathNonDirectory));
                }
                let abs = self.dir.join(&prefix);
                match self.root.symlink_metadata(&prefix) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => return Err(self.refuse(rel, EntryProblem::BeneathNonDirectory)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        self.count()?;
                        self.root
                            .create_dir(&prefix, DEFAULT_DIR_MODE)
                            .map_err(io_err("create", &abs))?;
                        self.dir_modes.push((prefix.clone(), DEFAULT_DIR_MODE));
                    }
                    Err(e) => return Err(io_err("read", &abs)(e)),
                }
            }
        }
        if self.leaves.contains(rel) {
            return Err(self.refuse(rel, EntryProblem::Duplicate));
        }
        Ok(self.dir.join(rel))
    }

    fn dir(&mut self, rel: &Path, mode: u32) -> Result<(), StageError> {
        let abs = self.prepare(rel)?;
        match self.root.symlink_metadata(rel) {
            // Created as a parent earlier, or listed twice: the last mode wins.
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(self.refuse(rel, EntryProblem::Duplicate)),
            Err(_) => {
                self.count()?;
                self.root
                    .create_dir(rel, DEFAULT_DIR_MODE)
                    .map_err(io_err("create", &abs))?;
            }
        }
        self.dir_modes.push((rel.to_owned(), mode & KEPT_MODE_BITS));
        Ok(())
    }

    fn file(&mut self, rel: &Path, mode: u32, content: &mut dyn Read) -> Result<(), StageError> {
        self.count()?;
        let abs = self.prepare(rel)?;
        let mut options = davit_fsroot::OpenOptions::new();
        options.write(true).create_new(true);
        davit_fsroot::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = self
            .root
            .open_file(rel, &options)
            .map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => self.refuse(rel, EntryProblem::Duplicate),
                _ => io_err("create", &abs)(e),
            })?;
        self.leaves.insert(rel.to_owned());
        let room = self.limits.max_unpacked_bytes - self.bytes;
        let written =
            io::copy(&mut content.take(room + 1), &mut out).map_err(io_err("write", &abs))?;
        if written > room {
            return Err(StageError::TooLarge {
                path: self.origin.to_owned(),
                limit: self.limits.max_unpacked_bytes,
            });
        }
        self.bytes += written;
        out.set_permissions(fs::Permissions::from_mode(mode & KEPT_MODE_BITS))
            .map_err(io_err("set the mode of", &abs))
    }

    fn symlink(&mut self, rel: &Path, target: &Path) -> Result<(), StageError> {
        self.count()?;
        if !davit_bundle::link_stays_inside(rel, target) {
            let target = target.to_string_lossy().into_owned();
            return Err(self.refuse(rel, EntryProblem::SymlinkEscapes { target }));
        }
        let abs = self.prepare(rel)?;
        self.root.symlink(target, rel).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => self.refuse(rel, EntryProblem::Duplicate),
            _ => io_err("create", &abs)(e),
        })?;
        self.leaves.insert(rel.to_owned());
        Ok(())
    }

    fn hardlink(&mut self, rel: &Path, target: &Path) -> Result<(), StageError> {
        self.count()?;
        let escapes = || {
            let target = target.to_string_lossy().into_owned();
            self.refuse(rel, EntryProblem::HardlinkEscapes { target })
        };
        let Ok(Some(target_rel)) = self.entry_path(target.as_os_str().as_bytes()) else {
            return Err(escapes());
        };
        let is_our_file = self.leaves.contains(&target_rel)
            && self
                .root
                .symlink_metadata(&target_rel)
                .is_ok_and(|m| m.is_file());
        if !is_our_file {
            return Err(escapes());
        }
        let abs = self.prepare(rel)?;
        self.root
            .hard_link(&target_rel, rel)
            .map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => self.refuse(rel, EntryProblem::Duplicate),
                _ => io_err("create", &abs)(e),
            })?;
        self.leaves.insert(rel.to_owned());
        Ok(())
    }

    /// Applies directory modes, deepest first, so a read-only directory is filled before it
    /// is closed.
    fn finish(mut self) -> Result<(), StageError> {
        self.dir_modes
            .sort_by_key(|(rel, _)| std::cmp::Reverse(rel.components().count()));
        for (rel, mode) in &self.dir_modes {
            self.root
                .set_mode(rel, *mode)
                .map_err(io_err("set the mode of", &self.dir.join(rel)))?;
        }
        Ok(())
    }
}

/// Removes a tree even where its directories are read-only (a staged `0555` directory).
pub fn remove_tree(path: &Path) -> io::Result<()> {
    fn open_up(path: &Path) -> io::Result<()> {
        if fs::symlink_metadata(path)?.is_dir() {
            fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
            for entry in fs::read_dir(path)? {
                open_up(&entry?.path())?;
            }
        }
        Ok(())
    }
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(_) => {
            open_up(path)?;
            fs::remove_dir_all(path)
        }
    }
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StageError {
    let path = path.to_owned();
    move |source| StageError::Io {
        action,
        path,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing() {
        assert_eq!(sniff(b"PK\x03\x04rest"), Some(SourceKind::Zip));
        assert_eq!(sniff(&[0x1f, 0x8b, 8]), Some(SourceKind::TarGz));
        let mut tar = vec![0u8; 512];
        tar[257..263].copy_from_slice(b"ustar\0");
        assert_eq!(sniff(&tar), Some(SourceKind::Tar));
        assert_eq!(sniff(b"hello"), None);
    }

    #[test]
    fn entry_names() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = Tree::new(tmp.path(), Path::new("b.zip"), StageLimits::default()).unwrap();
        let p = |n: &str| tree.entry_path(n.as_bytes());
        assert_eq!(p("./a//b/").unwrap(), Some(PathBuf::from("a/b")));
        assert_eq!(p("./").unwrap(), None);
        let problem = |n: &str| match p(n) {
            Err(StageError::Entry { problem, .. }) => problem,
            other => panic!("{n}: {other:?}"),
        };
        assert_eq!(problem("/etc/passwd"), EntryProblem::Absolute);
        assert_eq!(problem("C:\\x"), EntryProblem::Absolute);
        assert_eq!(problem("a/../../b"), EntryProblem::ParentComponent);
        assert_eq!(problem("a\\..\\..\\b"), EntryProblem::ParentComponent);
    }
}
