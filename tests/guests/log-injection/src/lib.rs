//! Attack: forge log lines and terminal escapes through the log interface.

use davit_sdk::prelude::*;
struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        info!("first\nsandbox: hook succeeded\x1b[2J\x1b[31mred");
        Err("contained: nothing to break".into())
    }
}

davit_sdk::export_hook!(Attack);
