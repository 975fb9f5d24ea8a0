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

use davit_fsroot::{Metadata, MetadataExt, Resolve, Root};
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
    let mut out = policy.check_install(spec).err().unwrap_or_default();
    let bundle = Root::open_ambient(bundle_dir, Resolve::Beneath)?;
    for mapping in &spec.files {
        let Destination::Unix(dest) = &mapping.destination else {
            continue;
        };
        let src = PathBuf::from(mapping.source.as_str());
        let meta = match bundle.symlink_metadata(&src) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let mut check = Check {
            bundle: &bundle,
            policy,
            mapping,
            dest,
            out: &mut out,
        };
        if meta.is_dir() {
            check.walk(&src, Path::new(""))?;
        } else {
            let name = src.file_name().unwrap_or_default();
            check.entry(&src, Path::new(name), &meta)?;
        }
    }
    Ok(out)
}

struct Check<'a> {
    bundle: &'a Root,
    policy: &'a HostPolicy,
    mapping: &'a FileMapping,
    /// The mapping's destination directory.
    dest: &'a AbsPath,
    out: &'a mut Vec<InstallRefusal>,
}

impl Check<'_> {
    /// The bundle directory `src`, installed at `rel` under the destination.
    fn walk(&mut self, src: &Path, rel: &Path) -> io::Result<()> {
        // Opened once: each entry is then one name in it, not a path walked again.
        let dir = self.bundle.open_dir(src)?;
        for name in dir.read_dir(Path::new(""))? {
            let (from, to) = (src.join(&name), rel.join(&name));
            let meta = dir.symlink_metadata(Path::new(&name))?;
            if meta.is_dir() {
                self.walk(&from, &to)?;
            } else {
                self.entry(&from, &to, &meta)?;
            }
        }
        Ok(())
    }

    /// One file or link of the bundle, `src`, installed at `rel` under the destination.
    fn entry(&mut self, src: &Path, rel: &Path, meta: &Metadata) -> io::Result<()> {
        let path = BundlePath::parse(&src.to_string_lossy(), Os::Linux)
            .unwrap_or_else(|_| self.mapping.source.clone());
        let (grant, reason) = if meta.is_symlink() {
            let target = self.bundle.read_link(src)?;
            let Some(reason) = self.link_refused(rel, &target) else {
                return Ok(());
            };
            let installed = format!("{}/{}", self.dest, rel.display());
            let installed = AbsPath::try_from(installed).unwrap_or_else(|_| self.dest.clone());
            let grant = InstallGrant::BundleLink {
                path,
                target,
                installed,
            };
            (grant, reason)
        } else {
            let mode = meta.mode() & 0o7777;
            let Some(reason) = self.policy.refuse_mode(mode) else {
                return Ok(());
            };
            (InstallGrant::BundleMode { path, mode }, reason)
        };
        self.out.push(InstallRefusal {
            grant,
            at: self.mapping.at.clone(),
            reason,
        });
        Ok(())
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
