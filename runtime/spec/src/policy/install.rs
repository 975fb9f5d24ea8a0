//! `[install]`: where a bundle's `files` may go, which modes, owners and groups its
//! `permissions` (and its own file modes) may give what it installs, and what to do with ACLs
//! and SELinux contexts the host cannot apply.

use std::fmt;

use super::raw::{RawInstall, S};
use super::validate::Ctx;
use crate::error::{SpecError, ValueError, expected_one_of};
use crate::location::Located;
use crate::path::AbsPath;

/// Setuid and setgid bits.
pub const SETUID_BITS: u32 = 0o6000;
/// The write bit for others.
pub const WORLD_WRITABLE_BIT: u32 = 0o002;

/// The `[install]` table of a host policy. Deny by default: without it (and in
/// [`HostPolicy::default`](super::HostPolicy::default)) a bundle may install nowhere, set no
/// setuid, setgid or world-writable mode, and give its files to no owner or group.
///
/// ```toml
/// [install]
/// destinations = ["/opt/hello-web"]   # a `files` destination is one of these or beneath one
/// allow_setuid = false                # setuid/setgid: `permissions` modes, bundle file modes
/// allow_world_writable = false        # o+w on anything installed (mode or bundle file mode)
/// owners = ["root"]                   # `owner` values `permissions` may set, as written
/// groups = ["root"]                   # `group` values
/// acls = "apply"                      # `permissions` `acls` this host cannot apply: "apply"
///                                     # fails the deployment (the default), "skip" goes on
/// selinux_contexts = "apply"          # `permissions` `context`, the same choice
/// ```
///
/// ```
/// use davit_spec::{AbsPath, HostPolicy};
///
/// let policy = HostPolicy::parse("policy.toml", "[install]\ndestinations = [\"/opt/app\"]\n")?;
/// let install = &policy.install;
/// assert!(install.allows_destination(&AbsPath::try_from("/opt/app/www").unwrap()));
/// assert!(!install.allows_destination(&AbsPath::try_from("/opt/application").unwrap()));
/// assert!(!install.setuid_allowed() && install.owners.is_none());
/// assert_eq!(install.acls(), davit_spec::ApplyOrSkip::Apply);
/// # Ok::<(), davit_spec::SpecError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstallPolicy {
    /// `destinations`: the install prefixes, with where the list is written.
    pub destinations: Option<Located<Vec<AbsPath>>>,
    /// `allow_setuid`.
    pub allow_setuid: Option<Located<bool>>,
    /// `allow_world_writable`.
    pub allow_world_writable: Option<Located<bool>>,
    /// `owners`: the names (or numbers) a `permissions` `owner` may be.
    pub owners: Option<Located<Vec<String>>>,
    /// `groups`: the names (or numbers) a `permissions` `group` may be.
    pub groups: Option<Located<Vec<String>>>,
    /// `acls`: what to do with `permissions` ACL entries where the host cannot apply them (see
    /// [`InstallPolicy::acls`]).
    pub acls: Option<Located<ApplyOrSkip>>,
    /// `selinux_contexts`: what to do with `permissions` SELinux contexts where the host cannot
    /// apply them (see [`InstallPolicy::selinux_contexts`]).
    pub selinux_contexts: Option<Located<ApplyOrSkip>>,
}

/// What to do with a part of `permissions` (ACLs, SELinux contexts) that this host cannot apply
/// (no ACL support on the file system, SELinux disabled or its tools absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ApplyOrSkip {
    /// `"apply"` (the default): apply it, and fail the deployment where the host cannot, as
    /// the CodeDeploy agent does.
    #[default]
    Apply,
    /// `"skip"`: where the host cannot apply it, go on without it, with a warning; where it
    /// can, it is still applied.
    Skip,
}

impl ApplyOrSkip {
    /// The spellings a policy may use.
    pub const NAMES: [&'static str; 2] = ["apply", "skip"];
}

impl TryFrom<&str> for ApplyOrSkip {
    type Error = ValueError;

    fn try_from(text: &str) -> Result<Self, ValueError> {
        match text {
            "apply" => Ok(Self::Apply),
            "skip" => Ok(Self::Skip),
            _ => Err(expected_one_of(&Self::NAMES, text)),
        }
    }
}

impl fmt::Display for ApplyOrSkip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Apply => "apply",
            Self::Skip => "skip",
        })
    }
}

impl InstallPolicy {
    /// The install prefixes (none when `destinations` is not set).
    pub fn destinations(&self) -> &[AbsPath] {
        self.destinations.as_ref().map_or(&[], |d| &d.value)
    }

    /// Whether `path` is one of the prefixes or lies beneath one.
    pub fn allows_destination(&self, path: &AbsPath) -> bool {
        self.destinations().iter().any(|p| path.starts_with(p))
    }

    /// Whether setuid and setgid bits may be installed.
    pub fn setuid_allowed(&self) -> bool {
        self.allow_setuid.as_ref().is_some_and(|a| a.value)
    }

    /// Whether anything installed may be writable by others.
    pub fn world_writable_allowed(&self) -> bool {
        self.allow_world_writable.as_ref().is_some_and(|a| a.value)
    }

    /// What to do with ACL entries the host cannot apply: [`ApplyOrSkip::Apply`] unless the
    /// policy says `acls = "skip"` (where it says so is in [`InstallPolicy::acls`] the field).
    pub fn acls(&self) -> ApplyOrSkip {
        self.acls.as_ref().map(|a| a.value).unwrap_or_default()
    }

