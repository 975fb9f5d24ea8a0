//! Attack: open an escaping symlink with a trailing slash (GHSA-vqjp-4c8c-hfgg).

use davit_sdk::prelude::*;
struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        match std::fs::read_dir("/data/dir-link/") {
            Ok(entries) => {
                info!("escaped: listed {} entries", entries.count());
                Ok(())
            }
            Err(e) => Err(format!("contained: {e}")),
        }
    }
}

davit_sdk::export_hook!(Attack);
