//! Attack: open a FIFO someone left in the grant, so the host's file system call blocks for
//! good and the hook outlives its timeout.

use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        match std::fs::read("/work/fifo") {
            Ok(bytes) => Err(format!("read {} bytes from the FIFO", bytes.len())),
            Err(e) => Err(format!("contained: {e}")),
        }
    }
}

davit_sdk::export_hook!(Attack);
