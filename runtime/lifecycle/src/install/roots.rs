//! Where one Install resolves its paths, all through [`davit_fsroot::Root`]:
//!
//! - the target root, opened [`Resolve::InRoot`]: `/` of the appspec, so an image's absolute
//!   links stay inside the image (at `/` this is the host, as before);
//! - each install prefix of the policy that lies beneath no other, resolved in the target root
//!   (links on the way to it are the host's layout and are followed, inside the target root) and
//!   then opened as a [`Resolve::Beneath`] root: every destination, every directory Install
//!   creates, every file and link it writes, every owner and mode it sets and every path of the
//!   previous revision it removes is resolved beneath the broadest prefix that contains it, so
//!   no link planted under a prefix leads any of them out;
//! - the staged revision and the backup directory, davit's own, opened beneath too, so a bundle
//!   link is read as a link and never followed.

use std::cell::OnceCell;
use std::io;
use std::path::{Component, Path, PathBuf};

use davit_fsroot::{Resolve, Root};
use davit_spec::AbsPath;

use super::undo::Journal;
use super::{CREATED_DIR_MODE, InstallError, InstallRequest, io_err};

/// A path on the host as Install reaches it: `rel` beneath the install prefix number `prefix`
/// (empty: the prefix itself), and the host path (target root included) for the cleanup record
/// and messages.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub(super) struct Loc {
    pub prefix: usize,
    pub rel: PathBuf,
    pub host: PathBuf,
}

impl Loc {
    pub(super) fn child(&self, name: &std::ffi::OsStr) -> Loc {
        Loc {
            prefix: self.prefix,
            rel: self.rel.join(name),
            host: self.host.join(name),
        }
    }

    /// Whether this is the install prefix itself.
    pub(super) fn is_prefix(&self) -> bool {
        self.rel.as_os_str().is_empty()
    }
}

/// An install prefix as the journal keeps it, so that a later run opens it the same way.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct PrefixSpec {
    path: String,
    /// How many of its leading components are the broadest read-write `[[directories]]` rule of
    /// the policy that contains it (0: none). Hooks can plant links only in read-write
    /// directories, so the rest of the prefix is resolved beneath that directory: a hook that
    /// replaced the prefix with a link out of it cannot redirect the Install.
    writable: usize,
}

/// An install prefix, opened the first time a path beneath it is needed.
#[derive(Debug)]
struct Prefix {
    path: AbsPath,
    /// See [`PrefixSpec::writable`].
    writable: usize,
    root: OnceCell<Root>,
}

/// The roots of one Install (see the module docs).
#[derive(Debug)]
pub(super) struct Roots {
    target: Root,
    target_path: PathBuf,
    prefixes: Vec<Prefix>,
    /// The staged revision (none when a journal is recovered).
    bundle: Option<Root>,
    /// Where removed and replaced files wait until the Install succeeds (none for a check).
    backup: Option<Root>,
}

impl Roots {
    /// The roots of `req`; its backup directory too when `backup` (a check writes nothing).
    pub(super) fn open(req: &InstallRequest<'_>, backup: bool) -> Result<Roots, InstallError> {
        let root = req.target_root;
        let target = Root::open_ambient(root, Resolve::InRoot).map_err(|e| {
            if e.raw_os_error() == Some(libc::ENOTDIR) {
                InstallError::NotADirectory {
                    path: root.to_owned(),
                    at: None,
                }
            } else {
                io_err("open the target root", root)(e)
            }
        })?;
        let bundle = Root::open_ambient(req.bundle_dir, Resolve::Beneath)
            .map_err(io_err("open the staged revision", req.bundle_dir))?;
        let backup = match backup {
            true => Some(
                Root::open_ambient(req.backup_dir, Resolve::Beneath)
                    .map_err(io_err("open the backup directory", req.backup_dir))?,
            ),
            false => None,
        };
        Ok(Roots {
            target,
            target_path: root.to_owned(),
            prefixes: Self::prefixes(req.policy),
            bundle: Some(bundle),
            backup,
        })
    }

    /// The roots of an interrupted Install, from its journal.
    pub(super) fn reopen(
        target_root: &Path,
        prefixes: &[PrefixSpec],
        backup_dir: &Path,
    ) -> io::Result<Roots> {
        let mut opened = Vec::new();
        for spec in prefixes {
            let path = AbsPath::try_from(spec.path.as_str())
                .map_err(|e| io::Error::other(format!("install journal: {e}")))?;
            opened.push(Prefix {
                path,
                writable: spec.writable,
                root: OnceCell::new(),
            });
        }
        Ok(Roots {
            target: Root::open_ambient(target_root, Resolve::InRoot)?,
            target_path: target_root.to_owned(),
            prefixes: opened,
            bundle: None,
            // Gone once nothing waits in it any more.
            backup: Root::open_ambient(backup_dir, Resolve::Beneath).ok(),
        })
    }

