//! Not an attack: the smallest useful hook, one log line naming its event and deployment (the
//! `echo` of a shell hook). The benchmark in runtime/sandbox/benches/hooks.rs times it.

use davit_sdk::prelude::*;
struct LogLine;
impl Hook for LogLine {
    fn run(ctx: HookContext) -> Result<(), String> {
        let id = ctx.deployment().map_or("no deployment", |d| d.id.as_str());
        info!("{}: hello from {id}", ctx.step());
        Ok(())
    }
}

davit_sdk::export_hook!(LogLine);
