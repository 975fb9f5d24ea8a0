//! [`Escape`]: a path that would have led out of its root.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Why a path was refused: it leads out of the root it was resolved beneath. Carried inside an
/// [`io::Error`] of kind `PermissionDenied`; see [`is_escape`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escape {
    /// The root.
    pub root: PathBuf,
    /// The path as asked for, under the root (filled in by the [`Root`](crate::Root) operation).
    pub path: PathBuf,
    /// The link that would have led out (the last one followed), and its target; `None` for a
    /// `..` of the path itself past the root.
    pub link: Option<(PathBuf, PathBuf)>,
}

impl Escape {
    pub(crate) fn parent(root: &Path, rel: &Path, via: Option<(PathBuf, PathBuf)>) -> io::Error {
        Self::error(Escape {
            root: root.to_owned(),
            path: rel.to_owned(),
            link: via,
        })
    }

    pub(crate) fn absolute_link(root: &Path, rel: &Path, name: &OsStr, target: &Path) -> io::Error {
        Self::error(Escape {
            root: root.to_owned(),
            path: rel.to_owned(),
            link: Some((PathBuf::from(name), target.to_owned())),
        })
    }

    fn error(self) -> io::Error {
        io::Error::new(io::ErrorKind::PermissionDenied, self)
    }
}

impl fmt::Display for Escape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` leads out of `{}`",
            self.path.display(),
            self.root.display()
        )?;
        match &self.link {
            Some((name, target)) => write!(
                f,
                " through the link `{}` -> `{}`",
                name.display(),
                target.display()
            ),
            None => f.write_str(" through `..`"),
        }
    }
}

impl std::error::Error for Escape {}

/// Whether `error` is an [`Escape`] (a path refused because it leads out of its root), as opposed
/// to an ordinary I/O error.
pub fn is_escape(error: &io::Error) -> bool {
    escape_of(error).is_some()
}

/// The [`Escape`] inside `error`, if it is one.
pub fn escape_of(error: &io::Error) -> Option<&Escape> {
    error.get_ref().and_then(|e| e.downcast_ref::<Escape>())
}

/// Puts the full path into an [`Escape`] (the walk knows only the path relative to the root).
pub(crate) fn with_path(error: io::Error, shown: &Path) -> io::Error {
    match escape_of(&error) {
        Some(escape) => Escape {
            path: shown.to_owned(),
            ..escape.clone()
        }
        .error(),
        None => error,
    }
}
