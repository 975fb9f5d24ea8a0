//! Attack: block in a WASI poll (a host call, which epochs cannot interrupt) for an hour.

use davit_sdk::prelude::*;
struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        std::thread::sleep(std::time::Duration::from_secs(3600));
        Ok(())
    }
}

davit_sdk::export_hook!(Attack);
