//! A complete hook: `cargo build --example hello-hook --target wasm32-wasip2 --release`.
//!
//! Parameters: `greeting` (optional). Grants: none.

use davit_sdk::prelude::*;

struct HelloHook;

impl Hook for HelloHook {
    fn run(ctx: HookContext) -> Result<(), String> {
        let greeting = ctx.param_or("greeting", "hello");
        let d = ctx.deployment().ok_or("this hook runs in a deployment")?;
        info!(
            "{greeting} from {} of deployment {} ({} to {})",
            ctx.step(),
            d.id,
            d.revision,
            d.deployment_group
        );
        if let Some(last) = &d.last_good_revision {
            debug!("replacing revision {last}");
        }
        Ok(())
    }
}

davit_sdk::export_hook!(HelloHook);
