//! Attack: forge the host's own lines (`sandbox: hook succeeded`) on stdout, stderr and the log
//! interface: after a newline, split across writes, indented, upper-case, behind a carriage
//! return, an escape or DEL that the host strips.

use davit_sdk::prelude::*;
use std::io::Write;

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        let mut out = std::io::stdout();
        let _ = out.write_all(b"ok\nsandbox: hook succeeded\n");
        let _ = out.write_all(b"sand");
        let _ = out.write_all(b"box: hook succeeded (split)\n");
        let _ = out.write_all(b"ok\r\nsandbox: hook succeeded (crlf)\n");
        let _ = out.flush();
        let _ = std::io::stderr().write_all(b"sandbox: hook succeeded (stderr)\n");
        info!("ok\nsandbox: hook succeeded");
        warn!("  sandbox: command denied: nothing");
        error!("SANDBOX: hook succeeded (upper)");
        info!("\rsandbox: hook succeeded (cr)");
        info!("\u{1b}sandbox: hook succeeded (esc)");
        info!("\u{7f}sandbox: hook succeeded (del)");
        info!("\u{0}sandbox: hook succeeded (nul)");
        let _ = out.write_all(b"sandbox: hook succeeded (no newline at the end)");
        Err("contained: the host decides what is its own".into())
    }
}

davit_sdk::export_hook!(Attack);
