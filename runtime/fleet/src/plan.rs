//! The plan as counts: every decision of the planner depends only on how many hosts stand where
//! (pending and healthy or not, running, succeeded, failed), the batch in progress and whether
//! it was stopped, never on which host is which. So a server keeps this small [`Plan`] beside one
//! row per host, and a report changes a few numbers instead of rewriting every host's state.
//!
//! Pending hosts are taken in one fixed order, unhealthy first (then by name): a dispatch of `k`
//! means "the first `k` pending hosts in that order", of which the first ones are the unhealthy.
//!
//! ```
//! use davit_fleet::{DeploymentConfig, Outcome, Plan, Step};
//!
//! // Four hosts, all healthy, half at a time.
//! let mut plan = Plan::new(4, 4, &DeploymentConfig::half_at_a_time()).unwrap();
//! assert_eq!(plan.step(), Step::Dispatch(2));
//! plan.report(true);
//! assert_eq!(plan.step(), Step::Dispatch(1));
//! for _ in 0..2 {
//!     plan.report(true);
//! }
//! assert_eq!(plan.step(), Step::Dispatch(1));
//! plan.report(true);
//! assert_eq!(plan.step(), Step::Done(Outcome::Succeeded));
//! ```

use serde::{Deserialize, Serialize};

use crate::config::{Amount, DeploymentConfig};
use crate::planner::{HostState, Outcome, PlanError, Step};

/// The version of [`Plan`]'s stored form.
pub const PLAN_SCHEMA: u32 = 1;

/// One deployment's plan, as counts of hosts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// [`PLAN_SCHEMA`] when it was written.
    pub schema_version: u32,
    /// Hosts in the deployment.
    pub hosts: usize,
    /// Hosts healthy when it began.
    pub healthy_at_start: usize,
    /// The minimum of healthy hosts, in hosts.
    pub min_healthy: usize,
    /// Batch sizes in hosts (the last repeats); empty: as many as the minimum allows.
    pub batches: Vec<usize>,
    /// The batch in progress: its index, and how many hosts it started.
    pub batch: (usize, usize),
    /// Why nothing new starts: stopped by an operator, or failed.
    pub stopped: Option<String>,
    /// Pending hosts that were unhealthy at the start (they go first). Pending hosts are
    /// those not started: skipped ones, once the deployment is done.
    pub pending_unhealthy: usize,
    /// Pending hosts that were healthy at the start.
    pub pending_healthy: usize,
    /// Hosts running the lifecycle.
    pub running: usize,
    /// Hosts deployed and validated.
    pub succeeded: usize,
    /// Hosts that failed.
    pub failed: usize,
    /// At most this many hosts running at once (rate controls), if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<usize>,
    /// Failures past this stop the plan (an error threshold), if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_errors: Option<usize>,
}

impl Plan {
    /// Plans a deployment to `hosts` hosts of which `healthy` are healthy now, under `config`.
    ///
    /// # Errors
    ///
    /// An empty group, or a minimum of healthy hosts that leaves no host to deploy.
    pub fn new(hosts: usize, healthy: usize, config: &DeploymentConfig) -> Result<Plan, PlanError> {
        let n = hosts;
        if n == 0 {
            return Err(PlanError::Empty);
        }
        let min_healthy = match config.min_healthy {
            // A percentage keeps at least one host free (CodeDeploy's OneAtATime is 99 %).
            Amount::Percent(_) => config.min_healthy.of(n, true).min(n - 1),
            Amount::Hosts(h) if h >= n => return Err(PlanError::MinimumTooHigh { min: h, n }),
            Amount::Hosts(h) => h,
        };
        let healthy = healthy.min(n);
        Ok(Plan {
            schema_version: PLAN_SCHEMA,
            hosts: n,
            healthy_at_start: healthy,
            min_healthy,
            batches: config
                .batches
                .iter()
                .map(|b| b.of(n, false).max(1))
                .collect(),
            batch: (0, 0),
            stopped: None,
            pending_unhealthy: n - healthy,
            pending_healthy: healthy,
            running: 0,
            succeeded: 0,
            failed: 0,
            window: config.concurrency.map(|c| c.of(n, false).max(1)),
            max_errors: config.max_errors.map(|e| e.of(n, false)),
        })
    }

