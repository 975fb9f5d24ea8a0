//! Attack: run a shell, which no grant allows.

use davit_sdk::prelude::*;
struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        match command::run("/bin/sh", &["-c", "id > /tmp/davit-pwned"]) {
            Ok(_) => Ok(()),
            Err(e) => Err(format!("contained: {e:?}")),
        }
    }
}

davit_sdk::export_hook!(Attack);
