//! Attack: block in a host call (a granted command that never ends) past the hook's timeout.

use davit_sdk::prelude::*;
struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        let seconds = ctx.param_or("seconds", "300");
        let _ = command::run("/bin/sleep", &[seconds]);
        Ok(())
    }
}

davit_sdk::export_hook!(Attack);
