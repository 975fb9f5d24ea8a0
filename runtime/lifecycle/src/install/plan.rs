//! The read-only half of Install: what to create and copy, checked against the host before
//! anything is touched (destinations beneath an install prefix, sources present, no two files
//! on one destination, no file where a directory must go, no link leading out of a prefix on
//! the way, DISALLOW conflicts, owner and group names). The bundle is read through its own
//! root, the host through [`Roots`].

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use davit_spec::{Destination, FileExistsBehavior, Location};

use super::perms::{self, Resolved};
use super::precheck::{Entry, Kind, Source};
use super::roots::{Loc, Roots};
use super::switch::Cursor;
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
    /// In the bundle, relative to its root (unused for directories).
    pub src: PathBuf,
    /// The file's mode and size, or the link's target, as the precheck read and checked them
    /// ([`Kind::Dir`] for a directory).
    pub read: Kind,
    /// On the host, beneath its install prefix.
    pub dest: Loc,
    /// Index of the `files` mapping.
    pub mapping: usize,
}

#[derive(Debug)]
pub(super) struct Plan<'a> {
    pub ops: Vec<Op>,
    pub perms: Vec<Resolved<'a>>,
    pub warnings: Vec<String>,
    /// Files of the previous record beneath an install prefix (the others are left alone).
    pub previous_files: Vec<Loc>,
}

/// The plan of `req`, from `sources`: what [`super::precheck::scan`] read of each `files`
/// source (the bundle is not walked again).
pub(super) fn plan<'a>(
    req: &'a InstallRequest<'_>,
    roots: &Roots,
    sources: &[Source],
) -> Result<Plan<'a>, InstallError> {
    let mut warnings = Vec::new();
    let mut previous_files = Vec::new();
    for file in req.previous.iter().flat_map(|r| &r.files) {
        match roots.locate_host(file) {
            Ok(Some(loc)) => previous_files.push(loc),
            Ok(None) => warnings.push(format!(
                "`{}` of the previous revision is an install prefix or above one and was left in place",
                file.display()
            )),
            Err(why) => warnings.push(format!(
                "`{}` of the previous revision {why} and was left in place",
                file.display()
            )),
        }
    }
    let mut planner = Planner {
        req,
        roots,
        previous: previous_files.iter().map(|l| l.host.as_path()).collect(),
        seen: HashMap::new(),
        absent: HashSet::new(),
        conflicts: Vec::new(),
        ops: Vec::new(),
        cursors: HashMap::new(),
    };
    for (i, mapping) in req.spec.files.iter().enumerate() {
        let dest = match &mapping.destination {
            Destination::Unix(path) => {
                roots.locate(path).ok_or_else(|| InstallError::NotAllowed {
                    at: mapping.at.clone(),
                    destination: path.clone(),
                })?
            }
            Destination::Windows(path) => {
                return Err(InstallError::WindowsDestination {
                    at: mapping.at.clone(),
                    destination: path.clone(),
                });
            }
        };
        let src = PathBuf::from(mapping.source.as_str());
        let source = sources.get(i).unwrap_or(&Source::Missing);
        if matches!(source, Source::Missing) {
            return Err(InstallError::MissingSource {
                at: mapping.at.clone(),
                source_path: mapping.source.to_string(),
            });
        }
        planner.dir_chain(&dest, i)?;
        match source {
            Source::Dir(entries) => planner.tree(&src, &dest, entries, i)?,
            Source::Leaf(read) => {
                let name = src.file_name().unwrap_or_default();
                planner.leaf(read.clone(), src.clone(), dest.child(name), i)?;
            }
            Source::Missing => {}
        }
    }
    if !planner.conflicts.is_empty() {
        return Err(InstallError::FilesExist {
            paths: planner.conflicts,
        });
    }
    let (ops, absent) = (planner.ops, planner.absent);

    let mut resolved = Vec::new();
    for entry in &req.spec.permissions {
        warnings.extend(perms::warnings(entry, &req.policy.install));
        let object = roots.host(&entry.object);
        resolved.push(perms::resolve(
            entry,
            object,
            &req.policy.install,
            roots.target(),
        )?);
    }
    // As the CodeDeploy agent: what this Install puts on the host is under one `permissions`
    // entry at most.
    for op in &ops {
        let is_dir = match op.kind {
            OpKind::File => false,
            OpKind::Dir { target } if target || absent.contains(&op.dest.host) => true,
            _ => continue,
        };
        let mut matching = resolved
            .iter()
            .filter(|p| p.applies_to(roots.target_path(), &op.dest.host, is_dir));
        if let (Some(first), Some(second)) = (matching.next(), matching.next()) {
            return Err(InstallError::PermissionsOverlap {
                path: op.dest.host.clone(),
                at: second.spec.at.clone(),
                first: first.spec.at.clone(),
            });
        }
    }
    Ok(Plan {
        ops,
        perms: resolved,
        warnings,
        previous_files,
    })
}

struct Planner<'r, 'p> {
    req: &'r InstallRequest<'r>,
    roots: &'r Roots,
    /// Host paths of the previous revision's files (they are removed first).
    previous: HashSet<&'p Path>,
    /// Destination (host path) → index of its op.
    seen: HashMap<PathBuf, usize>,
    /// Directories that do not exist yet (nothing beneath them needs checking).
    absent: HashSet<PathBuf>,
    conflicts: Vec<PathBuf>,
    ops: Vec<Op>,
    /// Per install prefix, the directories opened by the last lookup.
    cursors: HashMap<usize, Cursor>,
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

