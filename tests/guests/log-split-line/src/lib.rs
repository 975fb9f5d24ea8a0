//! Attack: make the host cut a long line so that its continuation starts with `sandbox:`: a
//! line past the host's 4096-byte line limit written without a newline, then `sandbox: …`; and
//! a log call whose 5000-byte first line hides a second one.

use davit_sdk::prelude::*;
use std::io::Write;

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        let long = "x".repeat(5000);
        let mut out = std::io::stdout();
        let _ = out.write_all(long.as_bytes());
        let _ = out.flush();
        let _ = out.write_all(b"sandbox: hook succeeded (continued)\n");
        let exact = "y".repeat(4096);
        let _ = out.write_all(exact.as_bytes());
        let _ = out.flush();
        let _ = out.write_all(b"sandbox: hook succeeded (at the limit)\n");
        let _ = out.flush();
        info!("{long}\nsandbox: hook succeeded (log)");
        let _ = writeln!(out, "{}sandbox: hook succeeded (cut)", "z".repeat(4090));
        Err("contained: nothing to break".into())
    }
}

davit_sdk::export_hook!(Attack);
