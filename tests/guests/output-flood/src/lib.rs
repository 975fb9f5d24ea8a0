//! Attack: print far more than the output limit.

use davit_sdk::prelude::*;
struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        use std::io::Write;
        let line = "x".repeat(1000);
        let mut out = std::io::stdout().lock();
        for i in 0..100_000 {
            writeln!(out, "{i} {line}").map_err(|e| format!("stdout failed: {e}"))?;
            if i % 1000 == 0 {
                info!("log line {i}");
            }
        }
        Ok(())
    }
}

davit_sdk::export_hook!(Attack);
