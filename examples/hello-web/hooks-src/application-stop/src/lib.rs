//! ApplicationStop: forgets the web server that ApplicationStart started.
//!
//! davit itself stops the server: it recorded the process when ApplicationStart spawned it, and
//! stops exactly that process (SIGTERM, then SIGKILL) right after this hook, so this hook needs
//! no `kill` grant. It removes the pid file ApplicationStart wrote, so that the next
//! ApplicationStart does not mistake it for a server that is still running.
//!
//! Parameters: `state_dir` (`/var/lib/hello-web`).
//! Grants: read-write on `state_dir`.

use std::fs;
use std::io::ErrorKind;

use davit_sdk::prelude::*;

struct ApplicationStop;

impl Hook for ApplicationStop {
    fn run(ctx: HookContext) -> Result<(), String> {
        let state_dir = ctx
            .param_or("state_dir", "/var/lib/hello-web")
            .trim_end_matches('/');
        let pid_file = format!("{state_dir}/hello-web.pid");
        match fs::remove_file(&pid_file) {
            Ok(()) => info!("removed {pid_file}; davit stops the server it recorded"),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                info!("no {pid_file}: hello-web was not started")
            }
            Err(e) => return Err(format!("cannot remove `{pid_file}`: {e}")),
        }
        Ok(())
    }
}

davit_sdk::export_hook!(ApplicationStop);
