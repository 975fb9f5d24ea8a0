//! [`Refusal`]: a grant a hook asked for that the host policy does not give, and why.

use std::fmt;

use crate::command::ArgPattern;
use crate::error::one_of;
use crate::grant::{Access, EnvName, Grant};
use crate::location::Location;
use crate::policy::PortRange;
use crate::subject::Subject;
use crate::url::UrlPrefix;

/// A policy rule, as named in a refusal: `policy.toml:14:1 ([[directories]] /opt/hello-web, read)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleRef {
    /// The rule's table: `directories`, `tcp`, `urls`, `commands`, `env`.
    pub table: &'static str,
    /// Where the rule starts.
    pub at: Location,
    /// What the rule says, in short.
    pub summary: String,
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ([[{}]] {})", self.at, self.table, self.summary)
    }
}

/// Why a grant was refused, naming the policy rule that came closest when there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// No rule is anywhere near.
    NoRule {
        /// The policy's file name.
        policy: String,
    },
    /// A directory rule covers the path with less access.
    Access {
        /// The rule.
        rule: RuleRef,
        /// What it allows.
        allowed: Access,
    },
    /// A tcp rule covers the host, not the port.
    Ports {
        /// The rule.
        rule: RuleRef,
        /// The ports it allows.
        ports: PortRange,
    },
    /// A url rule has the same origin, not a covering path.
    UrlPath {
        /// The rule.
        rule: RuleRef,
        /// Its prefix.
        prefix: UrlPrefix,
    },
    /// A command rule names the program, not these arguments.
    Argument {
        /// The rule.
        rule: RuleRef,
        /// 1-based position of the first argument not covered.
        position: usize,
        /// The rule's pattern there (`None`: the rule takes fewer arguments).
        allowed: Option<ArgPattern>,
        /// The requested pattern there (`None`: the request has fewer arguments).
        requested: Option<ArgPattern>,
    },
    /// A `{path:DIR}` argument whose directory the hook is not granted.
    PathNotGranted {
        /// 1-based position of the argument.
        position: usize,
        /// The pattern.
        pattern: ArgPattern,
    },
    /// A variable that changes what programs load, matched only by a glob rule.
    LoaderEnvGlob {
        /// The variable.
        name: EnvName,
        /// The glob rule that matches it.
        rule: RuleRef,
    },
    /// A limit above the policy maximum.
    AboveMax {
        /// The policy key: `max_timeout`, `max_memory`, `max_output`.
        key: &'static str,
        /// The maximum, formatted.
        max: String,
        /// Where the maximum is set (`None`: the default maximum).
        at: Option<Location>,
        /// The policy's file name.
        policy: String,
    },
    /// Native scripts are not allowed.
    NativeScripts {
        /// Where `allow_native_scripts` is set (to false), if it is.
        at: Option<Location>,
        /// The policy's file name.
        policy: String,
    },
    /// The script's `runas` is not in `native_script_users`.
    Runas {
        /// Where `native_script_users` is set.
        at: Location,
        /// The users it allows.
        allowed: Vec<String>,
    },
    /// An install path outside `[install] destinations`.
    Destinations {
        /// Where `destinations` is set.
        at: Location,
        /// The prefixes it allows.
        allowed: Vec<crate::AbsPath>,
    },
    /// A mode that needs `allow_setuid` or `allow_world_writable`, which the policy does not set.
    InstallFlag {
        /// The `[install]` key.
        key: &'static str,
        /// Where it is set (to false), if it is.
        at: Option<Location>,
        /// The policy's file name.
        policy: String,
    },
    /// An owner or group that `[install] owners` or `groups` does not list.
    InstallNames {
        /// `owners` or `groups`.
        key: &'static str,
        /// Where the list is.
        at: Location,
        /// The names it allows.
        allowed: Vec<String>,
    },
    /// A bundle link that would point outside its `files` destination once installed.
    LinkOutside {
        /// The destination directory of the `files` entry.
        destination: crate::AbsPath,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRule { policy } => write!(f, "no rule in {policy} allows it"),
            Self::Access { rule, allowed } => {
                write!(
                    f,
                    "[[{}]] at {} allows only `{allowed}`",
                    rule.table, rule.at
                )
            }
            Self::Ports { rule, ports } => {
                write!(
                    f,
                    "[[{}]] at {} allows only ports `{ports}`",
                    rule.table, rule.at
                )
            }
            Self::UrlPath { rule, prefix } => {
                write!(
                    f,
                    "[[{}]] at {} allows only `{prefix}`",
                    rule.table, rule.at
                )
            }
            Self::Argument {
                rule,
                position,
                allowed,
                requested,
            } => {
                write!(f, "[[{}]] at {} ", rule.table, rule.at)?;
                match (allowed, requested) {
                    (Some(a), Some(r)) => {
                        write!(f, "allows `{a}` as argument {position}, not `{r}`")
                    }
                    (None, _) => write!(f, "allows only {} arguments", position - 1),
                    (Some(a), None) => write!(f, "requires `{a}` as argument {position}"),
                }
            }
            Self::PathNotGranted { position, pattern } => write!(
                f,
                "argument {position} `{pattern}` names a directory that is not in or under \
                 the hook's own `directories` grants"
            ),
            Self::LoaderEnvGlob { name, rule } => write!(
                f,
                "`{name}` changes what programs load: the policy must name it exactly, not by \
                 the glob `{}` at {}",
                rule.summary, rule.at
            ),
            Self::AboveMax {
                key,
                max,
                at: Some(at),
                ..
            } => write!(f, "`{key}` at {at} is {max}"),
            Self::AboveMax {
                key,
                max,
                at: None,
                policy,
            } => write!(f, "{policy} sets no `{key}` and the default is {max}"),
            Self::NativeScripts { at: Some(at), .. } => {
                write!(f, "`allow_native_scripts` at {at} is false")
            }
            Self::NativeScripts { at: None, policy } => {
                write!(f, "{policy} does not set `allow_native_scripts = true`")
            }
            Self::Runas { at, allowed } => {
                write!(
                    f,
                    "`native_script_users` at {at} allows only {}",
                    one_of(allowed)
                )
            }
            Self::Destinations { at, allowed } => {
                let allowed: Vec<String> = allowed.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "`destinations` at {at} allows only {} and what lies beneath",
                    one_of(&allowed)
                )
            }
            Self::InstallFlag {
                key, at: Some(at), ..
            } => write!(f, "`{key}` at {at} is false"),
            Self::InstallFlag {
                key,
                at: None,
                policy,
            } => write!(f, "{policy} does not set `{key} = true` in `[install]`"),
            Self::InstallNames { key, at, allowed } => {
                write!(f, "`{key}` at {at} allows only {}", one_of(allowed))
            }
            Self::LinkOutside { destination } => {
                write!(f, "once installed it would point outside `{destination}`")
            }
        }
    }
}

/// A grant refused to a hook or a component step: who asked, what it asked for and where, and why.
///
/// Displays as `appspec.yml:14:13: `AfterInstall` hook `hooks/x.wasm` requests directory
/// `/var/www` read-write, but [[directories]] at policy.toml:9:1 allows only `read``.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {subject} requests {grant}, but {reason}")]
pub struct Refusal {
    /// The hook or step that asked.
    pub subject: Subject,
    /// What it asked for.
    pub grant: Grant,
    /// Where it asked for it (the grant entry, or the hook for timeouts and native scripts).
    pub at: Location,
    /// Why not.
    pub reason: Reason,
}
