//! Attack: through the granted `/bin/cat {path:/work}`, read `/work/s`, a link planted as the
//! last component (`s -> ../secret`).

use attack_kit::{Tally, control, plant};
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        control(
            "cat /work/inside.txt",
            command::run("/bin/cat", &["/work/inside.txt"]),
        )?;
        plant("/work", "../secret", "s")?;
        let mut tally = Tally::default();
        tally.denied("cat /work/s", command::run("/bin/cat", &["/work/s"]));
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
