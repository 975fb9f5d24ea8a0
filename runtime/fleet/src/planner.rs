//! The batch planner: which hosts of a group to deploy next, so the group never drops below its
//! healthy minimum, and when a deployment has succeeded or failed. Pure state, no I/O: the server
//! drives it with reports from agents, and a simulation drives it with random ones.
//!
//! Rules (CodeDeploy's, with continuous batches instead of fixed waves unless a ramp is given):
//! - hosts unhealthy at the start (never deployed, or last deployment failed) go first, and do not
//!   count against the minimum, since they are not healthy anyway;
//! - a healthy host is taken down only if the hosts still healthy after that are at least the
//!   minimum; a host being deployed counts as unhealthy until it succeeds;
//! - with a ramp (`1,5,20%`), each batch must finish before the next starts;
//! - the deployment fails as soon as more hosts failed than the minimum allows (`n - minimum`),
//!   or when no host can be deployed without breaking the minimum and none is running; nothing
//!   new starts after that, and it ends when the running hosts have reported;
//! - it succeeds when every host has been deployed, no more failed than allowed, and at least one
//!   succeeded.

use crate::config::DeploymentConfig;
use crate::plan::Plan;

/// Why one host's deployment failed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HostFailure {
    /// A lifecycle event failed (a hook, Install, ValidateService).
    Event(String),
    /// The agent stopped answering mid-deployment.
    Lost,
    /// The host's agent never enrolled, so nothing ran there.
    NeverEnrolled,
    /// The agent restarted in the middle of the deployment (CodeDeploy's FailedAfterRestart):
    /// what it says, with what the host holds after it put the host right.
    FailedAfterRestart(String),
}

/// Where one host stands in a deployment.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HostState {
    /// Not started.
    Pending,
    /// Its agent is running the lifecycle.
    Running,
    /// Deployed and validated.
    Succeeded,
    /// Failed, and why.
    Failed(HostFailure),
    /// Never started: the deployment failed or was stopped first.
    Skipped,
}

/// One host of the group.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Host {
    /// Its name.
    pub id: String,
    /// Whether it runs a good revision now (counts toward the minimum).
    pub healthy: bool,
    /// Where it stands.
    pub state: HostState,
}

/// What the server should do next: `Dispatch` carries the hosts to start (for a [`Plan`], how
/// many of the pending hosts, in order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step<D = Vec<String>> {
    /// Start these hosts now.
    Dispatch(D),
    /// Wait for a running host to report.
    Wait,
    /// The deployment is over.
    Done(Outcome),
}

/// How a deployment ended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Outcome {
    /// Every host deployed, within the failures allowed, and at least one succeeded.
    Succeeded,
    /// Why it failed.
    Failed(String),
}

/// A group that cannot be planned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// No hosts.
    #[error("the deployment group has no hosts")]
    Empty,
    /// A minimum that leaves no host to deploy.
    #[error("a minimum of {min} healthy hosts leaves none of the {n} hosts free to deploy")]
    MinimumTooHigh {
        /// The minimum.
        min: usize,
        /// The hosts.
        n: usize,
    },
}

/// One deployment's plan with every host by name: the counting [`Plan`] that decides, and the
/// hosts it decides about, in the order it takes them (unhealthy first, then by name).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Planner {
    hosts: Vec<Host>,
    plan: Plan,
}

impl Planner {
    /// Plans a deployment to `hosts` (name, healthy now) under `config`.
    ///
    /// # Errors
    ///
    /// An empty group, or a minimum of healthy hosts that leaves no host to deploy.
    pub fn new(
        hosts: Vec<(String, bool)>,
        config: &DeploymentConfig,
    ) -> Result<Planner, PlanError> {
        let healthy = hosts.iter().filter(|(_, h)| *h).count();
        let plan = Plan::new(hosts.len(), healthy, config)?;
        let mut hosts: Vec<Host> = hosts
            .into_iter()
            .map(|(id, healthy)| Host {
                id,
                healthy,
                state: HostState::Pending,
            })
            .collect();
        // Unhealthy hosts first, then by name: the order is the same on every server.
        hosts.sort_by(|a, b| (a.healthy, &a.id).cmp(&(b.healthy, &b.id)));
        Ok(Planner { hosts, plan })
    }

    /// The counts it decides by.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The minimum of healthy hosts, in hosts.
    pub fn min_healthy(&self) -> usize {
        self.plan.min_healthy
    }

    /// Hosts healthy now.
    pub fn healthy(&self) -> usize {
        self.hosts.iter().filter(|h| h.healthy).count()
    }

    /// Every host and where it stands, unhealthy-first order.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// Hosts whose revision this deployment changed or tried to (what a rollback redeploys).
    pub fn changed_hosts(&self) -> Vec<&str> {
        self.hosts
            .iter()
            .filter(|h| {
                matches!(
                    h.state,
                    HostState::Succeeded
                        | HostState::Failed(HostFailure::Event(_))
                        | HostState::Failed(HostFailure::Lost)
                        | HostState::Failed(HostFailure::FailedAfterRestart(_))
                )
            })
            .map(|h| h.id.as_str())
            .collect()
    }

