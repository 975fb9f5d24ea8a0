//! Attack: start services, then end the hook by a fault (`end=trap`: a panic; `end=loop`: a spin
//! past the timeout), hoping the host keeps no record of what was started.

use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        let marker = ctx.require_param("marker")?;
        for _ in 0..2 {
            let pid =
                command::spawn("/bin/sleep", &[marker], None).map_err(|e| format!("{e:?}"))?;
            info!("started {pid}");
        }
        match ctx.param_or("end", "trap") {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            _ => panic!("gone before anyone looks"),
        }
    }
}

davit_sdk::export_hook!(Attack);
