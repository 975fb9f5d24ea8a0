//! Attack: fill the disk through a read-write grant, one write after another.

use std::io::Write;

use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        let mut file = std::fs::File::create("/scratch/fill.bin").map_err(|e| e.to_string())?;
        let chunk = vec![7u8; 64 << 10];
        let mut written = 0u64;
        loop {
            if let Err(e) = file.write_all(&chunk) {
                return Err(format!("contained after {written} bytes: {e}"));
            }
            written += chunk.len() as u64;
        }
    }
}

davit_sdk::export_hook!(Attack);
