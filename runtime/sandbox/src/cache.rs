//! Compiled components cached on local disk, keyed by the component's blake3 digest and the
//! engine's compatibility hash. A `.cwasm` is only ever read from this cache, which holds nothing
//! but our own compiler's output; it is never accepted from a bundle or the network.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::time::Duration;

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::SandboxError;

/// Where compiled components live, or nowhere (compile every time).
#[derive(Debug, Clone)]
pub(crate) struct CompileCache {
    dir: Option<PathBuf>,
    engine_key: String,
}

/// Feeds `Hash` output into blake3, so the key is stable across processes and Rust versions.
struct Blake3Hasher(blake3::Hasher);

impl Hasher for Blake3Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        let hash = self.0.finalize();
        u64::from_le_bytes(hash.as_bytes()[..8].try_into().expect("8 bytes"))
    }
}

/// How a component was obtained, for `hook run` and the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheUse {
    /// Compiled from wasm now (and stored, when there is a cache).
    Compiled,
    /// Deserialized from the on-disk cache.
    Cached,
}

impl CompileCache {
    pub(crate) fn new(engine: &Engine, dir: Option<PathBuf>) -> Result<Self, SandboxError> {
        let mut hasher = Blake3Hasher(blake3::Hasher::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = format!("{:016x}", hasher.finish());
        if let Some(dir) = &dir {
            create_private_dir(dir).map_err(|source| SandboxError::Cache {
                path: dir.clone(),
                source,
            })?;
        }
        Ok(CompileCache { dir, engine_key })
    }

    fn path_for(&self, digest: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|dir| dir.join(format!("{digest}-{}.cwasm", self.engine_key)))
    }

    /// Returns the compiled component for `wasm`, whose blake3 digest is `digest`, compiling it
    /// if need be within `compile_time`.
    pub(crate) fn load(
        &self,
        engine: &Engine,
        wasm: &[u8],
        digest: &str,
        compile_time: Duration,
    ) -> Result<(Component, CacheUse), SandboxError> {
        let path = self.path_for(digest);
        if let Some(path) = &path
            && let Ok(bytes) = std::fs::read(path)
        {
            // SAFETY: the cache directory is created 0700 by this process's user and holds only
            // files this function wrote from `Engine::precompile_component`; the file name binds
            // the source digest and the engine's compatibility hash, and a stale or foreign
            // artifact is rejected by `deserialize` with an error, after which we recompile.
            if let Ok(component) = unsafe { Component::deserialize(engine, &bytes) } {
                return Ok((component, CacheUse::Cached));
            }
        }
        let invalid = |e: wasmtime::Error| SandboxError::InvalidComponent {
            digest: digest.to_string(),
            reason: format!("{e:#}"),
        };
        let compiled = compile_within(engine, wasm, digest, compile_time)?.map_err(invalid)?;
        if let Some(path) = &path {
            write_atomically(path, &compiled).map_err(|source| SandboxError::Cache {
                path: path.clone(),
                source,
            })?;
        }
        // SAFETY: `compiled` was produced just now by this engine from the wasm we validated.
        let component = unsafe { Component::deserialize(engine, &compiled) }.map_err(invalid)?;
        Ok((component, CacheUse::Compiled))
    }
}

/// Compiles `wasm` on a thread of its own and waits at most `limit` for it. Cranelift cannot be
/// interrupted (wasmtime 48 has no cancellation for `precompile_component`), so past the limit
/// the thread is left to finish in the background and its output is dropped: the caller's wait
/// is bounded, the CPU the compiler spends is not.
fn compile_within(
    engine: &Engine,
    wasm: &[u8],
    digest: &str,
    limit: Duration,
) -> Result<wasmtime::Result<Vec<u8>>, SandboxError> {
    let (done, result) = sync_channel(1);
    let engine = engine.clone();
    let wasm = wasm.to_vec();
    std::thread::Builder::new()
        .name("davit-compile".into())
        .spawn(move || {
            let _ = done.send(engine.precompile_component(&wasm));
        })
        .map_err(|e| SandboxError::Engine(e.into()))?;
    match result.recv_timeout(limit) {
        Ok(compiled) => Ok(compiled),
        Err(RecvTimeoutError::Timeout) => Err(SandboxError::CompileTimeout {
            digest: digest.to_string(),
            limit,
        }),
        Err(RecvTimeoutError::Disconnected) => Err(SandboxError::InvalidComponent {
            digest: digest.to_string(),
            reason: "the compiler stopped without a result".into(),
        }),
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let meta = std::fs::metadata(dir)?;
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}
