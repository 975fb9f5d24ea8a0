//! Attack: fill the disk with positioned writes (`descriptor.write`), not through a stream.

use davit_sdk::prelude::*;
use wasip2::filesystem::types::{DescriptorFlags, OpenFlags, PathFlags};

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        let (dir, _) = wasip2::filesystem::preopens::get_directories()
            .into_iter()
            .find(|(_, path)| path == "/scratch")
            .ok_or("no /scratch")?;
        let file = dir
            .open_at(
                PathFlags::empty(),
                "fill.bin",
                OpenFlags::CREATE,
                DescriptorFlags::WRITE,
            )
            .map_err(|e| format!("{e:?}"))?;
        let chunk = vec![7u8; 64 << 10];
        let mut offset = 0u64;
        loop {
            match file.write(&chunk, offset) {
                Ok(n) => offset += n,
                Err(e) => return Err(format!("contained after {offset} bytes: {e:?}")),
            }
        }
    }
}

davit_sdk::export_hook!(Attack);
