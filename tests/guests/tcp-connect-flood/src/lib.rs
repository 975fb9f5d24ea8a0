//! Attack: open connections to the granted address without end.

use attack_net::connect;
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        let address = ctx.require_param("address")?;
        for n in 0..100_000u32 {
            if let Err(e) = connect(address) {
                return Err(format!("contained after {n} connections: {e}"));
            }
        }
        Ok(())
    }
}

davit_sdk::export_hook!(Attack);
