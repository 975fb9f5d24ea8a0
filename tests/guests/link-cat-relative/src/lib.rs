//! Attack: through the granted `/bin/cat {path:/work}`, read `/work/r/secret` after planting
//! `r -> ..`: the secret beside the grant.

use attack_kit::{Tally, control, plant};
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        control(
            "cat /work/inside.txt",
            command::run("/bin/cat", &["/work/inside.txt"]),
        )?;
        plant("/work", "..", "r")?;
        let mut tally = Tally::default();
        tally.denied(
            "cat /work/r/secret",
            command::run("/bin/cat", &["/work/r/secret"]),
        );
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
