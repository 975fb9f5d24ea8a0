//! Attack: a read-only grant that the guest cannot change, but whose content holds a link out
//! (`root -> /`, as `ln -s / root` would leave it): read a host file through it with the granted
//! `/bin/cat {path:/data}`.

use attack_kit::{Tally, control, plant, preopen};
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        let secret = ctx.require_param("secret")?;
        control(
            "cat /data/keep.txt",
            command::run("/bin/cat", &["/data/keep.txt"]),
        )?;
        let data = preopen("/data")?;
        let mut tally = Tally::default();
        tally.refused("remove the link `root`", data.unlink_file_at("root"));
        tally.refused("plant `up -> ..`", plant("/data", "..", "up"));
        let path = format!("/data/root{secret}");
        tally.denied(
            &format!("cat {path}"),
            command::run("/bin/cat", &[path.as_str()]),
        );
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
