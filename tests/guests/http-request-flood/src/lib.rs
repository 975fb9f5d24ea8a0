//! Attack: send requests to the granted URL without end.

use attack_net::get;
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        let granted = ctx.require_param("granted")?;
        for n in 0..100_000u32 {
            if let Err(e) = get(granted, "/flood") {
                return Err(format!("contained after {n} requests: {e}"));
            }
        }
        Ok(())
    }
}

davit_sdk::export_hook!(Attack);
