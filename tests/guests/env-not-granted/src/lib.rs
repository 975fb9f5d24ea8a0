//! Attack: read environment variables the host has but did not grant.

use davit_sdk::prelude::*;
struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        let all: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
        info!("visible: {all:?}");
        match std::env::var("DAVIT_TEST_SECRET") {
            Ok(v) => {
                info!("escaped: {v}");
                Ok(())
            }
            Err(e) => Err(format!("contained: {e}")),
        }
    }
}

davit_sdk::export_hook!(Attack);
