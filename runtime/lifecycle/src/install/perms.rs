//! `permissions`: owner and group names resolved before anything is touched, the CodeDeploy
//! `pattern`/`except` globs, and applying owner, group and mode to what was installed.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use davit_fsroot::{Metadata, MetadataExt, Root};
use davit_spec::{ApplyOrSkip, InstallPolicy, ObjectType, Permission};

use super::InstallError;
use super::undo::chown;

/// A `permissions` entry with its object re-rooted and its names resolved.
#[derive(Debug)]
pub(super) struct Resolved<'a> {
    pub spec: &'a Permission,
    /// The object on the host (under the target root).
    pub object: PathBuf,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// `acls`, names resolved, unless the policy skips them.
    pub acl: Option<super::xattr::Acl>,
    /// Whether to set the SELinux `context` (it has one and the policy does not skip it).
    pub context: bool,
}

/// Resolves the owner and group of `entry` (and the names in its `acls`); `object` is already
/// re-rooted. ACLs and contexts the policy skips are left out; where the policy applies them
/// and this host cannot, that is an error naming the entry.
pub(super) fn resolve<'a>(
    entry: &'a Permission,
    object: PathBuf,
    policy: &InstallPolicy,
    target: &Root,
) -> Result<Resolved<'a>, InstallError> {
    let uid = match &entry.owner {
        None => None,
        Some(name) => Some(
            lookup(name, Db::User).ok_or_else(|| InstallError::UnknownOwner {
                at: entry.at.clone(),
                name: name.clone(),
            })?,
        ),
    };
    let gid = match &entry.group {
        None => None,
        Some(name) => Some(
            lookup(name, Db::Group).ok_or_else(|| InstallError::UnknownGroup {
                at: entry.at.clone(),
                name: name.clone(),
            })?,
        ),
    };
    let acl = match policy.acls() {
        ApplyOrSkip::Skip => None,
        ApplyOrSkip::Apply => super::xattr::resolve_acl(entry)?,
    };
    if acl.is_some() && !super::xattr::acls_supported(target) {
        return Err(InstallError::AclsUnsupported {
            at: entry.at.clone(),
            object: entry.object.clone(),
        });
    }
    let context = entry.context.is_some() && policy.selinux_contexts() == ApplyOrSkip::Apply;
    if context && !super::xattr::selinux_enabled() {
        return Err(InstallError::SelinuxDisabled {
            at: entry.at.clone(),
            object: entry.object.clone(),
        });
    }
    Ok(Resolved {
        spec: entry,
        object,
        uid,
        gid,
        acl,
        context,
    })
}

/// The one-line warnings for what the host policy says to skip (`acls`, SELinux `context`).
pub(super) fn warnings(entry: &Permission, policy: &InstallPolicy) -> Vec<String> {
    let mut out = Vec::new();
    if !entry.acls.is_empty() && policy.acls() == ApplyOrSkip::Skip {
        out.push(format!(
            "{}: `acls` for `{}` were not applied: the host policy says `acls = \"skip\"` in `[install]`",
            entry.at, entry.object
        ));
    }
    if entry.context.is_some() && policy.selinux_contexts() == ApplyOrSkip::Skip {
        out.push(format!(
            "{}: SELinux `context` for `{}` was not applied: the host policy says `selinux_contexts = \"skip\"` in `[install]`",
            entry.at, entry.object
        ));
    }
    out
}

