//! Attack: plant a symlink to an absolute host path in a read-write grant, for another program to follow.

use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        let dirs = wasip2::filesystem::preopens::get_directories();
        let (dir, _) = dirs
            .iter()
            .find(|(_, path)| path == "/work")
            .ok_or("no `/work` preopen")?;
        match dir.symlink_at("/etc/shadow", "shadow-link") {
            Ok(()) => Ok(()),
            Err(e) => Err(format!("contained: {e:?}")),
        }
    }
}

davit_sdk::export_hook!(Attack);
