//! ApplicationStart: starts the web server, detached, and records its process id.
//!
//! Runs `/usr/bin/python3 -m http.server <port> --bind 127.0.0.1 --directory <target root><www_dir>`
//! through the host's `command` interface, with its output in `<state_dir>/server.log`, and writes
//! the process id to `<state_dir>/hello-web.pid` for ApplicationStop.
//!
//! Parameters: `port` (8080), `bind` (`127.0.0.1`), `www_dir` (`/opt/hello-web/www`),
//! `state_dir` (`/var/lib/hello-web`), `python` (`/usr/bin/python3`).
//! Grants: the command `/usr/bin/python3` with exactly those arguments, and read-write on
//! `state_dir`.

use std::fs;

use davit_sdk::prelude::*;

struct ApplicationStart;

impl Hook for ApplicationStart {
    fn run(ctx: HookContext) -> Result<(), String> {
        let port: u16 = ctx.param_parse_or("port", 8080)?;
        let bind = ctx.param_or("bind", "127.0.0.1");
        let python = ctx.param_or("python", "/usr/bin/python3");
        let www = ctx.target_path(ctx.param_or("www_dir", "/opt/hello-web/www"));
        let state_dir = ctx
            .param_or("state_dir", "/var/lib/hello-web")
            .trim_end_matches('/');
        let pid_file = format!("{state_dir}/hello-web.pid");
        let log_file = format!("{state_dir}/server.log");

        if let Ok(old) = fs::read_to_string(&pid_file) {
            warn!(
                "{pid_file} already names process {}: was ApplicationStop skipped?",
                old.trim()
            );
        }
        let port_arg = port.to_string();
        let args = [
            "-m",
            "http.server",
            &port_arg,
            "--bind",
            bind,
            "--directory",
            &www,
        ];
        info!("starting {python} {}", args.join(" "));
        let pid = command::spawn(python, &args, Some(&log_file))?;
        fs::write(&pid_file, format!("{pid}\n")).map_err(|e| {
            format!("started the server as process {pid}, but cannot write `{pid_file}`: {e}")
        })?;
        info!(
            "hello-web is process {pid}, serving {www} on http://{bind}:{port}/, log in {log_file}"
        );
        Ok(())
    }
}

davit_sdk::export_hook!(ApplicationStart);
