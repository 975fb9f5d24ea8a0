//! What one invocation may touch: the effective grant, resolved against a target root.

use std::path::PathBuf;
use std::time::Duration;

pub use davit_spec::Access;
use davit_spec::{CommandGrant, TcpTarget, UrlPrefix};

/// A host directory the guest sees at `guest` (an absolute guest path such as `/etc/hello-web`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub host: PathBuf,
    pub guest: String,
    pub access: Access,
}

/// Resource limits of one invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time for the whole invocation, host calls included.
    pub timeout: Duration,
    /// Linear memory and tables, in bytes, summed over the component's memories.
    pub memory: u64,
    /// Log lines, stdout and stderr together, in bytes; past it output is cut, not fatal.
    pub output: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(60),
            memory: 128 << 20,
            output: 1 << 20,
        }
    }
}

/// Everything a guest is granted. The default grants nothing.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    pub mounts: Vec<Mount>,
    pub tcp: Vec<TcpTarget>,
    pub urls: Vec<UrlPrefix>,
    /// Commands with `{target-root}` already resolved.
    pub commands: Vec<CommandGrant>,
    pub env: Vec<(String, String)>,
    pub limits: Limits,
}