    /// What to do with SELinux contexts the host cannot apply: [`ApplyOrSkip::Apply`] unless
    /// the policy says `selinux_contexts = "skip"`.
    pub fn selinux_contexts(&self) -> ApplyOrSkip {
        self.selinux_contexts
            .as_ref()
            .map(|a| a.value)
            .unwrap_or_default()
    }

    /// The flag a `mode` needs and this policy does not set: `allow_setuid` or
    /// `allow_world_writable`, with where it is set to false (if it is).
    pub fn mode_flag_missing(&self, mode: u32) -> Option<(&'static str, Option<&Located<bool>>)> {
        if mode & SETUID_BITS != 0 && !self.setuid_allowed() {
            return Some(("allow_setuid", self.allow_setuid.as_ref()));
        }
        if mode & WORLD_WRITABLE_BIT != 0 && !self.world_writable_allowed() {
            return Some(("allow_world_writable", self.allow_world_writable.as_ref()));
        }
        None
    }
}

pub(super) fn install(cx: &Ctx<'_>, raw: RawInstall) -> Result<InstallPolicy, SpecError> {
    let flag = |f: Option<S<bool>>| f.map(|f| Located::new(*f.get_ref(), cx.at(&f)));
    let mut out = InstallPolicy {
        allow_setuid: flag(raw.allow_setuid),
        allow_world_writable: flag(raw.allow_world_writable),
        ..InstallPolicy::default()
    };
    if let Some(list) = raw.destinations {
        let mut paths = Vec::new();
        for d in list.get_ref() {
            paths.push(cx.check("destinations", d, AbsPath::try_from)?);
        }
        out.destinations = Some(Located::new(paths, cx.at(&list)));
    }
    let names = |key: &'static str, list: Option<S<Vec<S<String>>>>| {
        let Some(list) = list else {
            return Ok(None);
        };
        let mut names = Vec::new();
        for n in list.get_ref() {
            names.push(cx.check(key, n, |t| {
                if t.trim().is_empty() {
                    Err(ValueError::Empty)
                } else {
                    Ok(t.trim().to_owned())
                }
            })?);
        }
        Ok::<_, SpecError>(Some(Located::new(names, cx.at(&list))))
    };
    out.owners = names("owners", raw.owners)?;
    out.groups = names("groups", raw.groups)?;
    let choice = |key: &'static str, raw: Option<S<String>>| {
        raw.map(|c| {
            cx.check(key, &c, ApplyOrSkip::try_from)
                .map(|v| Located::new(v, cx.at(&c)))
        })
        .transpose()
    };
    out.acls = choice("acls", raw.acls)?;
    out.selinux_contexts = choice("selinux_contexts", raw.selinux_contexts)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::HostPolicy;

    const EXAMPLE: &str = "[install]
destinations = [\"/opt/hello-web\", \"/etc/hello-web/\"]
allow_setuid = false
allow_world_writable = true
owners = [\"root\", \"www-data\"]
groups = [\"root\"]
acls = \"skip\"
";

    #[test]
    fn parses_with_locations() {
        let p = HostPolicy::parse("policy.toml", EXAMPLE).unwrap();
        let i = &p.install;
        let dest = i.destinations.as_ref().unwrap();
        assert_eq!(dest.at.to_string(), "policy.toml:2:16");
        assert_eq!(i.destinations()[1].as_str(), "/etc/hello-web");
        assert!(!i.setuid_allowed() && i.world_writable_allowed());
        assert_eq!(
            i.allow_setuid.as_ref().unwrap().at.to_string(),
            "policy.toml:3:16"
        );
        assert_eq!(i.owners.as_ref().unwrap().value, ["root", "www-data"]);
        assert_eq!(i.mode_flag_missing(0o4755).unwrap().0, "allow_setuid");
        assert_eq!(i.mode_flag_missing(0o2755).unwrap().0, "allow_setuid");
        assert_eq!(i.mode_flag_missing(0o777), None);
        assert_eq!(i.mode_flag_missing(0o1755), None, "sticky is fine");
        assert_eq!(i.acls(), super::ApplyOrSkip::Skip);
        assert_eq!(i.acls.as_ref().unwrap().at.to_string(), "policy.toml:7:8");
        assert_eq!(i.selinux_contexts(), super::ApplyOrSkip::Apply);
    }

    #[test]
    fn absent_allows_nothing() {
        for p in [
            HostPolicy::default(),
            HostPolicy::parse("p.toml", "[install]\n").unwrap(),
        ] {
            let i = &p.install;
            assert!(i.destinations().is_empty());
            assert!(!i.allows_destination(&crate::AbsPath::try_from("/").unwrap()));
            assert_eq!(
                i.mode_flag_missing(0o646).unwrap().0,
                "allow_world_writable"
            );
        }
    }

    #[test]
    fn bad_values_are_located() {
        for (text, shown) in [
            (
                "[install]\ndestinations = [\"opt\"]\n",
                "p.toml:2:17: `destinations`",
            ),
            ("[install]\nowners = [\" \"]\n", "p.toml:2:11: `owners`"),
            (
                "[install]\ndestination = [\"/opt\"]\n",
                "p.toml:2:1: unknown key",
            ),
            ("[install]\nallow_setuid = \"yes\"\n", "p.toml:2:16"),
            (
                "[install]\nselinux_contexts = \"ignore\"\n",
                "p.toml:2:20: `selinux_contexts` must be `apply` or `skip`, got `ignore`",
            ),
        ] {
            let err = HostPolicy::parse("p.toml", text).unwrap_err().to_string();
            assert!(err.starts_with(shown), "{err}");
        }
    }
}