    /// The broadest prefixes only: a path beneath two is resolved beneath the outer one, so a
    /// link planted at the inner one cannot redirect it.
    fn prefixes(policy: &davit_spec::HostPolicy) -> Vec<Prefix> {
        let mut paths: Vec<&AbsPath> = policy.install.destinations().iter().collect();
        paths.sort_by_key(|p| p.components().count());
        let mut prefixes: Vec<Prefix> = Vec::new();
        for path in paths {
            if !prefixes.iter().any(|p| path.starts_with(&p.path)) {
                let writable = policy
                    .directories
                    .iter()
                    .filter(|d| d.value.access == davit_spec::Access::ReadWrite)
                    .map(|d| &d.value.path)
                    .filter(|d| path.starts_with(d))
                    .map(|d| d.components().count())
                    .min()
                    .unwrap_or(0);
                prefixes.push(Prefix {
                    path: path.clone(),
                    writable,
                    root: OnceCell::new(),
                });
            }
        }
        prefixes
    }

    /// The prefixes, as the journal keeps them.
    pub(super) fn specs(&self) -> Vec<PrefixSpec> {
        self.prefixes
            .iter()
            .map(|p| PrefixSpec {
                path: p.path.as_str().to_owned(),
                writable: p.writable,
            })
            .collect()
    }

    /// Where removed and replaced files wait until the Install commits.
    pub(super) fn backup(&self) -> io::Result<&Root> {
        self.backup
            .as_ref()
            .ok_or_else(|| io::Error::other("a check has no backup directory"))
    }

    /// The staged revision.
    pub(super) fn bundle(&self) -> &Root {
        self.bundle.as_ref().expect("an Install opens its bundle")
    }

    /// The directory that holds `unit` (opened fresh: a prefix swapped since it was opened is
    /// found by name) and `unit`'s name in it. For a prefix, its parent is reached as the
    /// prefix is: beneath its writable base, or in the target root.
    pub(super) fn unit_parent(&self, unit: &Loc) -> io::Result<(Root, std::ffi::OsString)> {
        let name = unit
            .host
            .file_name()
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?
            .to_owned();
        if !unit.is_prefix() {
            let parent = unit.rel.parent().unwrap_or(Path::new(""));
            let root = self.root(unit)?;
            return if parent.as_os_str().is_empty() {
                root.try_clone()
            } else {
                root.open_dir(parent)
            }
            .map(|r| (r, name));
        }
        let (base, rest) = self.base(unit.prefix)?;
        match rest.parent() {
            Some(parent) if !rest.as_os_str().is_empty() => {
                let parent = if parent.as_os_str().is_empty() {
                    base
                } else {
                    base.open_dir(parent)?
                };
                Ok((parent, name))
            }
            // The prefix is its writable base: its parent is in the target root.
            _ => {
                let (whole, _) = self.split(unit.prefix);
                let parent = whole.parent().unwrap_or(Path::new(""));
                let parent = if parent.as_os_str().is_empty() {
                    self.target.try_clone()?
                } else {
                    self.target.open_dir(parent)?
                };
                Ok((parent, name))
            }
        }
    }

    /// `path` of the appspec on the host (under the target root).
    pub(super) fn host(&self, path: &AbsPath) -> PathBuf {
        self.target_path.join(path.as_str().trim_start_matches('/'))
    }

    /// Where the appspec path `path` is reached: beneath the prefix that contains it, if one does.
    pub(super) fn locate(&self, path: &AbsPath) -> Option<Loc> {
        let (i, prefix) = self
            .prefixes
            .iter()
            .enumerate()
            .find(|(_, p)| path.starts_with(&p.path))?;
        let rel: PathBuf = path
            .components()
            .skip(prefix.path.components().count())
            .collect();
        Some(Loc {
            prefix: i,
            rel,
            host: self.host(path),
        })
    }

