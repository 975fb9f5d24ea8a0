//! Running one hook: a wasm component in the sandbox, or (only where the policy allows it) a
//! native script, as CodeDeploy runs it.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use davit_fsroot::{Resolve, Root};
use davit_sandbox::{
    Access, Call, Context, Grants, Limits, LogLine, Mount, Plugin, Sandbox, Service, Verdict,
};
use davit_spec::{EffectiveDir, EffectiveGrant, Hook, HookKind, HookLocation};

use crate::record::Recording;
use crate::report::{HookReport, Line, Progress, Status};

/// Guest path of the revision's files, mounted read-only.
pub const BUNDLE_GUEST_DIR: &str = "/bundle";
/// Guest path of a fresh, empty read-write directory for each invocation.
pub const SCRATCH_GUEST_DIR: &str = "/tmp";

/// One hook to run, with everything it needs.
pub(crate) struct HookRun<'a> {
    pub hook: &'a Hook,
    pub grant: &'a EffectiveGrant,
    /// The staged revision the hook belongs to.
    pub bundle_dir: &'a Path,
    pub target_root: &'a Path,
    /// Parent of per-invocation scratch directories.
    pub scratch: &'a Path,
    /// davit's own state (revisions, compiled components, records): no grant may reach it.
    pub deployment_root: &'a Path,
    pub context: Context,
}

/// Host path for an absolute path under the target root.
pub fn reroot(target_root: &Path, absolute: &Path) -> PathBuf {
    let relative = absolute.strip_prefix("/").unwrap_or(absolute);
    if relative.as_os_str().is_empty() {
        target_root.to_path_buf()
    } else {
        target_root.join(relative)
    }
}

/// Mode of a granted read-write directory davit creates because it is missing.
const GRANTED_DIR_MODE: u32 = 0o755;

/// The sandbox grants of a hook: its effective grant re-rooted, plus the bundle and a scratch dir.
///
/// Each granted directory is opened through `davit_fsroot`: the policy's directory is found in
/// the target root (an image's absolute links stay in it), and the hook's directory is resolved
/// beneath that, links followed but never out of it. A read-write directory the policy allows
/// is created when missing (as an installer would); a missing read-only one is an error.
fn sandbox_grants(run: &ComponentRun<'_>, scratch_dir: &Path) -> Result<Grants, String> {
    let grant = run.grant;
    let own = |host: &Path, guest: &str, access| {
        Mount::davit_own(host, guest, access)
            .map_err(|e| format!("cannot open `{}`: {e}", host.display()))
    };
    let mut mounts = vec![
        own(run.files_dir, run.files_guest, Access::Read)?,
        own(scratch_dir, SCRATCH_GUEST_DIR, Access::ReadWrite)?,
    ];
    for mount in open_granted_dirs(run.target_root, run.deployment_root, &grant.directories)? {
        mounts.push(match run.record {
            Some(recording) => recording.shadow(mount)?,
            None => mount,
        });
    }
    Ok(Grants {
        mounts,
        tcp: grant.tcp.clone(),
        urls: grant.urls.clone(),
        commands: grant
            .commands
            .iter()
            .map(|c| c.resolve(run.target_root))
            .collect(),
        env: grant
            .env
            .iter()
            .filter_map(|e| {
                let value = match &e.value {
                    Some(v) => v.clone(),
                    None => std::env::var(e.name.as_str()).ok()?,
                };
                Some((e.name.as_str().to_string(), value))
            })
            .collect(),
        limits: Limits {
            timeout: grant.limits.timeout,
            memory: grant.limits.memory.bytes(),
            output: grant.limits.output.bytes(),
            services: grant.limits.services,
            ..Limits::default()
        },
        // A deployment's hooks run their commands on the host, as CodeDeploy's do.
        exec_root: None,
        // Hooks reach S3 through their url grants, with their own credentials if any.
        s3: None,
        record: run.record.map(|r| r.recorder()),
    })
}

