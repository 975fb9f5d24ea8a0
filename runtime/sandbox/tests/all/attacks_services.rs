//! Services (issue 8, point 3): `spawn` is bounded per hook, spawned services run under resource
//! limits in their own session, and the outcome names exactly the processes started, whatever
//! way the hook ended, so that the host can record and stop them. Every test kills, by pid, what
//! it started.

use std::time::Duration;

use davit_sandbox::{Access, Fault, Grants, Limits, Outcome};

use crate::hostile::*;
use crate::support::*;

fn sleep_grants(markers: &[&str]) -> Grants {
    Grants {
        commands: markers
            .iter()
            .map(|m| command("/bin/sleep", &[m]))
            .collect(),
        ..Grants::default()
    }
}

/// A reaper for what `outcome` started and whatever else runs with these markers.
fn reaper(outcome: &Outcome, markers: &[&str]) -> Reaper {
    let mut reaper = Reaper::default();
    reaper.add(outcome.services.iter().map(|s| s.pid));
    for marker in markers {
        reaper.add(live_with_arg(marker));
    }
    reaper
}

fn service_pids(outcome: &Outcome) -> Vec<u32> {
    let mut pids: Vec<u32> = outcome.services.iter().map(|s| s.pid).collect();
    pids.sort();
    pids
}

#[tokio::test]
async fn a_hook_spawning_200_services_starts_at_most_its_limit() {
    let marker = marker();
    let outcome = run(
        "svc-spawn-flood",
        sleep_grants(&[&marker]),
        &[("marker", &marker)],
    )
    .await;
    let _reaper = reaper(&outcome, &[&marker]);
    let limit = Limits::default().services;
    assert_contained(
        &outcome,
        &format!("started {limit}, denied {}", 200 - limit),
    );
    assert_eq!(outcome.services.len(), limit as usize);
    assert_eq!(
        live_with_arg(&marker),
        service_pids(&outcome),
        "live services"
    );
    assert_eq!(
        logged_pids(&outcome),
        service_pids(&outcome),
        "pids the guest was given"
    );
    assert!(outcome.logs.iter().any(|l| {
        l.text
            .contains(&format!("the hook has started {limit} services already"))
    }));
}

#[tokio::test]
async fn the_service_limit_is_the_one_the_grant_sets() {
    let marker = marker();
    let grants = Grants {
        limits: Limits {
            services: 1,
            ..Limits::default()
        },
        ..sleep_grants(&[&marker])
    };
    let outcome = run(
        "svc-spawn-flood",
        grants,
        &[("marker", &marker), ("count", "5")],
    )
    .await;
    let _reaper = reaper(&outcome, &[&marker]);
    assert_contained(&outcome, "started 1, denied 4");
    assert_eq!(live_with_arg(&marker), service_pids(&outcome));
}

#[tokio::test]
async fn a_service_runs_with_4096_descriptors_no_core_dumps_in_its_own_session() {
    let marker = marker();
    let outcome = run(
        "svc-rlimit",
        sleep_grants(&[&marker]),
        &[("marker", &marker)],
    )
    .await;
    let _reaper = reaper(&outcome, &[&marker]);
    assert_contained(&outcome, "only the host");
    let [service] = outcome.services.as_slice() else {
        panic!("expected one service, got {:?}", outcome.services)
    };
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", service.pid)).unwrap();
    let limit = |name: &str| -> Vec<String> {
        let line = limits.lines().find(|l| l.starts_with(name)).unwrap();
        line[name.len()..]
            .split_whitespace()
            .take(2)
            .map(str::to_string)
            .collect()
    };
    assert_eq!(limit("Max open files"), ["4096", "4096"], "{limits}");
    assert_eq!(limit("Max core file size"), ["0", "0"], "{limits}");
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", service.pid)).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .collect();
    assert_eq!(
        fields[3],
        service.pid.to_string(),
        "its own session: {stat}"
    );
}

#[tokio::test]
async fn the_outcome_lists_exactly_the_services_started() {
    let site = Site::new();
    let (first, second) = (marker(), marker());
    let grants = Grants {
        mounts: vec![site.work_mount()],
        ..sleep_grants(&[&first, &second])
    };
    let outcome = run(
        "svc-pids-reported",
        grants,
        &[("first", &first), ("second", &second)],
    )
    .await;
    let _reaper = reaper(&outcome, &[&first, &second]);
    assert_contained(&outcome, "Denied");
    let recorded: Vec<(&str, Vec<String>)> = outcome
        .services
        .iter()
        .map(|s| (s.program.as_str(), s.args.clone()))
        .collect();
    assert_eq!(
        recorded,
        [
            ("/bin/sleep", vec![first.clone()]),
            ("/bin/sleep", vec![second.clone()])
        ]
    );
    assert_eq!(logged_pids(&outcome), service_pids(&outcome));
    assert_eq!(live_with_arg(&first), [outcome.services[0].pid]);
    assert_eq!(live_with_arg(&second), [outcome.services[1].pid]);
    for service in &outcome.services {
        assert_eq!(
            davit_sandbox::start_ticks(service.pid),
            Some(service.start_ticks)
        );
    }
    assert!(site.work.join("svc.log").is_file());
}

#[tokio::test]
async fn services_started_before_a_trap_are_still_reported() {
    let marker = marker();
    let outcome = run(
        "svc-spawn-then-fault",
        sleep_grants(&[&marker]),
        &[("marker", &marker), ("end", "trap")],
    )
    .await;
    let _reaper = reaper(&outcome, &[&marker]);
    assert!(
        matches!(outcome.result, Err(Fault::Trap { .. })),
        "{:?}",
        outcome.result
    );
    assert_eq!(outcome.services.len(), 2);
    assert_eq!(live_with_arg(&marker), service_pids(&outcome));
}

#[tokio::test]
async fn services_started_before_a_timeout_are_still_reported() {
    let marker = marker();
    let grants = Grants {
        limits: limits(1000),
        ..sleep_grants(&[&marker])
    };
    let outcome = run(
        "svc-spawn-then-fault",
        grants,
        &[("marker", &marker), ("end", "loop")],
    )
    .await;
    let _reaper = reaper(&outcome, &[&marker]);
    assert_eq!(
        outcome.result,
        Err(Fault::Timeout {
            limit: Duration::from_secs(1)
        })
    );
    assert_eq!(outcome.services.len(), 2);
    assert_eq!(live_with_arg(&marker), service_pids(&outcome));
}

/// A FIFO as a service's log file: refused at once (the host never waits on it), nothing starts.
#[tokio::test]
async fn a_fifo_as_log_file_is_refused_without_waiting_on_it() {
    let marker = marker();
    let work = tempfile::tempdir().unwrap();
    let fifo = std::ffi::CString::new(
        work.path()
            .join("fifo")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let grants = Grants {
        mounts: vec![mount(work.path(), "/work", Access::ReadWrite)],
        limits: limits(5_000),
        ..sleep_grants(&[&marker])
    };
    let started = std::time::Instant::now();
    let outcome = run("svc-log-fifo", grants, &[("marker", &marker)]).await;
    let _reaper = reaper(&outcome, &[&marker]);
    assert_contained(&outcome, "not a regular file");
    assert!(outcome.services.is_empty());
    assert!(live_with_arg(&marker).is_empty(), "nothing started");
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
}
