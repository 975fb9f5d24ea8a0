//! The davit Wasm host.
//!
//! One [`Sandbox`] per process owns the wasmtime engine (pooling allocator, epoch interruption),
//! the linker with the WASI 0.2, wasi-http and `davit:plugin` host interfaces, and the cache of
//! compiled components. [`Sandbox::load`] compiles a component once (or loads it from the disk
//! cache) and pre-instantiates it; [`Sandbox::invoke`] runs it with a fresh store whose WASI
//! context holds only what the [`Grants`] allow, under a wall-clock timeout, a memory limit and
//! a bounded, truncating output capture.
//!
//! ```no_run
//! # async fn demo(wasm: &[u8]) -> Result<(), davit_sandbox::SandboxError> {
//! use davit_sandbox::{Call, Sandbox};
//! let sandbox = Sandbox::new(None)?;
//! let plugin = sandbox.load(wasm)?;
//! let outcome = sandbox.invoke(&plugin, Call::default()).await?;
//! println!("{:?} in {:?}", outcome.result, outcome.elapsed);
//! # Ok(()) }
//! ```
//!
//! This is the only crate of davit that links wasmtime.

mod bindings;
mod cache;
mod command;
mod context;
mod dns;
mod egress;
mod engine;
mod error;
mod files;
mod grants;
mod invoke;
mod limiter;
mod net;
mod net_addr;
mod net_send;
mod record;
mod resources;
mod resources_fs;
mod s3;
mod service;
mod sink;
mod state;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

pub use cache::CacheUse;
pub use context::{ComponentStep, Context, DeploymentInfo, Job, PackageAction, PackageStep};
pub use dns::{Resolver, SystemResolver};
pub use error::{Fault, ResourceKind, SandboxError};
pub use grants::{Access, ExecRoot, Grants, Limits, Mount};
pub use invoke::{ActionInput, ActionNext, Call, Outcome, Verdict};
pub use record::{Effect, Recorder};
pub use s3::{S3Access, S3Credentials};
pub use service::{Service, start_ticks};
pub use sink::{LineObserver, LogLine, Stream, sanitize};

use bindings::action::ActionPre;
use bindings::check::HealthCheckPre;
use bindings::hook::{Hook, HookPre};
use bindings::package::PackagePre;
use state::HookState;

/// Which world a component implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    /// Exports `run` (world `davit:plugin/hook`).
    Hook,
    /// Exports `check` (world `davit:plugin/health-check`).
    HealthCheck,
    /// Exports `execute` (world `davit:plugin/action`): image actions.
    Action,
    /// Exports `actions`, `install`, `uninstall`, `update` and `validate` (world
    /// `davit:plugin/package`): a package's scripts.
    Package,
}

enum Pre {
    Hook(HookPre<HookState>),
    Check(HealthCheckPre<HookState>),
    Action(ActionPre<HookState>),
    Package(PackagePre<HookState>),
}

struct PluginInner {
    digest: String,
    kind: PluginKind,
    pre: Pre,
    cache_use: CacheUse,
    load_time: Duration,
}

/// A compiled, pre-instantiated component, cheap to clone and to invoke many times.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<PluginInner>,
}

impl Plugin {
    /// blake3 digest (hex) of the component's bytes.
    pub fn digest(&self) -> &str {
        &self.inner.digest
    }
    pub fn kind(&self) -> PluginKind {
        self.inner.kind
    }
    /// Whether it was compiled now or came from the disk cache, and how long that took.
    pub fn load_stats(&self) -> (CacheUse, Duration) {
        (self.inner.cache_use, self.inner.load_time)
    }
}

/// The Wasm host of one process.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<HookState>,
    cache: cache::CompileCache,
    loaded: Mutex<HashMap<String, Plugin>>,
    permits: Arc<tokio::sync::Semaphore>,
    /// Resolves the names of tcp and url grants (never a guest's own lookups).
    resolver: Arc<dyn Resolver>,
}

