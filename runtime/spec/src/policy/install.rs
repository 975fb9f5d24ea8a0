//! `[install]`: where a bundle's `files` may go, and which modes, owners and groups its
//! `permissions` (and its own file modes) may give what it installs.

use super::raw::{RawInstall, S};
use super::validate::Ctx;
use crate::error::{SpecError, ValueError};
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
        ] {
            let err = HostPolicy::parse("p.toml", text).unwrap_err().to_string();
            assert!(err.starts_with(shown), "{err}");
        }
    }
}
