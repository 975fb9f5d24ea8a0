//! Attack: connect to a TCP port without a tcp grant.

use attack_net::connect;
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        match connect(ctx.require_param("address")?) {
            Ok(()) => Ok(()),
            Err(e) => Err(format!("contained: {e}")),
        }
    }
}

davit_sdk::export_hook!(Attack);
