//! Built-in hook `command`: runs one native command through the host, for hooks that used to be
//! shell scripts like `systemctl restart app`.
//!
//! Parameters: `program` (absolute path, required); `args` (one string, split on white space,
//! with `"double quotes"` around an argument that has spaces) or `arg1`, `arg2`, … (one argument
//! each), where `{target-root}` stands for the target root; `spawn` (`true` to start a long-running service and return at once) and `log_file` (where
//! a spawned service's output goes). A command that exits with status 194 has succeeded and
//! asks for a reboot before the next event.

use davit_sdk::prelude::*;

mod args;

/// The exit status with which a command asks for a reboot.
const REBOOT_EXIT: i32 = 194;

struct Command;

impl Hook for Command {
    fn run(ctx: HookContext) -> Result<(), String> {
        let program = ctx.require_param("program")?;
        if !program.starts_with('/') {
            return Err(format!(
                "parameter `program`: `{program}` is not an absolute path"
            ));
        }
        let args = args::from_params(&ctx)?;
        let spawn = ctx.param_bool("spawn", false)?;
        let log_file = ctx.param("log_file").filter(|f| !f.is_empty());
        if log_file.is_some() && !spawn {
            return Err("parameter `log_file` only applies with `spawn: true`".to_string());
        }
        let shown = args::display(program, &args);

        if spawn {
            info!("starting `{shown}`");
            let pid =
                command::spawn(program, &args, log_file).map_err(|e| format!("`{shown}`: {e}"))?;
            match log_file {
                Some(file) => info!("started `{shown}` as process {pid}, output in {file}"),
                None => info!("started `{shown}` as process {pid}"),
            }
            return Ok(());
        }

        info!("running `{shown}`");
        let output = command::run(program, &args).map_err(|e| format!("`{shown}`: {e}"))?;
        for line in output
            .stdout_lossy()
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            info!("stdout: {line}");
        }
        for line in output
            .stderr_lossy()
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            warn!("stderr: {line}");
        }
        if output.truncated {
            warn!("output passed the hook's output limit and was cut");
        }
        // AWSTOE's and SSM's convention, as for a native script hook: done, reboot first.
        if output.status == Some(REBOOT_EXIT) {
            info!("`{shown}` exited with {REBOOT_EXIT}: asking for a reboot before the next event");
            reboot::request();
            return Ok(());
        }
        output.ensure_success(&shown)?;
        info!("`{shown}` succeeded");
        Ok(())
    }
}

davit_sdk::export_hook!(Command);
