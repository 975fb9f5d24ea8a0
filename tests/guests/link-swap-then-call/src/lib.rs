//! Attack: read `/work/r/secret` through the granted `/bin/cat {path:/work}` while `r` is a real
//! directory (allowed), then swap `r` for `r -> ..` and make the same call: the check must
//! happen at each call, on what the path is then.

use attack_kit::{Tally, control, plant, preopen};
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        let work = preopen("/work")?;
        work.create_directory_at("r")
            .map_err(|e| format!("mkdir r: {e:?}"))?;
        std::fs::write("/work/r/secret", "inside").map_err(|e| format!("write: {e}"))?;
        control(
            "cat /work/r/secret",
            command::run("/bin/cat", &["/work/r/secret"]),
        )?;
        work.rename_at("r", &work, "r.old")
            .map_err(|e| format!("rename: {e:?}"))?;
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