    /// Stops the deployment (`davit deploy stop`): nothing new starts.
    pub fn stop(&mut self, reason: &str) {
        self.plan.stop(reason);
    }

    /// Records what a running host's agent reported.
    ///
    /// # Panics
    ///
    /// For a host that is not running: the server must not report twice.
    pub fn report(&mut self, host: &str, result: Result<(), HostFailure>) {
        let h = self
            .hosts
            .iter_mut()
            .find(|h| h.id == host)
            .unwrap_or_else(|| panic!("unknown host `{host}`"));
        assert_eq!(h.state, HostState::Running, "`{host}` is not running");
        self.plan.report(result.is_ok());
        match result {
            Ok(()) => {
                h.state = HostState::Succeeded;
                h.healthy = true;
            }
            Err(f) => h.state = HostState::Failed(f),
        }
    }

    /// The next step. Call it after every report; `Dispatch` marks the hosts running.
    pub fn step(&mut self) -> Step {
        match self.plan.step() {
            Step::Dispatch(k) => {
                let mut started = Vec::with_capacity(k);
                for h in self.hosts.iter_mut() {
                    if started.len() == k {
                        break;
                    }
                    if h.state == HostState::Pending {
                        h.state = HostState::Running;
                        h.healthy = false;
                        started.push(h.id.clone());
                    }
                }
                Step::Dispatch(started)
            }
            Step::Wait => Step::Wait,
            Step::Done(outcome) => {
                for h in &mut self.hosts {
                    if h.state == HostState::Pending {
                        h.state = HostState::Skipped;
                    }
                }
                Step::Done(outcome)
            }
        }
    }

