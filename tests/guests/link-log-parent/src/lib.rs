//! Attack: a spawned service's log file whose parent directory is a link out of the grant: one
//! the guest plants (`logs -> ..`) and one to an absolute path an earlier step planted
//! (`abslogs -> /…`).

use attack_kit::{Tally, plant};
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        plant("/work", "..", "logs")?;
        let mut tally = Tally::default();
        for log in ["/work/logs/svc.log", "/work/abslogs/svc.log"] {
            let spawned = command::spawn("/bin/echo", &["pwned"], Some(log));
            tally.denied(&format!("spawn with the log file `{log}`"), spawned);
        }
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
