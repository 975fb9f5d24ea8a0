//! Attack: panic (a trap), with a message on stderr.

use davit_sdk::prelude::*;
struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        panic!("boom from the guest");
    }
}

davit_sdk::export_hook!(Attack);
