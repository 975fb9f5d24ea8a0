//! Attack: under a grant like `/bin/echo **`, slip options, empty or multi-line arguments among
//! the rest (`echo -e '\e]…'` interprets escapes; `**` checks each argument as `*` does).

use attack_kit::{Tally, control};
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        let program = ctx.param_or("program", "/bin/echo");
        control("ok fine", command::run(program, &["ok", "fine"]))?;
        let mut tally = Tally::default();
        let cases: [&[&str]; 6] = [
            &["-e", "\\e]0;pwned\\a"],
            &["ok", "-e"],
            &["-n"],
            &["--help"],
            &["ok", ""],
            &["ok", "a\nb"],
        ];
        for args in cases {
            tally.denied(&format!("{program} {args:?}"), command::run(program, args));
        }
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
