//! Errors at the sandbox boundary.

use std::path::PathBuf;
use std::time::Duration;

/// Why a component could not be loaded or an invocation could not be set up.
///
/// What a guest does once it runs (trap, timeout, memory) is not an error of this kind: it is a
/// [`Fault`](crate::Fault) in the invocation's [`Outcome`](crate::Outcome), next to the logs.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("could not create the wasm engine")]
    Engine(#[source] wasmtime::Error),
    #[error("`{digest}` is not a valid wasm component: {reason}")]
    InvalidComponent { digest: String, reason: String },
    #[error(
        "component `{digest}` exports neither `run` (hook world), `check` (health-check world) nor `execute` (action world)"
    )]
    UnknownWorld { digest: String },
    /// An action component called without an action, or a hook or check called with one.
    #[error("component `{digest}` is a {kind:?} plugin: {reason}")]
    WrongCall {
        digest: String,
        kind: crate::PluginKind,
        reason: &'static str,
    },
    #[error("component `{digest}` needs an import the sandbox does not provide: {reason}")]
    Link { digest: String, reason: String },
    #[error("compiled-component cache `{path}`")]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot grant directory `{host}` as `{guest}`: {reason}")]
    Mount {
        host: PathBuf,
        guest: String,
        reason: String,
    },
    #[error("cannot resolve tcp grant `{target}`: {reason}")]
    Resolve { target: String, reason: String },
    /// Refused before compiling: see [`Limits::component_size`](crate::Limits::component_size).
    #[error("component is {size} bytes, over the limit of {limit} bytes (`component_size`)")]
    ComponentTooLarge { size: u64, limit: u64 },
    /// Compilation ran past [`Limits::compile_time`](crate::Limits::compile_time). Cranelift
    /// cannot be interrupted, so the compiling thread finishes in the background and its result
    /// is dropped.
    #[error(
        "compiling component `{digest}` took longer than {}s (`compile_time`)",
        limit.as_secs_f64()
    )]
    CompileTimeout { digest: String, limit: Duration },
}

/// A resource outside linear memory that is bounded per invocation by a field of
/// [`Limits`](crate::Limits) of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// Open handles (files, directories, streams, sockets, requests): `handles`.
    Handles,
    /// Outgoing tcp connections made: `tcp_connections`.
    TcpConnections,
    /// HTTP requests sent: `http_requests`.
    HttpRequests,
    /// HTTP requests whose response is not yet dropped: `http_in_flight`.
    HttpInFlight,
    /// Bytes written into granted and scratch directories: `disk_write`.
    DiskWrite,
}

impl ResourceKind {
    /// The [`Limits`](crate::Limits) field that bounds it.
    pub fn field(self) -> &'static str {
        match self {
            ResourceKind::Handles => "handles",
            ResourceKind::TcpConnections => "tcp_connections",
            ResourceKind::HttpRequests => "http_requests",
            ResourceKind::HttpInFlight => "http_in_flight",
            ResourceKind::DiskWrite => "disk_write",
        }
    }

    fn what(self) -> &'static str {
        match self {
            ResourceKind::Handles => "open handles",
            ResourceKind::TcpConnections => "outgoing tcp connections",
            ResourceKind::HttpRequests => "http requests",
            ResourceKind::HttpInFlight => "http requests in flight",
            ResourceKind::DiskWrite => "bytes written to its directories",
        }
    }
}

impl std::fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.what())
    }
}

/// How a guest invocation ended when it did not end by returning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    /// The hook ran past its wall-clock limit (also when blocked in a host call).
    #[error("timed out after {}s (the hook's `timeout`)", limit.as_secs_f64())]
    Timeout { limit: Duration },
    /// The hook tried to grow its memory past the limit.
    #[error("tried to use {requested} bytes of memory, over its limit of {limit} bytes")]
    MemoryLimit { limit: u64, requested: u64 },
    /// The guest overflowed its wasm call stack.
    #[error("overflowed its call stack (deep or infinite recursion)")]
    StackOverflow,
    /// The guest trapped (a Rust panic shows as `unreachable`; its message is in the log).
    #[error("trapped: {message}")]
    Trap { message: String },
    /// The guest called `exit` instead of returning a result.
    #[error("exited with status {code} instead of returning a result")]
    Exit { code: i32 },
    /// The guest reached a per-invocation bound on a resource outside linear memory. The call
    /// that would have passed it was refused (a guest sees `access-denied`, `http-request-denied`,
    /// `quota`), and the hook was stopped at its next epoch tick, whatever it returned.
    #[error("hit its limit of {limit} {resource} (`{}`)", resource.field())]
    ResourceLimit { resource: ResourceKind, limit: u64 },
    /// Instantiation failed (for example a resource limit at start-up).
    #[error("could not start: {message}")]
    Instantiate { message: String },
}
