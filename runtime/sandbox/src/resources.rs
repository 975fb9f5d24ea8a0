//! Bounds on what one invocation holds or spends outside linear memory: open handles, outgoing
//! tcp connections, http requests (in total and in flight), and bytes written to disk.
//!
//! A [`Budget`] is shared by every place that spends one of them (the socket address check, the
//! http egress hook, the filesystem write wrappers). Past a bound the call is refused with the
//! error code a guest can handle, the first refusal of each kind is logged as a `sandbox:` line,
//! and the store's epoch callback stops the guest at its next tick; the invocation then ends with
//! [`Fault::ResourceLimit`] whatever the guest returned. Open handles are bounded by the
//! `ResourceTable`'s capacity instead: wasmtime-wasi traps on a full table, and that trap is
//! reported as the same fault.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use wasmtime::component::ResourceTableError;
use wasmtime::{Store, UpdateDeadline};

use crate::error::{Fault, ResourceKind};
use crate::grants::Limits;
use crate::sink::{Sink, Stream};
use crate::state::HookState;

/// What one invocation has spent of its bounded resources.
pub(crate) struct Budget {
    limits: Limits,
    sink: Sink,
    tcp_connections: AtomicU64,
    http_requests: AtomicU64,
    http_in_flight: AtomicU64,
    disk_write: AtomicU64,
    /// Kinds already logged, one bit each.
    logged: AtomicU8,
    /// The first bound the guest reached.
    exceeded: OnceLock<ResourceKind>,
}

impl Budget {
    pub(crate) fn new(limits: &Limits, sink: Sink) -> Arc<Self> {
        Arc::new(Budget {
            limits: *limits,
            sink,
            tcp_connections: AtomicU64::new(0),
            http_requests: AtomicU64::new(0),
            http_in_flight: AtomicU64::new(0),
            disk_write: AtomicU64::new(0),
            logged: AtomicU8::new(0),
            exceeded: OnceLock::new(),
        })
    }

    fn limit(&self, kind: ResourceKind) -> u64 {
        let l = &self.limits;
        match kind {
            ResourceKind::Handles => l.handles as u64,
            ResourceKind::TcpConnections => l.tcp_connections as u64,
            ResourceKind::HttpRequests => l.http_requests as u64,
            ResourceKind::HttpInFlight => l.http_in_flight as u64,
            ResourceKind::DiskWrite => l.disk_write,
        }
    }

    fn counter(&self, kind: ResourceKind) -> &AtomicU64 {
        match kind {
            ResourceKind::TcpConnections => &self.tcp_connections,
            ResourceKind::HttpRequests => &self.http_requests,
            ResourceKind::HttpInFlight => &self.http_in_flight,
            ResourceKind::DiskWrite => &self.disk_write,
            ResourceKind::Handles => unreachable!("handles are counted by the resource table"),
        }
    }

    /// Spends `amount` of `kind` on what `asked` describes; past its limit nothing is spent,
    /// the bound is recorded and `false` returned.
    pub(crate) fn take(
        &self,
        kind: ResourceKind,
        amount: u64,
        asked: impl FnOnce() -> String,
    ) -> bool {
        let counter = self.counter(kind);
        let limit = self.limit(kind);
        let before = counter.fetch_add(amount, Ordering::SeqCst);
        if before.saturating_add(amount) <= limit {
            return true;
        }
        counter.fetch_sub(amount, Ordering::SeqCst);
        self.reached(kind, asked);
        false
    }

    /// Gives back what a refused or failed call did not use.
    pub(crate) fn refund(&self, kind: ResourceKind, amount: u64) {
        self.counter(kind).fetch_sub(amount, Ordering::SeqCst);
    }

    /// A slot of [`ResourceKind::HttpInFlight`], held until the response is dropped.
    pub(crate) fn start_request(
        self: &Arc<Self>,
        asked: impl FnOnce() -> String,
    ) -> Option<InFlight> {
        self.take(ResourceKind::HttpInFlight, 1, asked)
            .then(|| InFlight(self.clone()))
    }

    /// Records that the guest reached the bound on `kind` asking for `asked`, logging it the
    /// first time.
    fn reached(&self, kind: ResourceKind, asked: impl FnOnce() -> String) {
        let _ = self.exceeded.set(kind);
        let bit = 1u8 << kind as u8;
        if self.logged.fetch_or(bit, Ordering::SeqCst) & bit == 0 {
            let limit = self.limit(kind);
            self.sink.line(
                Stream::Warn,
                &format!(
                    "sandbox: refused {}: the hook reached its limit of {limit} {kind} (`{}`)",
                    asked(),
                    kind.field()
                ),
            );
        }
    }

