//! No attack: an action component (world `action`) that echoes what it was called with, for
//! the sandbox's host test of the action world. `Reboot` asks for a reboot, `Rerun` for a
//! reboot and a rerun, `Fail` fails.

use davit_sdk::prelude::*;
use davit_sdk::{Action, ActionNext, ActionResult};

struct Echo;
impl Action for Echo {
    fn execute(ctx: Context, action: &str, inputs: &str) -> Result<ActionResult, String> {
        let next = match action {
            "Reboot" => ActionNext::Reboot,
            "Rerun" => ActionNext::RebootAndRerun,
            "Fail" => return Err(format!("{} failed as asked", ctx.step())),
            _ => ActionNext::Proceed,
        };
        info!("{}: {action}", ctx.step());
        Ok(ActionResult {
            outputs: format!("{{\"action\":\"{action}\",\"inputs\":{inputs}}}"),
            next,
        })
    }
}

davit_sdk::export_action!(Echo);
