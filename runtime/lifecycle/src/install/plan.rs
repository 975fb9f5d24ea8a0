//! The read-only half of Install: what to create and copy, checked against the host before
//! anything is touched (sources present, no two files on one destination, no file where a
//! directory must go, DISALLOW conflicts, owner and group names).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use davit_spec::{AbsPath, Destination, FileExistsBehavior, Location};

use super::perms::{self, Resolved};
use super::{InstallError, InstallRequest, io_err};

/// What one step of the copy does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OpKind {
    /// Make sure a directory exists. `target`: a mapping's destination or a directory copied
    /// from the bundle (permissions apply to it even if it existed); otherwise a missing
    /// ancestor (permissions apply only if we create it).
    Dir { target: bool },
    /// Copy a regular file.
    File,
    /// Recreate a symlink.
    Link,
}

#[derive(Debug)]
pub(super) struct Op {
    pub kind: OpKind,
    /// In the bundle (unused for directories).
    pub src: PathBuf,
    /// On the host, under the target root.
    pub dest: PathBuf,
    /// Index of the `files` mapping.
    pub mapping: usize,
}

#[derive(Debug)]
pub(super) struct Plan<'a> {
    pub ops: Vec<Op>,
    pub perms: Vec<Resolved<'a>>,
    pub warnings: Vec<String>,
    /// Files of the previous record under the target root (the others are left alone).
    pub previous_files: Vec<PathBuf>,
    /// Whether pre-existing symlinks to directories may be followed (target root `/` only).
    pub follow_dir_links: bool,
}

/// Whether `path` is strictly beneath `root`, and (unless `follow_links`) reached without
/// passing through a symlink: a link put in an image's root filesystem since the last Install
/// must not lead the cleanup out of it.
pub(super) fn inside(root: &Path, path: &Path, follow_links: bool) -> bool {
    let Ok(rel) = path.strip_prefix(root) else {
        return false;
    };
    if rel.as_os_str().is_empty()
        || rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return false;
    }
    follow_links
        || path
            .ancestors()
            .skip(1)
            .take_while(|a| *a != root)
            .all(|a| !fs::symlink_metadata(a).is_ok_and(|m| m.is_symlink()))
}

/// `path` (absolute, as in the appspec) under `root`.
pub(super) fn reroot(root: &Path, path: &AbsPath) -> PathBuf {
    root.join(path.as_str().trim_start_matches('/'))
}

pub(super) fn plan<'a>(req: &'a InstallRequest<'_>) -> Result<Plan<'a>, InstallError> {
    let root = req.target_root;
    let meta = fs::metadata(root).map_err(io_err("read target root", root))?;
    if !meta.is_dir() {
        return Err(InstallError::NotADirectory {
            path: root.to_owned(),
            at: None,
        });
    }
    let follow_dir_links = root == Path::new("/");
    let mut warnings = Vec::new();
    let mut previous_files = Vec::new();
    for file in req.previous.iter().flat_map(|r| &r.files) {
        if inside(root, file, follow_dir_links) {
            previous_files.push(file.clone());
        } else {
            warnings.push(format!(
                "`{}` of the previous revision is not inside the target root `{}` and was left in place",
                file.display(),
                root.display()
            ));
        }
    }
    let mut planner = Planner {
        req,
        follow_dir_links,
        previous: previous_files.iter().map(PathBuf::as_path).collect(),
        seen: HashMap::new(),
        absent: HashSet::new(),
        conflicts: Vec::new(),
        ops: Vec::new(),
    };
    for (i, mapping) in req.spec.files.iter().enumerate() {
        let dest = match &mapping.destination {
            Destination::Unix(path) => reroot(root, path),
            Destination::Windows(path) => {
                return Err(InstallError::WindowsDestination {
                    at: mapping.at.clone(),
                    destination: path.clone(),
                });
            }
        };
        let src = req.bundle_dir.join(mapping.source.as_str());
        let meta = match fs::symlink_metadata(&src) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(InstallError::MissingSource {
                    at: mapping.at.clone(),
                    source_path: mapping.source.to_string(),
                });
            }
            Err(e) => return Err(io_err("read", &src)(e)),
        };
        planner.dir_chain(&dest, i)?;
        if meta.is_dir() {
            planner.walk(&src, &dest, i)?;
        } else {
            let kind = if meta.file_type().is_symlink() {
                OpKind::Link
            } else {
                OpKind::File
            };
            let name = src.file_name().unwrap_or_default();
            planner.leaf(kind, src.clone(), dest.join(name), i)?;
        }
    }
    if !planner.conflicts.is_empty() {
        return Err(InstallError::FilesExist {
            paths: planner.conflicts,
        });
    }
    let ops = planner.ops;
    let follow_dir_links = planner.follow_dir_links;

    let mut resolved = Vec::new();
    for entry in &req.spec.permissions {
        warnings.extend(perms::warnings(entry));
        resolved.push(perms::resolve(entry, reroot(root, &entry.object))?);
    }
    Ok(Plan {
        ops,
        perms: resolved,
        warnings,
        previous_files,
        follow_dir_links,
    })
}

