//! Attack: connect to a port next to the granted one.

use attack_net::connect;
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        connect(ctx.require_param("granted")?).map_err(|e| format!("granted connect failed: {e}"))?;
        match connect(ctx.require_param("other")?) {
            Ok(()) => Ok(()),
            Err(e) => Err(format!("contained: {e}")),
        }
    }
}

davit_sdk::export_hook!(Attack);
