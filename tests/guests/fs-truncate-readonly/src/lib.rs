//! Attack: truncate an existing file in a read-only grant (GHSA-2r75).

use davit_sdk::prelude::*;
struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        let opened = std::fs::OpenOptions::new().write(true).truncate(true).open("/data/keep.txt");
        match opened {
            Ok(_) => Ok(()),
            Err(e) => Err(format!("contained: {e}")),
        }
    }
}

davit_sdk::export_hook!(Attack);
