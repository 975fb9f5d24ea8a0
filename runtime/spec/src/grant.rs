//! What a hook asks for ([`GrantRequest`]) and the pieces it is made of.

use std::fmt;
use std::time::Duration;

use crate::command::CommandGrant;
use crate::error::{ValueError, expected_one_of};
use crate::location::Located;
use crate::net::TcpTarget;
use crate::path::AbsPath;
use crate::units::{ByteSize, format_duration};
use crate::url::UrlPrefix;

/// How a directory may be used. `Read` < `ReadWrite`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    /// List and read (`read`, the default).
    #[default]
    Read,
    /// Also create, write and delete (`read-write`).
    ReadWrite,
}

impl TryFrom<&str> for Access {
    type Error = ValueError;

    fn try_from(text: &str) -> Result<Self, ValueError> {
        match text {
            "read" => Ok(Self::Read),
            "read-write" => Ok(Self::ReadWrite),
            _ => Err(expected_one_of(&["read", "read-write"], text)),
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Read => "read",
            Self::ReadWrite => "read-write",
        })
    }
}

/// A host directory a hook may use, and how.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GrantedDir {
    /// The directory.
    pub path: AbsPath,
    /// The access.
    pub access: Access,
}

/// An environment variable name: ASCII letters, digits and `_`, not starting with a digit.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnvName(String);

impl EnvName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl EnvName {
    /// Whether this variable changes what a program loads or runs (it is in [`LOADER_ENV`]):
    /// a host policy grants it only by naming it exactly, never by a glob.
    pub fn changes_loading(&self) -> bool {
        LOADER_ENV
            .iter()
            .any(|entry| match entry.strip_suffix('*') {
                Some(prefix) => self.0.starts_with(prefix),
                None => self.0 == *entry,
            })
    }
}

/// Environment variables that change what a program loads or runs, or where it trusts
/// certificates, finds names or writes temporary files: whoever sets one can run code in every
/// native command a hook starts. An `[[env]]` policy rule grants one of these only by naming it
/// exactly (`name = "LD_LIBRARY_PATH"`), never by a glob like `LD_*` or `*`. An entry ending in
/// `*` stands for every name with that prefix.
pub const LOADER_ENV: &[&str] = &[
    // The dynamic loader and the C library.
    "LD_*",
    "DYLD_*",
    "GCONV_PATH",
    "GLIBC_TUNABLES",
    "MALLOC_*",
    "LOCPATH",
    "NLSPATH",
    "HOSTALIASES",
    "RES_OPTIONS",
    "LOCALDOMAIN",
    "TMPDIR",
    // Where programs and interpreters look for code.
    "PATH",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PERL5LIB",
    "PERLLIB",
    "PERL5OPT",
    "RUBYLIB",
    "RUBYOPT",
    "NODE_OPTIONS",
    "NODE_PATH",
    "LUA_*",
    "JAVA_TOOL_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "_JAVA_OPTIONS",
    "GIT_*",
    // Shells.
    "BASH_ENV",
    "ENV",
    "IFS",
    "SHELLOPTS",
    "BASHOPTS",
    "PS4",
    // Which certificates TLS trusts.
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// Whether `text` is a variable name, allowing the glob characters `extra`.
pub(crate) fn is_env_name(text: &str, extra: &[char]) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || extra.contains(&c);
    !text.is_empty() && !text.starts_with(|c: char| c.is_ascii_digit()) && text.chars().all(ok)
}

impl TryFrom<&str> for EnvName {
    type Error = ValueError;

    fn try_from(text: &str) -> Result<Self, ValueError> {
        if is_env_name(text, &[]) {
            Ok(Self(text.to_owned()))
        } else {
            Err(ValueError::EnvName {
                got: text.to_owned(),
            })
        }
    }
}

impl fmt::Display for EnvName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An environment variable a hook may see: with `value`, that fixed value; without, the host's
/// own value (if the host has it set).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnvGrant {
    /// The name.
    pub name: EnvName,
    /// A fixed value, or `None` to pass the host's.
    pub value: Option<String>,
}

/// The resources one invocation may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time before the invocation is stopped.
    pub timeout: Duration,
    /// Linear memory the component may grow to.
    pub memory: ByteSize,
    /// Captured stdout plus stderr; more is truncated.
    pub output: ByteSize,
    /// Services it may start with `spawn` (the policy's `max_services`).
    pub services: u32,
}

impl Limits {
    /// Services a hook may start when the policy says nothing: 4.
    pub const DEFAULT_SERVICES: u32 = 4;
    /// The memory limit of a hook that asks for none: 128MiB.
    pub const DEFAULT_MEMORY: ByteSize = ByteSize::mib(128);
    /// The output limit of a hook that asks for none: 1MiB.
    pub const DEFAULT_OUTPUT: ByteSize = ByteSize::mib(1);
}

