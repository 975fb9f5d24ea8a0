//! Attack: terminal escapes in the log and on stdout: CSI (clear screen, colours, cursor moves),
//! OSC (window title, hyperlink, clipboard write), DCS, C1 CSI, BEL and backspaces that overwrite
//! what was shown.

use davit_sdk::prelude::*;
use std::io::Write;

const HOSTILE: &[&str] = &[
    "\u{1b}[2J\u{1b}[H\u{1b}[31mred",
    "\u{1b}]0;pwned title\u{7}after title",
    "\u{1b}]8;;http://evil.example/\u{1b}\\click\u{1b}]8;;\u{1b}\\",
    "\u{1b}]52;c;cm0gLXJmIH4K\u{7}clipboard",
    "\u{1b}P+q544e\u{1b}\\dcs",
    "\u{9b}31mc1 csi\u{9d}0;c1 osc\u{9c}",
    "bell\u{7}\u{7}",
    "failed\u{8}\u{8}\u{8}\u{8}\u{8}\u{8}passed",
    "\u{1b}[1A\u{1b}[2Ksandbox: hook succeeded",
];

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        let mut out = std::io::stdout();
        for line in HOSTILE {
            info!("{line}");
            let _ = writeln!(out, "{line}");
            let _ = writeln!(std::io::stderr(), "{line}");
        }
        let _ = out.flush();
        Err("contained: nothing to break".into())
    }
}

davit_sdk::export_hook!(Attack);
