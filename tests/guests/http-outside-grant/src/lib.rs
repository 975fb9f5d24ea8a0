//! Attack: an HTTP request to a port outside the url grant.

use attack_net::get;
use davit_sdk::prelude::*;
struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        let granted = ctx.require_param("granted")?;
        let other = ctx.require_param("other")?;
        let status = get(granted, "/ok").map_err(|e| format!("granted request failed: {e}"))?;
        info!("granted request: {status}");
        match get(other, "/") {
            Ok(status) => {
                info!("escaped: {status}");
                Ok(())
            }
            Err(e) => Err(format!("contained: {e}")),
        }
    }
}

davit_sdk::export_hook!(Attack);