    /// Whether the healthy count is at least what the rules promise: the minimum, or (if the
    /// group started below it) what it started with. Counted from the hosts, so that a test
    /// checks the counts the plan decides by against them.
    pub fn keeps_minimum(&self) -> bool {
        let at_start = self.plan.healthy_at_start;
        self.healthy() >= self.plan.min_healthy.min(at_start) && self.plan.keeps_minimum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Amount;

    fn group(healthy: &[bool]) -> Vec<(String, bool)> {
        healthy
            .iter()
            .enumerate()
            .map(|(i, h)| (format!("h{i}"), *h))
            .collect()
    }

    fn dispatched(step: Step) -> Vec<String> {
        match step {
            Step::Dispatch(hosts) => hosts,
            other => panic!("expected a dispatch, got {other:?}"),
        }
    }

    #[test]
    fn half_at_a_time_keeps_half_and_goes_on_as_hosts_succeed() {
        let mut p = Planner::new(group(&[true; 4]), &DeploymentConfig::half_at_a_time()).unwrap();
        assert_eq!(p.min_healthy(), 2);
        let first = dispatched(p.step());
        assert_eq!(first, ["h0", "h1"]);
        assert_eq!(p.step(), Step::Wait);
        p.report("h0", Ok(()));
        assert_eq!(dispatched(p.step()), ["h2"]);
        p.report("h1", Ok(()));
        assert_eq!(dispatched(p.step()), ["h3"]);
        p.report("h2", Ok(()));
        p.report("h3", Ok(()));
        assert_eq!(p.step(), Step::Done(Outcome::Succeeded));
    }

    #[test]
    fn unhealthy_hosts_go_first_and_do_not_count_against_the_minimum() {
        let config = DeploymentConfig {
            min_healthy: Amount::Hosts(2),
            batches: Vec::new(),
            concurrency: None,
            max_errors: None,
        };
        let mut p = Planner::new(group(&[true, false, true, false]), &config).unwrap();
        assert_eq!(
            dispatched(p.step()),
            ["h1", "h3"],
            "the two unhealthy ones, nothing healthy"
        );
    }

    #[test]
    fn one_at_a_time_ends_at_the_first_failure_and_skips_the_rest() {
        let mut p = Planner::new(group(&[true; 5]), &DeploymentConfig::one_at_a_time()).unwrap();
        assert_eq!(p.min_healthy(), 4, "99 % keeps all but one");
        assert_eq!(dispatched(p.step()), ["h0"]);
        p.report("h0", Ok(()));
        assert_eq!(dispatched(p.step()), ["h1"]);
        p.report("h1", Err(HostFailure::Event("AfterInstall".into())));
        assert_eq!(
            p.step(),
            Step::Done(Outcome::Failed(
                "no host can be deployed without going below 4 healthy hosts (4 healthy now)"
                    .into()
            ))
        );
        let skipped = p
            .hosts()
            .iter()
            .filter(|h| h.state == HostState::Skipped)
            .count();
        assert_eq!(skipped, 3);
        assert_eq!(p.changed_hosts(), ["h0", "h1"]);
    }

    #[test]
    fn more_failures_than_the_minimum_allows_end_the_deployment() {
        let config = DeploymentConfig {
            min_healthy: Amount::Hosts(3),
            batches: Vec::new(),
            concurrency: None,
            max_errors: None,
        };
        // Three unhealthy hosts go at once; two failing leaves too few to reach 3 of 5.
        let mut p = Planner::new(group(&[false, false, false, true, true]), &config).unwrap();
        assert_eq!(dispatched(p.step()), ["h0", "h1", "h2"]);
        p.report("h0", Err(HostFailure::Lost));
        p.report(
            "h1",
            Err(HostFailure::FailedAfterRestart("restarted".into())),
        );
        p.report("h2", Err(HostFailure::Event("ValidateService".into())));
        match p.step() {
            Step::Done(Outcome::Failed(reason)) => {
                assert_eq!(
                    reason,
                    "3 of 5 hosts failed; a minimum of 3 healthy hosts allows 2"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_ramp_finishes_each_batch_before_the_next() {
        let config = DeploymentConfig {
            min_healthy: Amount::Hosts(0),
            batches: DeploymentConfig::ramp("1,2,50%").unwrap(),
            concurrency: None,
            max_errors: None,
        };
        let mut p = Planner::new(group(&[true; 10]), &config).unwrap();
        assert_eq!(dispatched(p.step()).len(), 1);
        assert_eq!(p.step(), Step::Wait);
        p.report("h0", Ok(()));
        let second = dispatched(p.step());
        assert_eq!(second.len(), 2);
        p.report(&second[0], Ok(()));
        assert_eq!(p.step(), Step::Wait, "the batch of 2 is not finished");
        p.report(&second[1], Ok(()));
        assert_eq!(dispatched(p.step()).len(), 5);
    }

    #[test]
    fn all_at_once_needs_one_success() {
        let mut p = Planner::new(group(&[true; 3]), &DeploymentConfig::all_at_once()).unwrap();
        let all = dispatched(p.step());
        assert_eq!(all.len(), 3);
        for h in &all {
            p.report(h, Err(HostFailure::NeverEnrolled));
        }
        assert_eq!(
            p.step(),
            Step::Done(Outcome::Failed("no host succeeded".into()))
        );
        assert!(
            p.changed_hosts().is_empty(),
            "hosts that never enrolled changed nothing"
        );
    }

    #[test]
    fn stop_lets_running_hosts_finish_then_ends() {
        let mut p = Planner::new(group(&[true; 4]), &DeploymentConfig::half_at_a_time()).unwrap();
        let first = dispatched(p.step());
        p.stop("stopped by alice");
        p.report(&first[0], Ok(()));
        assert_eq!(p.step(), Step::Wait);
        p.report(&first[1], Ok(()));
        assert_eq!(
            p.step(),
            Step::Done(Outcome::Failed("stopped by alice".into()))
        );
    }

    #[test]
    fn impossible_minimums_are_refused_up_front() {
        let config = DeploymentConfig {
            min_healthy: Amount::Hosts(3),
            batches: Vec::new(),
            concurrency: None,
            max_errors: None,
        };
        assert_eq!(
            Planner::new(group(&[true; 3]), &config).unwrap_err(),
            PlanError::MinimumTooHigh { min: 3, n: 3 }
        );
        assert_eq!(
            Planner::new(Vec::new(), &DeploymentConfig::all_at_once()).unwrap_err(),
            PlanError::Empty
        );
    }

    #[test]
    fn rate_controls_keep_a_window_and_stop_past_the_error_threshold() {
        // Two at a time, a new host as soon as one ends; the first failure stops it (0).
        let config = DeploymentConfig::rate(Amount::Hosts(2), Amount::Hosts(0));
        let mut p = Planner::new(group(&[true; 5]), &config).unwrap();
        assert_eq!(dispatched(p.step()), ["h0", "h1"]);
        p.report("h0", Ok(()));
        assert_eq!(dispatched(p.step()), ["h2"], "the window slides");
        p.report("h1", Err(HostFailure::Lost));
        assert_eq!(p.step(), Step::Wait, "nothing new after the error");
        p.report("h2", Ok(()));
        assert_eq!(
            p.step(),
            Step::Done(Outcome::Failed(
                "1 of 5 hosts failed; the error threshold allows 0".into()
            ))
        );
        // 40 % of 5 is 2 errors allowed: the third stops it.
        let config = DeploymentConfig::rate(Amount::Percent(100), Amount::Percent(40));
        let mut p = Planner::new(group(&[true; 5]), &config).unwrap();
        assert_eq!(dispatched(p.step()).len(), 5);
        for (i, ok) in [false, false, true, true].into_iter().enumerate() {
            p.report(
                &format!("h{i}"),
                if ok { Ok(()) } else { Err(HostFailure::Lost) },
            );
            assert_eq!(p.step(), Step::Wait);
        }
        p.report("h4", Ok(()));
        assert_eq!(p.step(), Step::Done(Outcome::Succeeded));
    }
}
