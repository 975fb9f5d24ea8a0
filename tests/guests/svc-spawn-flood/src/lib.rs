//! Attack: start 200 detached services from one hook, every one meant to outlive it.

use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        let marker = ctx.require_param("marker")?;
        let count: u32 = ctx.param_parse_or("count", 200)?;
        let (mut started, mut denied) = (0, 0);
        for _ in 0..count {
            match command::spawn("/bin/sleep", &[marker], None) {
                Ok(pid) => {
                    started += 1;
                    info!("started {pid}");
                }
                Err(command::CommandError::Denied(_)) => denied += 1,
                Err(e) => return Err(format!("spawn failed: {e:?}")),
            }
        }
        if started == count {
            info!("escaped: all {count} services started");
            return Ok(());
        }
        Err(format!("contained: started {started}, denied {denied}"))
    }
}

davit_sdk::export_hook!(Attack);