/// Opens each granted directory: the policy's directory in the target root (an image's
/// absolute links stay in it), then the hook's (or step's) beneath that, links followed but
/// never out. Every front end opens its plugins' directories with it.
///
/// A directory that is davit's deployment root, lies in it or holds it is refused: a plugin
/// that could write there could plant a compiled component davit loads as native code, or
/// rewrite the records of what to stop and clean up.
///
/// # Errors
///
/// A line naming the directory and why it cannot be granted.
pub fn open_granted_dirs(
    target_root: &Path,
    deployment_root: &Path,
    dirs: &[EffectiveDir],
) -> Result<Vec<Mount>, String> {
    if dirs.is_empty() {
        return Ok(Vec::new());
    }
    let state = std::fs::canonicalize(deployment_root).unwrap_or_else(|_| deployment_root.into());
    let root = Root::open_ambient(target_root, Resolve::InRoot)
        .map_err(|e| format!("cannot open target root `{}`: {e}", target_root.display()))?;
    let mut mounts = Vec::new();
    for dir in dirs {
        let refused =
            |e: std::io::Error| format!("granted directory `{}` {}: {e}", dir.path, dir.access);
        let base_rel = Path::new(dir.beneath.as_str().trim_start_matches('/'));
        let rel = dir
            .path
            .as_path()
            .strip_prefix(dir.beneath.as_path())
            .expect("a policy directory contains the directories it allows");
        let writable = dir.access == Access::ReadWrite;
        let base = if writable {
            root.create_dir_all(base_rel, GRANTED_DIR_MODE)
        } else {
            root.open_dir(base_rel)
        }
        .map_err(refused)?;
        let opened = if writable {
            base.create_dir_all(rel, GRANTED_DIR_MODE)
        } else {
            base.open_dir(rel)
        }
        .map_err(refused)?;
        let real = opened.real_path(Path::new("")).map_err(refused)?;
        if real.starts_with(&state) || state.starts_with(&real) {
            return Err(format!(
                "granted directory `{}` {} is `{}`, which {} davit's deployment root `{}`: no hook \
                 may reach davit's own state",
                dir.path,
                dir.access,
                real.display(),
                if real.starts_with(&state) {
                    "lies in"
                } else {
                    "holds"
                },
                state.display()
            ));
        }
        mounts.push(Mount::new(opened, dir.path.as_str(), dir.access));
    }
    Ok(mounts)
}

/// A hook's report before it ran: failed until the run says otherwise.
fn not_yet_run(location: &str, kind: &str) -> HookReport {
    HookReport {
        location: location.to_string(),
        kind: kind.to_string(),
        status: Status::Failed,
        error: None,
        elapsed_ms: 0,
        peak_memory: None,
        logs: Vec::new(),
        dropped_output: 0,
        reboot: false,
    }
}

fn line_of(l: &LogLine) -> Line {
    Line {
        stream: l.stream.as_str().to_string(),
        text: l.text.clone(),
    }
}

/// The bytes of a wasm hook's component: a file of the bundle, or a built-in plugin.
pub(crate) fn component(
    bundle_dir: &Path,
    location: &HookLocation,
) -> std::io::Result<Cow<'static, [u8]>> {
    match location {
        HookLocation::Bundle(path) => std::fs::read(bundle_dir.join(path.as_str())).map(Cow::Owned),
        HookLocation::Builtin(name) => davit_plugins::find(name)
            .map(|b| Cow::Borrowed(b.wasm))
            .ok_or_else(|| std::io::Error::other(format!("davit has no built-in plugin `{name}`"))),
    }
}

/// One invocation of a component for any front end's step: a deployment's hook, a package's
/// script.
pub struct ComponentRun<'a> {
    /// What the reports name: the hook's location, the script's file.
    pub location: &'a str,
    /// The step it runs for, as progress lines name it (the event, `install`).
    pub step: &'a str,
    pub grant: &'a EffectiveGrant,
    /// The job's files, mounted read-only at `files_guest`.
    pub files_dir: &'a Path,
    pub files_guest: &'a str,
    pub target_root: &'a Path,
    /// Parent of per-invocation scratch directories.
    pub scratch: &'a Path,
    /// davit's own state: no grant may reach it.
    pub deployment_root: &'a Path,
    pub context: Context,
    /// A dry run's: the directories it may write are copies, its effects are recorded.
    pub record: Option<&'a Recording>,
}

