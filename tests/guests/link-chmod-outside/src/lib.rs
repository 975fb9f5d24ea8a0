//! Attack: make the granted `/bin/chmod 666 {path:/work}` change the mode of a file outside the
//! grant, through a last-component link (`s -> ../secret`) and a directory link (`d -> ..`).

use attack_kit::{Tally, control, plant};
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        control(
            "chmod 666 /work/mine",
            command::run("/bin/chmod", &["666", "/work/mine"]),
        )?;
        plant("/work", "../secret", "s")?;
        plant("/work", "..", "d")?;
        let mut tally = Tally::default();
        for path in ["/work/s", "/work/d/secret"] {
            tally.denied(
                &format!("chmod 666 {path}"),
                command::run("/bin/chmod", &["666", path]),
            );
        }
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
