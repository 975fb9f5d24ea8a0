//! Attack: under a grant like `/bin/kill -0 *`, pass option-like arguments where `*` stands:
//! `kill -0 -1` (every process), `--`, `-9`, `--pid=1`.

use attack_kit::{Tally, control};
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        let program = ctx.param_or("program", "/bin/kill");
        let allowed = ctx.require_param("control")?;
        control("-0 <control>", command::run(program, &["-0", allowed]))?;
        let mut tally = Tally::default();
        for arg in ["-1", "--", "-9", "--pid=1", "-"] {
            tally.denied(
                &format!("{program} -0 {arg}"),
                command::run(program, &["-0", arg]),
            );
        }
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
