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
        "component `{digest}` exports neither `run` (hook world) nor `check` (health-check world)"
    )]
    UnknownWorld { digest: String },
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
    /// Instantiation failed (for example a resource limit at start-up).
    #[error("could not start: {message}")]
    Instantiate { message: String },
}
