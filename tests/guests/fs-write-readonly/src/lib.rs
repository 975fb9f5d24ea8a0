//! Attack: create a file in a read-only grant.

use davit_sdk::prelude::*;
struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        match std::fs::write("/data/planted.txt", b"pwned") {
            Ok(()) => Ok(()),
            Err(e) => Err(format!("contained: {e}")),
        }
    }
}

davit_sdk::export_hook!(Attack);
