//! Attack: delete a file inside a read-only grant.

use davit_sdk::prelude::*;
struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        match std::fs::remove_file("/data/keep.txt") {
            Ok(()) => Ok(()),
            Err(e) => Err(format!("contained: {e}")),
        }
    }
}

davit_sdk::export_hook!(Attack);
