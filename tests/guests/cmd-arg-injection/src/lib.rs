//! Attack: pass an argument outside the granted pattern to a granted program.

use davit_sdk::prelude::*;
struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        let allowed = command::run("/bin/echo", &["hello"]).map_err(|e| format!("granted command failed: {e:?}"))?;
        info!("granted: {}", allowed.stdout_lossy().trim());
        match command::run("/bin/echo", &["hello", "; rm -rf /"]) {
            Ok(_) => Ok(()),
            Err(e) => Err(format!("contained: {e:?}")),
        }
    }
}

davit_sdk::export_hook!(Attack);
