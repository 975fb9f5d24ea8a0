//! Attack: keep many requests in flight at once against a server that never answers.

use attack_net::{finish_get, start_get};
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        let granted = ctx.require_param("granted")?;
        let count: usize = ctx.require_param("count")?.parse().map_err(|_| "bad count")?;
        let mut pending = Vec::new();
        for _ in 0..count {
            pending.push(start_get(false, granted, "/hold")?);
        }
        // The last one started is past the bound.
        match finish_get(pending.pop().expect("count > 0")) {
            Ok(status) => {
                info!("escaped: {status}");
                Ok(())
            }
            Err(e) => Err(format!("contained: {e}")),
        }
    }
}

davit_sdk::export_hook!(Attack);
