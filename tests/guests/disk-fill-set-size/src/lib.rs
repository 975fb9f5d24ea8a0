//! Attack: grow a file to a huge size in one call (`set-size`), without writing its bytes.

use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        let file = std::fs::File::create("/scratch/sparse.bin").map_err(|e| e.to_string())?;
        match file.set_len(1 << 40) {
            Ok(()) => Ok(()),
            Err(e) => Err(format!("contained: {e}")),
        }
    }
}

davit_sdk::export_hook!(Attack);
