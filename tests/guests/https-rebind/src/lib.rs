//! Attack: an https URL granted by name whose name resolves to a private address (DNS rebinding).

use attack_net::get_https;
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        match get_https(ctx.require_param("authority")?, "/secret") {
            Ok(status) => {
                info!("escaped: {status}");
                Ok(())
            }
            Err(e) => Err(format!("contained: {e}")),
        }
    }
}

davit_sdk::export_hook!(Attack);
