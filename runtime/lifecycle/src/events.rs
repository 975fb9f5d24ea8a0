//! A deployment's lifecycle events as a davit-plan front end: each event is a step of the plan
//! (`davit_plan::run` keeps the order, the skipping after a failure, the reboot bound and the
//! suspension), and running one runs its hooks through [`run_event`].

use std::sync::Arc;

use davit_plan::{Front, RebootRequest, Verdict};
use davit_sandbox::{DeploymentInfo, Sandbox};
use davit_spec::Event;

use crate::deploy::{DeployOptions, Revision, run_event, skipped};
use crate::install::CleanupRecord;
use crate::journal::{AppLock, JournalEntry};
use crate::layout::GroupLayout;
use crate::report::{EventReport, Progress, Status};

pub(crate) struct Events<'a> {
    pub sandbox: &'a Sandbox,
    pub new: &'a Revision,
    pub old: Option<&'a Revision>,
    pub info: &'a DeploymentInfo,
    pub opts: &'a DeployOptions,
    pub group: &'a GroupLayout,
    pub previous: Option<&'a CleanupRecord>,
    pub progress: Arc<dyn Progress>,
    pub lock: &'a AppLock,
    pub journal: &'a mut JournalEntry,
    /// The journal could not be written before an event: the deployment ends with this.
    pub journal_error: Option<std::io::Error>,
}

impl Front<Event> for Events<'_> {
    type Report = EventReport;

    fn name(&self, event: &Event) -> String {
        event.name().to_owned()
    }

    fn reports(&self, report: &EventReport, event: &Event) -> bool {
        report.event == event.name()
    }

    async fn run(&mut self, event: &Event) -> EventReport {
        self.journal.event = Some(event.name().to_owned());
        if let Err(e) = self.lock.write(self.journal) {
            let mut report = skipped(event);
            report.status = Status::Failed;
            report.detail = Some(format!("cannot write the journal: {e}"));
            self.journal_error = Some(e);
            return report;
        }
        self.progress.event_started(event.name());
        run_event(
            self.sandbox,
            event,
            self.new,
            self.old,
            self.info,
            self.opts,
            self.group,
            self.previous,
            self.progress.clone(),
        )
        .await
    }

    fn verdict(&self, report: &EventReport) -> Verdict {
        let asked_by: Vec<String> = report
            .hooks
            .iter()
            .filter(|h| h.reboot)
            .map(|h| h.location.clone())
            .collect();
        match report.status {
            Status::Succeeded if asked_by.is_empty() => Verdict::Succeeded,
            Status::Succeeded => Verdict::Reboot {
                rerun: false,
                asked_by,
            },
            _ => Verdict::Failed { stop: true },
        }
    }

    fn skipped(&mut self, event: &Event) -> Option<EventReport> {
        Some(skipped(event))
    }

    fn replayed(&mut self, report: &mut EventReport) {
        // Run before the reboot: reported again, so a live view has every event.
        self.progress.event_finished(report);
    }

    fn finished(&mut self, report: &EventReport) {
        self.progress.event_finished(report);
    }

    fn refuse_reboot(&mut self, report: &mut EventReport, count: u32, max: u32) {
        report.status = Status::Failed;
        report.detail = Some(format!(
            "{} asked for a reboot, this deployment's reboot {count}; at most {max} are \
             allowed, so a hook that always asks cannot keep the host rebooting",
            who(report)
        ));
    }

    fn accept_reboot(&mut self, report: &mut EventReport, request: &RebootRequest) {
        let then = match &request.resumes_at {
            Some(next) => format!("then the deployment resumes at {next}"),
            None => "then the deployment ends".to_owned(),
        };
        let line = format!(
            "{} asked for a reboot: the host reboots, {then}",
            who(report)
        );
        report.detail = Some(match report.detail.take() {
            Some(detail) => format!("{detail}; {line}"),
            None => line,
        });
    }
}

/// The hooks of `report` that asked for a reboot, as its detail names them.
fn who(report: &EventReport) -> String {
    let asked: Vec<&str> = report
        .hooks
        .iter()
        .filter(|h| h.reboot)
        .map(|h| h.location.as_str())
        .collect();
    format!("hook `{}`", asked.join("`, `"))
}
