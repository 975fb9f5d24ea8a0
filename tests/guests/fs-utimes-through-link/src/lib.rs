//! Attack: change the times of a file outside the grant (`set-times-at` through a planted
//! `s -> ../secret`, and on `../secret` itself), the one metadata change WASI 0.2 offers.

use attack_kit::{Tally, plant, preopen};
use davit_sdk::prelude::*;
use wasip2::clocks::wall_clock::Datetime;
use wasip2::filesystem::types::{NewTimestamp, PathFlags};

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        plant("/work", "../secret", "s")?;
        let work = preopen("/work")?;
        let epoch = || {
            NewTimestamp::Timestamp(Datetime {
                seconds: 0,
                nanoseconds: 0,
            })
        };
        let mut tally = Tally::default();
        tally.refused(
            "set-times-at s (following the link)",
            work.set_times_at(PathFlags::SYMLINK_FOLLOW, "s", epoch(), epoch()),
        );
        tally.refused(
            "set-times-at ../secret",
            work.set_times_at(PathFlags::empty(), "../secret", epoch(), epoch()),
        );
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
