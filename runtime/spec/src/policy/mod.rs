//! The host policy: what any bundle may be granted on this host, written by its administrator.

mod install;
mod raw;
mod suggest;
mod tcp;
mod validate;

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::command::CommandGrant;
use crate::error::{SpecError, ValueError};
use crate::glob::{self, Tok};
use crate::grant::{EnvName, GrantedDir, Limits, is_env_name};
use crate::location::{Located, Location, Source};
use crate::units::ByteSize;
use crate::url::UrlPrefix;

pub use install::{ApplyOrSkip, InstallPolicy, SETUID_BITS, WORLD_WRITABLE_BIT};
pub use tcp::{HostPattern, PortRange, TcpRule};

/// A host policy. Anything it does not allow is refused; [`HostPolicy::default`] allows no
/// grant, no native script and no install destination (a Wasm hook that asks for nothing still
/// runs, with default limits).
///
/// ```toml
/// allow_native_scripts = false     # CodeDeploy scripts refused unless true
/// native_script_users = ["root"]   # optional: allowed `runas` (missing `runas` counts as root)
///
/// [limits]               # the most a hook may ask for (defaults: 3600s, 128MiB, 1MiB)
/// max_timeout = "3600s"  # or integer seconds
/// max_memory = "256MiB"
/// max_output = "4MiB"
/// max_services = 4       # services each hook may `spawn`
///
/// [[directories]]
/// path = "/opt/hello-web"     # this path or anything beneath it
/// access = "read-write"       # the most it may get (default read)
///
/// [[tcp]]
/// host = "127.0.0.1"          # IP, CIDR (10.0.0.0/8) or DNS name
/// ports = "8000-9000"         # number, range, or "*"
///
/// [[urls]]
/// prefix = "http://127.0.0.1:8080/"
///
/// [[commands]]
/// program = "/usr/bin/python3"
/// args = ["-m", "http.server", "*", "--directory", "{target-root}/opt/hello-web/**"]
///
/// [[env]]
/// name = "LANG"               # exact or glob like "APP_*"; `LD_*`, `PATH`, `GIT_*` … only exact
///
/// [signatures]
/// require = true              # deploy only revisions signed by a trusted key
/// trusted_keys = ["ed25519:…"]  # public keys from `davit key generate`
///
/// [install]                   # see InstallPolicy; without it a bundle installs nowhere
/// destinations = ["/opt/hello-web"]  # a `files` destination is one of these or beneath one
/// allow_setuid = false        # setuid/setgid bits, in `permissions` modes or bundle file modes
/// allow_world_writable = false  # o+w on anything installed
/// owners = ["root"]           # `owner` values `permissions` may set (absent: none)
/// groups = ["root"]           # `group` values
/// acls = "apply"              # ACLs the host cannot apply fail the deployment; "skip": go on
/// selinux_contexts = "apply"  # SELinux contexts, the same choice
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPolicy {
    /// The document's name, as given to [`HostPolicy::parse`].
    pub file: String,
    /// `allow_native_scripts`, with where it is set.
    pub allow_native_scripts: Option<Located<bool>>,
    /// `native_script_users`, with where it is set.
    pub native_script_users: Option<Located<Vec<String>>>,
    /// `[limits]`.
    pub limits: PolicyLimits,
    /// `[[directories]]`: each rule's path and the most access it gives.
    pub directories: Vec<Located<GrantedDir>>,
    /// `[[tcp]]`.
    pub tcp: Vec<Located<TcpRule>>,
    /// `[[urls]]`.
    pub urls: Vec<Located<UrlPrefix>>,
    /// `[[commands]]`.
    pub commands: Vec<Located<CommandGrant>>,
    /// `[[env]]`.
    pub env: Vec<Located<EnvPattern>>,
    /// `[signatures] require`: only revisions signed by a trusted key may be deployed.
    pub require_signature: Option<Located<bool>>,
    /// `[signatures] trusted_keys`: `ed25519:<hex>` public keys.
    pub trusted_keys: Vec<Located<String>>,
    /// `[install]`: where bundles may install, and which modes and owners.
    pub install: InstallPolicy,
}

