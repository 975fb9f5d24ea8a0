//! Attack: read a file outside the granted directory with `..`.

use davit_sdk::prelude::*;
struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        match std::fs::read_to_string("/data/../../../../etc/passwd") {
            Ok(text) => {
                info!("escaped: read {} bytes", text.len());
                Ok(())
            }
            Err(e) => Err(format!("contained: {e}")),
        }
    }
}

davit_sdk::export_hook!(Attack);
