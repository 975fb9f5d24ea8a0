//! A document's steps as a davit-plan front end: the selected phases' steps, flattened in
//! order, are the plan (`davit_plan::run` keeps the order, the skipping after an `Abort`, the
//! reboot bound and the suspension); running one runs its `if`, iterations and attempts
//! ([`Runner::step`]). What ran is regrouped per phase for the report afterwards.

use davit_plan::{Front, RebootRequest, Verdict};
use davit_toe::{Document, OnFailure, PlannedStep};
use serde::{Deserialize, Serialize};

use super::chain::ChainStore;
use super::report::{DocumentReport, PhaseReport, Status, StepReport};
use super::run::Runner;

/// One step of the flattened plan.
pub(super) struct PlanStep<'p, 'd> {
    pub phase: &'p str,
    pub planned: &'p PlannedStep<'d>,
}

/// A step's report with its phase: what the plan and a suspension keep.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PhasedReport {
    pub phase: String,
    pub step: StepReport,
}

/// What a suspended component run keeps (davit-plan's, as every front end's).
pub type Suspension = davit_plan::Suspension<PhasedReport>;

pub(super) struct DocumentSteps<'r, 'a> {
    pub runner: &'r Runner<'a>,
    pub document: &'r Document,
    pub depth: usize,
    pub chain: ChainStore,
    /// The phase whose steps are running, for its log lines.
    pub phase: Option<String>,
}

impl<'p, 'd> Front<PlanStep<'p, 'd>> for DocumentSteps<'_, '_> {
    type Report = PhasedReport;

    fn name(&self, step: &PlanStep<'p, 'd>) -> String {
        format!("{}.{}", step.phase, step.planned.step.name)
    }

    fn reports(&self, report: &PhasedReport, step: &PlanStep<'p, 'd>) -> bool {
        report.phase == step.phase && report.step.name == step.planned.step.name
    }

    async fn run(&mut self, step: &PlanStep<'p, 'd>) -> PhasedReport {
        if self.phase.as_deref() != Some(step.phase) {
            self.runner.log.app(&format!(
                "`{}` phase `{}` starts",
                document_name(self.document),
                step.phase
            ));
            self.phase = Some(step.phase.to_owned());
        }
        let report = self
            .runner
            .step(
                self.document,
                step.phase,
                step.planned,
                &mut self.chain,
                self.depth,
            )
            .await;
        PhasedReport {
            phase: step.phase.to_owned(),
            step: report,
        }
    }

    fn verdict(&self, report: &PhasedReport) -> Verdict {
        match report.step.status {
            Status::Failed => Verdict::Failed {
                stop: report.step.on_failure == format!("{:?}", OnFailure::Abort),
            },
            Status::Rebooting => Verdict::Reboot {
                rerun: report.step.rerun,
                asked_by: vec![format!("step `{}.{}`", report.phase, report.step.name)],
            },
            _ => Verdict::Succeeded,
        }
    }

    fn skipped(&mut self, _step: &PlanStep<'p, 'd>) -> Option<PhasedReport> {
        // AWSTOE reports the steps it ran, not those an `Abort` left.
        None
    }

    fn replayed(&mut self, report: &mut PhasedReport) {
        // The step that asked has had its reboot: it succeeded.
        if report.step.status == Status::Rebooting {
            report.step.status = Status::Success;
        }
        self.runner.log.app(&format!(
            "step `{}.{}` ran before the reboot: {:?}",
            report.phase, report.step.name, report.step.status
        ));
    }

    fn refuse_reboot(&mut self, report: &mut PhasedReport, count: u32, max: u32) {
        report.step.status = Status::Failed;
        report.step.failure_message = format!(
            "asked for a reboot, this run's reboot {count}; at most {max} are allowed, so a \
             step that always asks cannot keep the host rebooting"
        );
    }

    fn accept_reboot(&mut self, report: &mut PhasedReport, request: &RebootRequest) {
        let then = match &request.resumes_at {
            Some(at) if request.rerun => format!("then the run resumes with `{at}` again"),
            Some(at) => format!("then the run resumes at `{at}`"),
            None => "then the run ends".to_owned(),
        };
        self.runner.log.app(&format!(
            "step `{}.{}` asked this host to reboot: {then} (run the same command again)",
            report.phase, report.step.name
        ));
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(&self.chain).unwrap_or_default()
    }
}

pub(super) fn document_name(document: &Document) -> String {
    document
        .name
        .clone()
        .unwrap_or_else(|| document.file.clone())
}

/// The document's report from the reports of the steps it ran, regrouped per phase: a phase
/// fails with its first step that did not succeed, the document with its first such phase.
pub(super) fn document_report(document: &Document, reports: Vec<PhasedReport>) -> DocumentReport {
    let mut report = DocumentReport {
        name: document_name(document),
        file_path: document.file.clone(),
        status: Status::Success,
        failure_message: String::new(),
        executed_step_count: 0,
        failed_step_count: 0,
        ignored_failed_step_count: 0,
        phases: Vec::new(),
    };
    for PhasedReport { phase, step } in reports {
        if report.phases.last().is_none_or(|p| p.name != phase) {
            report.phases.push(PhaseReport {
                name: phase,
                status: Status::Success,
                failure_message: String::new(),
                steps: Vec::new(),
            });
        }
        let pr = report.phases.last_mut().expect("pushed");
        if !step.status.is_success() && pr.failure_message.is_empty() {
            pr.failure_message = format!("step `{}`: {}", step.name, step.failure_message);
        }
        if matches!(step.status, Status::Failed | Status::Rebooting) {
            pr.status = step.status;
        }
        pr.steps.push(step);
    }
    if let Some(pr) = report.phases.iter().find(|p| p.status != Status::Success) {
        report.status = pr.status;
        report.failure_message = format!("phase `{}`: {}", pr.name, pr.failure_message);
    }
    report.count();
    report
}
