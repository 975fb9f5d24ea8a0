//! The one layer through which davit touches a path that a plugin or a bundle can influence.
//!
//! A [`Root`] is an open directory. Every path handed to it is resolved one component at a
//! time, each step a cap-std operation on a single name inside an open directory (cap-std
//! resolves with `openat2` `RESOLVE_BENEATH` where the kernel has it), so no `..` and no link
//! leads out of the root:
//!
//! - [`Resolve::Beneath`]: a `..` or a link that would leave the root, and every absolute link,
//!   is refused with an [`Escape`] error. This is how granted directories, log files, command
//!   arguments and install destinations are resolved.
//! - [`Resolve::InRoot`]: the root is `/` for whatever is inside it: an absolute link restarts
//!   at the root and `..` stops there, as inside a chroot. This is how paths inside an image's
//!   root filesystem are resolved, so that its `/etc/alternatives/…` links lead to its own files,
//!   never to those of the machine that builds it.
//!
//! The last component of a path is never followed unless asked ([`Root::open_dir`],
//! [`Root::metadata`], [`Root::real_path`]); creating, opening for writing, removing, renaming
//! and changing owners and modes act on the entry itself, not on what a link there points at.
//!
//! ```
//! use std::path::Path;
//! use davit_fsroot::{Resolve, Root};
//!
//! let tmp = tempfile::tempdir().unwrap();
//! std::fs::create_dir(tmp.path().join("app")).unwrap();
//! std::os::unix::fs::symlink("../..", tmp.path().join("app/up")).unwrap();
//! let root = Root::open_ambient(&tmp.path().join("app"), Resolve::Beneath).unwrap();
//! let escape = root.open_dir(Path::new("up/etc")).unwrap_err();
//! assert!(davit_fsroot::is_escape(&escape), "{escape}");
//! ```
//!
//! Only paths that davit itself chose (a target root, a policy's directory, a directory davit
//! created) are opened ambiently, with [`Root::open_ambient`].

mod escape;
pub mod tree;
mod walk;

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt};
use cap_std::ambient_authority;
use cap_std::fs::Dir;

pub use cap_std::fs::{
    FileType, Metadata, MetadataExt, OpenOptions, OpenOptionsExt, Permissions, PermissionsExt,
};
pub use escape::{Escape, escape_of, is_escape};

use walk::{DirRef, Resolved, Walk};

/// How links and `..` are treated inside a [`Root`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolve {
    /// Nothing may leave the root: `..` past it and links out of it (every absolute link
    /// among them) are refused.
    Beneath,
    /// The root is `/`: absolute links restart at it and `..` stops at it (an image's root
    /// filesystem).
    InRoot,
}

/// An open directory that paths are resolved beneath (see the crate docs).
#[derive(Debug)]
pub struct Root {
    dir: Dir,
    path: PathBuf,
    mode: Resolve,
}

impl Root {
    /// Opens a directory that davit chose itself (not one a plugin or bundle can name).
    ///
    /// # Errors
    ///
    /// When it cannot be opened as a directory.
    pub fn open_ambient(path: &Path, mode: Resolve) -> io::Result<Root> {
        let dir = Dir::open_ambient_dir(path, ambient_authority())?;
        Ok(Root {
            dir,
            path: path.to_owned(),
            mode,
        })
    }

    /// The path this root was opened at, for messages (what is open is the directory itself).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `rel` under this root's path, for messages.
    pub fn display(&self, rel: &Path) -> PathBuf {
        walk::shown(&self.path, rel)
    }

    /// A second handle on the same directory.
    ///
    /// # Errors
    ///
    /// When the descriptor cannot be duplicated.
    pub fn try_clone(&self) -> io::Result<Root> {
        Ok(Root {
            dir: self.dir.try_clone()?,
            path: self.path.clone(),
            mode: self.mode,
        })
    }

