//! Attack: move files across the grant's edge: a file out through a planted `out -> ..` or with
//! `..`, and a file from outside in (taking it away from where it was).

use attack_kit::{Tally, plant, preopen};
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        plant("/work", "..", "out")?;
        std::fs::write("/work/mine", "mine").map_err(|e| format!("write: {e}"))?;
        let work = preopen("/work")?;
        let mut tally = Tally::default();
        tally.refused(
            "rename mine to out/mine",
            work.rename_at("mine", &work, "out/mine"),
        );
        tally.refused(
            "rename mine to ../mine",
            work.rename_at("mine", &work, "../mine"),
        );
        tally.refused(
            "rename out/secret to stolen",
            work.rename_at("out/secret", &work, "stolen"),
        );
        tally.refused(
            "rename ../secret to stolen2",
            work.rename_at("../secret", &work, "stolen2"),
        );
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
