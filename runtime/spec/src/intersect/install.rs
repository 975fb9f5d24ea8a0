//! What an appspec installs, checked against the policy's `[install]` table: every `files`
//! destination and every `permissions` mode, owner and group, before anything runs.

use std::fmt;
use std::path::PathBuf;

use crate::appspec::{AppSpec, Mode};
use crate::location::{Located, Location};
use crate::path::{AbsPath, BundlePath, Destination};
use crate::policy::HostPolicy;
use crate::refusal::Reason;

/// Something a bundle's `files` or `permissions` asks to install, as named in an
/// [`InstallRefusal`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InstallGrant {
    /// A `files` destination.
    Destination(AbsPath),
    /// A `permissions` mode.
    Mode {
        /// The entry's `object`.
        object: AbsPath,
        /// The mode.
        mode: Mode,
    },
    /// A `permissions` owner.
    Owner {
        /// The entry's `object`.
        object: AbsPath,
        /// The name as written.
        name: String,
    },
    /// A `permissions` group.
    Group {
        /// The entry's `object`.
        object: AbsPath,
        /// The name as written.
        name: String,
    },
    /// A file of the bundle, copied with its own mode.
    BundleMode {
        /// The file in the bundle.
        path: BundlePath,
        /// Its permission bits.
        mode: u32,
    },
    /// A symlink of the bundle, recreated as it is.
    BundleLink {
        /// The link in the bundle.
        path: BundlePath,
        /// Its target, as stored.
        target: PathBuf,
        /// Where it would be installed.
        installed: AbsPath,
    },
}

impl InstallGrant {
    /// The appspec section the request comes from: `files` or `permissions`.
    pub fn section(&self) -> &'static str {
        match self {
            Self::Mode { .. } | Self::Owner { .. } | Self::Group { .. } => "permissions",
            _ => "files",
        }
    }
}

impl fmt::Display for InstallGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Destination(p) => write!(f, "destination `{p}`"),
            Self::Mode { object, mode } => write!(f, "mode `{mode}` for `{object}`"),
            Self::Owner { object, name } => write!(f, "owner `{name}` for `{object}`"),
            Self::Group { object, name } => write!(f, "group `{name}` for `{object}`"),
            Self::BundleMode { path, mode } => {
                write!(f, "bundle file `{path}` with mode `{mode:04o}`")
            }
            Self::BundleLink {
                path,
                target,
                installed,
            } => write!(
                f,
                "bundle link `{path}` -> `{}` at `{installed}`",
                target.display()
            ),
        }
    }
}

/// An install request refused by the host policy (or a bundle link that would lead out of its
/// destination): the appspec entry, what it asked for, and why.
///
/// Displays as ``appspec.yml:5:5: `files` entry requests destination `/etc/cron.d`, but
/// `destinations` at policy.toml:2:16 allows only `/opt/app` and what lies beneath``.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{at}: `{}` entry requests {grant}, but {reason}", grant.section())]
pub struct InstallRefusal {
    /// What was asked for.
    pub grant: InstallGrant,
    /// The `files` or `permissions` entry that asks for it.
    pub at: Location,
    /// Why not.
    pub reason: Reason,
}

impl HostPolicy {
    /// Checks what `spec` installs against `[install]`, before anything runs: every `files`
    /// destination must be a prefix of `destinations` or lie beneath one; every `permissions`
    /// mode with setuid/setgid or o+w needs `allow_setuid` or `allow_world_writable`; every
    /// `owner` and `group` must be listed in `owners` or `groups`. The bundle's own links and
    /// file modes are checked by whoever reads the staged bundle, with
    /// [`HostPolicy::refuse_destination`] and [`HostPolicy::refuse_mode`].
    ///
    /// # Errors
    ///
    /// Every refusal, in appspec order.
    pub fn check_install(&self, spec: &AppSpec) -> Result<(), Vec<InstallRefusal>> {
        let mut refusals = Vec::new();
        let mut refuse = |grant, at: &Location, reason| {
            refusals.push(InstallRefusal {
                grant,
                at: at.clone(),
                reason,
            })
        };
        for mapping in &spec.files {
            // A Windows destination is not installed here (the appspec is not runnable).
            if let Destination::Unix(path) = &mapping.destination
                && let Some(reason) = self.refuse_destination(path)
            {
                refuse(InstallGrant::Destination(path.clone()), &mapping.at, reason);
            }
        }
        for entry in &spec.permissions {
            let object = &entry.object;
            if let Some(mode) = entry.mode
                && let Some(reason) = self.refuse_mode(mode.bits())
            {
                let grant = InstallGrant::Mode {
                    object: object.clone(),
                    mode,
                };
                refuse(grant, &entry.at, reason);
            }
            let install = &self.install;
            for (key, name, list) in [
                ("owners", &entry.owner, &install.owners),
                ("groups", &entry.group, &install.groups),
            ] {
                let Some(name) = name else { continue };
                if let Some(reason) = self.refuse_name(key, name, list) {
                    let (object, name) = (object.clone(), name.clone());
                    let grant = match key {
                        "owners" => InstallGrant::Owner { object, name },
                        _ => InstallGrant::Group { object, name },
                    };
                    refuse(grant, &entry.at, reason);
                }
            }
        }
        if refusals.is_empty() {
            Ok(())
        } else {
            Err(refusals)
        }
    }

