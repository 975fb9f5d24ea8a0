//! [`Subject`]: what asks for grants, named in a [`Refusal`](crate::Refusal): an appspec's
//! hook, a component document's step, or a package's script. The policy treats them alike.

use std::fmt;
use std::time::Duration;

use crate::appspec::{HookKind, HookRef};
use crate::location::Location;

/// What a [`GrantRequest`](crate::GrantRequest) is checked for, by
/// [`HostPolicy::check_subject`](crate::HostPolicy::check_subject).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A hook of an appspec (or a hook run alone with `davit hook run`).
    Hook(HookRef),
    /// A step of a component document: one action component invocation.
    Step(StepRef),
    /// A script of a package version: one action (`install`, …) of a Distributor package.
    Script(ScriptRef),
}

/// A package's script, as a refusal names it.
///
/// Displays as ``script `install` (`install.sh`) of package `agent` 2.0.0``.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptRef {
    /// The package's name.
    pub package: String,
    /// Its version.
    pub version: String,
    /// The action (`install`, `uninstall`, `update`, `validate`).
    pub action: String,
    /// The file that implements it (`install.sh`, `package.wasm`).
    pub file: String,
    /// Whether it is a native script (then only where `allow_native_scripts` is true, as a
    /// native hook).
    pub native: bool,
    /// The user a native script runs as (`None`: root).
    pub runas: Option<String>,
    /// The `timeout` its package gives, if any (otherwise [`Hook::DEFAULT_TIMEOUT`](crate::Hook::DEFAULT_TIMEOUT),
    /// capped by the policy).
    pub timeout: Option<Duration>,
    /// Where its grants are written (the package's `davit.yml`, or its manifest).
    pub at: Location,
}

/// A component document's step, as a refusal names it.
///
/// Displays as ``step `build.Fetch` (`WebDownload`) of `hello.yml` ``.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRef {
    /// The document's file.
    pub document: String,
    /// The phase.
    pub phase: String,
    /// The step.
    pub step: String,
    /// The action module.
    pub action: String,
    /// The step's `timeoutSeconds` (`None`: `-1`, no limit): capped by the policy's
    /// `max_timeout` rather than refused, as AWSTOE's default (7200s) is above CodeDeploy's.
    pub timeout: Option<Duration>,
    /// Whether it runs native commands on this host (ExecuteBash on a live host, not inside an
    /// image's root): then, as for a native script hook, only if `allow_native_scripts` is
    /// true (and as `root` under `native_script_users`).
    pub native: bool,
    /// Where the step is written.
    pub at: Location,
}

impl Subject {
    /// Where the subject is written.
    pub fn at(&self) -> &Location {
        match self {
            Self::Hook(h) => &h.at,
            Self::Step(s) => &s.at,
            Self::Script(s) => &s.at,
        }
    }

    /// Whether it runs natively on the host: a native script hook, or a step that runs
    /// commands on a live host.
    pub fn is_native(&self) -> bool {
        match self {
            Self::Hook(h) => h.kind == HookKind::NativeScript,
            Self::Step(s) => s.native,
            Self::Script(s) => s.native,
        }
    }

    /// The hook, if it is one.
    pub fn hook(&self) -> Option<&HookRef> {
        match self {
            Self::Hook(h) => Some(h),
            Self::Step(_) | Self::Script(_) => None,
        }
    }

    /// The user a native subject runs as (`None`: root).
    pub fn runas(&self) -> Option<&str> {
        match self {
            Self::Hook(h) => h.runas.as_deref(),
            Self::Step(_) => None,
            Self::Script(s) => s.runas.as_deref(),
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hook(h) => h.fmt(f),
            Self::Step(s) => s.fmt(f),
            Self::Script(s) => s.fmt(f),
        }
    }
}

impl fmt::Display for StepRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step `{}.{}` (`{}`) of `{}`",
            self.phase, self.step, self.action, self.document
        )
    }
}

impl fmt::Display for ScriptRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "script `{}` (`{}`) of package `{}` {}",
            self.action, self.file, self.package, self.version
        )
    }
}
