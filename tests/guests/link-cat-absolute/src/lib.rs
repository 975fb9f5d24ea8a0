//! Attack: through the granted `/bin/cat {path:/work}`, read `/work/r/secret` where `r` is a link
//! to an absolute host directory (planted by an earlier step on the host).

use attack_kit::{Tally, control};
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        control(
            "cat /work/inside.txt",
            command::run("/bin/cat", &["/work/inside.txt"]),
        )?;
        let mut tally = Tally::default();
        tally.denied(
            "cat /work/r/secret",
            command::run("/bin/cat", &["/work/r/secret"]),
        );
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