    /// Why `path` may not be installed to, if it may not: it lies under no `[install]
    /// destinations` prefix.
    pub fn refuse_destination(&self, path: &AbsPath) -> Option<Reason> {
        let install = &self.install;
        match &install.destinations {
            _ if install.allows_destination(path) => None,
            Some(list) if !list.value.is_empty() => Some(Reason::Destinations {
                at: list.at.clone(),
                allowed: list.value.clone(),
            }),
            _ => Some(Reason::NoRule {
                policy: self.file.clone(),
            }),
        }
    }

    /// Why the permission bits `mode` may not be installed, if they may not: setuid or setgid
    /// without `allow_setuid`, o+w without `allow_world_writable`.
    pub fn refuse_mode(&self, mode: u32) -> Option<Reason> {
        let (key, flag) = self.install.mode_flag_missing(mode)?;
        Some(Reason::InstallFlag {
            key,
            at: flag.map(|f| f.at.clone()),
            policy: self.file.clone(),
        })
    }

    fn refuse_name(
        &self,
        key: &'static str,
        name: &str,
        list: &Option<Located<Vec<String>>>,
    ) -> Option<Reason> {
        match list {
            Some(list) if list.value.iter().any(|n| n == name) => None,
            Some(list) => Some(Reason::InstallNames {
                key,
                at: list.at.clone(),
                allowed: list.value.clone(),
            }),
            None => Some(Reason::NoRule {
                policy: self.file.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "version: 0.0
os: linux
files:
  - source: www
    destination: /opt/app/www
  - source: cron
    destination: /etc/cron.d
permissions:
  - object: /opt/app
    mode: \"4755\"
    owner: bob
    group: root
  - object: /opt/app/www
    mode: \"0777\"
";

    fn refusals(policy: &str) -> Vec<String> {
        let spec = AppSpec::parse("appspec.yml", SPEC).unwrap();
        let policy = HostPolicy::parse("policy.toml", policy).unwrap();
        match policy.check_install(&spec) {
            Ok(()) => Vec::new(),
            Err(r) => r.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn no_install_table_allows_nothing() {
        assert_eq!(
            refusals(""),
            [
                "appspec.yml:4:5: `files` entry requests destination `/opt/app/www`, but no rule in policy.toml allows it",
                "appspec.yml:6:5: `files` entry requests destination `/etc/cron.d`, but no rule in policy.toml allows it",
                "appspec.yml:9:5: `permissions` entry requests mode `4755` for `/opt/app`, but policy.toml does not set `allow_setuid = true` in `[install]`",
                "appspec.yml:9:5: `permissions` entry requests owner `bob` for `/opt/app`, but no rule in policy.toml allows it",
                "appspec.yml:9:5: `permissions` entry requests group `root` for `/opt/app`, but no rule in policy.toml allows it",
                "appspec.yml:13:5: `permissions` entry requests mode `0777` for `/opt/app/www`, but policy.toml does not set `allow_world_writable = true` in `[install]`",
            ]
        );
    }

    #[test]
    fn each_refusal_names_its_rule() {
        let policy = "[install]
destinations = [\"/opt/app\"]
allow_setuid = false
owners = [\"root\"]
groups = [\"root\", \"www\"]
";
        assert_eq!(
            refusals(policy),
            [
                "appspec.yml:6:5: `files` entry requests destination `/etc/cron.d`, but `destinations` at policy.toml:2:16 allows only `/opt/app` and what lies beneath",
                "appspec.yml:9:5: `permissions` entry requests mode `4755` for `/opt/app`, but `allow_setuid` at policy.toml:3:16 is false",
                "appspec.yml:9:5: `permissions` entry requests owner `bob` for `/opt/app`, but `owners` at policy.toml:4:10 allows only `root`",
                "appspec.yml:13:5: `permissions` entry requests mode `0777` for `/opt/app/www`, but policy.toml does not set `allow_world_writable = true` in `[install]`",
            ]
        );
    }

    #[test]
    fn a_policy_that_allows_it_all() {
        let policy = "[install]
destinations = [\"/opt\", \"/etc/cron.d\"]
allow_setuid = true
allow_world_writable = true
owners = [\"bob\"]
groups = [\"root\"]
";
        assert!(refusals(policy).is_empty());
    }
}
