//! Attack: start a service hoping it inherits the host's resource limits (unbounded descriptors,
//! core dumps of a process that holds secrets).

use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        let marker = ctx.require_param("marker")?;
        let pid = command::spawn("/bin/sleep", &[marker], None).map_err(|e| format!("{e:?}"))?;
        info!("started {pid}");
        Err("contained: only the host can tell its limits".into())
    }
}

davit_sdk::export_hook!(Attack);
