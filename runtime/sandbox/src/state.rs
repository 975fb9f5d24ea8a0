//! What a store holds for one invocation, and the `log` host interface.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::{log, types};
use crate::dns::GrantedNames;
use crate::egress::Egress;
use crate::grants::Grants;
use crate::limiter::MemoryLimiter;
use crate::resources::Budget;
use crate::s3::Signed;
use crate::service::Service;
use crate::sink::{Sink, Stream};

pub(crate) struct HookState {
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) table: ResourceTable,
    pub(crate) egress: Egress,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) sink: Sink,
    pub(crate) grants: Arc<Grants>,
    /// What the guest's name lookups may answer.
    pub(crate) names: GrantedNames,
    /// What the invocation has spent of its bounded resources.
    pub(crate) budget: Arc<Budget>,
    /// The services it started, in order (shared: reported even when the invocation timed out).
    pub(crate) services: Arc<std::sync::Mutex<Vec<Service>>>,
    /// Set when the invocation timed out: the guest is interrupted at its next epoch tick.
    pub(crate) cancelled: Arc<std::sync::atomic::AtomicBool>,
    /// The S3 requests the host signed for it, which egress lets through.
    pub(crate) signed: Signed,
}

impl WasiView for HookState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HookState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.egress,
        }
    }
}

impl types::Host for HookState {}

impl log::Host for HookState {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let stream = match level {
            log::Level::Trace => Stream::Trace,
            log::Level::Debug => Stream::Debug,
            log::Level::Info => Stream::Info,
            log::Level::Warn => Stream::Warn,
            log::Level::Error => Stream::Error,
        };
        for line in message.lines() {
            self.sink.guest_line(stream, line);
        }
        Ok(())
    }
}