/// The limits a hook asks for under `grants.limits`. Its timeout is the hook's own `timeout`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LimitsRequest {
    /// `memory`, if given.
    pub memory: Option<Located<ByteSize>>,
    /// `output`, if given.
    pub output: Option<Located<ByteSize>>,
}

/// Everything one hook asks for, each entry with where it was written (for refusals).
///
/// ```yaml
/// grants:
///   directories:
///     - {path: /etc/hello-web, access: read-write}   # access: read (default) | read-write
///   tcp: ["127.0.0.1:8080"]                          # HOST:PORT
///   urls: ["http://127.0.0.1:8080/"]                 # http(s) URL prefixes
///   commands:
///     - {program: /usr/bin/python3, args: ["-m", "http.server", "*"]}
///   env: [LANG, {name: APP_MODE, value: production}] # bare name = the host's value
///   limits: {memory: 64MiB, output: 1MiB}
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrantRequest {
    /// `directories`.
    pub directories: Vec<Located<GrantedDir>>,
    /// `tcp`.
    pub tcp: Vec<Located<TcpTarget>>,
    /// `urls`.
    pub urls: Vec<Located<UrlPrefix>>,
    /// `commands`.
    pub commands: Vec<Located<CommandGrant>>,
    /// `env`.
    pub env: Vec<Located<EnvGrant>>,
    /// `limits`.
    pub limits: LimitsRequest,
}

impl GrantRequest {
    /// Whether the hook asks for nothing beyond default limits.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One thing a hook asked for, as named in a [`Refusal`](crate::Refusal).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    /// A directory.
    Directory(GrantedDir),
    /// A TCP address.
    Tcp(TcpTarget),
    /// A URL prefix.
    Url(UrlPrefix),
    /// A command.
    Command(CommandGrant),
    /// An environment variable.
    Env(EnvName),
    /// A timeout.
    Timeout(Duration),
    /// A memory limit.
    Memory(ByteSize),
    /// An output limit.
    Output(ByteSize),
    /// Running a native (non-Wasm) script, as this user.
    NativeScript {
        /// The hook's `runas`, if any.
        runas: Option<String>,
    },
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Directory(d) => write!(f, "directory `{}` {}", d.path, d.access),
            Self::Tcp(t) => write!(f, "tcp `{t}`"),
            Self::Url(u) => write!(f, "url `{u}`"),
            Self::Command(c) => write!(f, "command `{c}`"),
            Self::Env(n) => write!(f, "env `{n}`"),
            Self::Timeout(d) => write!(f, "timeout {}", format_duration(*d)),
            Self::Memory(s) => write!(f, "memory {s}"),
            Self::Output(s) => write!(f, "output {s}"),
            Self::NativeScript { runas: None } => f.write_str("to run as a native script"),
            Self::NativeScript { runas: Some(u) } => {
                write!(f, "to run as a native script as `{u}`")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access() {
        assert_eq!(Access::try_from("read-write"), Ok(Access::ReadWrite));
        assert!(Access::Read < Access::ReadWrite);
        assert_eq!(
            Access::try_from("rw").unwrap_err().to_string(),
            "must be `read` or `read-write`, got `rw`"
        );
    }

    #[test]
    fn env_names() {
        assert!(EnvName::try_from("APP_MODE").is_ok());
        assert!(EnvName::try_from("_x1").is_ok());
        for bad in ["", "1X", "A-B", "A=B", "A*"] {
            assert!(EnvName::try_from(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loader_variables() {
        let loads = |n: &str| EnvName::try_from(n).unwrap().changes_loading();
        for name in [
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
            "LD_",
            "PATH",
            "GIT_SSH_COMMAND",
            "DYLD_INSERT_LIBRARIES",
            "MALLOC_CHECK_",
            "GLIBC_TUNABLES",
            "_JAVA_OPTIONS",
            "BASH_ENV",
            "ENV",
            "IFS",
            "TMPDIR",
        ] {
            assert!(loads(name), "{name}");
        }
        for name in [
            "LANG",
            "APP_MODE",
            "PATHS",
            "MYPATH",
            "LD",
            "ENVIRONMENT",
            "HOME",
        ] {
            assert!(!loads(name), "{name}");
        }
        for entry in LOADER_ENV {
            let name = entry.trim_end_matches('*');
            assert!(is_env_name(name, &[]), "{entry}");
            assert_eq!(
                entry.matches('*').count(),
                usize::from(entry.ends_with('*'))
            );
        }
    }

    #[test]
    fn grants_display() {
        let dir = GrantedDir {
            path: AbsPath::try_from("/var/www").unwrap(),
            access: Access::ReadWrite,
        };
        assert_eq!(
            Grant::Directory(dir).to_string(),
            "directory `/var/www` read-write"
        );
        assert_eq!(
            Grant::Memory(ByteSize::mib(512)).to_string(),
            "memory 512MiB"
        );
        assert_eq!(
            Grant::Timeout(Duration::from_secs(7200)).to_string(),
            "timeout 2h"
        );
    }
}
