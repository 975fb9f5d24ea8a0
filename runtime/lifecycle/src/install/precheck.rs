//! The install precheck: what an Install would put on the host, checked against the host policy
//! before any hook runs (beside the grant checks, with the same kind of refusal), reading only.
//!
//! - What the appspec asks for: [`HostPolicy::check_install`] (destinations, `permissions`
//!   modes, owners and groups).
//! - What the bundle holds, for each `files` entry: every symlink must point, read lexically
//!   from where it will be installed, inside that entry's destination directory (as
//!   [`davit_bundle::link_stays_inside`] judges a link inside a bundle); an absolute target is
//!   allowed only when it lies under an install prefix of the policy (staging already refuses
//!   absolute links, so only a bundle that was not staged can have one). Every file's mode must
//!   have no setuid/setgid bit without `allow_setuid` and no o+w without `allow_world_writable`
//!   (directories are created with mode 0755, not copied, so their modes do not matter).

use std::io;
use std::path::{Component, Path, PathBuf};

use davit_fsroot::{MetadataExt, Resolve, Root};
use davit_spec::{
    AbsPath, AppSpec, BundlePath, Destination, FileMapping, HostPolicy, InstallGrant,
    InstallRefusal, Os, Reason,
};

/// Checks what installing the staged revision at `bundle_dir` with `spec` would do against
/// `policy` (see the module docs). Reads the bundle through a root that no link leaves, and
/// writes nothing. A `files` source that is missing is left for the Install to report.
///
/// # Errors
///
/// When the staged revision cannot be read.
pub fn precheck(
    bundle_dir: &Path,
    spec: &AppSpec,
    policy: &HostPolicy,
) -> io::Result<Vec<InstallRefusal>> {
    scan(bundle_dir, spec, policy).map(|(refusals, _)| refusals)
}

/// What one `files` source of the bundle holds, as the precheck read it: what Install copies
/// is what was checked (the modes it gives, the link targets it writes).
#[derive(Debug)]
pub(super) enum Source {
    /// Not in the bundle.
    Missing,
    /// A file or link: the source itself.
    Leaf(Kind),
    /// A directory: every entry beneath it, each directory before what it holds, names sorted.
    Dir(Vec<Entry>),
}

/// An entry beneath a directory source.
#[derive(Debug)]
pub(super) struct Entry {
    /// Relative to the source directory.
    pub rel: PathBuf,
    pub kind: Kind,
}

/// What a bundle entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Dir,
    /// A file (or anything else that is no directory or link), its mode bits and size.
    File {
        mode: u32,
        size: u64,
    },
    /// A link, its target as stored.
    Link(PathBuf),
}

/// [`precheck`], and the bundle as it read it: each `files` source in appspec order (a
/// Windows destination's is [`Source::Missing`], as it is never installed here). The one walk
/// of the bundle an Install makes: one listing per directory (types from `d_type`), one `stat`
/// per file for its mode, one `readlink` per link.
pub(super) fn scan(
    bundle_dir: &Path,
    spec: &AppSpec,
    policy: &HostPolicy,
) -> io::Result<(Vec<InstallRefusal>, Vec<Source>)> {
    let mut out = policy.check_install(spec).err().unwrap_or_default();
    let bundle = Root::open_ambient(bundle_dir, Resolve::Beneath)?;
    let mut sources = Vec::new();
    for mapping in &spec.files {
        let Destination::Unix(dest) = &mapping.destination else {
            sources.push(Source::Missing);
            continue;
        };
        let src = PathBuf::from(mapping.source.as_str());
        let meta = match bundle.symlink_metadata(&src) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                sources.push(Source::Missing);
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut check = Check {
            policy,
            mapping,
            dest,
            out: &mut out,
        };
        if meta.is_dir() {
            let mut entries = Vec::new();
            let dir = bundle.open_dir(&src)?;
            check.walk(&dir, &src, Path::new(""), &mut entries)?;
            sources.push(Source::Dir(entries));
        } else {
            let kind = if meta.is_symlink() {
                Kind::Link(bundle.read_link(&src)?)
            } else {
                Kind::File {
                    mode: meta.mode() & 0o7777,
                    size: meta.len(),
                }
            };
            let name = src.file_name().unwrap_or_default();
            check.entry(&src, Path::new(name), &kind);
            sources.push(Source::Leaf(kind));
        }
    }
    Ok((out, sources))
}

struct Check<'a> {
    policy: &'a HostPolicy,
    mapping: &'a FileMapping,
    /// The mapping's destination directory.
    dest: &'a AbsPath,
    out: &'a mut Vec<InstallRefusal>,
}