/// Runs a wasm hook. Setup failures (missing granted directory, bad component) fail the hook.
/// Also returns the services it started, for the caller to record.
pub(crate) async fn run_wasm(
    sandbox: &Sandbox,
    run: HookRun<'_>,
    event: &str,
    progress: Arc<dyn Progress>,
) -> (HookReport, Vec<Service>) {
    let location = run.hook.location.as_str().to_string();
    let plugin = component(run.bundle_dir, &run.hook.location)
        .map_err(|e| format!("cannot read `{location}`: {e}"))
        .and_then(|wasm| sandbox.load(&wasm).map_err(|e| e.to_string()));
    let plugin = match plugin {
        Ok(plugin) => plugin,
        Err(message) => {
            let mut report = not_yet_run(&location, "wasm");
            report.error = Some(message);
            return (report, Vec::new());
        }
    };
    let run = ComponentRun {
        location: &location,
        step: event,
        grant: run.grant,
        files_dir: run.bundle_dir,
        files_guest: BUNDLE_GUEST_DIR,
        target_root: run.target_root,
        scratch: run.scratch,
        deployment_root: run.deployment_root,
        context: run.context,
        record: None,
    };
    run_component(sandbox, &plugin, run, progress).await
}

/// Runs a loaded component once, with its grants opened as a hook's are (the job's files
/// read-only, a fresh scratch directory, the granted directories beneath the policy's). Setup
/// failures fail the report; also returns the services it started.
pub async fn run_component(
    sandbox: &Sandbox,
    plugin: &Plugin,
    run: ComponentRun<'_>,
    progress: Arc<dyn Progress>,
) -> (HookReport, Vec<Service>) {
    let started = Instant::now();
    let location = run.location.to_string();
    let mut report = not_yet_run(&location, "wasm");
    let scratch = match tempfile_dir(run.scratch) {
        Ok(dir) => dir,
        Err(e) => {
            report.error = Some(format!("cannot create a scratch directory: {e}"));
            return (report, Vec::new());
        }
    };
    let outcome = async {
        let observer = {
            let (progress, step, location) =
                (progress.clone(), run.step.to_string(), location.clone());
            Arc::new(move |l: &LogLine| progress.line(&step, &location, &line_of(l)))
        };
        let grants = sandbox_grants(&run, scratch.path())?;
        let call = Call {
            context: run.context.clone(),
            grants,
            observer: Some(observer),
            ..Call::default()
        };
        sandbox
            .invoke(plugin, call)
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    let mut services = Vec::new();
    match outcome {
        Err(message) => report.error = Some(message),
        Ok(mut outcome) => {
            services = std::mem::take(&mut outcome.services);
            report.logs = outcome.logs.iter().map(line_of).collect();
            report.dropped_output = outcome.dropped_output;
            report.peak_memory = Some(outcome.peak_memory);
            match outcome.result {
                Ok(Verdict::Succeeded) | Ok(Verdict::Healthy(_)) => {
                    report.status = Status::Succeeded
                }
                Ok(Verdict::Reboot) => {
                    report.status = Status::Succeeded;
                    report.reboot = true;
                }
                Ok(Verdict::Failed(message)) => report.error = Some(message),
                Ok(Verdict::Unhealthy(detail)) => {
                    report.error = Some(format!("unhealthy: {detail}"))
                }
                Ok(Verdict::Unsupported(action)) => {
                    report.error = Some(format!("the component has no `{action}` action"))
                }
                // The sandbox refuses to call an action component as a hook.
                Ok(Verdict::Action { .. }) | Ok(Verdict::Actions(_)) => {
                    report.error = Some("the component answered as another kind of plugin".into())
                }
                Err(fault) => report.error = Some(format!("hook {fault}")),
            }
        }
    }
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    (report, services)
}

/// A fresh directory that is removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir(parent: &Path) -> std::io::Result<ScratchDir> {
    std::fs::create_dir_all(parent)?;
    let dir = parent.join(format!("hook-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir(&dir)?;
    Ok(ScratchDir(dir))
}

/// The exit status with which a native script asks for a reboot before the next event.
pub const REBOOT_EXIT: i32 = 194;

/// `PATH` of a native script (the CodeDeploy agent's service has the system's).
const NATIVE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Runs a native script hook, as CodeDeploy does: the file itself is executed (it needs its
/// `#!` line and the executable bit), with CodeDeploy's environment variables and timeout.
pub(crate) async fn run_native(
    run: HookRun<'_>,
    event: &str,
    progress: Arc<dyn Progress>,
) -> HookReport {
    let location = run.hook.location.as_str().to_string();
    debug_assert_eq!(run.hook.kind, HookKind::NativeScript);
    let (script, made) = match executable(&run.bundle_dir.join(&location)) {
        Ok(found) => found,
        Err(e) => {
            let mut report = not_yet_run(&location, "native");
            report.error = Some(format!("cannot run `{location}`: {e}"));
            return report;
        }
    };
    let mut warning = None;
    if made {
        let line = Line {
            stream: "warn".into(),
            text: format!(
                "`{location}` was not executable: made it executable, as CodeDeploy does"
            ),
        };
        progress.line(event, &location, &line);
        warning = Some(line);
    }
    let d = run
        .context
        .deployment()
        .expect("a native script runs for a deployment");
    let script = NativeScript {
        location: &location,
        step: event,
        noun: "hook",
        program: &script,
        args: &[],
        cwd: run.bundle_dir,
        env: vec![
            ("LIFECYCLE_EVENT".into(), event.into()),
            ("DEPLOYMENT_ID".into(), d.id.clone()),
            ("APPLICATION_NAME".into(), d.application.clone()),
            ("DEPLOYMENT_GROUP_NAME".into(), d.deployment_group.clone()),
            (
                "DAVIT_TARGET_ROOT".into(),
                run.target_root.display().to_string(),
            ),
        ],
        runas: run.hook.runas.as_deref(),
        timeout: run.grant.limits.timeout,
        output_limit: run.grant.limits.output.bytes(),
    };
    let mut report = run_native_script(script, progress).await;
    if let Some(line) = warning {
        report.logs.insert(0, line);
    }
    report
}

/// A native program to run for a step of any front end (a CodeDeploy script hook, a
/// package's `install.sh`).
pub struct NativeScript<'a> {
    /// What the report names.
    pub location: &'a str,
    /// The step, as progress lines name it.
    pub step: &'a str,
    /// What it is, for its errors (`hook`, `script`).
    pub noun: &'a str,
    /// The program, an absolute path.
    pub program: &'a Path,
    pub args: &'a [String],
    pub cwd: &'a Path,
    /// Set over a cleared environment holding only `PATH`, `LANG` and `HOME`.
    pub env: Vec<(String, String)>,
    /// The user it runs as (`None`: davit's own).
    pub runas: Option<&'a str>,
    pub timeout: std::time::Duration,
    /// Bytes of output kept; the rest is counted as dropped.
    pub output_limit: u64,
}

/// Runs a native program with a cleared environment, its output kept line by line (sanitized,
/// bounded), killed with its whole process group at its timeout. Exit 194 succeeds and asks
/// for a reboot (AWSTOE's, SSM's and davit's convention).
pub async fn run_native_script(
    script: NativeScript<'_>,
    progress: Arc<dyn Progress>,
) -> HookReport {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let started = Instant::now();
    let location = script.location.to_string();
    let event = script.step;
    let mut report = not_yet_run(&location, "native");
    let mut cmd = tokio::process::Command::new(script.program);
    // A cleared environment plus the front end's documented variables: never davit's own (an
    // enrollment or store token, cloud credentials) nor a loader variable of the agent's.
    cmd.args(script.args)
        .current_dir(script.cwd)
        .env_clear()
        .env("PATH", NATIVE_PATH)
        .env("LANG", "C.UTF-8")
        .env(
            "HOME",
            std::env::var_os("HOME").unwrap_or_else(|| "/".into()),
        )
        .envs(script.env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(user) = script.runas
        && let Err(e) = run_as(&mut cmd, user)
    {
        report.error = Some(e);
        return report;
    }
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            report.error = Some(format!("cannot run `{location}`: {e}"));
            return report;
        }
    };
    let pid = child.id();
    let limit = script.output_limit;
    let lines = Arc::new(std::sync::Mutex::new((Vec::<Line>::new(), 0u64, 0u64)));
    let pump = |reader: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>,
                stream: &'static str| {
        let (lines, progress, event, location) = (
            lines.clone(),
            progress.clone(),
            event.to_string(),
            location.clone(),
        );
        async move {
            let Some(reader) = reader else { return };
            let mut reader = BufReader::new(reader).lines();
            while let Ok(Some(text)) = reader.next_line().await {
                let line = Line {
                    stream: stream.into(),
                    text: davit_sandbox::sanitize(&text),
                };
                let mut guard = lines.lock().expect("lines");
                let cost = line.text.len() as u64 + 1;
                if guard.1 + cost > limit {
                    guard.2 += cost;
                    continue;
                }
                guard.1 += cost;
                progress.line(&event, &location, &line);
                guard.0.push(line);
            }
        }
    };
    let out = child
        .stdout
        .take()
        .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>);
    let err = child
        .stderr
        .take()
        .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>);
    let timeout = script.timeout;
    let waited = tokio::time::timeout(timeout, async {
        let (_, _, status) = tokio::join!(pump(out, "stdout"), pump(err, "stderr"), child.wait());
        status
    })
    .await;
    match waited {
        Err(_) => {
            if let Some(pid) = pid {
                // SAFETY: plain syscall on the script's own process group.
                unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
            }
            report.error = Some(format!(
                "timed out after {}s (the {}'s `timeout`)",
                timeout.as_secs(),
                script.noun
            ));
        }
        Ok(Err(e)) => report.error = Some(format!("waiting for `{location}`: {e}")),
        Ok(Ok(status)) if status.success() => report.status = Status::Succeeded,
        // AWSTOE's and SSM's convention: done, reboot the host before going on.
        Ok(Ok(status)) if status.code() == Some(REBOOT_EXIT) => {
            report.status = Status::Succeeded;
            report.reboot = true;
        }
        Ok(Ok(status)) => {
            report.error = Some(match status.code() {
                Some(code) => format!("script exited with status {code}"),
                None => "script was killed by a signal".to_string(),
            })
        }
    }
    let (logs, _, dropped) = std::mem::take(&mut *lines.lock().expect("lines"));
    report.logs.extend(logs);
    report.dropped_output = dropped;
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    report
}