    /// A host path from a cleanup record: `Err` with why it is left alone when it is outside
    /// the target root or lies under no prefix (`Ok(None)`: it is a prefix or an ancestor of
    /// one, which Install creates but never records or removes).
    pub(super) fn locate_host(&self, host: &Path) -> Result<Option<Loc>, String> {
        let outside = || {
            format!(
                "is not inside the target root `{}`",
                self.target_path.display()
            )
        };
        let rel = host
            .strip_prefix(&self.target_path)
            .map_err(|_| outside())?;
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(outside());
        }
        let text = format!("/{}", rel.to_string_lossy());
        let path = AbsPath::try_from(text.as_str()).map_err(|_| outside())?;
        match self.locate(&path) {
            Some(loc) if loc.is_prefix() => Ok(None),
            Some(loc) => Ok(Some(loc)),
            None if self.prefixes.iter().any(|p| p.path.starts_with(&path)) => Ok(None),
            None => Err("lies under no `[install] destinations` of the host policy".to_owned()),
        }
    }

    fn prefix_rel(&self, i: usize) -> PathBuf {
        PathBuf::from(self.prefixes[i].path.as_str().trim_start_matches('/'))
    }

    /// The prefix `i` split at its writable base: (the base, in the target root; the rest).
    fn split(&self, i: usize) -> (PathBuf, PathBuf) {
        let prefix = &self.prefixes[i];
        let base = prefix.path.components().take(prefix.writable).collect();
        let rest = prefix.path.components().skip(prefix.writable).collect();
        (base, rest)
    }

    /// Where the prefix `i` is looked up: its writable base opened in the target root (links
    /// on the way to it followed inside the target root), or the target root itself.
    fn base(&self, i: usize) -> io::Result<(Root, PathBuf)> {
        let (base, rest) = self.split(i);
        if base.as_os_str().is_empty() {
            return Ok((self.target.try_clone()?, rest));
        }
        Ok((self.target.open_dir(&base)?, rest))
    }

    /// The prefix `i` as a root, if it exists (nothing is created).
    pub(super) fn existing(&self, i: usize) -> Result<Option<&Root>, InstallError> {
        let prefix = &self.prefixes[i];
        if let Some(root) = prefix.root.get() {
            return Ok(Some(root));
        }
        let opened = self.base(i).and_then(|(base, rest)| base.open_dir(&rest));
        match opened {
            Ok(root) => Ok(Some(prefix.root.get_or_init(|| root))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => Err(InstallError::NotADirectory {
                path: self.host(&prefix.path),
                at: None,
            }),
            Err(e) => Err(io_err("open", &self.host(&prefix.path))(e)),
        }
    }

    /// The prefix of `loc`, which must exist by now (opened the first time it is needed).
    pub(super) fn root(&self, loc: &Loc) -> io::Result<&Root> {
        let prefix = &self.prefixes[loc.prefix];
        if let Some(root) = prefix.root.get() {
            return Ok(root);
        }
        let (base, rest) = self.base(loc.prefix)?;
        let opened = base.open_dir(&rest)?;
        Ok(prefix.root.get_or_init(|| opened))
    }

    /// The prefix `i` as a root, created first (with its missing parents, each journaled so
    /// that a failed Install removes it again) when it does not exist. Returns whether the
    /// prefix itself was created.
    pub(super) fn ensure(
        &self,
        i: usize,
        journal: &mut Journal,
    ) -> Result<(&Root, bool), InstallError> {
        if let Some(root) = self.existing(i)? {
            return Ok((root, false));
        }
        let writable = self.prefixes[i].writable;
        let mut rel = PathBuf::new();
        for (n, part) in self.prefix_rel(i).components().enumerate() {
            rel.push(part);
            let host = self.target_path.join(&rel);
            if n >= writable && writable > 0 {
                // Beneath the writable base: created there, never through a link out of it.
                let (base, rest) = self.split(i);
                let below: PathBuf = rest.components().take(n + 1 - writable).collect();
                let base = self
                    .target
                    .open_dir(&base)
                    .map_err(io_err("open", &self.target_path.join(&base)))?;
                match base.symlink_metadata(&below) {
                    Ok(meta) if meta.is_dir() => continue,
                    Ok(meta) if meta.is_symlink() => {
                        // A link a hook may have planted: follow it only beneath the base.
                        base.open_dir(&below).map_err(io_err("open", &host))?;
                        continue;
                    }
                    Ok(_) => {
                        return Err(InstallError::NotADirectory {
                            path: host,
                            at: None,
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err("read", &host)(e)),
                }
                journal
                    .will_create_prefix_dir(&rel, &host)
                    .map_err(io_err("write the install journal for", &host))?;
                base.create_dir(&below, CREATED_DIR_MODE)
                    .map_err(io_err("create directory", &host))?;
                base.set_mode(&below, CREATED_DIR_MODE)
                    .map_err(io_err("set the mode of", &host))?;
                continue;
            }
            match self.target.metadata(&rel) {
                Ok(meta) if meta.is_dir() => continue,
                Ok(_) => {
                    return Err(InstallError::NotADirectory {
                        path: host,
                        at: None,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("read", &host)(e)),
            }
            journal
                .will_create_prefix_dir(&rel, &host)
                .map_err(io_err("write the install journal for", &host))?;
            match self.target.create_dir(&rel, CREATED_DIR_MODE) {
                Ok(()) => {
                    self.target
                        .set_mode(&rel, CREATED_DIR_MODE)
                        .map_err(io_err("set the mode of", &host))?;
                }
                // A link to a directory that does not exist (inside the target root): create
                // what it points at. Not journaled: a failed Install leaves that directory.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    self.target
                        .create_dir_all(&rel, CREATED_DIR_MODE)
                        .map_err(io_err("create directory", &host))?;
                }
                Err(e) => return Err(io_err("create directory", &host)(e)),
            }
        }
        match self.existing(i)? {
            Some(root) => Ok((root, true)),
            None => Err(io_err("open", &self.host(&self.prefixes[i].path))(
                io::Error::from(io::ErrorKind::NotFound),
            )),
        }
    }

    /// The target root, for the directories created on the way to a prefix.
    pub(super) fn target(&self) -> &Root {
        &self.target
    }

    /// The target root's path.
    pub(super) fn target_path(&self) -> &Path {
        &self.target_path
    }
}
