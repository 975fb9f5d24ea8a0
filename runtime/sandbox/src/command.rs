//! The `davit:plugin/command` host interface: native commands, only as granted.
//!
//! No shell is ever involved: the program path and every argument are checked against the
//! hook's command grants exactly as the guest passed them. The child gets an empty environment
//! but for the granted variables and a fixed `PATH`, `/dev/null` as stdin, and its own process
//! group, which is killed when the hook's time runs out.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::AsyncReadExt;

use crate::bindings::command::{CommandError, Host, Output};
use crate::grants::{Access, Mount};
use crate::record::Effect;
use crate::service::Service;
use crate::state::HookState;

const SAFE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl HookState {
    /// The arguments to run `program` with, if a command grant allows it: `{path:DIR}`
    /// arguments replaced by the real host path they resolve to beneath their granted
    /// directory (links followed, never out of it).
    fn command_allowed(&self, program: &str, args: &[String]) -> Result<Vec<String>, CommandError> {
        let Some(paths) = self
            .grants
            .commands
            .iter()
            .find_map(|grant| grant.allows(program, args))
        else {
            let shown = shown(program, args);
            return Err(self.deny(format!(
                "`{shown}` is not allowed by the hook's command grants"
            )));
        };
        let mut args = args.to_vec();
        // Inside an image's root filesystem the command sees the guest's paths as they are.
        if self.grants.exec_root.is_some() {
            return Ok(args);
        }
        for path in paths {
            let arg = &args[path.index];
            let resolved = self
                .resolve_path_arg(arg, path.under.as_str())
                .map_err(|why| {
                    self.deny(format!(
                        "argument {} `{arg}` of `{program}`: {why}",
                        path.index + 1
                    ))
                })?;
            args[path.index] = resolved.into_os_string().into_string().map_err(|_| {
                self.deny(format!(
                    "argument {} of `{program}` is not UTF-8 on the host",
                    path.index + 1
                ))
            })?;
        }
        Ok(args)
    }

    /// Logs a refusal as a `sandbox:` line and returns it for the guest.
    fn deny(&self, message: String) -> CommandError {
        self.sink.line(
            crate::Stream::Warn,
            &format!("sandbox: command denied: {message}"),
        );
        CommandError::Denied(message)
    }

    /// The mount a guest path lies under (the deepest one, of at least `access` when given),
    /// and the path relative to it.
    fn mount_of(&self, guest: &Path, access: Option<Access>) -> Option<(&Mount, PathBuf)> {
        if !guest.is_absolute() {
            return None;
        }
        self.grants
            .mounts
            .iter()
            .filter(|m| access.is_none_or(|a| m.access >= a))
            .filter_map(|m| Some((m, guest.strip_prefix(&m.guest).ok()?.to_owned())))
            .max_by_key(|(m, _)| m.guest.len())
    }

    /// The real host path of the guest path `arg`, resolved beneath the granted directory
    /// `under` (opened from the mount that holds it): links are followed, never out of `under`.
    fn resolve_path_arg(&self, arg: &str, under: &str) -> Result<PathBuf, String> {
        let not_granted = || format!("`{under}` is not under a granted directory");
        let (mount, under_rel) = self
            .mount_of(Path::new(under), None)
            .ok_or_else(not_granted)?;
        let rest = Path::new(arg)
            .strip_prefix(under)
            .map_err(|_| format!("not under `{under}`"))?;
        let base = mount.dir.open_dir(&under_rel).map_err(|e| e.to_string())?;
        let real = base.real_path(rest).map_err(|e| e.to_string())?;
        // The pattern checked what the hook wrote; links it followed may name more.
        if real
            .as_os_str()
            .as_encoded_bytes()
            .iter()
            .any(|b| b.is_ascii_control())
        {
            return Err(format!(
                "resolves to `{}`, which holds a control character",
                real.display().to_string().escape_debug()
            ));
        }
        Ok(real)
    }

    /// Opens a spawned service's log file: a path under a read-write grant, created if missing,
    /// appended to, never through a link.
    fn open_log(&self, guest: &str) -> Result<std::fs::File, CommandError> {
        let Some((mount, rel)) = self.mount_of(Path::new(guest), Some(Access::ReadWrite)) else {
            return Err(self.deny(format!(
                "log file `{guest}` is not under a read-write directory grant"
            )));
        };
        let mut options = davit_fsroot::OpenOptions::new();
        options.append(true).create(true);
        davit_fsroot::OpenOptionsExt::mode(&mut options, 0o640);
        // Never wait on a FIFO someone left there; only a regular file is a log file.
        davit_fsroot::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
        let file = mount.dir.open_file(&rel, &options).map_err(|e| {
            if davit_fsroot::is_escape(&e) {
                self.deny(format!("log file `{guest}`: {e}"))
            } else if e.raw_os_error() == Some(libc::ENXIO) {
                // A FIFO nobody reads (opened without waiting for a reader).
                self.deny(format!("log file `{guest}` is not a regular file"))
            } else if e.raw_os_error() == Some(libc::ELOOP) {
                self.deny(format!(
                    "log file `{guest}` is a link: a log file is never opened through a link"
                ))
            } else {
                CommandError::SpawnFailed(format!("log file `{guest}`: {e}"))
            }
        })?;
        match file.metadata() {
            Ok(meta) if meta.is_file() => Ok(file),
            Ok(_) => Err(self.deny(format!("log file `{guest}` is not a regular file"))),
            Err(e) => Err(CommandError::SpawnFailed(format!(
                "log file `{guest}`: {e}"
            ))),
        }
    }

    /// In a dry run, records `effect` (a granted command) and says so: the caller then does
    /// not do it.
    fn recorded(&self, effect: Effect) -> bool {
        let Some(record) = &self.grants.record else {
            return false;
        };
        self.sink.line(
            crate::Stream::Info,
            &format!("sandbox: dry run: `{effect}` recorded, not done"),
        );
        record.push(effect);
        true
    }

    /// A guest that timed out may still be running on its own thread until its next epoch tick:
    /// it starts nothing more.
    fn timed_out(&self) -> bool {
        self.cancelled.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn base_command(&self, program: &str, args: &[String]) -> tokio::process::Command {
        let mut cmd = match &self.grants.exec_root {
            None => {
                let mut cmd = tokio::process::Command::new(program);
                cmd.args(args);
                cmd
            }
            Some(root) => in_root(root, program, args),
        };
        cmd.env_clear()
            .env("PATH", SAFE_PATH)
            .envs(self.grants.env.iter().map(|(k, v)| (k, v)))
            .current_dir("/")
            .stdin(Stdio::null());
        cmd
    }
}

/// The capabilities a command keeps inside an image's root filesystem: what package managers
/// need (owners, modes, setuid helpers, `chroot`), as container runtimes grant by default,
/// without `CAP_MKNOD` or `CAP_SYS_ADMIN` (no device nodes, no mounts: nothing that reaches
/// the machine underneath).
const ROOT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_SETFCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_AUDIT_WRITE",
];

