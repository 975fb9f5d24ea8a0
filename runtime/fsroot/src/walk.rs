//! Path resolution one component at a time, each step a cap-std operation on a single name in
//! an open directory, so that no link can take a path out of its root.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::ops::Deref;
use std::path::{Component, Path, PathBuf};

use cap_fs_ext::DirExt;
use cap_std::fs::{Dir, DirBuilder, DirBuilderExt};

use crate::{Escape, Resolve};

/// Most links followed while resolving one path (Linux's own limit).
const MAX_LINKS: usize = 40;

/// The directory a path's last component lives in, and that component.
pub(crate) struct Resolved<'r> {
    /// The directory holding the leaf (the root itself for a path without components).
    pub dir: DirRef<'r>,
    /// The last component, `None` when the path names the directory itself.
    pub leaf: Option<OsString>,
}

/// A directory reached by a walk: the root itself, borrowed (a single name, the common case,
/// costs no descriptor), or one opened on the way.
pub(crate) enum DirRef<'r> {
    Root(&'r Dir),
    Opened(Dir),
}

impl DirRef<'_> {
    /// The directory as an owned handle: the one opened, or a duplicate of the root's.
    pub(crate) fn into_owned(self) -> io::Result<Dir> {
        match self {
            DirRef::Root(dir) => dir.try_clone(),
            DirRef::Opened(dir) => Ok(dir),
        }
    }
}

impl Deref for DirRef<'_> {
    type Target = Dir;

    fn deref(&self) -> &Dir {
        match self {
            DirRef::Root(dir) => dir,
            DirRef::Opened(dir) => dir,
        }
    }
}

/// How to treat the components on the way.
#[derive(Clone, Copy)]
pub(crate) struct Walk {
    pub mode: Resolve,
    /// Follow a link in the last component (it must then resolve beneath as well).
    pub follow_last: bool,
    /// Create missing directories (the leaf too), with this mode.
    pub create: Option<u32>,
}

/// Resolves `rel` beneath `root`. `root_path` is only for messages.
pub(crate) fn resolve<'r>(
    root: &'r Dir,
    root_path: &Path,
    rel: &Path,
    how: Walk,
) -> io::Result<Resolved<'r>> {
    // The directories opened beneath the root, innermost last; empty: at the root.
    let mut stack: Vec<Dir> = Vec::new();
    let mut pending: VecDeque<OsString> = VecDeque::new();
    push_front(&mut pending, rel, &mut stack)?;
    let mut links = 0;
    // The last link expanded, to name it when a `..` it brought leads out.
    let mut via: Option<(PathBuf, PathBuf)> = None;
    while let Some(name) = pending.pop_front() {
        if name == ".." {
            if !stack.is_empty() {
                stack.pop();
            } else if how.mode == Resolve::Beneath {
                return Err(Escape::parent(root_path, rel, via));
            }
            continue;
        }
        let last = pending.is_empty();
        if last && !how.follow_last && how.create.is_none() {
            return leaf(root, stack, Some(name));
        }
        let cur = stack.last().unwrap_or(root);
        let meta = match cur.symlink_metadata(&name) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        match meta {
            None => match how.create {
                Some(mode) => {
                    let mut builder = DirBuilder::new();
                    builder.mode(mode);
                    match cur.create_dir_with(&name, &builder) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(e),
                    }
                    let next = cur.open_dir_nofollow(&name)?;
                    stack.push(next);
                    if last {
                        return top(root, stack);
                    }
                }
                None if last => return leaf(root, stack, Some(name)),
                None => return Err(io::Error::from(io::ErrorKind::NotFound)),
            },
            Some(meta) if meta.is_symlink() => {
                if last && !how.follow_last {
                    return leaf(root, stack, Some(name));
                }
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = cur.read_link_contents(&name)?;
                if target.is_absolute() && how.mode == Resolve::Beneath {
                    return Err(Escape::absolute_link(root_path, rel, &name, &target));
                }
                push_front(&mut pending, &target, &mut stack)?;
                via = Some((PathBuf::from(&name), target));
            }
            Some(meta) if meta.is_dir() => {
                if last && how.create.is_none() {
                    return leaf(root, stack, Some(name));
                }
                let next = cur.open_dir_nofollow(&name)?;
                stack.push(next);
                if last {
                    return top(root, stack);
                }
            }
            Some(_) if last && how.create.is_none() => return leaf(root, stack, Some(name)),
            Some(_) => return Err(io::Error::from_raw_os_error(libc::ENOTDIR)),
        }
    }
    top(root, stack)
}

/// Puts the components of `path` before those still pending. An absolute path restarts at the
/// root.
fn push_front(
    pending: &mut VecDeque<OsString>,
    path: &Path,
    stack: &mut Vec<Dir>,
) -> io::Result<()> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            // The caller's own path is taken from the root; a link's absolute target reaches
            // here only in `InRoot` (`resolve` refuses it in `Beneath`).
            Component::RootDir => {
                stack.clear();
                parts.clear();
            }
            Component::CurDir => {}
            Component::ParentDir => parts.push(OsString::from("..")),
            Component::Normal(name) => parts.push(name.to_owned()),
            Component::Prefix(_) => return Err(io::Error::from(io::ErrorKind::InvalidInput)),
        }
    }
    for part in parts.into_iter().rev() {
        pending.push_front(part);
    }
    Ok(())
}

fn leaf(root: &Dir, mut stack: Vec<Dir>, name: Option<OsString>) -> io::Result<Resolved<'_>> {
    let dir = match stack.pop() {
        Some(dir) => DirRef::Opened(dir),
        None => DirRef::Root(root),
    };
    Ok(Resolved { dir, leaf: name })
}

fn top(root: &Dir, stack: Vec<Dir>) -> io::Result<Resolved<'_>> {
    leaf(root, stack, None)
}

/// The path of `rel` under `root`, for messages only.
pub(crate) fn shown(root: &Path, rel: &Path) -> PathBuf {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    if rel.as_os_str().is_empty() {
        root.to_owned()
    } else {
        root.join(rel)
    }
}
