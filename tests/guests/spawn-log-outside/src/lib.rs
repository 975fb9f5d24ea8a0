//! Attack: start a process whose log file is outside any read-write grant.

use davit_sdk::prelude::*;
struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        match command::spawn("/bin/sleep", &["1"], Some("/etc/davit-pwned.log")) {
            Ok(_) => Ok(()),
            Err(e) => Err(format!("contained: {e:?}")),
        }
    }
}

davit_sdk::export_hook!(Attack);
