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
mod egress;
mod engine;
mod error;
mod grants;
mod invoke;
mod limiter;
mod sink;
mod state;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

pub use cache::CacheUse;
pub use context::{DeploymentInfo, HookContext};
pub use error::{Fault, SandboxError};
pub use grants::{Access, Grants, Limits, Mount};
pub use invoke::{Call, Outcome, Verdict};
pub use sink::{LineObserver, LogLine, Stream};

use bindings::check::HealthCheckPre;
use bindings::hook::{Hook, HookPre};
use state::HookState;

/// Which world a component implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    /// Exports `run` (world `davit:plugin/hook`).
    Hook,
    /// Exports `check` (world `davit:plugin/health-check`).
    HealthCheck,
}

enum Pre {
    Hook(HookPre<HookState>),
    Check(HealthCheckPre<HookState>),
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
    permits: tokio::sync::Semaphore,
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
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(link)?;
        Hook::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).map_err(link)?;
        let cache = cache::CompileCache::new(&engine, cache_dir)?;
        Ok(Sandbox {
            engine,
            linker,
            cache,
            loaded: Mutex::default(),
            permits: tokio::sync::Semaphore::new(engine::MAX_INSTANCES - 4),
        })
    }

    /// Compiles (or loads from cache) and pre-instantiates a component.
    ///
    /// # Errors
    ///
    /// When the bytes are not a valid component, it implements neither plugin world, or it
    /// imports something the sandbox does not provide.
    pub fn load(&self, wasm: &[u8]) -> Result<Plugin, SandboxError> {
        let digest = blake3::hash(wasm).to_hex().to_string();
        if let Some(plugin) = self.loaded.lock().expect("plugin map").get(&digest) {
            return Ok(plugin.clone());
        }
        let started = Instant::now();
        let (component, cache_use) = self.cache.load(&self.engine, wasm, &digest)?;
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
