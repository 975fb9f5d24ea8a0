//! Attack: plant `svc.log -> ../x` in a read-write grant, then hand it to the host as a spawned
//! service's log file, so that the host creates or appends to `x` beside the grant.

use attack_kit::{Tally, plant};
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        plant("/work", "../x", "svc.log")?;
        let mut tally = Tally::default();
        let spawned = command::spawn("/bin/echo", &["pwned"], Some("/work/svc.log"));
        tally.denied("spawn with the log file `/work/svc.log` -> `../x`", spawned);
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
