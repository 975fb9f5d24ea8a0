//! Attack: plant `d -> ..` in a read-write grant, then create a file, a directory and a
//! truncated file beside the grant through it.

use attack_kit::{Tally, plant, preopen};
use davit_sdk::prelude::*;
use wasip2::filesystem::types::{DescriptorFlags, OpenFlags, PathFlags};

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        plant("/work", "..", "d")?;
        plant("/work", "../pwned-link-target", "n")?;
        let work = preopen("/work")?;
        let mut tally = Tally::default();
        tally.refused("write /work/d/pwned", std::fs::write("/work/d/pwned", "x"));
        tally.refused(
            "mkdir /work/d/pwned-dir",
            std::fs::create_dir("/work/d/pwned-dir"),
        );
        tally.refused(
            "open_at(create) d/pwned-open",
            work.open_at(
                PathFlags::SYMLINK_FOLLOW,
                "d/pwned-open",
                OpenFlags::CREATE,
                DescriptorFlags::WRITE,
            ),
        );
        tally.refused(
            "open_at(create, follow) n (a dangling link out)",
            work.open_at(
                PathFlags::SYMLINK_FOLLOW,
                "n",
                OpenFlags::CREATE,
                DescriptorFlags::WRITE,
            ),
        );
        tally.refused(
            "open_at(truncate) d/keep",
            work.open_at(
                PathFlags::SYMLINK_FOLLOW,
                "d/keep",
                OpenFlags::TRUNCATE,
                DescriptorFlags::WRITE,
            ),
        );
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