    /// Whether a bound was reached, so the guest is to be stopped.
    pub(crate) fn is_exceeded(&self) -> bool {
        self.exceeded.get().is_some()
    }

    /// The fault of an invocation that reached a bound: the first bound recorded, or a trap on
    /// a full resource table.
    pub(crate) fn fault(&self, error: Option<&wasmtime::Error>) -> Option<Fault> {
        let full = error.and_then(|e| e.downcast_ref::<ResourceTableError>());
        let kind = match (self.exceeded.get(), full) {
            (Some(kind), _) => *kind,
            (None, Some(ResourceTableError::Full)) => ResourceKind::Handles,
            _ => return None,
        };
        Some(Fault::ResourceLimit {
            resource: kind,
            limit: self.limit(kind),
        })
    }
}

/// One http request in flight; dropping it frees the slot.
pub(crate) struct InFlight(Arc<Budget>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.refund(ResourceKind::HttpInFlight, 1);
    }
}

/// Bounds `store`'s resource table by [`Limits::handles`] and stops its guest at the first
/// epoch tick after it reached any bound (otherwise yielding to the runtime at every tick).
pub(crate) fn apply(store: &mut Store<HookState>, limits: &Limits) {
    store
        .data_mut()
        .table
        .set_max_capacity(limits.handles as usize);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|store| {
        let cancelled = store
            .data()
            .cancelled
            .load(std::sync::atomic::Ordering::Relaxed);
        Ok(if cancelled || store.data().budget.is_exceeded() {
            UpdateDeadline::Interrupt
        } else {
            UpdateDeadline::Yield(1)
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(limits: Limits) -> (Arc<Budget>, Sink) {
        let sink = Sink::new(1 << 20, None);
        (Budget::new(&limits, sink.clone()), sink)
    }

    #[test]
    fn a_bound_refuses_the_call_past_it_and_is_logged_once() {
        let (budget, sink) = budget(Limits {
            tcp_connections: 2,
            ..Limits::default()
        });
        let asked = || "a tcp connection to 10.0.0.1:5432".to_string();
        assert!(budget.take(ResourceKind::TcpConnections, 1, asked));
        assert!(budget.take(ResourceKind::TcpConnections, 1, asked));
        assert!(!budget.is_exceeded());
        assert!(!budget.take(ResourceKind::TcpConnections, 1, asked));
        assert!(
            !budget.take(ResourceKind::TcpConnections, 1, || unreachable!(
                "logged once"
            ))
        );
        assert!(budget.is_exceeded());
        assert_eq!(
            budget.fault(None),
            Some(Fault::ResourceLimit {
                resource: ResourceKind::TcpConnections,
                limit: 2
            })
        );
        let (lines, _) = sink.finish();
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "sandbox: refused a tcp connection to 10.0.0.1:5432: the hook reached its limit of 2 outgoing tcp connections (`tcp_connections`)"
            ]
        );
    }

    #[test]
    fn a_write_that_does_not_fit_spends_nothing() {
        let (budget, _) = budget(Limits {
            disk_write: 10,
            ..Limits::default()
        });
        assert!(budget.take(ResourceKind::DiskWrite, 6, String::new));
        assert!(!budget.take(ResourceKind::DiskWrite, 5, String::new));
        assert_eq!(budget.disk_write.load(Ordering::SeqCst), 6);
    }

    #[test]
    fn requests_in_flight_free_their_slot_when_dropped() {
        let (budget, _) = budget(Limits {
            http_in_flight: 1,
            ..Limits::default()
        });
        let first = budget.start_request(String::new).expect("one slot");
        drop(first);
        let _second = budget.start_request(String::new).expect("freed");
        assert!(budget.start_request(String::new).is_none());
        assert_eq!(
            budget.fault(None).map(|f| f.to_string()),
            Some("hit its limit of 1 http requests in flight (`http_in_flight`)".into())
        );
    }

    #[test]
    fn a_full_resource_table_is_the_handles_fault() {
        let (budget, _) = budget(Limits::default());
        let trap = wasmtime::Error::new(ResourceTableError::Full);
        assert_eq!(
            budget.fault(Some(&trap)),
            Some(Fault::ResourceLimit {
                resource: ResourceKind::Handles,
                limit: 1024
            })
        );
        let other = wasmtime::Error::new(ResourceTableError::NotPresent);
        assert_eq!(budget.fault(Some(&other)), None);
    }
}
