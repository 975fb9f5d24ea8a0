//! Attack: make the granted `/usr/bin/touch {path:/work}` create files outside the grant, through
//! a planted directory link (`d -> ..`) and a dangling last-component link (`n -> ../pwned2`).

use attack_kit::{Tally, control, plant};
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        control(
            "touch /work/made",
            command::run("/usr/bin/touch", &["/work/made"]),
        )?;
        plant("/work", "..", "d")?;
        plant("/work", "../pwned2", "n")?;
        let mut tally = Tally::default();
        for path in ["/work/d/pwned", "/work/n"] {
            tally.denied(
                &format!("touch {path}"),
                command::run("/usr/bin/touch", &[path]),
            );
        }
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