impl Check<'_> {
    /// The bundle directory `dir` (at `src` in the bundle), installed at `rel` under the
    /// destination: its entries are added to `entries`.
    fn walk(
        &mut self,
        dir: &Root,
        src: &Path,
        rel: &Path,
        entries: &mut Vec<Entry>,
    ) -> io::Result<()> {
        // Each entry is one name in the open directory, not a path walked again.
        for (name, file_type) in dir.entries(Path::new(""))? {
            let (from, to) = (src.join(&name), rel.join(&name));
            let name = Path::new(&name);
            let kind = if file_type.is_dir() {
                Kind::Dir
            } else if file_type.is_symlink() {
                Kind::Link(dir.read_link(name)?)
            } else {
                let meta = dir.symlink_metadata(name)?;
                Kind::File {
                    mode: meta.mode() & 0o7777,
                    size: meta.len(),
                }
            };
            self.entry(&from, &to, &kind);
            entries.push(Entry {
                rel: to.clone(),
                kind: kind.clone(),
            });
            if kind == Kind::Dir {
                let sub = dir.open_dir(name)?;
                self.walk(&sub, &from, &to, entries)?;
            }
        }
        Ok(())
    }

    /// One entry of the bundle, `src`, installed at `rel` under the destination.
    fn entry(&mut self, src: &Path, rel: &Path, kind: &Kind) {
        let mode = match kind {
            Kind::Dir => return,
            Kind::File { mode, .. } => *mode,
            Kind::Link(target) => return self.link(src, rel, target),
        };
        let Some(reason) = self.policy.refuse_mode(mode) else {
            return;
        };
        let path = self.path(src);
        self.out.push(InstallRefusal {
            grant: InstallGrant::BundleMode { path, mode },
            at: self.mapping.at.clone(),
            reason,
        });
    }

    fn path(&self, src: &Path) -> BundlePath {
        BundlePath::parse(&src.to_string_lossy(), Os::Linux)
            .unwrap_or_else(|_| self.mapping.source.clone())
    }

    /// The link `src` pointing at `target`, installed at `rel` under the destination.
    fn link(&mut self, src: &Path, rel: &Path, target: &Path) {
        let Some(reason) = self.link_refused(rel, target) else {
            return;
        };
        let installed = format!("{}/{}", self.dest, rel.display());
        let installed = AbsPath::try_from(installed).unwrap_or_else(|_| self.dest.clone());
        let grant = InstallGrant::BundleLink {
            path: self.path(src),
            target: target.to_owned(),
            installed,
        };
        self.out.push(InstallRefusal {
            grant,
            at: self.mapping.at.clone(),
            reason,
        });
    }

    /// Why the link at `rel` under the destination, pointing at `target`, is refused, if it is.
    fn link_refused(&self, rel: &Path, target: &Path) -> Option<Reason> {
        if target.is_absolute() {
            return self.policy.refuse_destination(&lexical(target));
        }
        if davit_bundle::link_stays_inside(rel, target) {
            None
        } else {
            Some(Reason::LinkOutside {
                destination: self.dest.clone(),
            })
        }
    }
}

/// An absolute path with `.` and `..` taken lexically (`..` at `/` stays there).
fn lexical(path: &Path) -> AbsPath {
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(name) => parts.push(name.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    AbsPath::try_from(format!("/{}", parts.join("/"))).expect("a normalised absolute path")
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;

    fn policy(text: &str) -> HostPolicy {
        HostPolicy::parse("policy.toml", text).unwrap()
    }

    #[test]
    fn links_are_judged_from_where_they_are_installed() {
        let tmp = tempfile::tempdir().unwrap();
        let b = tmp.path();
        std::fs::create_dir_all(b.join("a/b/c/d/sub")).unwrap();
        std::fs::write(b.join("a/x"), "x").unwrap();
        // Inside the bundle, outside `a/b/c/d` once that is installed at /opt/app/www.
        symlink("../../../../x", b.join("a/b/c/d/l")).unwrap();
        symlink("../l", b.join("a/b/c/d/sub/ok")).unwrap();
        symlink("/opt/app/data", b.join("a/b/c/d/abs-in")).unwrap();
        symlink("/opt/app/../../etc/passwd", b.join("a/b/c/d/abs-out")).unwrap();
        let spec = AppSpec::parse(
            "appspec.yml",
            "version: 0.0\nos: linux\nfiles:\n  - source: a/b/c/d\n    destination: /opt/app/www\n  - source: a/b/c/d/l\n    destination: /opt/app\n",
        )
        .unwrap();
        let refusals = precheck(
            b,
            &spec,
            &policy("[install]\ndestinations = [\"/opt/app\"]\n"),
        )
        .unwrap();
        let shown: Vec<String> = refusals.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "appspec.yml:4:5: `files` entry requests bundle link `a/b/c/d/abs-out` -> `/opt/app/../../etc/passwd` at `/opt/app/www/abs-out`, but `destinations` at policy.toml:2:16 allows only `/opt/app` and what lies beneath",
                "appspec.yml:4:5: `files` entry requests bundle link `a/b/c/d/l` -> `../../../../x` at `/opt/app/www/l`, but once installed it would point outside `/opt/app/www`",
                "appspec.yml:6:5: `files` entry requests bundle link `a/b/c/d/l` -> `../../../../x` at `/opt/app/l`, but once installed it would point outside `/opt/app`",
            ]
        );
    }

    #[test]
    fn file_modes_need_the_policy_flags() {
        let tmp = tempfile::tempdir().unwrap();
        let b = tmp.path();
        std::fs::create_dir_all(b.join("www")).unwrap();
        for (name, mode) in [("open", 0o666), ("plain", 0o644), ("dir-mode", 0o755)] {
            std::fs::write(b.join("www").join(name), name).unwrap();
            std::fs::set_permissions(b.join("www").join(name), PermissionsExt::from_mode(mode))
                .unwrap();
        }
        std::fs::set_permissions(b.join("www"), PermissionsExt::from_mode(0o777)).unwrap();
        let spec = AppSpec::parse(
            "appspec.yml",
            "version: 0.0\nos: linux\nfiles:\n  - source: www\n    destination: /srv\n",
        )
        .unwrap();
        let strict = policy("[install]\ndestinations = [\"/srv\"]\n");
        let shown: Vec<String> = precheck(b, &spec, &strict)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown,
            [
                "appspec.yml:4:5: `files` entry requests bundle file `www/open` with mode `0666`, but policy.toml does not set `allow_world_writable = true` in `[install]`"
            ]
        );
        let lax = policy("[install]\ndestinations = [\"/srv\"]\nallow_world_writable = true\n");
        assert!(precheck(b, &spec, &lax).unwrap().is_empty());
    }
}