    /// What is at `loc`; where a directory must go (`dir`), a link there is followed beneath
    /// its prefix (one that leads out is an error, naming the `files` entry).
    fn found(&mut self, loc: &Loc, dir: bool, mapping: usize) -> Result<Found, InstallError> {
        let parent_absent = loc.host.parent().is_some_and(|p| self.absent.contains(p));
        if parent_absent || self.previous.contains(loc.host.as_path()) {
            return Ok(Found::Nothing);
        }
        let Some(root) = self.roots.existing(loc.prefix)? else {
            return Ok(Found::Nothing);
        };
        if loc.is_prefix() {
            return Ok(Found::Dir);
        }
        let at = self.at(mapping);
        let located = |e| super::located(io_err("read", &loc.host)(e), at.clone());
        // Its directory through the chain opened for the previous lookup: a walk in tree order
        // opens each directory once.
        let cursor = match self.cursors.entry(loc.prefix) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(Cursor::new(root.try_clone().map_err(located)?))
            }
        };
        let meta = cursor
            .parent_of(&loc.rel)
            .and_then(|(parent, name)| parent.symlink_metadata(Path::new(name)));
        let meta = match meta {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Found::Nothing),
            Err(e) => return Err(located(e)),
        };
        if meta.is_dir() {
            return Ok(Found::Dir);
        }
        if dir && meta.is_symlink() {
            return match root.metadata(&loc.rel) {
                Ok(m) if m.is_dir() => Ok(Found::Dir),
                Ok(_) => Ok(Found::Other),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Found::Other),
                Err(e) => Err(located(e)),
            };
        }
        Ok(Found::Other)
    }

    /// Plans the install prefix of `dest`, every missing directory from it down to `dest`, and
    /// `dest` itself.
    fn dir_chain(&mut self, dest: &Loc, mapping: usize) -> Result<(), InstallError> {
        let parts: Vec<&OsStr> = dest.rel.iter().collect();
        let mut path = Loc {
            prefix: dest.prefix,
            rel: PathBuf::new(),
            host: dest.host.clone(),
        };
        for _ in &parts {
            path.host.pop();
        }
        self.dir(&path, parts.is_empty(), mapping)?;
        for (i, part) in parts.iter().enumerate() {
            path = path.child(part);
            self.dir(&path, i + 1 == parts.len(), mapping)?;
        }
        Ok(())
    }

    fn dir(&mut self, path: &Loc, target: bool, mapping: usize) -> Result<(), InstallError> {
        if let Some(&i) = self.seen.get(&path.host) {
            let first = &mut self.ops[i];
            if let OpKind::Dir { target: was } = first.kind {
                first.kind = OpKind::Dir {
                    target: was || target,
                };
                return Ok(());
            }
            return Err(self.duplicate(&path.host, mapping, i));
        }
        match self.found(path, true, mapping)? {
            Found::Dir => {}
            Found::Nothing => {
                self.absent.insert(path.host.clone());
            }
            Found::Other => {
                return Err(InstallError::NotADirectory {
                    path: path.host.clone(),
                    at: Some(self.at(mapping)),
                });
            }
        }
        self.push(
            OpKind::Dir { target },
            Kind::Dir,
            PathBuf::new(),
            path.clone(),
            mapping,
        );
        Ok(())
    }

    fn leaf(
        &mut self,
        read: Kind,
        src: PathBuf,
        dest: Loc,
        mapping: usize,
    ) -> Result<(), InstallError> {
        let kind = match read {
            Kind::Link(_) => OpKind::Link,
            _ => OpKind::File,
        };
        if let Some(&i) = self.seen.get(&dest.host) {
            return Err(self.duplicate(&dest.host, mapping, i));
        }
        match (self.found(&dest, false, mapping)?, self.req.behavior) {
            (Found::Nothing, _) | (_, FileExistsBehavior::Retain) => {}
            (_, FileExistsBehavior::Disallow) => self.conflicts.push(dest.host.clone()),
            (Found::Dir, FileExistsBehavior::Overwrite) => {
                return Err(InstallError::DirectoryInTheWay {
                    path: dest.host,
                    at: self.at(mapping),
                });
            }
            (Found::Other, FileExistsBehavior::Overwrite) => {}
        }
        self.push(kind, read, src, dest, mapping);
        Ok(())
    }

    /// Plans the contents of the bundle directory `src` into `dest`: its `entries`, as the
    /// precheck listed them (each directory before what it holds, names sorted).
    fn tree(
        &mut self,
        src: &Path,
        dest: &Loc,
        entries: &[Entry],
        mapping: usize,
    ) -> Result<(), InstallError> {
        for entry in entries {
            let to = Loc {
                prefix: dest.prefix,
                rel: dest.rel.join(&entry.rel),
                host: dest.host.join(&entry.rel),
            };
            match &entry.kind {
                Kind::Dir => self.dir(&to, true, mapping)?,
                read => self.leaf(read.clone(), src.join(&entry.rel), to, mapping)?,
            }
        }
        Ok(())
    }

    fn push(&mut self, kind: OpKind, read: Kind, src: PathBuf, dest: Loc, mapping: usize) {
        self.seen.insert(dest.host.clone(), self.ops.len());
        self.ops.push(Op {
            kind,
            src,
            read,
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
