//! What one invocation may touch: the effective grant, resolved against a target root.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use davit_fsroot::{Resolve, Root};
pub use davit_spec::Access;
use davit_spec::{CommandGrant, TcpTarget, UrlPrefix};

use crate::record::Recorder;
use crate::s3::S3Access;

/// A host directory the guest sees at `guest` (an absolute guest path such as `/etc/hello-web`).
///
/// The directory is held open: it was resolved (beneath the policy's directory, see
/// `davit_fsroot`) when the grant was set up, and that very directory is what the guest gets
/// and what host calls on its paths (log files, path arguments) resolve beneath, whatever its
/// name points at later.
#[derive(Debug, Clone)]
pub struct Mount {
    pub dir: Arc<Root>,
    pub guest: String,
    pub access: Access,
    /// A directory davit created and fills itself (a staged revision, a fresh scratch
    /// directory): it holds no FIFO or device, so no file system call into it blocks for good.
    pub own: bool,
}

impl Mount {
    /// A mount of the directory `dir`, already resolved.
    pub fn new(dir: Root, guest: impl Into<String>, access: Access) -> Self {
        Mount {
            dir: Arc::new(dir),
            guest: guest.into(),
            access,
            own: false,
        }
    }

    /// A mount of a directory davit created and fills itself (see [`Mount::own`]).
    ///
    /// # Errors
    ///
    /// When it cannot be opened as a directory.
    pub fn davit_own(
        host: &Path,
        guest: impl Into<String>,
        access: Access,
    ) -> std::io::Result<Self> {
        Ok(Mount {
            own: true,
            ..Self::open(host, guest, access)?
        })
    }

    /// A mount of a directory davit (or its operator) chose itself, opened as it is.
    ///
    /// # Errors
    ///
    /// When it cannot be opened as a directory.
    pub fn open(host: &Path, guest: impl Into<String>, access: Access) -> std::io::Result<Self> {
        Ok(Self::new(
            Root::open_ambient(host, Resolve::Beneath)?,
            guest,
            access,
        ))
    }

    /// The host path it was opened at, for messages.
    pub fn host(&self) -> &Path {
        self.dir.path()
    }
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
    /// Handles open at once: files, directories, streams, sockets, http requests and responses
    /// (wasmtime's resource table, stdio and granted directories included).
    pub handles: u32,
    /// Outgoing tcp connections the hook may make, in total.
    pub tcp_connections: u32,
    /// HTTP requests the hook may send, in total.
    pub http_requests: u32,
    /// HTTP requests sent whose response the hook has not yet dropped.
    pub http_in_flight: u32,
    /// Bytes the hook may write into its granted and scratch directories, in total (file
    /// growth by `set-size` included).
    pub disk_write: u64,
    /// Services the hook may start with `spawn`.
    pub services: u32,
    /// Size of a component [`Sandbox::load_limited`](crate::Sandbox::load_limited) accepts.
    pub component_size: u64,
    /// How long [`Sandbox::load_limited`](crate::Sandbox::load_limited) waits for a component
    /// to compile.
    pub compile_time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(60),
            memory: 128 << 20,
            output: 1 << 20,
            handles: 1024,
            tcp_connections: 64,
            http_requests: 256,
            http_in_flight: 16,
            disk_write: 1 << 30,
            services: 4,
            component_size: 64 << 20,
            compile_time: Duration::from_secs(60),
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
    /// Set for an image build: granted commands run inside this root filesystem, isolated
    /// from the machine that builds it (see [`ExecRoot`]), and the `files` interface looks up
    /// user and group names in its `/etc`.
    pub exec_root: Option<ExecRoot>,
    /// Set for an S3 action: the host signs the S3 requests the url grants cover (see
    /// [`S3Access`]); the credentials stay on the host.
    pub s3: Option<S3Access>,
    /// Set for a dry run: granted commands, services, HTTP requests and tcp connections are
    /// recorded here and not done (see [`Recorder`]).
    pub record: Option<Arc<Recorder>>,
}

/// The root filesystem commands run in, by bubblewrap: bound at `/` with the machine's own root
/// detached, its own mount, pid, ipc and network namespaces, a fresh `/proc` and a minimal
/// `/dev`, no network unless `network`, the capabilities of a package build but no device
/// nodes or mounts; everything it started is killed with it.
#[derive(Debug, Clone)]
pub struct ExecRoot {
    pub root: Arc<Root>,
    /// Whether the commands keep the host's network (the policy allowed it).
    pub network: bool,
}