/// `program args` run inside `root` by bubblewrap: the root bound at `/` (the machine's own
/// root detached, so no `chroot` trick reaches it), a fresh `/proc` of its own pid namespace,
/// a minimal `/dev`, own ipc and uts namespaces and, without `network`, an empty network
/// namespace; [`ROOT_CAPS`] only; killed with everything it started when davit goes.
fn in_root(
    root: &crate::grants::ExecRoot,
    program: &str,
    args: &[String],
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(BWRAP);
    cmd.arg("--bind")
        .arg(root.root.fd_path_for_children())
        .arg("/")
        .args(["--proc", "/proc", "--dev", "/dev", "--chdir", "/"])
        .args([
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
        ])
        .args(["--die-with-parent", "--new-session", "--cap-drop", "ALL"]);
    if !root.network {
        cmd.arg("--unshare-net");
    }
    for cap in ROOT_CAPS {
        cmd.args(["--cap-add", cap]);
    }
    cmd.arg("--").arg(program).args(args);
    cmd
}

/// Bubblewrap, which sets up an image's root filesystem for a command (Debian's `bubblewrap`).
const BWRAP: &str = "/usr/bin/bwrap";

/// A command line as shown in refusals, arguments quoted.
fn shown(program: &str, args: &[String]) -> String {
    std::iter::once(program.to_string())
        .chain(args.iter().map(|a| format!("{a:?}")))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Host for HookState {
    async fn run(
        &mut self,
        program: String,
        args: Vec<String>,
    ) -> wasmtime::Result<Result<Output, CommandError>> {
        if self.timed_out() {
            return Ok(Err(CommandError::TimedOut));
        }
        let run_args = match self.command_allowed(&program, &args) {
            Ok(run_args) => run_args,
            Err(denied) => return Ok(Err(denied)),
        };
        if self.recorded(Effect::Command {
            program: program.clone(),
            args,
        }) {
            return Ok(Ok(Output {
                status: Some(0),
                stdout: Vec::new(),
                stderr: Vec::new(),
                truncated: false,
            }));
        }
        let args = run_args;
        let mut cmd = self.base_command(&program, &args);
        // Bounded descriptors and no core dumps, as for services.
        // SAFETY: `setrlimit` is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| crate::service::limit_in_child());
        }
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
        if self.timed_out() {
            return Ok(Err(CommandError::TimedOut));
        }
        if self.grants.exec_root.is_some() {
            return Ok(Err(
                self.deny(format!("`{program}`: an image build starts no services"))
            ));
        }
        let run_args = match self.command_allowed(&program, &args) {
            Ok(run_args) => run_args,
            Err(denied) => return Ok(Err(denied)),
        };
        // A dry run starts nothing: pid 0 says so.
        if self.recorded(Effect::Service {
            program: program.clone(),
            args,
        }) {
            return Ok(Ok(0));
        }
        let args = run_args;
        let limit = self.grants.limits.services;
        if self.services.lock().expect("services").len() >= limit as usize {
            return Ok(Err(self.deny(format!(
                "`{program}`: the hook has started {limit} services already, the most it may \
                 (raise `max_services` in the host policy's `[limits]`)"
            ))));
        }
        let (stdout, stderr) = match &log_file {
            None => (Stdio::null(), Stdio::null()),
            Some(guest) => {
                let opened = self
                    .open_log(guest)
                    .and_then(|file| match file.try_clone() {
                        Ok(copy) => Ok((copy, file)),
                        Err(e) => Err(CommandError::SpawnFailed(format!(
                            "log file `{guest}`: {e}"
                        ))),
                    });
                match opened {
                    Ok((out, err)) => (Stdio::from(out), Stdio::from(err)),
                    Err(e) => return Ok(Err(e)),
                }
            }
        };
        let mut cmd = self.base_command(&program, &args);
        cmd.stdout(stdout).stderr(stderr);
        // Its own session: no controlling terminal, not killed with the hook, not waited for;
        // and bounded descriptors, no core dumps.
        // SAFETY: `setsid` and `setrlimit` are async-signal-safe and touch no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                crate::service::limit_in_child()
            });
        }
        match cmd.spawn() {
            Ok(mut child) => {
                let pid = child.id().unwrap_or_default();
                let start_ticks = crate::service::start_ticks(pid).unwrap_or_default();
                // Reap it when it ends so a long-lived agent collects no zombies.
                tokio::spawn(async move {
                    let _ = child.wait().await;
                });
                self.sink.line(
                    crate::Stream::Info,
                    &format!("sandbox: started `{program}` as pid {pid}, detached"),
                );
                self.services.lock().expect("services").push(Service {
                    pid,
                    start_ticks,
                    program,
                    args,
                    started_at: std::time::SystemTime::now(),
                });
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
