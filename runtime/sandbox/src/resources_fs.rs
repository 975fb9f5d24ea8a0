//! Bytes written into granted and scratch directories, counted against
//! [`Limits::disk_write`](crate::Limits::disk_write).
//!
//! wasmtime-wasi 48 offers no hook to count or cap file writes: its filesystem code (vendored
//! from cap-std) writes through `FileOutputStream` and `descriptor.write` without a callback, and
//! `WasiCtxBuilder` has no setting for it. So the sandbox shadows, in the linker, the four
//! `wasi:filesystem/types` methods by which a guest makes a file hold more bytes, and delegates
//! each to wasmtime-wasi's own implementation:
//!
//! - `descriptor.write` charges the buffer before writing (and refunds what was not written);
//! - `descriptor.write-via-stream` and `append-via-stream` wrap the stream wasmtime-wasi returns
//!   in [`CountedStream`], which charges every `write`, `blocking-write-and-flush` and
//!   `write-zeroes` (and so `splice` into a file, which writes through the same stream);
//! - `descriptor.set-size` charges the growth of the file.
//!
//! Past the limit a write fails with `quota` (`EDQUOT` in the guest) and the hook is stopped
//! with [`Fault::ResourceLimit`](crate::Fault::ResourceLimit). Creating files, directories and
//! links is not counted (it spends inodes, not bytes).

use bytes::Bytes;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::WasiFilesystemView;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    Descriptor, ErrorCode, Host as _, HostDescriptor,
};
use wasmtime_wasi::p2::{DynOutputStream, OutputStream, Pollable, StreamError, StreamResult};

use crate::error::ResourceKind;
use crate::resources::Budget;
use crate::state::HookState;

use std::sync::Arc;

/// The interface wasmtime-wasi 48.0.8 links (`wasi:filesystem@0.2.12`).
const INTERFACE: &str = "wasi:filesystem/types@0.2.12";

type StreamReturn = (Result<Resource<DynOutputStream>, ErrorCode>,);

/// Shadows the writing methods of wasmtime-wasi's `wasi:filesystem/types` in `linker` (which
/// must already hold `wasmtime_wasi::p2::add_to_linker_async`'s definitions) with counting ones.
pub(crate) fn link(linker: &mut Linker<HookState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut instance = linker.instance(INTERFACE)?;
    instance.func_wrap_async(
        "[method]descriptor.write",
        |mut store, (fd, buffer, offset): (Resource<Descriptor>, Vec<u8>, u64)| {
            Box::new(async move {
                let state = store.data_mut();
                let budget = state.budget.clone();
                let asked = buffer.len() as u64;
                if !budget.take(ResourceKind::DiskWrite, asked, || {
                    format!("a write of {asked} bytes")
                }) {
                    return Ok((Err(ErrorCode::Quota),));
                }
                let mut fs = state.filesystem();
                match HostDescriptor::write(&mut fs, fd, buffer, offset).await {
                    Ok(written) => {
                        budget.refund(ResourceKind::DiskWrite, asked.saturating_sub(written));
                        Ok((Ok(written),))
                    }
                    Err(e) => {
                        budget.refund(ResourceKind::DiskWrite, asked);
                        Ok((Err(fs.convert_error_code(e)?),))
                    }
                }
            })
        },
    )?;
    instance.func_wrap(
        "[method]descriptor.write-via-stream",
        |mut store, (fd, offset): (Resource<Descriptor>, u64)| -> wasmtime::Result<StreamReturn> {
            let state = store.data_mut();
            let budget = state.budget.clone();
            let mut fs = state.filesystem();
            match HostDescriptor::write_via_stream(&mut fs, fd, offset) {
                Ok(stream) => Ok((Ok(counted(fs.table, stream, budget)?),)),
                Err(e) => Ok((Err(fs.convert_error_code(e)?),)),
            }
        },
    )?;
    instance.func_wrap(
        "[method]descriptor.append-via-stream",
        |mut store, (fd,): (Resource<Descriptor>,)| -> wasmtime::Result<StreamReturn> {
            let state = store.data_mut();
            let budget = state.budget.clone();
            let mut fs = state.filesystem();
            match HostDescriptor::append_via_stream(&mut fs, fd) {
                Ok(stream) => Ok((Ok(counted(fs.table, stream, budget)?),)),
                Err(e) => Ok((Err(fs.convert_error_code(e)?),)),
            }
        },
    )?;
    instance.func_wrap_async(
        "[method]descriptor.set-size",
        |mut store, (fd, size): (Resource<Descriptor>, u64)| {
            Box::new(async move {
                let state = store.data_mut();
                let budget = state.budget.clone();
                let mut fs = state.filesystem();
                let borrowed = Resource::<Descriptor>::new_borrow(fd.rep());
                let now = match HostDescriptor::stat(&mut fs, borrowed).await {
                    Ok(stat) => stat.size,
                    Err(e) => return Ok((Err(fs.convert_error_code(e)?),)),
                };
                let growth = size.saturating_sub(now);
                if !budget.take(ResourceKind::DiskWrite, growth, || {
                    format!("growing a file from {now} to {size} bytes")
                }) {
                    return Ok((Err(ErrorCode::Quota),));
                }
                match HostDescriptor::set_size(&mut fs, fd, size).await {
                    Ok(()) => Ok((Ok(()),)),
                    Err(e) => {
                        budget.refund(ResourceKind::DiskWrite, growth);
                        Ok((Err(fs.convert_error_code(e)?),))
                    }
                }
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Replaces the output stream behind `stream` with a [`CountedStream`] around it.
fn counted(
    table: &mut wasmtime::component::ResourceTable,
    stream: Resource<DynOutputStream>,
    budget: Arc<Budget>,
) -> wasmtime::Result<Resource<DynOutputStream>> {
    let inner = table.delete(stream)?;
    let counted: DynOutputStream = Box::new(CountedStream { inner, budget });
    Ok(table.push(counted)?)
}

/// A file's output stream whose writes are charged to the invocation's budget.
struct CountedStream {
    inner: DynOutputStream,
    budget: Arc<Budget>,
}

impl CountedStream {
    fn charge(&self, bytes: usize) -> StreamResult<()> {
        let asked = || format!("a write of {bytes} bytes");
        if self
            .budget
            .take(ResourceKind::DiskWrite, bytes as u64, asked)
        {
            Ok(())
        } else {
            let quota = std::io::Error::from_raw_os_error(libc::EDQUOT);
            Err(StreamError::LastOperationFailed(quota.into()))
        }
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CountedStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.charge(bytes.len())?;
        self.inner.write(bytes)
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.inner.flush()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.inner.check_write()
    }

    async fn blocking_write_and_flush(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.charge(bytes.len())?;
        self.inner.blocking_write_and_flush(bytes).await
    }

    fn write_zeroes(&mut self, nelem: usize) -> StreamResult<()> {
        self.charge(nelem)?;
        self.inner.write_zeroes(nelem)
    }

    async fn write_ready(&mut self) -> StreamResult<usize> {
        self.inner.write_ready().await
    }

    async fn cancel(&mut self) {
        self.inner.cancel().await
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CountedStream {
    async fn ready(&mut self) {
        self.inner.ready().await
    }
}
