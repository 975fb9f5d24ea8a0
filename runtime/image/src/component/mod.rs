//! Component documents run against a [`Target`]: an image's root filesystem, or this host.
//!
//! [`run`] walks a [`davit_toe::Document`]'s plan (phases in order, steps, loop iterations)
//! with one result per step, and invokes the action component once per iteration with the
//! inputs as JSON ([`inputs::to_json`]) and grants computed from them ([`grants`]). The
//! output is AWSTOE's: a `TOE_<date>_<runId>/` log directory with `document.yaml`,
//! `application.log`, `console.log`, `detailedoutput.json` ([`RunReport`]) and
//! `chaining.json` ([`ChainStore`]).

mod chain;
pub mod grants;
pub mod inputs;
mod journal;
mod logdir;
mod precheck;
mod report;
mod run;
mod steps;
mod target;

use std::path::PathBuf;

pub use chain::{ChainStore, Chained};
pub use logdir::LogDir;
pub use report::{DocumentReport, PhaseReport, RunReport, Status, StepReport};
pub use run::{MAX_NESTING, MAX_RERUNS, ProgressFn, RunOptions, run};
pub use steps::{PhasedReport, Suspension};
pub use target::{Target, TargetProbe, hex_digest};

/// What a run tells its caller as it goes.
#[derive(Debug)]
pub enum Progress<'a> {
    /// A step starts.
    StepStarted {
        /// Its phase.
        phase: &'a str,
        /// The step.
        step: &'a str,
        /// Its action module.
        action: &'a str,
    },
    /// A line an action printed.
    Line {
        /// Its phase.
        phase: &'a str,
        /// The step.
        step: &'a str,
        /// The line.
        text: &'a str,
    },
    /// A step ended.
    StepEnded {
        /// Its phase.
        phase: &'a str,
        /// The step.
        step: &'a str,
        /// How.
        status: Status,
        /// Why it failed, empty if it did not.
        failure: &'a str,
    },
}

/// Why a run did not start, or could not record itself. A step's failure is not one: it is in
/// the [`RunReport`].
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The document, its parameters or its expansion.
    #[error(transparent)]
    Document(davit_toe::ToeError),
    /// Windows-only actions, refused before anything runs.
    #[error(
        "`{file}` is valid, but not runnable on Linux: {}",
        steps.iter().map(|(p, s, a)| format!("step `{p}.{s}` uses `{a}`")).collect::<Vec<_>>().join(", ")
    )]
    NotOnLinux {
        /// The document.
        file: String,
        /// `(phase, step, action)` of each Windows-only step.
        steps: Vec<(String, String, &'static str)>,
    },
    /// `--phases` names a phase the document does not have.
    #[error("`{file}` has no phase `{phase}` (it has {})", available.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", "))]
    UnknownPhase {
        /// The document.
        file: String,
        /// The phase asked for.
        phase: String,
        /// Its phases.
        available: Vec<String>,
    },
    /// Grants the policy refuses, or inputs no grant can express, found before any step ran.
    #[error("{} grant(s) refused (no step has run)", refusals.len() + invalid.len())]
    Refused {
        /// Each refusal names the step, the grant and the policy rule.
        refusals: Vec<davit_spec::Refusal>,
        /// Inputs that cannot be a grant (a relative path on the host).
        invalid: Vec<String>,
    },
    /// The target cannot be opened.
    #[error("cannot open the target `{}`", .0.display())]
    Target(PathBuf, #[source] std::io::Error),
    /// The log directory cannot be written.
    #[error("cannot write the run's logs under `{}`", .0.display())]
    Log(PathBuf, #[source] std::io::Error),
    /// The journal of a run suspended for a reboot cannot be read or written.
    #[error("cannot use the journal of a run suspended for a reboot, `{}`", .0.display())]
    Journal(PathBuf, #[source] std::io::Error),
}
