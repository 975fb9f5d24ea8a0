//! Hooks: one script or component run at a lifecycle event.

use std::fmt;
use std::time::Duration;

use super::{Event, Os};
use crate::error::ValueError;
use crate::grant::GrantRequest;
use crate::location::Location;
use crate::path::BundlePath;

/// How a hook runs, from its location.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HookKind {
    /// A WebAssembly component (`.wasm`, any case, or a built-in plugin), run in the sandbox with
    /// its grants.
    Wasm,
    /// Anything else: a native script as CodeDeploy runs it, refused unless the host policy
    /// allows native scripts.
    NativeScript,
}

impl HookKind {
    /// The kind of a hook at `location`.
    pub fn of(location: &HookLocation) -> Self {
        match location {
            HookLocation::Builtin(_) => Self::Wasm,
            HookLocation::Bundle(path) => {
                let wasm = path
                    .as_str()
                    .rsplit_once('.')
                    .is_some_and(|(_, ext)| ext.eq_ignore_ascii_case("wasm"));
                if wasm { Self::Wasm } else { Self::NativeScript }
            }
        }
    }
}

/// Where a hook's code is: a file in the bundle, or a plugin built into davit
/// (`builtin:http-check`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HookLocation {
    /// A file, relative to the bundle root.
    Bundle(BundlePath),
    /// A built-in plugin, by name (see the `davit-plugins` crate).
    Builtin(String),
}

impl HookLocation {
    /// Parses a `location` as written in an appspec for `os`.
    ///
    /// # Errors
    ///
    /// [`ValueError::UnknownBuiltin`] for a `builtin:` name davit does not have; otherwise as
    /// [`BundlePath::parse`], and [`ValueError::Empty`] for the bundle root.
    pub fn parse(text: &str, os: Os) -> Result<Self, ValueError> {
        if let Some(name) = text.strip_prefix(davit_plugins::PREFIX) {
            // An image action component is no hook: the sandbox would refuse to call it as one.
            return match davit_plugins::find(name) {
                Some(builtin) if builtin.world != davit_plugins::World::Action => {
                    Ok(Self::Builtin(builtin.name.to_owned()))
                }
                _ => Err(ValueError::UnknownBuiltin {
                    got: name.to_owned(),
                    known: davit_plugins::hook_names(),
                }),
            };
        }
        let path = BundlePath::parse(text, os)?;
        if path.is_root() {
            return Err(ValueError::Empty);
        }
        Ok(Self::Bundle(path))
    }

    /// The location as davit shows it: the normalised bundle path, or `builtin:<name>`.
    pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Self::Bundle(path) => path.as_str().into(),
            Self::Builtin(name) => format!("{}{name}", davit_plugins::PREFIX).into(),
        }
    }
}

impl fmt::Display for HookLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

/// Which hook: its event and its 0-based position in that event's list. Unique in an appspec.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HookId {
    /// The event.
    pub event: Event,
    /// The position under the event, from 0.
    pub index: usize,
}

impl fmt::Display for HookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.event, self.index)
    }
}

/// What a host policy needs to know about a hook besides its grants, and what a refusal names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookRef {
    /// Event and position.
    pub id: HookId,
    /// `location`.
    pub location: HookLocation,
    /// Wasm or native.
    pub kind: HookKind,
    /// `runas`. Ignored for Wasm hooks: a component runs with its grants, never as a user.
    pub runas: Option<String>,
    /// `timeout`, if the appspec gives one (otherwise [`Hook::DEFAULT_TIMEOUT`], capped by the
    /// policy).
    pub timeout: Option<Duration>,
    /// Where the hook's entry starts in the appspec.
    pub at: Location,
}

impl fmt::Display for HookRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` hook `{}`", self.id.event, self.location)
    }
}

/// One hook of an appspec.
///
/// ```yaml
/// hooks:
///   AfterInstall:
///     - location: hooks/after_install.wasm   # required; `.wasm` = sandboxed component
///       timeout: 60                          # seconds, 1 to 3600 (default 3600)
///       runas: root                          # native scripts only
///       parameters: {port: "8080"}           # davit: passed to the component, in order
///       grants: {tcp: ["127.0.0.1:8080"]}    # davit: see GrantRequest
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hook {
    /// Event and position.
    pub id: HookId,
    /// `location`: a file relative to the bundle root, or a built-in plugin.
    pub location: HookLocation,
    /// Wasm or native, from the location.
    pub kind: HookKind,
    /// `timeout` as written; see [`Hook::timeout`].
    pub requested_timeout: Option<Duration>,
    /// `runas`.
    pub runas: Option<String>,
    /// `parameters`, in the order written; scalars become their text (`8080`, `true`).
    pub parameters: Vec<(String, String)>,
    /// `grants`.
    pub grants: GrantRequest,
    /// Where the hook's entry starts in the appspec.
    pub at: Location,
}

impl Hook {
    /// A hook's timeout when the appspec gives none (CodeDeploy's).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);
    /// The longest timeout CodeDeploy accepts.
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

    /// The timeout CodeDeploy would apply: as written, or 3600 seconds.
    pub fn timeout(&self) -> Duration {
        self.requested_timeout.unwrap_or(Self::DEFAULT_TIMEOUT)
    }

    /// The hook's identity for policy checks and refusals.
    pub fn hook_ref(&self) -> HookRef {
        HookRef {
            id: self.id.clone(),
            location: self.location.clone(),
            kind: self.kind,
            runas: self.runas.clone(),
            timeout: self.requested_timeout,
            at: self.at.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(location: &str) -> HookKind {
        HookKind::of(&HookLocation::parse(location, Os::Linux).unwrap())
    }

    #[test]
    fn kind_from_location() {
        assert_eq!(kind("hooks/a.wasm"), HookKind::Wasm);
        assert_eq!(kind("hooks/A.WASM"), HookKind::Wasm);
        assert_eq!(kind("builtin:http-check"), HookKind::Wasm);
        assert_eq!(kind("scripts/start.sh"), HookKind::NativeScript);
        assert_eq!(kind("scripts/install_dependencies"), HookKind::NativeScript);
        assert_eq!(kind("wasm"), HookKind::NativeScript);
    }

    #[test]
    fn builtin_locations_name_a_plugin_davit_has() {
        let tcp = HookLocation::parse("builtin:tcp-check", Os::Linux).unwrap();
        assert_eq!(tcp, HookLocation::Builtin("tcp-check".into()));
        assert_eq!(tcp.to_string(), "builtin:tcp-check");
        let err = HookLocation::parse("builtin:ftp-check", Os::Linux).unwrap_err();
        assert_eq!(
            err.to_string(),
            "must name a built-in hook or health check (command, http-check, tcp-check), got `builtin:ftp-check`"
        );
        // The image actions are built in too, but are no hook.
        let err = HookLocation::parse("builtin:toe-actions", Os::Linux).unwrap_err();
        assert!(
            err.to_string().ends_with("got `builtin:toe-actions`"),
            "{err}"
        );
        assert_eq!(
            HookLocation::parse("/", Os::Linux).unwrap_err(),
            ValueError::Empty
        );
    }
}
