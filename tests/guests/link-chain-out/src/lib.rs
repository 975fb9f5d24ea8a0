//! Attack: a chain of relative links, each of which looks local (`l1 -> sub/l2`,
//! `sub/l2 -> ../l3`, `l3 -> sub/../..`), that ends outside the grant; read through it with the
//! granted `/bin/cat {path:/work}`.

use attack_kit::{Tally, control, plant, preopen};
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        control(
            "cat /work/inside.txt",
            command::run("/bin/cat", &["/work/inside.txt"]),
        )?;
        preopen("/work")?
            .create_directory_at("sub")
            .map_err(|e| format!("mkdir sub: {e:?}"))?;
        plant("/work", "sub/l2", "l1")?;
        plant("/work", "../l3", "sub/l2")?;
        plant("/work", "sub/../..", "l3")?;
        let mut tally = Tally::default();
        tally.denied(
            "cat /work/l1/secret",
            command::run("/bin/cat", &["/work/l1/secret"]),
        );
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
