//! Attack: start services the host might lose track of: two granted ones (one with a log file),
//! one denied, so that the host's record must name exactly the two it started.

use attack_kit::Tally;
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        let first = ctx.require_param("first")?;
        let second = ctx.require_param("second")?;
        for (marker, log) in [(first, None), (second, Some("/work/svc.log"))] {
            let pid = command::spawn("/bin/sleep", &[marker], log).map_err(|e| format!("{e:?}"))?;
            info!("started {pid}");
        }
        let mut tally = Tally::default();
        tally.denied(
            "spawn /bin/sleep 7",
            command::spawn("/bin/sleep", &["7"], None),
        );
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
