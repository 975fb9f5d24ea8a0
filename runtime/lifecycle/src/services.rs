//! The services hooks started with `spawn`, recorded per deployment group, so that the next
//! revision's ApplicationStop, a rollback or an operator (`davit services stop`) stops exactly
//! those and nothing else.
//!
//! A record names a process by its pid and its kernel start time: a pid reused by an unrelated
//! process since is never signalled. A service runs in its own session, so stopping it signals
//! its whole process group (what it forked too): `SIGTERM`, then `SIGKILL` after a grace period.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::layout::{GroupLayout, Layout, write_atomically};

/// The schema version of `services.json`.
pub const SERVICES_SCHEMA_VERSION: u32 = 1;

/// How long a service has between `SIGTERM` and `SIGKILL`.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// One service a hook started.
///
/// ```json
/// {"pid": 4242, "start_ticks": 912345, "program": "/usr/bin/python3",
///  "args": ["-m", "http.server", "8080"], "started_at": "2026-12-01T21:00:00Z",
///  "revision": "3f2a…", "deployment_id": "d-6f1c0a9b2e", "event": "ApplicationStart",
///  "hook": "hooks/application-start.wasm"}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceRecord {
    pub pid: u32,
    /// Kernel start time in clock ticks since boot: with `pid`, the identity of the process.
    pub start_ticks: u64,
    pub program: String,
    pub args: Vec<String>,
    pub started_at: String,
    /// The revision whose hook started it.
    pub revision: String,
    pub deployment_id: String,
    pub event: String,
    /// The hook's `location`.
    pub hook: String,
}

impl ServiceRecord {
    /// Whether this very process is still running (not merely its pid).
    pub fn running(&self) -> bool {
        davit_sandbox::start_ticks(self.pid) == Some(self.start_ticks)
    }
}

/// The hook a service came from, for its record.
pub(crate) struct StartedBy<'a> {
    pub revision: String,
    pub deployment_id: &'a str,
    pub event: &'a str,
    pub hook: &'a str,
}

impl StartedBy<'_> {
    /// The record of `service`, which this hook started.
    pub(crate) fn record(&self, service: davit_sandbox::Service) -> ServiceRecord {
        ServiceRecord {
            pid: service.pid,
            start_ticks: service.start_ticks,
            program: service.program,
            args: service.args,
            started_at: crate::deploy::rfc3339(service.started_at),
            revision: self.revision.clone(),
            deployment_id: self.deployment_id.to_owned(),
            event: self.event.to_owned(),
            hook: self.hook.to_owned(),
        }
    }
}

/// `services.json` of a deployment group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceList {
    pub schema_version: u32,
    pub services: Vec<ServiceRecord>,
}

impl Default for ServiceList {
    fn default() -> Self {
        ServiceList {
            schema_version: SERVICES_SCHEMA_VERSION,
            services: Vec::new(),
        }
    }
}

impl ServiceList {
    /// Reads a group's list; a group that never started a service has an empty one.
    ///
    /// # Errors
    ///
    /// When the file exists and cannot be read, is not a list, or has another schema version.
    pub fn load(path: &Path) -> std::io::Result<Self> {
        let list: Self = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::other(format!("`{}` is not valid: {e}", path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e),
        };
        if list.schema_version != SERVICES_SCHEMA_VERSION {
            return Err(std::io::Error::other(format!(
                "`{}` has schema version {}, this davit reads version {SERVICES_SCHEMA_VERSION}",
                path.display(),
                list.schema_version
            )));
        }
        Ok(list)
    }

    /// Writes the list atomically.
    ///
    /// # Errors
    ///
    /// When it cannot be written.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut json = serde_json::to_vec_pretty(self).expect("services serialize");
        json.push(b'\n');
        write_atomically(path, &json)
    }
}

/// Appends `records` to the group's list, right after the hook that started them.
pub(crate) fn record(group: &GroupLayout, records: Vec<ServiceRecord>) -> std::io::Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let path = group.services();
    let mut list = ServiceList::load(&path)?;
    list.services.extend(records);
    list.save(&path)
}

/// How stopping one service went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stopped {
    /// It had already ended (or its pid belongs to another process now): nothing was signalled.
    NotRunning,
    /// It ended after `SIGTERM`.
    Terminated,
    /// It ignored `SIGTERM` for the grace period and was killed.
    Killed,
}

/// Stops one recorded service and its process group (see the module docs).
pub async fn stop(service: &ServiceRecord, grace: Duration) -> Stopped {
    if !service.running() {
        return Stopped::NotRunning;
    }
    signal_group(service.pid, libc::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if !service.running() {
            return Stopped::Terminated;
        }
    }
    if service.running() {
        signal_group(service.pid, libc::SIGKILL);
    }
    Stopped::Killed
}

fn signal_group(pid: u32, signal: i32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    if pid <= 1 {
        return;
    }
    // SAFETY: plain syscall on the service's own process group (its pid: it called setsid);
    // ESRCH for a group that has ended is ignored.
    unsafe {
        libc::kill(-pid, signal);
    }
}

/// Stops every service recorded for `group` (those `only` keeps, when given) and removes them
/// from its list. Returns what happened to each, in the order they were started.
///
/// # Errors
///
/// When the list cannot be read or written.
pub async fn stop_group(
    group: &GroupLayout,
    only: impl Fn(&ServiceRecord) -> bool,
    grace: Duration,
) -> std::io::Result<Vec<(ServiceRecord, Stopped)>> {
    let path = group.services();
    let mut list = ServiceList::load(&path)?;
    let (chosen, kept): (Vec<_>, Vec<_>) = list.services.drain(..).partition(|s| only(s));
    let mut done = Vec::new();
    for service in chosen {
        let how = stop(&service, grace).await;
        done.push((service, how));
    }
    list.services = kept;
    if !done.is_empty() {
        list.save(&path)?;
    }
    Ok(done)
}

/// One line for a report: what stopping a service did.
pub fn describe(service: &ServiceRecord, how: Stopped) -> String {
    let what = match how {
        Stopped::NotRunning => "had already ended",
        Stopped::Terminated => "stopped",
        Stopped::Killed => "killed after ignoring SIGTERM",
    };
    format!(
        "service `{}` (pid {}, started by {} of revision {}) {what}",
        service.program,
        service.pid,
        service.event,
        service.revision.get(..12).unwrap_or(&service.revision)
    )
}

/// Every group's recorded services under a deployment root: (application, group, list path).
///
/// # Errors
///
/// When a directory cannot be read.
pub fn groups_with_services(layout: &Layout) -> std::io::Result<Vec<(String, String, PathBuf)>> {
    let mut found = Vec::new();
    let apps = layout.root().join("apps");
    let read = |dir: &Path| -> std::io::Result<Vec<String>> {
        let mut names = Vec::new();
        match std::fs::read_dir(dir) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry?;
                    if entry.file_type()?.is_dir() {
                        names.push(entry.file_name().to_string_lossy().into_owned());
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        names.sort();
        Ok(names)
    };
    for app in read(&apps)? {
        for group in read(&apps.join(&app))? {
            let path = layout.group(&app, &group).services();
            if path.exists() {
                found.push((app.clone(), group, path));
            }
        }
    }
    Ok(found)
}
