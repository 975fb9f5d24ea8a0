//! No attack: a hook that asks for a reboot (`ok(next::reboot)`), for the lifecycle's and the
//! agent's reboot tests. With parameter `fail=yes` it asks, then fails: the request is dropped.

use davit_sdk::prelude::*;
struct Reboot;
impl Hook for Reboot {
    fn run(ctx: HookContext) -> Result<(), String> {
        info!("{}: asking for a reboot", ctx.step());
        reboot::request();
        match ctx.param("fail") {
            Some("yes") => Err("asked for a reboot, then failed".into()),
            _ => Ok(()),
        }
    }
}

davit_sdk::export_hook!(Reboot);
