//! Attack: under a grant like `/bin/kill -0 *`, pass the empty argument where `*` stands (many
//! programs read `""` as the current directory or as "all"), or one argument too few or many.

use attack_kit::{Tally, control};
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        let program = ctx.param_or("program", "/bin/kill");
        let allowed = ctx.require_param("control")?;
        control("-0 <control>", command::run(program, &["-0", allowed]))?;
        let mut tally = Tally::default();
        tally.denied("-0 ''", command::run(program, &["-0", ""]));
        tally.denied("-0 (nothing)", command::run(program, &["-0"]));
        tally.denied(
            "-0 <control> ''",
            command::run(program, &["-0", allowed, ""]),
        );
        tally.denied("'' <control>", command::run(program, &["", allowed]));
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
