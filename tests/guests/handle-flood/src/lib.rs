//! Attack: open the same granted file again and again, keeping every handle, to fill the host's
//! resource table (host memory outside the guest's linear memory).

use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        let mut open = Vec::new();
        loop {
            match std::fs::File::open("/data/keep.txt") {
                Ok(file) => open.push(file),
                Err(e) => return Err(format!("contained after {} handles: {e}", open.len())),
            }
        }
    }
}

davit_sdk::export_hook!(Attack);
