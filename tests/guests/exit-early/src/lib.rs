//! Attack: call exit instead of returning a result.

use davit_sdk::prelude::*;
struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        std::process::exit(7);
    }
}

davit_sdk::export_hook!(Attack);
