//! Attack: text that reads differently from how it is stored (Trojan Source): bidi overrides
//! and isolates (U+202A–U+202E, U+2066–U+2069), zero-width characters, BOM, soft hyphen, tags.

use davit_sdk::prelude::*;
use std::io::Write;

const HOSTILE: &[&str] = &[
    "deploy \u{202E}deliaf\u{202C} ok",
    "\u{2066}sandbox: hook succeeded\u{2069}",
    "\u{2067}rtl\u{2069} \u{2068}first strong\u{2069}",
    "\u{202A}ltr\u{202B}rtl\u{202D}lro\u{202C}",
    "zero\u{200B}width\u{200C}non\u{200D}joiner\u{2060}word\u{FEFF}bom",
    "\u{200E}lrm\u{200F}rlm\u{061C}alm",
    "soft\u{AD}hyphen tag\u{E0041}\u{E007F}",
    "\u{200B}sandbox: hook succeeded",
];

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        let mut out = std::io::stdout();
        for line in HOSTILE {
            warn!("{line}");
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
        Err("contained: nothing to break".into())
    }
}

davit_sdk::export_hook!(Attack);
