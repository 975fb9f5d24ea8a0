//! What a run reports: one [`StepReport`] per step, grouped per phase and document, written as
//! AWSTOE writes `detailedoutput.json` (camelCase keys; `status`, `inputs`, `outputs` and
//! `failureMessage` per document, phase and step).

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// How a step, phase, document or run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It ran and succeeded.
    Success,
    /// It failed (for a step with `onFailure: Continue`, the document goes on).
    Failed,
    /// Its `if` skipped it: counts as a success.
    Skipped,
    /// It failed with `onFailure: Ignore`: counts as a success.
    Ignored,
    /// It asked for a reboot of this host: the run stopped there, to resume after it.
    Rebooting,
}

impl Status {
    /// Whether it counts as a success.
    pub fn is_success(self) -> bool {
        matches!(self, Self::Success | Self::Skipped | Self::Ignored)
    }
}

/// One step.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    /// The step's name.
    pub name: String,
    /// The action module.
    pub action: String,
    /// How it ended.
    pub status: Status,
    /// `onFailure`, as written (`Abort`, `Continue`, `Ignore`).
    pub on_failure: String,
    /// `timeoutSeconds` (-1: none).
    pub timeout_seconds: i64,
    /// `maxAttempts`.
    pub max_attempts: u32,
    /// Attempts made by the last iteration that ran.
    pub attempts: u32,
    /// Iterations that ran.
    pub iterations: u32,
    /// The inputs of the last iteration, as sent to the action.
    pub inputs: Json,
    /// The outputs of the last iteration (an empty object if none).
    pub outputs: Json,
    /// Why it failed (empty if it did not).
    pub failure_message: String,
    /// RFC 3339.
    pub start_time: String,
    /// RFC 3339.
    pub end_time: String,
    /// It asked for a reboot and to run again after it (exit 194): where the run resumes.
    #[serde(skip)]
    pub(crate) rerun: bool,
}

/// One phase.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseReport {
    /// `build`, `validate`, `test`, …
    pub name: String,
    /// How it ended.
    pub status: Status,
    /// The first failure that failed it.
    pub failure_message: String,
    /// Its steps, in the order they ran.
    pub steps: Vec<StepReport>,
}

/// One document (the one run, or one an `ExecuteDocument` step ran).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentReport {
    /// The document's `name`, else its file name.
    pub name: String,
    /// The file.
    pub file_path: String,
    /// How it ended.
    pub status: Status,
    /// The first failure that failed it.
    pub failure_message: String,
    /// Steps that ran (iterations of a loop count once).
    pub executed_step_count: u32,
    /// Steps that failed.
    pub failed_step_count: u32,
    /// Steps that failed and were ignored.
    pub ignored_failed_step_count: u32,
    /// Its phases, in order.
    pub phases: Vec<PhaseReport>,
}

impl DocumentReport {
    /// Counts the steps of its phases.
    pub(crate) fn count(&mut self) {
        let steps = self.phases.iter().flat_map(|p| &p.steps);
        self.executed_step_count = 0;
        self.failed_step_count = 0;
        self.ignored_failed_step_count = 0;
        for s in steps {
            if s.status != Status::Skipped {
                self.executed_step_count += 1;
            }
            match s.status {
                Status::Failed => self.failed_step_count += 1,
                Status::Ignored => self.ignored_failed_step_count += 1,
                _ => {}
            }
        }
    }
}

/// A whole run: `detailedoutput.json`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// The run's id (in the log directory's name).
    pub execution_id: String,
    /// How the run ended: the top document's status.
    pub status: Status,
    /// The first failure.
    pub failure_message: String,
    /// The log directory.
    pub log_url: String,
    /// Steps that ran, over every document.
    pub executed_step_count: u32,
    /// Steps that failed.
    pub failed_step_count: u32,
    /// Steps that failed and were ignored.
    pub ignored_failed_step_count: u32,
    /// The top document first, then those its `ExecuteDocument` steps ran, in the order they
    /// ended.
    pub documents: Vec<DocumentReport>,
    /// Set when a step asked this host to reboot: where the same command, run again, resumes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reboot: Option<davit_plan::RebootRequest>,
    /// The run this one resumed after a reboot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed: Option<String>,
}

/// The current time, RFC 3339 UTC.
pub(crate) fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
