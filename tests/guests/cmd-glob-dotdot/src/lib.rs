//! Attack: under a grant like `/usr/bin/touch /srv/work/*` (a glob over host paths), climb out
//! with `..`, through a real subdirectory too, so the kernel would resolve it outside.

use attack_kit::{Tally, control, preopen};
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        let work = ctx.require_param("work")?;
        let made = format!("{work}/made");
        control(
            "touch <work>/made",
            command::run("/usr/bin/touch", &[made.as_str()]),
        )?;
        preopen("/work")?
            .create_directory_at("a")
            .map_err(|e| format!("mkdir a: {e:?}"))?;
        let mut tally = Tally::default();
        for rel in ["../pwned", "a/../../pwned", "./../pwned", "a/../../pwned/"] {
            let path = format!("{work}/{rel}");
            tally.denied(
                &format!("touch <work>/{rel}"),
                command::run("/usr/bin/touch", &[path.as_str()]),
            );
        }
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
