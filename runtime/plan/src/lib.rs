//! One runner for plans of steps run against a target (a host, or an image's root
//! filesystem), shared by every front end: a deployment's lifecycle events and a component
//! document's steps are both a [`Plan`] walked by [`run`].
//!
//! The runner owns what the front ends must agree on:
//!
//! - steps run in order; a step whose [`Verdict`] is [`Verdict::Failed`] with `stop` skips the
//!   rest (each reported through [`Front::skipped`]), one that fails without `stop` (AWSTOE's
//!   `onFailure: Continue`) lets them run;
//! - a step that asks for a reboot ([`Verdict::Reboot`]) ends the run with a [`Suspension`]:
//!   what asked, where the run resumes (the next step, or the same one again when `rerun`), the
//!   reports of the steps run, and the front end's own state (chaining values) to restore;
//! - reboots are bounded per run ([`Plan::max_reboots`]): one request more fails the step that
//!   asked ([`Front::refuse_reboot`]), so a step that always asks cannot keep a host rebooting;
//! - a run resumed from a suspension replays the steps run before it ([`Front::replayed`])
//!   instead of running them again.
//!
//! What a step is, how it runs and how the suspension is kept on disk stay with the front end
//! ([`Front`]); this crate does no I/O.

use std::future::Future;

use serde::{Deserialize, Serialize};

/// The steps of one run, by name (unique within the plan), and its bound on reboots.
pub struct Plan<'p, S> {
    pub steps: &'p [S],
    /// Reboot requests allowed in one run, counting those before a resume.
    pub max_reboots: u32,
}

/// How a step ended, as far as the plan goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Succeeded,
    /// It failed; with `stop`, nothing after it runs.
    Failed {
        stop: bool,
    },
    /// It succeeded and asks for a reboot, then the next step (or, with `rerun`, itself again).
    Reboot {
        rerun: bool,
        asked_by: Vec<String>,
    },
}

/// Why a run stopped for a reboot, and where it resumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebootRequest {
    /// The step that asked.
    pub after: String,
    /// The step the run resumes at, if any is left.
    pub resumes_at: Option<String>,
    /// Who asked (hooks' locations, or the step itself).
    pub asked_by: Vec<String>,
    /// Reboots this run has asked for so far, this one included.
    pub count: u32,
    /// The step that asked runs again after the reboot (AWSTOE's exit 194).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rerun: bool,
}

/// A run stopped for a reboot: the request, the reports of the steps run (the one that asked
/// among them unless it reruns), and the front end's state at that point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspension<R> {
    pub request: RebootRequest,
    #[serde(rename = "events")]
    pub done: Vec<R>,
    /// The front end's own state to resume with ([`Front::state`]); `null` for none.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub state: serde_json::Value,
}

/// What a run ended with.
#[derive(Debug)]
pub struct Ran<R> {
    /// One report per step of the plan, in order (those [`Front::skipped`] left out aside).
    pub reports: Vec<R>,
    /// A step failed and stopped the plan.
    pub failed: bool,
    /// Set when the run stopped for a reboot.
    pub suspended: Option<Suspension<R>>,
}

/// A front end: what its steps are and how one runs.
pub trait Front<S> {
    /// The report of one step.
    type Report: Clone;

    /// The step's name, as the journal and the reports know it.
    fn name(&self, step: &S) -> String;

    /// Whether `report` (a replayed one, from a suspension) is the report of `step`.
    fn reports(&self, report: &Self::Report, step: &S) -> bool;

    /// Runs `step`; how it went is read back with [`Front::verdict`].
    fn run(&mut self, step: &S) -> impl Future<Output = Self::Report>;

    /// How `report` ended.
    fn verdict(&self, report: &Self::Report) -> Verdict;

    /// The report of a step not run because an earlier one failed; `None` leaves it out.
    fn skipped(&mut self, step: &S) -> Option<Self::Report>;