/// The script's absolute path, made executable (`chmod +x`) if it was not, as the CodeDeploy agent
/// does for files whose mode an archive lost; the flag says whether it had to.
fn executable(script: &Path) -> std::io::Result<(PathBuf, bool)> {
    use std::os::unix::fs::PermissionsExt;

    let script = std::path::absolute(script)?;
    let mut permissions = std::fs::metadata(&script)?.permissions();
    let made = permissions.mode() & 0o111 == 0;
    if made {
        permissions.set_mode(permissions.mode() | 0o111);
        std::fs::set_permissions(&script, permissions)?;
    }
    Ok((script, made))
}

/// Sets the uid and gid of `user` on the command (CodeDeploy's `runas`).
fn run_as(cmd: &mut tokio::process::Command, user: &str) -> Result<(), String> {
    let name = std::ffi::CString::new(user).map_err(|_| format!("bad `runas` user `{user}`"))?;
    // SAFETY: getpwnam returns a pointer into static storage that we read at once.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(format!("`runas` user `{user}` does not exist on this host"));
    }
    // SAFETY: pw is non-null and points to a valid passwd record; pw_dir is a C string or null.
    let (uid, gid, home) = unsafe {
        let home = (*pw).pw_dir;
        let home = (!home.is_null()).then(|| {
            std::ffi::CStr::from_ptr(home)
                .to_string_lossy()
                .into_owned()
        });
        ((*pw).pw_uid, (*pw).pw_gid, home)
    };
    cmd.env("USER", user).env("LOGNAME", user);
    if let Some(home) = home {
        cmd.env("HOME", home);
    }
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if uid != me {
        if me != 0 {
            return Err(format!("`runas: {user}` needs davit to run as root"));
        }
        cmd.uid(uid).gid(gid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use davit_spec::AbsPath;

    use super::*;

    fn dir(path: &str, beneath: &str, access: Access) -> EffectiveDir {
        EffectiveDir {
            path: AbsPath::try_from(path).unwrap(),
            access,
            beneath: AbsPath::try_from(beneath).unwrap(),
        }
    }

    /// A deployment root apart from every target root of these tests.
    fn state_dir() -> PathBuf {
        std::env::temp_dir().join("davit-hooks-tests-state")
    }

    #[test]
    fn a_grant_that_reaches_davits_own_state_is_refused() {
        let (tmp, root) = host();
        let state = root.join("var/lib/davit");
        std::fs::create_dir_all(state.join("cache/components")).unwrap();
        for path in ["/var/lib", "/var/lib/davit", "/var/lib/davit/cache"] {
            let err = open_granted_dirs(&root, &state, &[dir(path, "/var/lib", Access::ReadWrite)])
                .unwrap_err();
            assert!(err.contains("davit's deployment root"), "{path}: {err}");
        }
        // Through a link that stays beneath the policy directory, too.
        symlink("../davit", root.join("var/lib/app/state")).unwrap();
        let err = open_granted_dirs(
            &root,
            &state,
            &[dir("/var/lib/app/state", "/var/lib", Access::ReadWrite)],
        )
        .unwrap_err();
        assert!(err.contains("davit's deployment root"), "{err}");
        open_granted_dirs(
            &root,
            &state,
            &[dir("/var/lib/app", "/var/lib", Access::ReadWrite)],
        )
        .unwrap();
        drop(tmp);
    }

    /// A target root with the policy directory `/var/lib/app`, and `outside/` beside the root.
    fn host() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("var/lib/app/real")).unwrap();
        std::fs::create_dir_all(tmp.path().join("outside")).unwrap();
        (tmp, root)
    }

    #[test]
    fn a_grant_through_a_link_an_earlier_hook_planted_is_refused() {
        let (tmp, root) = host();
        // As an earlier hook with read-write on /var/lib/app would plant it.
        symlink("../../../../outside", root.join("var/lib/app/etc")).unwrap();
        symlink(tmp.path().join("outside"), root.join("var/lib/app/abs")).unwrap();
        for (path, access) in [
            ("/var/lib/app/etc", Access::ReadWrite),
            ("/var/lib/app/etc", Access::Read),
            ("/var/lib/app/etc/sub", Access::ReadWrite),
            ("/var/lib/app/abs", Access::Read),
        ] {
            let err = open_granted_dirs(&root, &state_dir(), &[dir(path, "/var/lib/app", access)])
                .unwrap_err();
            assert!(err.contains("leads out of"), "{path}: {err}");
        }
        let outside: Vec<_> = std::fs::read_dir(tmp.path().join("outside"))
            .unwrap()
            .collect();
        assert!(outside.is_empty(), "nothing created outside: {outside:?}");
    }

    #[test]
    fn a_link_that_stays_beneath_the_policy_directory_is_followed() {
        let (_tmp, root) = host();
        symlink("real", root.join("var/lib/app/current")).unwrap();
        let mounts = open_granted_dirs(
            &root,
            &state_dir(),
            &[dir("/var/lib/app/current", "/var/lib/app", Access::Read)],
        )
        .unwrap();
        std::fs::write(root.join("var/lib/app/real/f"), "x").unwrap();
        let seen = std::fs::read_to_string(mounts[0].dir.fd_path().join("f")).unwrap();
        assert_eq!(seen, "x");
    }

    #[test]
    fn a_missing_read_write_grant_is_created_beneath_and_a_read_one_is_an_error() {
        let (_tmp, root) = host();
        open_granted_dirs(
            &root,
            &state_dir(),
            &[dir("/var/lib/app/new/deep", "/var/lib", Access::ReadWrite)],
        )
        .unwrap();
        assert!(root.join("var/lib/app/new/deep").is_dir());
        let err = open_granted_dirs(
            &root,
            &state_dir(),
            &[dir("/var/lib/app/none", "/var/lib", Access::Read)],
        )
        .unwrap_err();
        assert!(err.contains("/var/lib/app/none"), "{err}");
    }

    #[test]
    fn an_absolute_link_in_an_image_root_stays_in_the_root() {
        let (_tmp, root) = host();
        // In an image, `/var/lib/app` itself may be an absolute link to its real place.
        std::fs::create_dir_all(root.join("srv/app-data")).unwrap();
        std::fs::remove_dir_all(root.join("var/lib/app")).unwrap();
        symlink("/srv/app-data", root.join("var/lib/app")).unwrap();
        let mounts = open_granted_dirs(
            &root,
            &state_dir(),
            &[dir("/var/lib/app", "/var/lib/app", Access::ReadWrite)],
        )
        .unwrap();
        std::fs::write(mounts[0].dir.fd_path().join("f"), "x").unwrap();
        assert!(
            root.join("srv/app-data/f").is_file(),
            "inside the image root"
        );
    }
}
