//! Attack: reach the cloud metadata address.

use attack_net::get;
use davit_sdk::prelude::*;
struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        match get("169.254.169.254", "/latest/meta-data/") {
            Ok(status) => {
                info!("escaped: {status}");
                Ok(())
            }
            Err(e) => Err(format!("contained: {e}")),
        }
    }
}

davit_sdk::export_hook!(Attack);