impl Resolved<'_> {
    /// Whether the entry applies to `path` (installed, under the target root `root`).
    pub(super) fn applies_to(&self, root: &Path, path: &Path, is_dir: bool) -> bool {
        let Ok(rel) = path.strip_prefix(&self.object) else {
            return false;
        };
        let kind = if is_dir {
            ObjectType::Directory
        } else {
            ObjectType::File
        };
        if !self.spec.types.is_empty() && !self.spec.types.contains(&kind) {
            return false;
        }
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let rel = rel.to_string_lossy();
        let in_appspec = Path::new("/").join(path.strip_prefix(root).unwrap_or(path));
        let in_appspec = in_appspec.to_string_lossy();
        let hit = |pattern: &str| {
            if pattern == "**" {
                true
            } else if pattern.starts_with('/') {
                glob(pattern, &in_appspec)
            } else if pattern.contains('/') {
                glob(pattern, &rel)
            } else {
                glob(pattern, &name)
            }
        };
        hit(&self.spec.pattern) && !self.spec.except.iter().any(|e| hit(e))
    }

    /// Whether applying the entry to `meta` would change anything.
    pub(super) fn would_change(&self, meta: &Metadata) -> bool {
        self.has_xattrs()
            || self.uid.is_some_and(|u| u != meta.uid())
            || self.gid.is_some_and(|g| g != meta.gid())
            || self
                .spec
                .mode
                .is_some_and(|m| m.bits() != meta.mode() & 0o7777)
    }

    /// Sets owner, group and mode of `rel` itself in `root` (never what a link there points
    /// at). A `chown` to the owner a path already has is skipped, so an unprivileged install
    /// works when the owners are its own.
    pub(super) fn apply(&self, root: &Root, rel: &Path, meta: &Metadata) -> std::io::Result<()> {
        let uid = self.uid.filter(|u| *u != meta.uid());
        let gid = self.gid.filter(|g| *g != meta.gid());
        if uid.is_some() || gid.is_some() {
            chown(root, rel, uid, gid)?;
        }
        if let Some(mode) = self.spec.mode {
            // After chown, which clears setuid/setgid bits.
            root.set_mode(rel, mode.bits())?;
        }
        self.apply_xattrs(root, rel, meta.is_dir())
    }

    /// Sets the entry's ACLs and SELinux context on `rel` in `root` (after its mode, as the
    /// CodeDeploy agent does: a later mode change would change the ACL mask).
    pub(super) fn apply_xattrs(
        &self,
        root: &Root,
        rel: &Path,
        is_dir: bool,
    ) -> std::io::Result<()> {
        if let Some(acl) = &self.acl {
            super::xattr::apply_acl(root, rel, acl, is_dir)?;
        }
        if let (true, Some(context)) = (self.context, &self.spec.context) {
            super::xattr::apply_context(root, rel, context)?;
        }
        Ok(())
    }

    /// Whether the entry sets anything beyond owner and mode.
    pub(super) fn has_xattrs(&self) -> bool {
        self.acl.is_some() || self.context
    }
}

#[derive(Clone, Copy)]
pub(super) enum Db {
    User,
    Group,
}

/// A user or group id from a name (or a number), through the system's NSS databases.
pub(super) fn lookup(name: &str, db: Db) -> Option<u32> {
    if let Ok(id) = name.parse::<u32>() {
        return Some(id);
    }
    let cname = CString::new(name).ok()?;
    let mut buf: Vec<libc::c_char> = vec![0; 4096];
    loop {
        let (rc, found) = match db {
            Db::User => {
                // SAFETY: `passwd` is plain old data; all-zero is a valid value to be overwritten.
                let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
                let mut result: *mut libc::passwd = std::ptr::null_mut();
                // SAFETY: every pointer is valid for the call and `buf.len()` is its real size;
                // the strings `entry` points into live in `buf`, which we do not read.
                let rc = unsafe {
                    libc::getpwnam_r(
                        cname.as_ptr(),
                        &mut entry,
                        buf.as_mut_ptr(),
                        buf.len(),
                        &mut result,
                    )
                };
                (rc, (!result.is_null()).then_some(entry.pw_uid))
            }
            Db::Group => {
                // SAFETY: as above, for `group`.
                let mut entry: libc::group = unsafe { std::mem::zeroed() };
                let mut result: *mut libc::group = std::ptr::null_mut();
                // SAFETY: as above.
                let rc = unsafe {
                    libc::getgrnam_r(
                        cname.as_ptr(),
                        &mut entry,
                        buf.as_mut_ptr(),
                        buf.len(),
                        &mut result,
                    )
                };
                (rc, (!result.is_null()).then_some(entry.gr_gid))
            }
        };
        if rc == libc::ERANGE && buf.len() < (1 << 20) {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        return if rc == 0 { found } else { None };
    }
}

/// CodeDeploy's glob: `*` any run of characters, `?` one character, `**` the same as `*`.
pub(super) fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                while p.get(pi) == Some(&'*') {
                    pi += 1;
                }
                star = Some((pi, ti));
            }
            Some('?') => {
                pi += 1;
                ti += 1;
            }
            Some(c) if *c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((after, from)) => {
                    pi = after;
                    ti = from + 1;
                    star = Some((after, from + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("*", ""));
        assert!(glob("*.txt", "a.txt"));
        assert!(!glob("*.txt", "a.txt.bak"));
        assert!(glob("my-file*", "my-file-3.txt"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(glob("**", "x"));
        assert!(glob("a*b*c", "aXbYbZc"));
        assert!(!glob("a*b*c", "aXbY"));
    }

    #[test]
    fn ids() {
        assert_eq!(lookup("0", Db::User), Some(0));
        assert_eq!(lookup("root", Db::User), Some(0));
        assert_eq!(lookup("root", Db::Group), Some(0));
        assert_eq!(lookup("no-such-user-davit", Db::User), None);
        assert_eq!(lookup("nul\0", Db::Group), None);
    }
}
