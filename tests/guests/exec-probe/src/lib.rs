//! Attacks from inside an image's root filesystem: runs `/bin/bash -c SCRIPT` (parameter
//! `script`) through the host's `command` interface and logs `status=N` and each line it
//! printed as `out: …`. The host test gives it a root to run in (`Grants::exec_root`) and checks
//! on the host that the script reached nothing outside it: files, processes, the network.

use davit_sdk::prelude::*;

struct Probe;
impl Hook for Probe {
    fn run(ctx: HookContext) -> Result<(), String> {
        let script = ctx.require_param("script")?;
        let out = command::run("/bin/bash", &["-c", script]).map_err(String::from)?;
        info!("status={}", out.status.map_or("signal".into(), |s| s.to_string()));
        for line in out.stdout_lossy().lines() {
            info!("out: {line}");
        }
        for line in out.stderr_lossy().lines() {
            info!("err: {line}");
        }
        Ok(())
    }
}

davit_sdk::export_hook!(Probe);