    fn walk(&self, rel: &Path, follow_last: bool, create: Option<u32>) -> io::Result<Resolved<'_>> {
        walk::resolve(
            &self.dir,
            &self.path,
            rel,
            Walk {
                mode: self.mode,
                follow_last,
                create,
            },
        )
        .map_err(|e| escape::with_path(e, &self.display(rel)))
    }

    /// The directory and the name of `rel`'s last component, which must exist or not as the
    /// operation needs; a path naming the root itself has no name. For a single name, the
    /// directory is this root's own handle, borrowed: no descriptor is opened or duplicated.
    fn parent(&self, rel: &Path) -> io::Result<(DirRef<'_>, OsString)> {
        let r = self.walk(rel, false, None)?;
        match r.leaf {
            Some(name) => Ok((r.dir, name)),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{}` is the root itself", self.display(rel).display()),
            )),
        }
    }

    fn sub(&self, dir: Dir, rel: &Path) -> Root {
        Root {
            dir,
            path: self.display(rel),
            mode: Resolve::Beneath,
        }
    }

    /// Opens the directory `rel`, links followed (beneath or in the root, as this root
    /// resolves), as a new root that nothing may leave ([`Resolve::Beneath`]).
    ///
    /// # Errors
    ///
    /// [`Escape`] when the path leads out; the usual errors when it is missing or no directory.
    pub fn open_dir(&self, rel: &Path) -> io::Result<Root> {
        let r = self.walk(rel, true, None)?;
        let dir = match r.leaf {
            None => r.dir.into_owned()?,
            Some(name) => r.dir.open_dir_nofollow(&name)?,
        };
        Ok(self.sub(dir, rel))
    }

    /// Creates the directory `rel` and any missing parent with `mode` (links on the way are
    /// followed as [`Root::open_dir`] follows them), and opens it as a new root.
    ///
    /// # Errors
    ///
    /// As [`Root::open_dir`], or when a directory cannot be created.
    pub fn create_dir_all(&self, rel: &Path, mode: u32) -> io::Result<Root> {
        let r = self.walk(rel, true, Some(mode))?;
        Ok(self.sub(r.dir.into_owned()?, rel))
    }

    /// Creates the one directory `rel` (its parent must exist), with `mode`.
    ///
    /// # Errors
    ///
    /// `AlreadyExists` when something is there (a link too), or as [`Root::open_dir`].
    pub fn create_dir(&self, rel: &Path, mode: u32) -> io::Result<()> {
        use cap_std::fs::{DirBuilder, DirBuilderExt};
        let (dir, name) = self.parent(rel)?;
        let mut builder = DirBuilder::new();
        builder.mode(mode);
        dir.create_dir_with(&name, &builder)
    }

    /// Opens the file `rel` with `options`; a link in the last component is never followed.
    ///
    /// # Errors
    ///
    /// As [`Root::open_dir`]; `ELOOP` when the last component is a link.
    pub fn open_file(&self, rel: &Path, options: &OpenOptions) -> io::Result<File> {
        let (dir, name) = self.parent(rel)?;
        let mut options = options.clone();
        options.follow(FollowSymlinks::No);
        Ok(dir.open_with(&name, &options)?.into_std())
    }

    /// Metadata of `rel` itself (a link is not followed).
    ///
    /// # Errors
    ///
    /// As [`Root::open_dir`].
    pub fn symlink_metadata(&self, rel: &Path) -> io::Result<Metadata> {
        match self.walk(rel, false, None)? {
            Resolved {
                dir,
                leaf: Some(name),
            } => dir.symlink_metadata(&name),
            Resolved { dir, leaf: None } => dir.dir_metadata(),
        }
    }

    /// Metadata of what `rel` names, links followed (beneath, as [`Root::open_dir`]).
    ///
    /// # Errors
    ///
    /// As [`Root::open_dir`].
    pub fn metadata(&self, rel: &Path) -> io::Result<Metadata> {
        match self.walk(rel, true, None)? {
            Resolved {
                dir,
                leaf: Some(name),
            } => dir.symlink_metadata(&name),
            Resolved { dir, leaf: None } => dir.dir_metadata(),
        }
    }

    /// The names in the directory `rel`, sorted.
    ///
    /// # Errors
    ///
    /// As [`Root::open_dir`].
    pub fn read_dir(&self, rel: &Path) -> io::Result<Vec<OsString>> {
        let mut names = Vec::new();
        for entry in self.listing(rel)? {
            names.push(entry?.file_name());
        }
        names.sort();
        Ok(names)
    }

    /// The entries of the directory `rel`, sorted by name, each with its type as the listing
    /// gives it (`d_type`, no `stat` per entry; an `lstat` of the entry only where the
    /// filesystem does not say). A link is a link: its type is never that of its target.
    ///
    /// # Errors
    ///
    /// As [`Root::open_dir`].
    pub fn entries(&self, rel: &Path) -> io::Result<Vec<(OsString, FileType)>> {
        use cap_std::fs::FileTypeExt as _;
        let mut out = Vec::new();
        for entry in self.listing(rel)? {
            let entry = entry?;
            let mut kind = entry.file_type()?;
            let known = kind.is_dir()
                || kind.is_file()
                || kind.is_symlink()
                || kind.is_fifo()
                || kind.is_socket()
                || kind.is_char_device()
                || kind.is_block_device();
            if !known {
                // DT_UNKNOWN: the entry's own metadata, in the directory being listed.
                kind = entry.metadata()?.file_type();
            }
            out.push((entry.file_name(), kind));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// A listing of the directory `rel`, links followed as [`Root::open_dir`] follows them.
    fn listing(&self, rel: &Path) -> io::Result<cap_std::fs::ReadDir> {
        let r = self.walk(rel, true, None)?;
        match r.leaf {
            // Lists a fresh descriptor of the directory (`.` reopened), not this one.
            None => r.dir.entries(),
            Some(name) => r.dir.open_dir_nofollow(&name)?.entries(),
        }
    }

    /// The target of the link `rel`.
    ///
    /// # Errors
    ///
    /// As [`Root::open_dir`]; `EINVAL` when it is no link.
    pub fn read_link(&self, rel: &Path) -> io::Result<PathBuf> {
        let (dir, name) = self.parent(rel)?;
        dir.read_link_contents(&name)
    }

    /// Creates the link `rel` pointing at `target` (the text is stored as given; what it points
    /// at is never touched).
    ///
    /// # Errors
    ///
    /// `AlreadyExists` when something is there, or as [`Root::open_dir`].
    pub fn symlink(&self, target: &Path, rel: &Path) -> io::Result<()> {
        let (dir, name) = self.parent(rel)?;
        let (c_target, c_name) = (cstring(target.as_os_str())?, cstring(&name)?);
        // SAFETY: both strings are NUL-terminated and live across the call; the descriptor is
        // open for the call's duration.
        let rc = unsafe { libc::symlinkat(c_target.as_ptr(), dir.as_raw_fd(), c_name.as_ptr()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Creates `rel` as a hard link to the file `existing` (both beneath this root; a link at
    /// `existing` is linked as a link, never followed).
    ///
    /// # Errors
    ///
    /// `AlreadyExists` when something is at `rel`, or as [`Root::open_dir`].
    pub fn hard_link(&self, existing: &Path, rel: &Path) -> io::Result<()> {
        let (from_dir, from_name) = self.parent(existing)?;
        let (to_dir, to_name) = self.parent(rel)?;
        from_dir.hard_link(&from_name, &to_dir, &to_name)
    }

    /// Removes the file or link `rel` (never what a link points at).
    ///
    /// # Errors
    ///
    /// As [`Root::open_dir`].
    pub fn remove_file(&self, rel: &Path) -> io::Result<()> {
        let (dir, name) = self.parent(rel)?;
        dir.remove_file_or_symlink(&name)
    }

    /// Removes the empty directory `rel`.
    ///
    /// # Errors
    ///
    /// As [`Root::open_dir`]; when it is not empty.
    pub fn remove_dir(&self, rel: &Path) -> io::Result<()> {
        let (dir, name) = self.parent(rel)?;
        dir.remove_dir(&name)
    }

    /// Renames `rel` (the entry itself, a link is moved as a link) to `to_rel` under `to`.
    ///
    /// # Errors
    ///
    /// As [`Root::open_dir`]; `EXDEV` across filesystems.
    pub fn rename(&self, rel: &Path, to: &Root, to_rel: &Path) -> io::Result<()> {
        let (from_dir, from_name) = self.parent(rel)?;
        let (to_dir, to_name) = to.parent(to_rel)?;
        from_dir.rename(&from_name, &to_dir, &to_name)
    }

    /// Swaps the entries `a` and `b` in one step (`renameat2` `RENAME_EXCHANGE`): a reader sees
    /// either both as they were or both swapped, never one missing. Both must exist; each may be
    /// a file, a link or a directory, and neither is followed.
    ///
    /// # Errors
    ///
    /// As [`Root::open_dir`]; `ENOENT` when either is missing, `EXDEV` across filesystems.
    pub fn exchange(&self, a: &Path, b: &Path) -> io::Result<()> {
        self.rename2(a, b, libc::RENAME_EXCHANGE)
    }

    /// Renames `rel` to `to_rel` in this root unless something is at `to_rel` (`renameat2`
    /// `RENAME_NOREPLACE`): the entry appears complete under its new name, or not at all.
    ///
    /// # Errors
    ///
    /// As [`Root::open_dir`]; `AlreadyExists` when `to_rel` exists.
    pub fn rename_noreplace(&self, rel: &Path, to_rel: &Path) -> io::Result<()> {
        self.rename2(rel, to_rel, libc::RENAME_NOREPLACE)
    }

    fn rename2(&self, a: &Path, b: &Path, flags: libc::c_uint) -> io::Result<()> {
        let (a_dir, a_name) = self.parent(a)?;
        let (b_dir, b_name) = self.parent(b)?;
        let (a_name, b_name) = (cstring(&a_name)?, cstring(&b_name)?);
        // SAFETY: NUL-terminated single names relative to directories open for the call.
        let rc = unsafe {
            libc::renameat2(
                a_dir.as_raw_fd(),
                a_name.as_ptr(),
                b_dir.as_raw_fd(),
                b_name.as_ptr(),
                flags,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Removes `rel` and, when it is a directory, everything beneath it; links in it are
    /// removed, never followed. Nothing there is not an error.
    ///
    /// # Errors
    ///
    /// As [`Root::open_dir`], or when an entry cannot be removed.
    pub fn remove_all(&self, rel: &Path) -> io::Result<()> {
        let (dir, name) = self.parent(rel)?;
        match dir.symlink_metadata(&name) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
            Ok(meta) if meta.is_dir() => dir.remove_dir_all(&name),
            Ok(_) => dir.remove_file_or_symlink(&name),
        }
    }

    /// Flushes the filesystem this root is on to its disk (`syncfs`), so that what was written
    /// survives a power loss before it is switched into place.
    ///
    /// # Errors
    ///
    /// When the kernel reports a write error.
    pub fn sync_filesystem(&self) -> io::Result<()> {
        // The directory may be open with O_PATH, which syncfs refuses: open it for reading
        // through its descriptor's name (the very directory, not a path looked up again).
        let dir = File::open(self.fd_path())?;
        // SAFETY: syncfs on a descriptor open for the call.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Sets the owner and group of `rel` itself (a link's own owner when it is one).
    ///
    /// # Errors
    ///
    /// As [`Root::open_dir`]; `EPERM` without the privilege.
    pub fn chown(&self, rel: &Path, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
        let (dir, name) = self.parent(rel)?;
        let c_name = cstring(&name)?;
        let (uid, gid) = (uid.unwrap_or(u32::MAX), gid.unwrap_or(u32::MAX));
        // SAFETY: a NUL-terminated name relative to an open directory; -1 (u32::MAX) keeps the
        // owner or group as it is.
        let rc = unsafe {
            libc::fchownat(
                dir.as_raw_fd(),
                c_name.as_ptr(),
                uid,
                gid,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Sets the permission bits of `rel`, which must not be a link (Linux has no modes on links).
    ///
    /// # Errors
    ///
    /// As [`Root::open_dir`]; `ELOOP` when `rel` is a link.
    pub fn set_mode(&self, rel: &Path, mode: u32) -> io::Result<()> {
        let fd = self.open_path(rel)?;
        // A descriptor opened with O_PATH cannot be fchmod-ed; its /proc name can, and names
        // exactly the inode that was opened.
        std::fs::set_permissions(
            proc_fd_path(fd.as_raw_fd()),
            std::os::unix::fs::PermissionsExt::from_mode(mode),
        )
    }

    /// An `O_PATH` descriptor of `rel` itself (the root itself when `rel` is empty), for the
    /// calls that act on an inode but take a path, such as `getxattr`/`setxattr`: pass them the
    /// descriptor's [`fd_path_of`] name, which names exactly the inode that was opened. Nothing
    /// is read or written by opening it (a FIFO or a device is not opened for I/O).
    ///
    /// # Errors
    ///
    /// As [`Root::open_dir`]; `ELOOP` when the last component is a link.
    pub fn open_path(&self, rel: &Path) -> io::Result<OwnedFd> {
        let r = self.walk(rel, false, None)?;
        let name = match &r.leaf {
            Some(name) => cstring(name)?,
            None => CString::new(".").expect("no NUL"),
        };
        // SAFETY: a NUL-terminated name relative to an open directory.
        let fd = unsafe {
            libc::openat(
                r.dir.as_raw_fd(),
                name.as_ptr(),
                libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: openat returned a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat on a valid descriptor into a zeroed stat buffer.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
            return Err(io::Error::last_os_error());
        }
        if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
            return Err(io::Error::from_raw_os_error(libc::ELOOP));
        }
        Ok(fd)
    }

    /// The real host path of `rel` after resolving it (links followed beneath): the path of what
    /// it names, or of its parent joined with its last component when that does not exist yet.
    /// For handing a checked path to a program that takes a path; it names what was checked at
    /// this moment.
    ///
    /// # Errors
    ///
    /// As [`Root::open_dir`]; `NotFound` when the parent does not exist.
    pub fn real_path(&self, rel: &Path) -> io::Result<PathBuf> {
        let r = self.walk(rel, true, None)?;
        let dir_path = std::fs::read_link(proc_fd_path(r.dir.as_raw_fd()))?;
        match r.leaf {
            None => Ok(dir_path),
            Some(name) => match r.dir.symlink_metadata(&name) {
                Ok(meta) if meta.is_dir() => {
                    let dir = r.dir.open_dir_nofollow(&name)?;
                    std::fs::read_link(proc_fd_path(dir.as_raw_fd()))
                }
                Ok(_) => Ok(dir_path.join(&name)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(dir_path.join(&name)),
                Err(e) => Err(e),
            },
        }
    }

    /// A path that names exactly this open directory (`/proc/self/fd/N`), for an API that only
    /// takes paths: opening it reaches this directory even if its name has changed since.
    /// Valid while `self` lives.
    pub fn fd_path(&self) -> PathBuf {
        proc_fd_path(self.dir.as_raw_fd())
    }

    /// As [`Root::fd_path`], for a child process (`/proc/<this pid>/fd/N`: the child does not
    /// inherit the descriptor, but reaches it through this process while `self` lives).
    pub fn fd_path_for_children(&self) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            self.dir.as_raw_fd()
        ))
    }
}

/// The `/proc/self/fd/N` name of an open descriptor (of [`Root::open_path`]): opening it, or a
/// path call on it, reaches exactly that inode, whatever its name is now. Valid while `fd` is open.
pub fn fd_path_of(fd: BorrowedFd<'_>) -> PathBuf {
    proc_fd_path(fd.as_raw_fd())
}

fn proc_fd_path(fd: i32) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{fd}"))
}

fn cstring(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

#[cfg(test)]
mod tests;
