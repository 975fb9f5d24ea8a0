//! [`PackageScripts`]: davit's section beside a Distributor package's `manifest.json`
//! (`davit.yml`), saying what each of its actions may be granted.
//!
//! ```yaml
//! scripts:
//!   install:
//!     timeout: 600                 # seconds, 1 to 3600 (default 3600, capped by the policy)
//!     runas: root                  # native scripts only
//!     grants:                      # Wasm scripts only, as a hook's
//!       directories: [{path: /opt/agent, access: read-write}]
//!       commands: [{program: /usr/bin/systemctl, args: [enable, --now, agent.service]}]
//!   validate:
//!     grants:
//!       directories: [{path: /opt/agent}]
//! ```
//!
//! Every mapping is closed; each problem is named at file:line:column. An action the section
//! does not name runs with no grant and the default timeout.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::appspec::Os;
use crate::appspec::raw::{RawGrants, S};
use crate::appspec::validate::{Ctx, timeout};
use crate::error::SpecError;
use crate::grant::GrantRequest;
use crate::location::{Location, Source};

/// The actions a package has, in the order they run in an install.
pub const PACKAGE_ACTIONS: [&str; 4] = ["install", "uninstall", "update", "validate"];

/// A package's `davit.yml`: each action's timeout, user and grants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageScripts {
    /// The file, as given (`None`: the package has none).
    pub file: Option<String>,
    /// By action name (one of [`PACKAGE_ACTIONS`]).
    pub actions: BTreeMap<String, ScriptSpec>,
}

/// What one action may do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptSpec {
    pub timeout: Option<Duration>,
    pub runas: Option<String>,
    pub grants: GrantRequest,
    /// Where the action's entry is.
    pub at: Option<Location>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPackageScripts {
    scripts: Option<RawActions>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawActions {
    install: Option<S<RawScript>>,
    uninstall: Option<S<RawScript>>,
    update: Option<S<RawScript>>,
    validate: Option<S<RawScript>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    timeout: Option<S<String>>,
    runas: Option<String>,
    grants: Option<S<RawGrants>>,
}

impl PackageScripts {
    /// Reads `davit.yml` `text` of `file`.
    ///
    /// # Errors
    ///
    /// A [`SpecError`] at the value at fault.
    pub fn parse(file: &str, text: &str) -> Result<PackageScripts, SpecError> {
        let src = Source::new(file, text);
        let raw: RawPackageScripts = crate::parse::yaml(src, text)?;
        let cx = Ctx { src, os: Os::Linux };
        let mut out = PackageScripts {
            file: Some(file.to_owned()),
            actions: BTreeMap::new(),
        };
        let Some(actions) = raw.scripts else {
            return Ok(out);
        };
        let named = [
            ("install", actions.install),
            ("uninstall", actions.uninstall),
            ("update", actions.update),
            ("validate", actions.validate),
        ];
        for (name, raw) in named {
            let Some(raw) = raw else { continue };
            let at = cx.at(&raw);
            let raw = raw.value;
            let spec = ScriptSpec {
                timeout: match &raw.timeout {
                    Some(t) => Some(cx.check("timeout", t, timeout)?),
                    None => None,
                },
                runas: raw
                    .runas
                    .map(|r| r.trim().to_owned())
                    .filter(|r| !r.is_empty()),
                grants: match raw.grants {
                    Some(g) => crate::appspec::grants::request(&cx, g.value)?,
                    None => GrantRequest::default(),
                },
                at: Some(at),
            };
            out.actions.insert(name.to_owned(), spec);
        }
        Ok(out)
    }

    /// What `action` may do (nothing granted when the section does not name it).
    pub fn action(&self, action: &str) -> ScriptSpec {
        self.actions.get(action).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_read_with_their_grants_and_errors_are_located() {
        let s = PackageScripts::parse(
            "davit.yml",
            "scripts:\n  install:\n    timeout: 60\n    grants:\n      directories: [{path: /opt/a, access: read-write}]\n  validate: {}\n",
        )
        .unwrap();
        let install = s.action("install");
        assert_eq!(install.timeout, Some(Duration::from_secs(60)));
        assert_eq!(install.grants.directories[0].value.path.as_str(), "/opt/a");
        assert!(s.action("validate").grants.is_empty());
        assert!(s.action("update").at.is_none());

        let err = PackageScripts::parse("davit.yml", "scripts:\n  instal: {}\n").unwrap_err();
        assert!(err.to_string().starts_with("davit.yml:2:3"), "{err}");
        let err = PackageScripts::parse("davit.yml", "scripts:\n  install:\n    timeout: soon\n")
            .unwrap_err();
        assert!(err.to_string().starts_with("davit.yml:3:14"), "{err}");
        let err = PackageScripts::parse(
            "davit.yml",
            "scripts:\n  install:\n    grants:\n      directories: [{path: relative}]\n",
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("davit.yml:4:"), "{err}");
    }
}
