//! Asking the host to reboot once the hook has done its work.
//!
//! ```no_run
//! use davit_sdk::prelude::*;
//!
//! struct Kernel;
//!
//! impl Hook for Kernel {
//!     fn run(_ctx: HookContext) -> Result<(), String> {
//!         let out = command::run("/usr/bin/apt-get", &["-y", "install", "linux-image-amd64"])?;
//!         out.ensure_success("/usr/bin/apt-get")?;
//!         davit_sdk::reboot::request();
//!         Ok(())
//!     }
//! }
//!
//! davit_sdk::export_hook!(Kernel);
//! ```
//!
//! The request travels in the result of the hook's `run` export (`ok(next::reboot)` in the
//! WIT): the host reboots before the deployment's next event, then the deployment goes on. An
//! error returned after a request fails the event; the request is then dropped.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set by [`request`], read once the hook returns. Every invocation is a fresh instance, so it
/// starts unset.
static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks the host to reboot after this hook succeeds, before the next event runs. Asking twice
/// is asking once.
pub fn request() {
    REQUESTED.store(true, Ordering::Relaxed);
}

/// Whether [`request`] was called.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// What the export returns for `result`: used by [`export_hook!`](crate::export_hook).
#[doc(hidden)]
pub fn finish(
    result: Result<(), String>,
) -> Result<crate::__private::hook_bindings::davit::plugin::types::Next, String> {
    use crate::__private::hook_bindings::davit::plugin::types::Next;
    result.map(|()| if requested() { Next::Reboot } else { Next::Proceed })
}
