//! Attack: start a fake `sandbox:` line with a line break that is not `\n`: U+2028 LINE
//! SEPARATOR and U+2029 PARAGRAPH SEPARATOR (which browsers and many viewers break on), C1 NEL,
//! vertical tab and form feed.

use davit_sdk::prelude::*;
use std::io::Write;

const HOSTILE: &[&str] = &[
    "ok\u{2028}sandbox: hook succeeded",
    "ok\u{2029}sandbox: hook succeeded",
    "ok\u{85}sandbox: hook succeeded",
    "ok\u{b}sandbox: hook succeeded",
    "ok\u{c}sandbox: hook succeeded",
];

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        let mut out = std::io::stdout();
        for line in HOSTILE {
            info!("{line}");
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
        Err("contained: nothing to break".into())
    }
}

davit_sdk::export_hook!(Attack);
