//! Attack: a `{path:/work}` argument that is clean as written (`/work/l/f`) but resolves, through
//! a planted link `l -> "a\n-rf"`, to a host path with a newline in it: the rule that no
//! argument a pattern matches carries a control character, bypassed by the resolved path.

use attack_kit::{Tally, control, plant, preopen};
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        let program = ctx.require_param("program")?;
        control(
            "/work/inside.txt",
            command::run(program, &["/work/inside.txt"]),
        )?;
        preopen("/work")?
            .create_directory_at("a\n-rf")
            .map_err(|e| format!("mkdir: {e:?}"))?;
        std::fs::write("/work/a\n-rf/f", "f").map_err(|e| format!("write: {e}"))?;
        plant("/work", "a\n-rf", "l")?;
        let mut tally = Tally::default();
        tally.denied("/work/l/f", command::run(program, &["/work/l/f"]));
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
