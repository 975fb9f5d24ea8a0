//! The documents users write for davit, parsed and validated into typed values before anything
//! runs.
//!
//! - [`AppSpec`]: a CodeDeploy `appspec.yml` (EC2/on-premises), with davit's per-hook
//!   `parameters` and `grants` ([`GrantRequest`]).
//! - [`HostPolicy`]: the host administrator's TOML policy of what any bundle may be granted.
//! - [`HostPolicy::check_appspec`]: their intersection, an [`EffectiveGrant`] per hook, or every
//!   [`Refusal`] at once, before any hook runs.
//! - [`HostPolicy::check_install`]: where `files` install and which modes, owners and groups
//!   `permissions` set, against the policy's `[install]` table ([`InstallPolicy`]): every
//!   [`InstallRefusal`] at once, at the same point.
//!
//! An appspec is held to the CodeDeploy agent's rules: whatever its parser refuses is an error
//! here too, with davit's stricter rules on top, and every value arrives typed ([`Mode`],
//! [`AclEntry`], [`SeContext`] with a checked range, [`FileExistsBehavior`] …).
//!
//! Each document goes raw → validated (like ripgrep's `LowArgs` → `HiArgs`): serde structs that
//! keep the span of every value, then newtypes parsed once ([`AbsPath`], [`TcpTarget`],
//! [`UrlPrefix`], [`CommandGrant`], [`ByteSize`] …). Every error names `file:line:column`.
//!
//! ```
//! use davit_spec::{AppSpec, HostPolicy, Access};
//!
//! let spec = AppSpec::parse("appspec.yml", r#"
//! version: 0.0
//! os: linux
//! hooks:
//!   AfterInstall:
//!     - location: hooks/after_install.wasm
//!       timeout: 60
//!       grants:
//!         directories: [{path: /etc/hello-web, access: read-write}]
//!         tcp: ["127.0.0.1:8080"]
//! "#)?;
//!
//! let policy = HostPolicy::parse("policy.toml", r#"
//! [[directories]]
//! path = "/etc/hello-web"
//! access = "read"
//! "#)?;
//!
//! // Every refusal, each naming the hook, the grant and the policy line.
//! let refusals = policy.check_appspec(&spec).unwrap_err();
//! assert_eq!(refusals.len(), 2);
//! assert_eq!(
//!     refusals[0].to_string(),
//!     "appspec.yml:9:23: `AfterInstall` hook `hooks/after_install.wasm` requests directory \
//!      `/etc/hello-web` read-write, but [[directories]] at policy.toml:2:1 allows only `read`",
//! );
//!
//! let policy = HostPolicy::parse("policy.toml", r#"
//! [[directories]]
//! path = "/etc"
//! access = "read-write"
//! [[tcp]]
//! host = "127.0.0.0/8"
//! ports = "8000-9000"
//! "#)?;
//! let granted = policy.check_appspec(&spec).unwrap();
//! let grant = granted.values().next().unwrap();
//! assert_eq!(grant.directories[0].access, Access::ReadWrite);
//! assert_eq!(grant.limits.timeout.as_secs(), 60);
//! # Ok::<(), davit_spec::SpecError>(())
//! ```
pub mod appspec;
mod command;
mod error;
mod glob;
mod grant;
mod intersect;
mod location;
mod net;
mod package;
mod parse;
mod path;
pub mod policy;
mod refusal;
mod subject;
mod units;
mod url;

pub use appspec::*;
pub use command::{ArgPattern, CommandGrant, PathArg};
pub use error::{SpecError, ValueError};
pub use grant::*;
pub use intersect::{EffectiveDir, EffectiveGrant};
pub use intersect::{InstallGrant, InstallRefusal};
pub use location::{Located, Location, Source};
pub use net::{Host, TcpTarget};
pub use package::{PACKAGE_ACTIONS, PackageScripts, ScriptSpec};
pub use parse::{YamlProblem, yaml_problem};
pub use path::{AbsPath, BundlePath, Destination};
pub use policy::{ApplyOrSkip, InstallPolicy};
pub use policy::{
    EnvPattern, HostPattern, HostPolicy, PolicyLimits, PolicyMax, PortRange, TcpRule,
};
pub use refusal::{Reason, Refusal, RuleRef};
pub use subject::{ScriptRef, StepRef, Subject};
pub use units::{ByteSize, format_duration, parse_duration};
pub use url::{Scheme, UrlPrefix};
