//! Attack: under a grant like `/bin/kill -0 *`, pass `*` arguments with control characters:
//! `1\n-1` (a second line a program that reads lines takes as an option), a carriage return, a
//! tab, an escape sequence, C1 `NEL`.

use attack_kit::{Tally, control};
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        let program = ctx.param_or("program", "/bin/kill");
        let allowed = ctx.require_param("control")?;
        control("-0 <control>", command::run(program, &["-0", allowed]))?;
        let mut tally = Tally::default();
        for arg in ["1\n-1", "1\r", "1\t2", "\u{1b}[2J1", "1\u{85}-1", "1\u{7f}"] {
            tally.denied(&format!("-0 {arg:?}"), command::run(program, &["-0", arg]));
        }
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
