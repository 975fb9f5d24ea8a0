//! Attack: use a link to an absolute host path (`svc.log -> /…/x`, planted by an earlier step on
//! the host, since the guest cannot plant one itself) as a spawned service's log file.

use attack_kit::{Tally, plant};
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        let outside = ctx.require_param("outside")?;
        let mut tally = Tally::default();
        tally.refused(
            "plant `own.log` -> the absolute path",
            plant("/work", outside, "own.log"),
        );
        let spawned = command::spawn("/bin/echo", &["pwned"], Some("/work/svc.log"));
        tally.denied(
            "spawn with the log file `/work/svc.log` -> an absolute path",
            spawned,
        );
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
