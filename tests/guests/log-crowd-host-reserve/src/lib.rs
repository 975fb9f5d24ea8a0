//! Attack: fill the room kept for the host's own lines, not the guest's: every denied command
//! makes the host log a `sandbox: command denied` line that quotes the request, so denied calls
//! with long program names use the room up, then ones a byte shorter each time fill what is
//! left to the last byte; then trap, hoping the host's fault line is dropped.

use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        let long = format!("/{}", "x".repeat(4000));
        for _ in 0..20 {
            let _ = command::run(&long, &["y"]);
        }
        for n in (1..4000).rev() {
            let program = format!("/{}", "x".repeat(n));
            let _ = command::run(&program, &["y"]);
        }
        panic!("gone, and the host cannot say why");
    }
}

davit_sdk::export_hook!(Attack);
