//! What a deployment reports: per event, per hook, with logs; and the live progress callback.

use serde::{Deserialize, Serialize};

/// How an event or a deployment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Succeeded,
    Failed,
    /// Not run: an earlier event failed, or `--events` left it out.
    Skipped,
    /// The process running it was killed; found by the next run (CodeDeploy's name).
    FailedAfterRestart,
    /// A deployment that stopped after an event whose hook asked for a reboot: the host
    /// reboots, then the same deployment resumes at the next event (see [`RebootRequest`]).
    Rebooting,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Succeeded => "Succeeded",
            Status::Failed => "Failed",
            Status::Skipped => "Skipped",
            Status::FailedAfterRestart => "FailedAfterRestart",
            Status::Rebooting => "Rebooting",
        })
    }
}

/// One line a hook printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub stream: String,
    pub text: String,
}

/// One hook's run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookReport {
    /// The hook's `location` in the appspec.
    pub location: String,
    /// `wasm` or `native`.
    pub kind: String,
    pub status: Status,
    /// Why it failed, in one line.
    pub error: Option<String>,
    pub elapsed_ms: u64,
    /// Peak linear memory of a wasm hook, in bytes.
    pub peak_memory: Option<u64>,
    pub logs: Vec<Line>,
    /// Bytes of output cut past the hook's output limit.
    pub dropped_output: u64,
    /// It succeeded and asked for the host to reboot before the next event (`ok(reboot)` from
    /// a wasm hook, exit status 194 from a native script).
    #[serde(default)]
    pub reboot: bool,
}

/// One lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventReport {
    pub event: String,
    pub status: Status,
    pub elapsed_ms: u64,
    /// What the built-in step did (`Install`: files copied, removed), or why the event failed.
    pub detail: Option<String>,
    pub warnings: Vec<String>,
    pub hooks: Vec<HookReport>,
}

/// A deployment killed mid-way, found at the next start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Interrupted {
    pub deployment_id: String,
    pub application: String,
    pub deployment_group: String,
    pub revision: String,
    pub event: Option<String>,
    pub started_at: String,
    /// What was found on the host and done about it before anything else ran: the Install in
    /// flight taken back or finished, and the revision the host now holds.
    #[serde(default)]
    pub recovery: Option<String>,
}

/// The whole deployment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeploymentReport {
    pub schema_version: u32,
    pub deployment_id: String,
    pub application: String,
    pub deployment_group: String,
    pub revision: String,
    pub previous_revision: Option<String>,
    pub status: Status,
    pub started_at: String,
    pub elapsed_ms: u64,
    pub events: Vec<EventReport>,
    /// A deployment found killed under the same root when this one started.
    pub interrupted: Option<Interrupted>,
    /// Set when the deployment stopped for a reboot (status [`Status::Rebooting`]).
    #[serde(default)]
    pub reboot: Option<RebootRequest>,
}

/// Why a deployment stopped for a reboot, and where it resumes (davit-plan's, shared by
/// every front end).
pub use davit_plan::RebootRequest;

impl DeploymentReport {
    /// The first failed event, if any.
    pub fn failed_event(&self) -> Option<&EventReport> {
        self.events.iter().find(|e| e.status == Status::Failed)
    }
}

/// Live progress, for a terminal or an agent's report stream.
pub trait Progress: Send + Sync {
    fn event_started(&self, _event: &str) {}
    fn hook_started(&self, _event: &str, _location: &str) {}
    fn line(&self, _event: &str, _location: &str, _line: &Line) {}
    fn hook_finished(&self, _event: &str, _hook: &HookReport) {}
    fn event_finished(&self, _event: &EventReport) {}
}

/// Progress that shows nothing.
#[derive(Debug, Default)]
pub struct Quiet;

impl Progress for Quiet {}
