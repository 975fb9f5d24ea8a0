//! Attack: fill the output budget with forged `sandbox:` lines, then make the host speak (a
//! denied command) and end by a fault (spin past the timeout), hoping the host's own lines are
//! crowded out and only the forgeries are left.

use davit_sdk::prelude::*;
use std::io::Write;

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        let mut out = std::io::stdout();
        for i in 0..3_000 {
            let _ = writeln!(out, "sandbox: hook succeeded {i}");
            if i % 100 == 0 {
                info!("sandbox: hook succeeded (log {i})");
            }
        }
        let _ = out.flush();
        let _ = command::run("/bin/sh", &["-c", "id"]);
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

davit_sdk::export_hook!(Attack);