    /// Hosts healthy now: pending ones that were healthy, and those that succeeded (a host
    /// being deployed counts as unhealthy until it succeeds).
    pub fn healthy(&self) -> usize {
        self.pending_healthy + self.succeeded
    }

    /// Hosts not started yet.
    pub fn pending(&self) -> usize {
        self.pending_unhealthy + self.pending_healthy
    }

    /// Stops the deployment (`davit deploy stop`): nothing new starts.
    pub fn stop(&mut self, reason: &str) {
        self.stopped.get_or_insert_with(|| reason.to_owned());
    }

    /// Records that one running host succeeded (`true`) or failed.
    ///
    /// # Panics
    ///
    /// When no host is running: the server must not report twice.
    pub fn report(&mut self, succeeded: bool) {
        assert!(self.running > 0, "a report with no host running");
        self.running -= 1;
        if succeeded {
            self.succeeded += 1;
        } else {
            self.failed += 1;
        }
    }

    /// The next step. Call it after every report; `Dispatch(k)` starts the first `k` pending
    /// hosts in order (the unhealthy first) and counts them running.
    pub fn step(&mut self) -> Step<usize> {
        let n = self.hosts;
        let allowed = n - self.min_healthy;
        if self.failed > allowed && self.stopped.is_none() {
            self.stopped = Some(format!(
                "{} of {n} hosts failed; a minimum of {} healthy hosts allows {allowed}",
                self.failed, self.min_healthy
            ));
        }
        if let Some(max) = self.max_errors
            && self.failed > max
            && self.stopped.is_none()
        {
            self.stopped = Some(format!(
                "{} of {n} hosts failed; the error threshold allows {max}",
                self.failed
            ));
        }
        if self.stopped.is_none() {
            let k = self.dispatchable();
            if k > 0 {
                let unhealthy = k.min(self.pending_unhealthy);
                self.pending_unhealthy -= unhealthy;
                self.pending_healthy -= k - unhealthy;
                self.running += k;
                self.batch.1 += k;
                return Step::Dispatch(k);
            }
            if self.pending() > 0 && self.running == 0 {
                self.stopped = Some(format!(
                    "no host can be deployed without going below {} healthy hosts ({} healthy now)",
                    self.min_healthy,
                    self.healthy()
                ));
            }
        }
        if self.running > 0 {
            return Step::Wait;
        }
        if let Some(reason) = &self.stopped {
            return Step::Done(Outcome::Failed(reason.clone()));
        }
        if self.succeeded == 0 {
            return Step::Done(Outcome::Failed("no host succeeded".into()));
        }
        Step::Done(Outcome::Succeeded)
    }

    /// How many pending hosts may start now: every unhealthy one, and healthy ones while the
    /// healthy stay above the minimum, within the room left in the batch.
    fn dispatchable(&mut self) -> usize {
        let mut room = usize::MAX;
        if !self.batches.is_empty() {
            let size = |i: usize| self.batches[i.min(self.batches.len() - 1)];
            if self.batch.1 >= size(self.batch.0) {
                if self.running > 0 {
                    return 0;
                }
                self.batch = (self.batch.0 + 1, 0);
            }
            room = size(self.batch.0) - self.batch.1;
        }
        if let Some(window) = self.window {
            room = room.min(window.saturating_sub(self.running));
        }
        let healthy_free = self
            .pending_healthy
            .min(self.healthy().saturating_sub(self.min_healthy));
        room.min(self.pending_unhealthy + healthy_free)
    }

    /// Whether the healthy count is at least what the rules promise: the minimum, or (if the
    /// group started below it) what it started with.
    pub fn keeps_minimum(&self) -> bool {
        self.healthy() >= self.min_healthy.min(self.healthy_at_start)
    }
}

