//! Hooks: one script or component run at a lifecycle event.

use std::fmt;
use std::time::Duration;

use super::Event;
use crate::grant::GrantRequest;
use crate::location::Location;
use crate::path::BundlePath;

/// How a hook runs, from its location's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HookKind {
    /// A WebAssembly component (`.wasm`, any case), run in the sandbox with its grants.
    Wasm,
    /// Anything else: a native script as CodeDeploy runs it, refused unless the host policy
    /// allows native scripts.
    NativeScript,
}

impl HookKind {
    /// The kind of a hook at `location`.
    pub fn of(location: &str) -> Self {
        let wasm = location
            .rsplit_once('.')
            .is_some_and(|(_, ext)| ext.eq_ignore_ascii_case("wasm"));
        if wasm { Self::Wasm } else { Self::NativeScript }
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
    pub location: BundlePath,
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
    /// `location`, relative to the bundle root.
    pub location: BundlePath,
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

    #[test]
    fn kind_from_extension() {
        assert_eq!(HookKind::of("hooks/a.wasm"), HookKind::Wasm);
        assert_eq!(HookKind::of("hooks/A.WASM"), HookKind::Wasm);
        assert_eq!(HookKind::of("scripts/start.sh"), HookKind::NativeScript);
        assert_eq!(
            HookKind::of("scripts/install_dependencies"),
            HookKind::NativeScript
        );
        assert_eq!(HookKind::of("wasm"), HookKind::NativeScript);
    }
}
