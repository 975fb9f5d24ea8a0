//! The `davit:plugin/command` host interface: native commands, only as granted.
//!
//! No shell is ever involved: the program path and every argument are checked against the
//! hook's command grants exactly as the guest passed them. The child gets an empty environment
//! but for the granted variables and a fixed `PATH`, `/dev/null` as stdin, and its own process
//! group, which is killed when the hook's time runs out.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::AsyncReadExt;

use crate::bindings::command::{CommandError, Host, Output};
use crate::grants::Access;
use crate::state::HookState;

const SAFE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl HookState {
    fn command_allowed(&self, program: &str, args: &[String]) -> Result<(), CommandError> {
        if self
            .grants
            .commands
            .iter()
            .any(|grant| grant.allows(program, args))
        {
            return Ok(());
        }
        let shown = std::iter::once(program.to_string())
            .chain(args.iter().map(|a| format!("{a:?}")))
            .collect::<Vec<_>>()
            .join(" ");
        self.sink.line(
            crate::Stream::Warn,
            &format!("sandbox: command denied: `{shown}` is not in the hook's command grants"),
        );
        Err(CommandError::Denied(format!(
            "`{shown}` is not allowed by the hook's command grants"
        )))
    }

    fn base_command(&self, program: &str, args: &[String]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("PATH", SAFE_PATH)
            .envs(self.grants.env.iter().map(|(k, v)| (k, v)))
            .current_dir("/")
            .stdin(Stdio::null());
        cmd
    }

    /// Maps a guest path under a read-write mount to its host path.
    fn writable_host_path(&self, guest: &str) -> Option<PathBuf> {
        let path = std::path::Path::new(guest);
        if !path.is_absolute() || path.components().any(|c| c.as_os_str() == "..") {
            return None;
        }
        self.grants
            .mounts
            .iter()
            .filter(|m| m.access == Access::ReadWrite)
            .find_map(|m| {
                let rest = path.strip_prefix(&m.guest).ok()?;
                Some(m.host.join(rest))
            })
    }
}

impl Host for HookState {
    async fn run(
        &mut self,
        program: String,
        args: Vec<String>,
    ) -> wasmtime::Result<Result<Output, CommandError>> {
        if let Err(denied) = self.command_allowed(&program, &args) {
            return Ok(Err(denied));
        }
        let mut cmd = self.base_command(&program, &args);
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => return Ok(Err(CommandError::SpawnFailed(format!("`{program}`: {e}")))),
        };
        let mut guard = GroupKiller(child.id());
        let cap = self.grants.limits.output;
        let (out, err) = (child.stdout.take(), child.stderr.take());
        let readers =
            tokio::spawn(async move { tokio::join!(read_capped(out, cap), read_capped(err, cap)) });
        let status = child
            .wait()
            .await
            .map_err(|e| wasmtime::format_err!("waiting for `{program}`: {e}"))?;
        // The command is done. Whatever it left running in its process group would hold our
        // pipes open and hang the hook (the classic CodeDeploy hang): end it. Daemons are
        // started with `spawn`, which puts them in their own session.
        guard.kill();
        let ((stdout, cut_out), (stderr, cut_err)) = readers
            .await
            .map_err(|e| wasmtime::format_err!("reading output of `{program}`: {e}"))?;
        Ok(Ok(Output {
            status: status.code(),
            stdout,
            stderr,
            truncated: cut_out || cut_err,
        }))
    }

    async fn spawn(
        &mut self,
        program: String,
        args: Vec<String>,
        log_file: Option<String>,
    ) -> wasmtime::Result<Result<u32, CommandError>> {
        if let Err(denied) = self.command_allowed(&program, &args) {
            return Ok(Err(denied));
        }
        let (stdout, stderr) = match &log_file {
            None => (Stdio::null(), Stdio::null()),
            Some(guest) => {
                let Some(host) = self.writable_host_path(guest) else {
                    return Ok(Err(CommandError::Denied(format!(
                        "log file `{guest}` is not under a read-write directory grant"
                    ))));
                };
                let opened = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&host)
                    .and_then(|file| Ok((file.try_clone()?, file)));
                match opened {
                    Ok((out, err)) => (Stdio::from(out), Stdio::from(err)),
                    Err(e) => {
                        return Ok(Err(CommandError::SpawnFailed(format!(
                            "log file `{guest}`: {e}"
                        ))));
                    }
                }
            }
        };
        let mut cmd = self.base_command(&program, &args);
        cmd.stdout(stdout).stderr(stderr);
        // Its own session: no controlling terminal, not killed with the hook, not waited for.
        // SAFETY: `setsid` is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        match cmd.spawn() {
            Ok(mut child) => {
                let pid = child.id().unwrap_or_default();
                // Reap it when it ends so a long-lived agent collects no zombies.
                tokio::spawn(async move {
                    let _ = child.wait().await;
                });
                self.sink.line(
                    crate::Stream::Info,
                    &format!("sandbox: started `{program}` as pid {pid}, detached"),
                );
                Ok(Ok(pid))
            }
            Err(e) => Ok(Err(CommandError::SpawnFailed(format!("`{program}`: {e}")))),
        }
    }
}

/// Kills a command's process group once, when told to or when the hook's future is dropped.
struct GroupKiller(Option<u32>);

impl GroupKiller {
    fn kill(&mut self) {
        if let Some(pid) = self.0.take() {
            // SAFETY: plain syscall; a group that has already ended yields ESRCH, ignored.
            unsafe {
                libc::kill(-(pid as i32), libc::SIGKILL);
            }
        }
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn read_capped<R: tokio::io::AsyncRead + Unpin>(
    reader: Option<R>,
    cap: u64,
) -> (Vec<u8>, bool) {
    let Some(mut reader) = reader else {
        return (Vec::new(), false);
    };
    let mut kept = Vec::new();
    let mut cut = false;
    let mut buf = [0u8; 8192];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = (cap as usize).saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                cut |= n > room;
            }
        }
    }
    (kept, cut)
}
