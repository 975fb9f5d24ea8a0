//! Simulation: thousands of random groups, configurations and failure schedules (hook failures,
//! lost agents, restarts, hosts that never enrolled, operators stopping), each run to the end.
//! After every step the group keeps its healthy minimum; every deployment ends, within a bounded
//! number of steps; and its outcome agrees with what happened to the hosts.

use davit_fleet::{Amount, DeploymentConfig, HostFailure, HostState, Outcome, Planner, Step};

/// A small deterministic generator (xorshift64*), so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn random_config(rng: &mut Rng, n: usize) -> DeploymentConfig {
    match rng.below(5) {
        0 => DeploymentConfig::one_at_a_time(),
        1 => DeploymentConfig::half_at_a_time(),
        2 => DeploymentConfig::all_at_once(),
        3 => DeploymentConfig {
            min_healthy: Amount::Hosts(rng.below(n as u64) as usize),
            batches: Vec::new(),
            concurrency: None,
            max_errors: None,
        },
        4 if rng.chance(50) => {
            let amount = |rng: &mut Rng, most: u64| {
                if rng.chance(50) {
                    Amount::Hosts(rng.below(most) as usize)
                } else {
                    Amount::Percent(rng.below(101) as u8)
                }
            };
            DeploymentConfig::rate(amount(rng, 8), amount(rng, 4))
        }
        _ => DeploymentConfig {
            min_healthy: Amount::Percent(rng.below(100) as u8),
            batches: (0..1 + rng.below(3))
                .map(|_| {
                    if rng.chance(50) {
                        Amount::Hosts(1 + rng.below(5) as usize)
                    } else {
                        Amount::Percent(1 + rng.below(60) as u8)
                    }
                })
                .collect(),
            concurrency: None,
            max_errors: None,
        },
    }
}

fn random_failure(rng: &mut Rng) -> HostFailure {
    match rng.below(4) {
        0 => HostFailure::Event("AfterInstall".into()),
        1 => HostFailure::Lost,
        2 => HostFailure::FailedAfterRestart("the agent restarted".into()),
        _ => HostFailure::NeverEnrolled,
    }
}

/// Runs one deployment to its end and checks every rule on the way; returns the outcome.
fn simulate(seed: u64) -> Outcome {
    let mut rng = Rng(seed | 1);
    let n = 1 + rng.below(40) as usize;
    let hosts: Vec<(String, bool)> = (0..n)
        .map(|i| (format!("host-{i:02}"), rng.chance(80)))
        .collect();
    let config = random_config(&mut rng, n);
    let fail_rate = rng.below(40);
    let mut planner = Planner::new(hosts, &config).expect("a plannable group");
    let batch_cap = config.batches.iter().map(|b| b.of(n, false).max(1)).max();
    let mut running: Vec<String> = Vec::new();
    // Every step either starts a host, records a report or ends: 2 per host, plus the last.
    for _ in 0..=2 * n + 1 {
        let step = planner.step();
        assert!(
            planner.keeps_minimum(),
            "seed {seed}: healthy minimum broken"
        );
        check_counts(&planner, seed);
        match step {
            Step::Dispatch(started) => {
                assert!(!started.is_empty(), "seed {seed}: empty dispatch");
                running.extend(started);
                if let Some(cap) = batch_cap {
                    assert!(
                        running.len() <= cap,
                        "seed {seed}: more running than a batch"
                    );
                }
                if let Some(window) = planner.plan().window {
                    assert!(
                        running.len() <= window,
                        "seed {seed}: more running than the concurrency"
                    );
                }
            }
            Step::Wait => {
                assert!(
                    !running.is_empty(),
                    "seed {seed}: waits with nothing running"
                );
                if rng.chance(3) {
                    planner.stop("operator");
                }
                let who = running.swap_remove(rng.below(running.len() as u64) as usize);
                let result = if rng.chance(fail_rate) {
                    Err(random_failure(&mut rng))
                } else {
                    Ok(())
                };
                planner.report(&who, result);
            }
            Step::Done(outcome) => {
                assert!(running.is_empty(), "seed {seed}: ended with hosts running");
                check_end(&planner, &outcome, seed);
                return outcome;
            }
        }
    }
    panic!(
        "seed {seed}: the deployment did not end within {} steps",
        2 * n + 2
    );
}

/// The counts the plan decides by are the hosts' own.
fn check_counts(planner: &Planner, seed: u64) {
    let plan = planner.plan();
    let hosts = planner.hosts();
    let count =
        |pred: &dyn Fn(&davit_fleet::Host) -> bool| hosts.iter().filter(|h| pred(h)).count();
    // A host never started is pending in the counts; skipped, once it is done.
    let waiting = |s: &HostState| matches!(s, HostState::Pending | HostState::Skipped);
    let pending = |healthy| count(&|h| waiting(&h.state) && h.healthy == healthy);
    assert_eq!(plan.pending_unhealthy, pending(false), "seed {seed}");
    assert_eq!(plan.pending_healthy, pending(true), "seed {seed}");
    assert_eq!(
        plan.running,
        count(&|h| h.state == HostState::Running),
        "seed {seed}"
    );
    assert_eq!(
        plan.succeeded,
        count(&|h| h.state == HostState::Succeeded),
        "seed {seed}"
    );
    let failed = count(&|h| matches!(h.state, HostState::Failed(_)));
    assert_eq!(plan.failed, failed, "seed {seed}");
    assert_eq!(plan.healthy(), planner.healthy(), "seed {seed}");
}

fn check_end(planner: &Planner, outcome: &Outcome, seed: u64) {
    let hosts = planner.hosts();
    let n = hosts.len();
    let count = |pred: &dyn Fn(&HostState) -> bool| hosts.iter().filter(|h| pred(&h.state)).count();
    assert_eq!(
        count(&|s| matches!(s, HostState::Pending | HostState::Running)),
        0,
        "seed {seed}: hosts left pending or running"
    );
    let succeeded = count(&|s| *s == HostState::Succeeded);
    let failed = count(&|s| matches!(s, HostState::Failed(_)));
    match outcome {
        Outcome::Succeeded => {
            assert!(succeeded >= 1, "seed {seed}");
            if let Some(max) = planner.plan().max_errors {
                assert!(failed <= max, "seed {seed}: more errors than the threshold");
            }
            assert_eq!(count(&|s| *s == HostState::Skipped), 0, "seed {seed}");
            assert!(failed <= n - planner.min_healthy(), "seed {seed}");
        }
        Outcome::Failed(reason) => assert!(!reason.is_empty(), "seed {seed}"),
    }
}

#[test]
fn random_schedules_keep_the_minimum_and_always_end() {
    let (mut succeeded, mut failed) = (0, 0);
    for seed in 0..5000u64 {
        match simulate(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)) {
            Outcome::Succeeded => succeeded += 1,
            Outcome::Failed(_) => failed += 1,
        }
    }
    // The schedules exercise both endings, or the test proves little.
    assert!(
        succeeded > 500 && failed > 500,
        "{succeeded} succeeded, {failed} failed"
    );
}
