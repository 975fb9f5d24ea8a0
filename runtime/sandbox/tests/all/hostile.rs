//! Shared by the attack files on links, commands, services and logs: a granted directory with a
//! secret beside it, a probe program that records every time it runs, live processes found by
//! their arguments, and the host's own lines told from the guest's.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use davit_sandbox::{Access, Grants, Mount, Outcome, Stream};
use davit_spec::{AbsPath, ArgPattern, CommandGrant};

use crate::support::mount;

/// A command grant: `program` with argument patterns.
pub fn command(program: &str, args: &[&str]) -> CommandGrant {
    let args = args
        .iter()
        .map(|a| ArgPattern::try_from(*a).unwrap())
        .collect();
    CommandGrant::new(AbsPath::try_from(program).unwrap(), args).unwrap()
}

/// A temporary directory holding `work/` (granted read-write as `/work`) and, beside it, the
/// file `secret` that no grant covers.
pub struct Site {
    pub root: tempfile::TempDir,
    pub work: PathBuf,
    /// The secret's content, unique to this site.
    pub secret: String,
}

impl Site {
    pub fn new() -> Site {
        let root = tempfile::tempdir().unwrap();
        let work = root.path().join("work");
        std::fs::create_dir(&work).unwrap();
        std::fs::write(work.join("inside.txt"), "inside").unwrap();
        let secret = format!("TOPSECRET-{}-{}", std::process::id(), unique());
        std::fs::write(root.path().join("secret"), &secret).unwrap();
        Site { root, work, secret }
    }

    /// `name` beside `work/`, outside every grant.
    pub fn outside(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// `work/` granted read-write as `/work`.
    pub fn work_mount(&self) -> Mount {
        mount(&self.work, "/work", Access::ReadWrite)
    }

    /// Grants: `/work` and these commands.
    pub fn grants(&self, commands: Vec<CommandGrant>) -> Grants {
        Grants {
            mounts: vec![self.work_mount()],
            commands,
            ..Grants::default()
        }
    }
}

/// Whether anything (a link too, even a dangling one) is at `path`.
pub fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// A number no other call in this process gets.
pub fn unique() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

/// A program that records each run, with its arguments, in the file named by its environment
/// variable `PROBE_RAN` (granted per call), so a test can tell whether it ran at all.
///
/// One script per test process, written once before any test runs it: writing an executable
/// while other threads fork can make its exec fail with `ETXTBSY`.
pub fn probe_program() -> &'static str {
    static PROBE: OnceLock<(tempfile::TempDir, String)> = OnceLock::new();
    let (_, path) = PROBE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        let path = dir.path().join("bin/probe");
        std::fs::write(
            &path,
            "#!/bin/sh\n{ printf '%s|' \"$0\" \"$@\"; echo; } >> \"$PROBE_RAN\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = path.into_os_string().into_string().unwrap();
        (dir, path)
    });
    path
}

/// Where one test's probe runs are recorded.
pub struct Probe {
    dir: tempfile::TempDir,
}

impl Probe {
    pub fn new() -> Probe {
        probe_program();
        Probe {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn program(&self) -> &'static str {
        probe_program()
    }

    /// A scratch directory of this probe's own.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The environment grant that makes the probe record into this test's file.
    pub fn env(&self) -> Vec<(String, String)> {
        let ran = self.dir.path().join("ran");
        vec![("PROBE_RAN".into(), ran.to_str().unwrap().into())]
    }

    /// Each run as `program|arg|arg|`.
    pub fn runs(&self) -> Vec<String> {
        match std::fs::read_to_string(self.dir.path().join("ran")) {
            Ok(text) => text.lines().map(str::to_string).collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// A `sleep` argument that names the processes of one test: `sleep 600.<pid><n>`.
pub fn marker() -> String {
    format!("600.{}{:03}", std::process::id(), unique())
}

/// Live (not zombie) processes whose first argument is `arg`.
pub fn live_with_arg(arg: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let argv: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if argv.get(1) == Some(&arg.as_bytes()) && davit_sandbox::start_ticks(pid).is_some() {
            found.push(pid);
        }
    }
    found.sort();
    found
}

/// The `argv[0]` of process `pid`.
pub fn argv0(pid: u32) -> String {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let first = cmdline.split(|b| *b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(first).into_owned()
}

/// Kills, when dropped, every process a test started: by pid, and only while that pid is still
/// the process that was started (the same start time), never a later one that reuses it.
#[derive(Default)]
pub struct Reaper {
    started: Vec<(u32, u64)>,
}

impl Reaper {
    pub fn add(&mut self, pids: impl IntoIterator<Item = u32>) {
        for pid in pids {
            if let Some(ticks) = davit_sandbox::start_ticks(pid) {
                self.started.push((pid, ticks));
            }
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        for &(pid, ticks) in &self.started {
            if pid > 1 && davit_sandbox::start_ticks(pid) == Some(ticks) {
                // SAFETY: plain syscall on a pid this test started, checked just now.
                unsafe {
                    libc::kill(pid as i32, libc::SIGKILL);
                }
            }
        }
    }
}

/// The pids a guest logged as `started <pid>`.
pub fn logged_pids(outcome: &Outcome) -> Vec<u32> {
    let mut pids: Vec<u32> = outcome
        .logs
        .iter()
        .filter_map(|l| l.text.strip_prefix("started ")?.parse().ok())
        .collect();
    pids.sort();
    pids
}

/// Whether `text` would pass for one of the host's own lines.
pub fn looks_like_host(text: &str) -> bool {
    text.trim_start()
        .get(..8)
        .is_some_and(|p| p.eq_ignore_ascii_case("sandbox:"))
}

/// Asserts that the only lines that look like the host's are these host lines (by prefix).
#[track_caller]
pub fn assert_only_host_lines(outcome: &Outcome, host: &[&str]) {
    for line in &outcome.logs {
        if looks_like_host(&line.text) {
            assert!(
                host.iter().any(|h| line.text.starts_with(h)),
                "a guest line passes for the host's: {line:?}\nlogs: {:#?}",
                outcome.logs
            );
        }
    }
}

/// Asserts that the host said `prefix` on `stream`.
#[track_caller]
pub fn assert_host_line(outcome: &Outcome, stream: Stream, prefix: &str) {
    assert!(
        outcome
            .logs
            .iter()
            .any(|l| l.stream == stream && l.text.starts_with(prefix)),
        "no {stream:?} line `{prefix}…` in {:#?}",
        outcome.logs
    );
}

/// Asserts that no line the host kept holds `secret`.
#[track_caller]
pub fn assert_not_leaked(outcome: &Outcome, secret: &str) {
    for line in &outcome.logs {
        assert!(!line.text.contains(secret), "leaked: {line:?}");
    }
    if let Ok(davit_sandbox::Verdict::Failed(message)) = &outcome.result {
        assert!(!message.contains(secret), "leaked: {message}");
    }
}
