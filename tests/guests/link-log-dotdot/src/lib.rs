//! Attack: a spawned service's log file that climbs out of its read-write grant with `..`,
//! through a real subdirectory too, so the kernel alone would resolve it outside.

use attack_kit::{Tally, preopen};
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        preopen("/work")?
            .create_directory_at("sub")
            .map_err(|e| format!("mkdir sub: {e:?}"))?;
        let mut tally = Tally::default();
        for log in [
            "/work/../x",
            "/work/./../x",
            "/work/sub/../../x",
            "/work//../x",
        ] {
            let spawned = command::spawn("/bin/echo", &["pwned"], Some(log));
            tally.denied(&format!("spawn with the log file `{log}`"), spawned);
        }
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
