//! Attack: NUL in a program or argument, which C programs cut short (`1\0-1` is `1` to the
//! program, `-1` to nobody, but a checker that sees the whole string may be fooled the other
//! way): even `{any}` refuses it.

use attack_kit::{Tally, control};
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        let program = ctx.require_param("program")?;
        control("{any} -1", command::run(program, &["-1"]))?;
        let mut tally = Tally::default();
        tally.denied("{any} \"1\\0-1\"", command::run(program, &["1\0-1"]));
        tally.denied("{any} \"\\0\"", command::run(program, &["\0"]));
        tally.denied("-0 \"1\\0\"", command::run(program, &["-0", "1\0"]));
        let with_nul = format!("{program}\0/../x");
        tally.denied("program with NUL", command::run(&with_nul, &["-1"]));
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
