//! Attack: hand the host a FIFO as a service's log file, so the host's open blocks for good.

use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        let marker = ctx.require_param("marker")?;
        match command::spawn("/bin/sleep", &[marker], Some("/work/fifo")) {
            Ok(pid) => Err(format!("started {pid} logging into the FIFO")),
            Err(e) => Err(format!("contained: {e:?}")),
        }
    }
}

davit_sdk::export_hook!(Attack);