    /// A step run before the reboot, found in the suspension: reported again (as `report`,
    /// which the front end may amend: the step that asked has had its reboot), not run.
    fn replayed(&mut self, _report: &mut Self::Report) {}

    /// A step ran and its report is final (a reboot request accepted or refused in it).
    fn finished(&mut self, _report: &Self::Report) {}

    /// A reboot request past the bound: turn `report` into the failure of its step.
    fn refuse_reboot(&mut self, report: &mut Self::Report, count: u32, max: u32);

    /// A reboot request within the bound: note it in `report` (where the run resumes).
    fn accept_reboot(&mut self, _report: &mut Self::Report, _request: &RebootRequest) {}

    /// The front end's state to keep in a suspension (chaining values, say).
    fn state(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// Runs `plan` through `front`, resuming from `resume` when given.
pub async fn run<S, F: Front<S>>(
    plan: Plan<'_, S>,
    resume: Option<&Suspension<F::Report>>,
    front: &mut F,
) -> Ran<F::Report> {
    let earlier = resume.map_or(0, |s| s.request.count);
    let mut reports = Vec::new();
    let mut failed = false;
    for (i, step) in plan.steps.iter().enumerate() {
        if let Some(done) = resume.and_then(|s| s.done.iter().find(|r| front.reports(r, step))) {
            let mut done = done.clone();
            front.replayed(&mut done);
            reports.push(done);
            continue;
        }
        if failed {
            reports.extend(front.skipped(step));
            continue;
        }
        let mut report = front.run(step).await;
        match front.verdict(&report) {
            Verdict::Succeeded => {}
            Verdict::Failed { stop } => failed = stop,
            Verdict::Reboot { rerun, asked_by } => {
                let count = earlier + 1;
                if count > plan.max_reboots {
                    front.refuse_reboot(&mut report, count, plan.max_reboots);
                    failed = !matches!(front.verdict(&report), Verdict::Failed { stop: false });
                    front.finished(&report);
                    reports.push(report);
                    continue;
                }
                let resumes_at = if rerun {
                    Some(step)
                } else {
                    plan.steps.get(i + 1)
                };
                let request = RebootRequest {
                    after: front.name(step),
                    resumes_at: resumes_at.map(|s| front.name(s)),
                    asked_by,
                    count,
                    rerun,
                };
                front.accept_reboot(&mut report, &request);
                front.finished(&report);
                let mut done = reports.clone();
                if !rerun {
                    done.push(report.clone());
                }
                reports.push(report);
                return Ran {
                    reports,
                    failed,
                    suspended: Some(Suspension {
                        request,
                        done,
                        state: front.state(),
                    }),
                };
            }
        }
        front.finished(&report);
        reports.push(report);
    }
    Ran {
        reports,
        failed,
        suspended: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Steps named by a letter; `script` says how each run of a step ends, in order.
    struct Scripted {
        script: Vec<(char, Verdict)>,
        ran: Vec<char>,
        replayed: Vec<char>,
    }

    #[derive(Debug, Clone, PartialEq)]
    struct Report {
        step: char,
        verdict: Option<Verdict>,
    }

    impl Front<char> for Scripted {
        type Report = Report;
        fn name(&self, step: &char) -> String {
            step.to_string()
        }
        fn reports(&self, report: &Report, step: &char) -> bool {
            report.step == *step
        }
        async fn run(&mut self, step: &char) -> Report {
            self.ran.push(*step);
            let at = self.script.iter().position(|(s, _)| s == step);
            let verdict = at.map_or(Verdict::Succeeded, |i| self.script.remove(i).1);
            Report {
                step: *step,
                verdict: Some(verdict),
            }
        }
        fn verdict(&self, report: &Report) -> Verdict {
            report.verdict.clone().expect("a run step")
        }
        fn skipped(&mut self, step: &char) -> Option<Report> {
            Some(Report {
                step: *step,
                verdict: None,
            })
        }
        fn replayed(&mut self, report: &mut Report) {
            self.replayed.push(report.step);
        }
        fn refuse_reboot(&mut self, report: &mut Report, _count: u32, _max: u32) {
            report.verdict = Some(Verdict::Failed { stop: true });
        }
        fn state(&self) -> serde_json::Value {
            serde_json::json!({"ran": self.ran.len()})
        }
    }

    fn front(script: Vec<(char, Verdict)>) -> Scripted {
        Scripted {
            script,
            ran: Vec::new(),
            replayed: Vec::new(),
        }
    }

    const STEPS: &[char] = &['a', 'b', 'c', 'd'];

    fn plan(max_reboots: u32) -> Plan<'static, char> {
        Plan {
            steps: STEPS,
            max_reboots,
        }
    }

    fn reboot(rerun: bool) -> Verdict {
        Verdict::Reboot {
            rerun,
            asked_by: vec!["x".into()],
        }
    }

    #[tokio::test]
    async fn a_failure_that_stops_skips_the_rest_and_one_that_continues_does_not() {
        let mut f = front(vec![('b', Verdict::Failed { stop: false })]);
        let ran = run(plan(3), None, &mut f).await;
        assert_eq!(f.ran, STEPS);
        assert!(!ran.failed);
        let mut f = front(vec![('b', Verdict::Failed { stop: true })]);
        let ran = run(plan(3), None, &mut f).await;
        assert_eq!(f.ran, ['a', 'b']);
        assert!(ran.failed);
        assert_eq!(ran.reports.len(), 4, "c and d reported as skipped");
        assert_eq!(ran.reports[3].verdict, None);
    }

    #[tokio::test]
    async fn a_reboot_suspends_and_the_resume_replays_what_ran_then_goes_on() {
        let mut f = front(vec![('b', reboot(false))]);
        let ran = run(plan(3), None, &mut f).await;
        let s = ran.suspended.expect("suspended");
        assert_eq!(f.ran, ['a', 'b']);
        assert_eq!(s.request.after, "b");
        assert_eq!(s.request.resumes_at.as_deref(), Some("c"));
        assert_eq!(s.request.count, 1);
        assert_eq!(
            s.done.iter().map(|r| r.step).collect::<Vec<_>>(),
            ['a', 'b']
        );
        assert_eq!(s.state, serde_json::json!({"ran": 2}));
        // Through its JSON form, as a journal keeps it.
        let s: Suspension<Report> = {
            let text = serde_json::to_string(&s.request).unwrap();
            Suspension {
                request: serde_json::from_str(&text).unwrap(),
                ..s
            }
        };
        let mut f = front(Vec::new());
        let ran = run(plan(3), Some(&s), &mut f).await;
        assert_eq!(f.ran, ['c', 'd']);
        assert_eq!(f.replayed, ['a', 'b']);
        assert!(ran.suspended.is_none() && !ran.failed);
        assert_eq!(ran.reports.len(), 4);
    }

    #[tokio::test]
    async fn a_rerun_resumes_at_the_step_that_asked() {
        let mut f = front(vec![('c', reboot(true))]);
        let s = run(plan(3), None, &mut f).await.suspended.unwrap();
        assert_eq!(s.request.resumes_at.as_deref(), Some("c"));
        assert!(s.request.rerun);
        let mut f = front(Vec::new());
        run(plan(3), Some(&s), &mut f).await;
        assert_eq!(f.ran, ['c', 'd']);
    }

    #[tokio::test]
    async fn reboots_past_the_bound_fail_the_step_that_asked() {
        let mut f = front(vec![('a', reboot(false))]);
        let first = run(plan(1), None, &mut f).await.suspended.unwrap();
        let mut f = front(vec![('b', reboot(false))]);
        let ran = run(plan(1), Some(&first), &mut f).await;
        assert!(ran.suspended.is_none());
        assert!(ran.failed);
        assert_eq!(f.ran, ['b'], "c and d are skipped");
        assert_eq!(ran.reports[1].verdict, Some(Verdict::Failed { stop: true }));
    }
}