impl Default for HostPolicy {
    fn default() -> Self {
        Self {
            file: "(default policy)".to_owned(),
            allow_native_scripts: None,
            native_script_users: None,
            limits: PolicyLimits::default(),
            directories: Vec::new(),
            tcp: Vec::new(),
            urls: Vec::new(),
            commands: Vec::new(),
            env: Vec::new(),
            require_signature: None,
            trusted_keys: Vec::new(),
            install: InstallPolicy::default(),
        }
    }
}

impl HostPolicy {
    /// Parses and validates the policy `text`; `file` names it in errors and rule locations.
    ///
    /// # Errors
    ///
    /// The first problem found, as a [`SpecError`] with its `file:line:column`.
    pub fn parse(file: &str, text: &str) -> Result<HostPolicy, SpecError> {
        let src = Source::new(file, text);
        let raw = crate::parse::toml::<raw::RawPolicy>(src, text)?;
        validate::policy(src, raw)
    }

    /// Reads and parses the policy at `path`.
    ///
    /// # Errors
    ///
    /// [`SpecError::Read`] if the file cannot be read, else as [`HostPolicy::parse`].
    pub fn load(path: &Path) -> Result<HostPolicy, SpecError> {
        let (file, text) = crate::parse::read(path)?;
        Self::parse(&file, &text)
    }

    /// The policy text (TOML) that allows exactly what `spec` asks for, for an administrator to
    /// review: every grant, native script user and limit of its hooks, the `[install]` table its
    /// `files` and `permissions` need, and nothing more.
    pub fn suggest(spec: &crate::AppSpec) -> String {
        suggest::suggest(spec)
    }

    /// Whether only revisions signed by one of [`HostPolicy::trusted_keys`] may be deployed.
    pub fn signature_required(&self) -> bool {
        self.require_signature.as_ref().is_some_and(|r| r.value)
    }

    /// Whether native (non-Wasm) hooks may run at all.
    pub fn native_scripts_allowed(&self) -> bool {
        self.allow_native_scripts.as_ref().is_some_and(|a| a.value)
    }
}

/// One maximum of `[limits]`, with where it is set (`None`: the default applies).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyMax<T> {
    /// The maximum.
    pub value: T,
    /// Where it is set.
    pub at: Option<Location>,
}

/// The `[limits]` table: the most any hook may ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyLimits {
    /// `max_timeout` (default 3600s, CodeDeploy's maximum).
    pub max_timeout: PolicyMax<Duration>,
    /// `max_memory` (default 128MiB, the default request).
    pub max_memory: PolicyMax<ByteSize>,
    /// `max_output` (default 1MiB, the default request).
    pub max_output: PolicyMax<ByteSize>,
    /// `max_services`: services each hook may start with `spawn` (default 4).
    pub max_services: PolicyMax<u32>,
}

impl Default for PolicyLimits {
    fn default() -> Self {
        let unset = |value| PolicyMax { value, at: None };
        Self {
            max_timeout: PolicyMax {
                value: crate::Hook::MAX_TIMEOUT,
                at: None,
            },
            max_memory: unset(Limits::DEFAULT_MEMORY),
            max_output: unset(Limits::DEFAULT_OUTPUT),
            max_services: PolicyMax {
                value: Limits::DEFAULT_SERVICES,
                at: None,
            },
        }
    }
}

/// An `[[env]]` rule: a variable name, or a glob of names with `*` and `?`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvPattern {
    text: String,
    toks: Vec<Tok>,
}

impl EnvPattern {
    /// The rule as written: a name, or a glob of names.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `name` matches. A variable that
    /// [changes what programs load](EnvName::changes_loading) is granted only by a rule whose
    /// text is its name; see [`HostPolicy::check`].
    pub fn matches(&self, name: &EnvName) -> bool {
        glob::matches(&self.toks, name.as_str())
    }
}

