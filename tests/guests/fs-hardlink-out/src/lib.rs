//! Attack: hard-link a file from outside the grant into it (`link-at ../secret`, and through a
//! planted `up -> ..`), to read or keep it once the grant is gone.

use attack_kit::{Tally, plant, preopen};
use davit_sdk::prelude::*;
use wasip2::filesystem::types::PathFlags;

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        plant("/work", "..", "up")?;
        let work = preopen("/work")?;
        let mut tally = Tally::default();
        tally.refused(
            "link ../secret as stolen",
            work.link_at(PathFlags::empty(), "../secret", &work, "stolen"),
        );
        tally.refused(
            "link up/secret as stolen2 (following links)",
            work.link_at(PathFlags::SYMLINK_FOLLOW, "up/secret", &work, "stolen2"),
        );
        tally.refused(
            "link inside.txt as up/planted",
            work.link_at(PathFlags::empty(), "inside.txt", &work, "up/planted"),
        );
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