impl Sandbox {
    /// Creates the engine and linker; compiled components are cached in `cache_dir` when given.
    ///
    /// # Errors
    ///
    /// When the engine cannot be created or the cache directory cannot be made private.
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Self, SandboxError> {
        let engine = engine::new_engine()?;
        let mut linker = Linker::new(&engine);
        let link = |e: wasmtime::Error| SandboxError::Engine(e);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(link)?;
        // Over wasmtime-wasi's own: name lookups answer only granted names, file writes count.
        dns::link(&mut linker).map_err(link)?;
        resources_fs::link(&mut linker).map_err(link)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(link)?;
        Hook::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).map_err(link)?;
        bindings::action::davit::plugin::files::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(link)?;
        bindings::action::davit::plugin::s3::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(link)?;
        let cache = cache::CompileCache::new(&engine, cache_dir)?;
        Ok(Sandbox {
            engine,
            linker,
            cache,
            loaded: Mutex::default(),
            permits: Arc::new(tokio::sync::Semaphore::new(engine::MAX_INSTANCES - 4)),
            resolver: Arc::new(SystemResolver),
        })
    }

    /// Resolves grant names with `resolver` instead of the system resolver.
    pub fn with_resolver(mut self, resolver: impl Resolver) -> Self {
        self.resolver = Arc::new(resolver);
        self
    }

    /// Compiles (or loads from cache) and pre-instantiates a component, under the default
    /// [`Limits`] of size and compile time.
    ///
    /// # Errors
    ///
    /// As [`Sandbox::load_limited`].
    pub fn load(&self, wasm: &[u8]) -> Result<Plugin, SandboxError> {
        self.load_limited(wasm, &Limits::default())
    }

    /// Compiles (or loads from cache) and pre-instantiates a component no larger than
    /// `limits.component_size`, waiting at most `limits.compile_time` for it to compile.
    ///
    /// # Errors
    ///
    /// When the component is too large or takes too long to compile, the bytes are not a valid
    /// component, it implements neither plugin world, or it imports something the sandbox does
    /// not provide.
    pub fn load_limited(&self, wasm: &[u8], limits: &Limits) -> Result<Plugin, SandboxError> {
        if wasm.len() as u64 > limits.component_size {
            return Err(SandboxError::ComponentTooLarge {
                size: wasm.len() as u64,
                limit: limits.component_size,
            });
        }
        let digest = blake3::hash(wasm).to_hex().to_string();
        if let Some(plugin) = self.loaded.lock().expect("plugin map").get(&digest) {
            return Ok(plugin.clone());
        }
        let started = Instant::now();
        let (component, cache_use) =
            self.cache
                .load(&self.engine, wasm, &digest, limits.compile_time)?;
        let ty = component.component_type();
        let exports: Vec<String> = ty
            .exports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let link = |e: wasmtime::Error| SandboxError::Link {
            digest: digest.clone(),
            reason: format!("{e:#}"),
        };
        let pre = self.linker.instantiate_pre(&component).map_err(link)?;
        let (kind, pre) = if exports.iter().any(|e| e == "run") {
            (
                PluginKind::Hook,
                Pre::Hook(HookPre::new(pre).map_err(link)?),
            )
        } else if exports.iter().any(|e| e == "check") {
            (
                PluginKind::HealthCheck,
                Pre::Check(HealthCheckPre::new(pre).map_err(link)?),
            )
        } else if exports.iter().any(|e| e == "actions") {
            (
                PluginKind::Package,
                Pre::Package(PackagePre::new(pre).map_err(link)?),
            )
        } else if exports.iter().any(|e| e == "execute") {
            (
                PluginKind::Action,
                Pre::Action(ActionPre::new(pre).map_err(link)?),
            )
        } else {
            return Err(SandboxError::UnknownWorld { digest });
        };
        let plugin = Plugin {
            inner: Arc::new(PluginInner {
                digest: digest.clone(),
                kind,
                pre,
                cache_use,
                load_time: started.elapsed(),
            }),
        };
        self.loaded
            .lock()
            .expect("plugin map")
            .insert(digest, plugin.clone());
        Ok(plugin)
    }
}