impl TryFrom<&str> for EnvPattern {
    type Error = ValueError;

    fn try_from(text: &str) -> Result<Self, ValueError> {
        if !is_env_name(text, &['*', '?']) {
            return Err(ValueError::EnvName {
                got: text.to_owned(),
            });
        }
        let toks = glob::compile(text, false).unwrap_or_default();
        Ok(Self {
            text: text.to_owned(),
            toks,
        })
    }
}

impl fmt::Display for EnvPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Host;

    const EXAMPLE: &str = r#"# what any bundle may be granted on this host
allow_native_scripts = false
native_script_users = ["root"]

[limits]
max_timeout = "3600s"
max_memory = "256MiB"
max_output = "4MiB"

[[directories]]
path = "/opt/hello-web"
access = "read-write"

[[tcp]]
host = "127.0.0.1"
ports = "8000-9000"

[[urls]]
prefix = "http://127.0.0.1:8080/"

[[commands]]
program = "/usr/bin/python3"
args = ["-m", "http.server", "*", "--directory", "{target-root}/opt/hello-web/**"]

[[env]]
name = "LANG"

[[env]]
name = "APP_*"
"#;

    #[test]
    fn parses_the_documented_example_with_rule_locations() {
        let p = HostPolicy::parse("policy.toml", EXAMPLE).unwrap();
        assert!(!p.native_scripts_allowed());
        assert_eq!(p.native_script_users.as_ref().unwrap().value, ["root"]);
        assert_eq!(p.limits.max_timeout.value, Duration::from_secs(3600));
        assert_eq!(p.limits.max_memory.value, ByteSize::mib(256));
        assert_eq!(
            p.limits.max_output.at.as_ref().unwrap().to_string(),
            "policy.toml:8:14"
        );
        assert_eq!(p.directories[0].at.to_string(), "policy.toml:10:1");
        assert_eq!(p.directories[0].value.access, crate::Access::ReadWrite);
        assert_eq!(p.tcp[0].at.to_string(), "policy.toml:14:1");
        assert_eq!(
            p.tcp[0].value.ports,
            PortRange {
                low: 8000,
                high: 9000
            }
        );
        assert!(
            p.tcp[0]
                .value
                .host
                .contains(&Host::try_from("127.0.0.1").unwrap())
        );
        assert_eq!(p.urls[0].at.line, 18);
        assert_eq!(p.commands[0].value.args.len(), 5);
        assert_eq!(p.commands[0].at.line, 21);
        let app_mode = EnvName::try_from("APP_MODE").unwrap();
        assert!(p.env[1].value.matches(&app_mode));
        assert!(!p.env[0].value.matches(&app_mode));
    }

    #[test]
    fn defaults_deny_everything() {
        let p = HostPolicy::default();
        assert!(!p.native_scripts_allowed());
        assert!(p.directories.is_empty() && p.tcp.is_empty() && p.commands.is_empty());
        assert_eq!(p.limits.max_memory.value, Limits::DEFAULT_MEMORY);
        let empty = HostPolicy::parse("empty.toml", "").unwrap();
        assert_eq!(empty.limits, p.limits);
        assert_eq!(empty.file, "empty.toml");
    }

    #[test]
    fn integers_and_inline_tables() {
        let text = "directories = [{path = \"/srv\"}]\n\n[limits]\nmax_timeout = 90\nmax_services = 16\n\n[[tcp]]\nhost = \"db.internal\"\nports = 5432\n";
        let p = HostPolicy::parse("p.toml", text).unwrap();
        assert_eq!(p.directories[0].at.to_string(), "p.toml:1:16");
        assert_eq!(p.directories[0].value.access, crate::Access::Read);
        assert_eq!(p.limits.max_timeout.value, Duration::from_secs(90));
        assert_eq!(p.limits.max_services.value, 16);
        assert_eq!(
            p.limits.max_services.at.as_ref().unwrap().to_string(),
            "p.toml:5:16"
        );
        assert_eq!(p.tcp[0].value.ports.to_string(), "5432");
    }
}
