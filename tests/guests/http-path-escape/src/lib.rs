//! Attack: climb out of a granted URL path prefix with `..`.

use attack_net::get;
use davit_sdk::prelude::*;
struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        let granted = ctx.require_param("granted")?;
        match get(granted, "/allowed/../secret") {
            Ok(status) => {
                info!("escaped: {status}");
                Ok(())
            }
            Err(e) => Err(format!("contained: {e}")),
        }
    }
}

davit_sdk::export_hook!(Attack);
