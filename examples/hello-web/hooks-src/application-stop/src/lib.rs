//! ApplicationStop: stops the web server that ApplicationStart started, if it is running.
//!
//! Reads the process id from `<state_dir>/hello-web.pid`, sends it SIGTERM with `/bin/kill`, waits
//! until it has exited (checking with `/bin/kill -0`), then removes the pid file. Succeeds when there
//! is no pid file or the process is already gone: nothing is running.
//!
//! Parameters: `state_dir` (`/var/lib/hello-web`), `stop_timeout_ms` (10000).
//! Grants: the command `/bin/kill` with arguments `-TERM <pid>` and `-0 <pid>` (a number), and
//! read-write on `state_dir`.

use std::fs;
use std::io::ErrorKind;
use std::time::{Duration, Instant};

use davit_sdk::prelude::*;
use davit_sdk::retry::sleep;

const KILL: &str = "/bin/kill";

struct ApplicationStop;

impl Hook for ApplicationStop {
    fn run(ctx: HookContext) -> Result<(), String> {
        let state_dir = ctx
            .param_or("state_dir", "/var/lib/hello-web")
            .trim_end_matches('/');
        let timeout = Duration::from_millis(ctx.param_parse_or("stop_timeout_ms", 10_000)?);
        let pid_file = format!("{state_dir}/hello-web.pid");

        let text = match fs::read_to_string(&pid_file) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                info!("no {pid_file}: hello-web is not running");
                return Ok(());
            }
            Err(e) => return Err(format!("cannot read `{pid_file}`: {e}")),
        };
        let pid: u32 = text
            .trim()
            .parse()
            .map_err(|_| format!("`{pid_file}` does not hold a process id: `{}`", text.trim()))?;
        let pid_arg = pid.to_string();

        if alive(&pid_arg)? {
            info!("stopping hello-web, process {pid}");
            let out = command::run(KILL, &["-TERM", &pid_arg])?;
            if !out.success() && alive(&pid_arg)? {
                return Err(format!("cannot stop process {pid}: {}", out.stderr_tail(2)));
            }
            let start = Instant::now();
            while alive(&pid_arg)? {
                if start.elapsed() >= timeout {
                    return Err(format!(
                        "process {pid} is still running {} ms after SIGTERM",
                        timeout.as_millis()
                    ));
                }
                sleep(Duration::from_millis(100));
            }
            info!("process {pid} has exited");
        } else {
            info!("process {pid} from {pid_file} is not running");
        }
        fs::remove_file(&pid_file).map_err(|e| format!("cannot remove `{pid_file}`: {e}"))?;
        Ok(())
    }
}

/// Whether process `pid` still exists (`kill -0` succeeds).
fn alive(pid: &str) -> Result<bool, String> {
    Ok(command::run(KILL, &["-0", pid])?.success())
}

davit_sdk::export_hook!(ApplicationStop);