struct Planner<'r, 'p> {
    req: &'r InstallRequest<'r>,
    follow_dir_links: bool,
    previous: HashSet<&'p Path>,
    /// Destination → index of its op.
    seen: HashMap<PathBuf, usize>,
    /// Directories that do not exist yet (nothing beneath them needs checking).
    absent: HashSet<PathBuf>,
    conflicts: Vec<PathBuf>,
    ops: Vec<Op>,
}

/// What is at a destination now, as far as this Install is concerned.
enum Found {
    Nothing,
    Dir,
    Other,
}

impl Planner<'_, '_> {
    fn at(&self, mapping: usize) -> Location {
        self.req.spec.files[mapping].at.clone()
    }

    fn found(&self, path: &Path) -> Result<Found, InstallError> {
        if path.parent().is_some_and(|p| self.absent.contains(p)) || self.previous.contains(path) {
            return Ok(Found::Nothing);
        }
        match fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => Ok(Found::Dir),
            Ok(m) if m.is_symlink() && self.follow_dir_links && path.is_dir() => Ok(Found::Dir),
            Ok(_) => Ok(Found::Other),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Found::Nothing),
            Err(e) => Err(io_err("read", path)(e)),
        }
    }

    /// Plans every missing directory from the target root down to `dest`, and `dest` itself.
    fn dir_chain(&mut self, dest: &Path, mapping: usize) -> Result<(), InstallError> {
        let root = self.req.target_root;
        let rel = dest.strip_prefix(root).unwrap_or(Path::new(""));
        let mut path = root.to_owned();
        let parts: Vec<_> = rel.components().collect();
        for (i, part) in parts.iter().enumerate() {
            path.push(part);
            self.dir(&path, i + 1 == parts.len(), mapping)?;
        }
        if parts.is_empty() {
            // The destination is the target root itself.
            self.dir(root, true, mapping)?;
        }
        Ok(())
    }

    fn dir(&mut self, path: &Path, target: bool, mapping: usize) -> Result<(), InstallError> {
        if let Some(&i) = self.seen.get(path) {
            let first = &mut self.ops[i];
            if let OpKind::Dir { target: was } = first.kind {
                first.kind = OpKind::Dir {
                    target: was || target,
                };
                return Ok(());
            }
            return Err(self.duplicate(path, mapping, i));
        }
        match self.found(path)? {
            Found::Dir => {}
            Found::Nothing => {
                self.absent.insert(path.to_owned());
            }
            Found::Other => {
                return Err(InstallError::NotADirectory {
                    path: path.to_owned(),
                    at: Some(self.at(mapping)),
                });
            }
        }
        self.push(
            OpKind::Dir { target },
            PathBuf::new(),
            path.to_owned(),
            mapping,
        );
        Ok(())
    }

    fn leaf(
        &mut self,
        kind: OpKind,
        src: PathBuf,
        dest: PathBuf,
        mapping: usize,
    ) -> Result<(), InstallError> {
        if let Some(&i) = self.seen.get(&dest) {
            return Err(self.duplicate(&dest, mapping, i));
        }
        match (self.found(&dest)?, self.req.behavior) {
            (Found::Nothing, _) | (_, FileExistsBehavior::Retain) => {}
            (_, FileExistsBehavior::Disallow) => self.conflicts.push(dest.clone()),
            (Found::Dir, FileExistsBehavior::Overwrite) => {
                return Err(InstallError::DirectoryInTheWay {
                    path: dest,
                    at: self.at(mapping),
                });
            }
            (Found::Other, FileExistsBehavior::Overwrite) => {}
        }
        self.push(kind, src, dest, mapping);
        Ok(())
    }

    /// Plans the contents of the bundle directory `src` into `dest`, sorted by name.
    fn walk(&mut self, src: &Path, dest: &Path, mapping: usize) -> Result<(), InstallError> {
        let mut names = Vec::new();
        for entry in fs::read_dir(src).map_err(io_err("read", src))? {
            names.push(entry.map_err(io_err("read", src))?.file_name());
        }
        names.sort();
        for name in names {
            let (from, to) = (src.join(&name), dest.join(&name));
            let kind = fs::symlink_metadata(&from)
                .map_err(io_err("read", &from))?
                .file_type();
            if kind.is_dir() {
                self.dir(&to, true, mapping)?;
                self.walk(&from, &to, mapping)?;
            } else if kind.is_symlink() {
                self.leaf(OpKind::Link, from, to, mapping)?;
            } else {
                self.leaf(OpKind::File, from, to, mapping)?;
            }
        }
        Ok(())
    }

    fn push(&mut self, kind: OpKind, src: PathBuf, dest: PathBuf, mapping: usize) {
        self.seen.insert(dest.clone(), self.ops.len());
        self.ops.push(Op {
            kind,
            src,
            dest,
            mapping,
        });
    }

    fn duplicate(&self, path: &Path, mapping: usize, first: usize) -> InstallError {
        InstallError::DuplicateDestination {
            path: path.to_owned(),
            at: self.at(mapping),
            first: self.at(self.ops[first].mapping),
        }
    }
}
