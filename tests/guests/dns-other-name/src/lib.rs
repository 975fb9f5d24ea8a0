//! Attack: granted one name for tcp, resolve another (DNS exfiltration, internal discovery).

use attack_net::resolve;
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        let granted = ctx.require_param("granted")?;
        let found = resolve(granted).map_err(|e| format!("granted lookup failed: {e}"))?;
        info!("granted: {found:?}");
        match resolve(ctx.require_param("other")?) {
            Ok(found) => {
                info!("escaped: resolved {found:?}");
                Ok(())
            }
            Err(e) => Err(format!("contained: {e}")),
        }
    }
}

davit_sdk::export_hook!(Attack);
