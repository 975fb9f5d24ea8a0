//! Attack: pass an option, an empty or multi-line argument, or a relative path where a
//! `{path:/work}` argument stands, so the program reads it as something else than a file.

use attack_kit::{Tally, control};
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        let program = ctx.require_param("program")?;
        control("/work/x", command::run(program, &["/work/x"]))?;
        let mut tally = Tally::default();
        for arg in [
            "-rf",
            "--help",
            "-/work/x",
            "",
            "/work/x\n-rf",
            "work/x",
            "/work/x/../../etc",
        ] {
            tally.denied(&format!("{arg:?}"), command::run(program, &[arg]));
        }
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
