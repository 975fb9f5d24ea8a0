//! Attack: read the bundle when no directory is granted at all.

use davit_sdk::prelude::*;
struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        match std::fs::read_dir("/") {
            Ok(entries) => {
                let names: Vec<String> = entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
                if names.is_empty() {
                    Err("contained: `/` is empty".into())
                } else {
                    info!("escaped: / holds {names:?}");
                    Ok(())
                }
            }
            Err(e) => Err(format!("contained: {e}")),
        }
    }
}

davit_sdk::export_hook!(Attack);