/// A plan as davit stored it before [`PLAN_SCHEMA`] 1: every host by name in the order it takes
/// them. Read once to resume a deployment an older server started.
#[derive(Clone, Debug, Deserialize)]
pub struct LegacyPlanner {
    hosts: Vec<LegacyHost>,
    min_healthy: usize,
    batches: Vec<usize>,
    batch: (usize, usize),
    stopped: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
struct LegacyHost {
    id: String,
    state: HostState,
    healthy_at_start: bool,
}

impl LegacyPlanner {
    /// The same plan, as counts.
    pub fn plan(&self) -> Plan {
        let count =
            |pred: &dyn Fn(&LegacyHost) -> bool| self.hosts.iter().filter(|h| pred(h)).count();
        let pending = |healthy: bool| {
            count(&|h| h.state == HostState::Pending && h.healthy_at_start == healthy)
        };
        Plan {
            schema_version: PLAN_SCHEMA,
            hosts: self.hosts.len(),
            healthy_at_start: count(&|h| h.healthy_at_start),
            min_healthy: self.min_healthy,
            batches: self.batches.clone(),
            batch: self.batch,
            stopped: self.stopped.clone(),
            pending_unhealthy: pending(false),
            pending_healthy: pending(true),
            running: count(&|h| h.state == HostState::Running),
            succeeded: count(&|h| h.state == HostState::Succeeded),
            failed: count(&|h| matches!(h.state, HostState::Failed(_))),
            window: None,
            max_errors: None,
        }
    }

    /// The hosts' names in the order the plan takes them.
    pub fn order(&self) -> impl Iterator<Item = &str> {
        self.hosts.iter().map(|h| h.id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_plan_reads_back_the_same() {
        let mut plan = Plan::new(10, 7, &DeploymentConfig::half_at_a_time()).unwrap();
        assert_eq!(
            plan.step(),
            Step::Dispatch(5),
            "3 unhealthy, then 2 healthy"
        );
        assert_eq!((plan.pending_unhealthy, plan.pending_healthy), (0, 5));
        let text = serde_json::to_string(&plan).unwrap();
        assert!(text.contains("\"schema_version\":1"), "{text}");
        assert_eq!(serde_json::from_str::<Plan>(&text).unwrap(), plan);
    }

    #[test]
    fn unhealthy_hosts_do_not_count_against_the_minimum() {
        let config = DeploymentConfig {
            min_healthy: Amount::Hosts(2),
            batches: Vec::new(),
            concurrency: None,
            max_errors: None,
        };
        let mut plan = Plan::new(4, 2, &config).unwrap();
        assert_eq!(plan.step(), Step::Dispatch(2));
        assert_eq!(plan.step(), Step::Wait);
        plan.report(false);
        plan.report(true);
        assert_eq!(plan.step(), Step::Dispatch(1), "3 healthy now: one may go");
    }

    #[test]
    fn a_plan_stored_by_an_older_server_reads_as_counts() {
        let text = r#"{"hosts": [
            {"id": "a", "healthy": false, "state": "Running", "healthy_at_start": false},
            {"id": "b", "healthy": false, "state": {"Failed": {"Event": "x"}}, "healthy_at_start": true},
            {"id": "c", "healthy": true, "state": "Pending", "healthy_at_start": true}],
            "min_healthy": 1, "batches": [], "batch": [0, 2], "stopped": null}"#;
        let legacy: LegacyPlanner = serde_json::from_str(text).unwrap();
        let plan = legacy.plan();
        assert_eq!(legacy.order().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(
            (plan.hosts, plan.healthy_at_start, plan.min_healthy),
            (3, 2, 1)
        );
        assert_eq!((plan.pending_unhealthy, plan.pending_healthy), (0, 1));
        assert_eq!((plan.running, plan.succeeded, plan.failed), (1, 0, 1));
    }
}
