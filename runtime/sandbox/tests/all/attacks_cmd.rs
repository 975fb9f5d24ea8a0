//! Command grants (issue 8, point 2): `*` and `**` never match an option, the empty argument, a
//! control character or NUL; the program is the exact path granted, never another name for it
//! or a name looked up on `PATH`. Each attack runs against a probe program that records every
//! run (so the test sees on the host that nothing but the control call ran), and where it is
//! harmless, against the real program of the example too.

use davit_sandbox::{Grants, Outcome, Stream};

use crate::hostile::*;
use crate::support::*;

fn probe_grants(probe: &Probe, commands: Vec<davit_spec::CommandGrant>) -> Grants {
    Grants {
        commands,
        env: probe.env(),
        ..Grants::default()
    }
}

#[track_caller]
fn assert_denied(outcome: &Outcome, refused: usize) {
    assert_contained(outcome, &format!("contained: {refused} refused"));
    assert_host_line(outcome, Stream::Warn, "sandbox: command denied: ");
}

/// The probe ran exactly once, for the control call `args`.
#[track_caller]
fn assert_only_control_ran(probe: &Probe, args: &[&str]) {
    let control = std::iter::once(probe.program())
        .chain(args.iter().copied())
        .map(|a| format!("{a}|"))
        .collect::<String>();
    assert_eq!(probe.runs(), [control], "what the probe recorded");
}

fn my_pid() -> String {
    std::process::id().to_string()
}

/// Runs `guest` against a probe granted `PROBE -0 *` (with `extra` parameters): it must be
/// refused `refused` times, and the probe must have run only for the control call `-0 123`.
async fn on_probe_kill_grant(guest: &str, refused: usize, extra: &[(&str, &str)]) {
    let probe = Probe::new();
    let grants = probe_grants(&probe, vec![command(probe.program(), &["-0", "*"])]);
    let mut params = vec![("program", probe.program()), ("control", "123")];
    params.extend_from_slice(extra);
    let outcome = run(guest, grants, &params).await;
    assert_denied(&outcome, refused);
    assert_only_control_ran(&probe, &["-0", "123"]);
}

/// Runs `guest` against the real `/bin/kill -0 *`, with this process as the control pid (and
/// `extra` parameters): it must be refused `refused` times.
async fn on_real_kill_grant(guest: &str, refused: usize, extra: &[(&str, &str)]) -> Outcome {
    let grants = Grants {
        commands: vec![command("/bin/kill", &["-0", "*"])],
        ..Grants::default()
    };
    let pid = my_pid();
    let mut params = vec![("control", pid.as_str())];
    params.extend_from_slice(extra);
    let outcome = run(guest, grants, &params).await;
    assert_denied(&outcome, refused);
    outcome
}

#[tokio::test]
async fn star_never_matches_an_option_so_kill_minus_one_never_runs() {
    on_probe_kill_grant("cmd-star-option", 5, &[]).await;
    let outcome = on_real_kill_grant("cmd-star-option", 5, &[]).await;
    assert_host_line(
        &outcome,
        Stream::Warn,
        "sandbox: command denied: `/bin/kill \"-0\" \"-1\"` is not allowed",
    );
}

#[tokio::test]
async fn star_never_matches_the_empty_argument() {
    on_probe_kill_grant("cmd-star-empty", 4, &[]).await;
}

#[tokio::test]
async fn star_never_matches_a_control_character() {
    on_probe_kill_grant("cmd-star-control", 6, &[]).await;
    on_real_kill_grant("cmd-star-control", 6, &[]).await;
}

#[tokio::test]
async fn rest_checks_every_remaining_argument_so_echo_minus_e_never_runs() {
    let probe = Probe::new();
    let grants = probe_grants(&probe, vec![command(probe.program(), &["**"])]);
    let outcome = run("cmd-rest-option", grants, &[("program", probe.program())]).await;
    assert_denied(&outcome, 6);
    assert_only_control_ran(&probe, &["ok", "fine"]);

    let grants = Grants {
        commands: vec![command("/bin/echo", &["**"])],
        ..Grants::default()
    };
    let outcome = run("cmd-rest-option", grants, &[]).await;
    assert_denied(&outcome, 6);
    assert!(outcome.logs.iter().any(|l| l.text == "granted: ok fine"));
}

#[tokio::test]
async fn another_name_for_a_granted_program_is_denied() {
    let probe = Probe::new();
    let alias = probe.dir().join("alias");
    std::os::unix::fs::symlink(probe.program(), &alias).unwrap();
    let grants = probe_grants(&probe, vec![command(probe.program(), &["-0", "*"])]);
    let params = [
        ("program", probe.program()),
        ("control", "123"),
        ("aliases", alias.to_str().unwrap()),
    ];
    let outcome = run("cmd-program-alias", grants, &params).await;
    assert_denied(&outcome, 6);
    assert_only_control_ran(&probe, &["-0", "123"]);

    let aliases = "/usr/bin/kill|/usr/bin/../bin/kill|/usr/./bin/kill";
    let outcome = on_real_kill_grant("cmd-program-alias", 8, &[("aliases", aliases)]).await;
    assert_host_line(
        &outcome,
        Stream::Warn,
        "sandbox: command denied: `/usr/bin/../bin/kill \"-0\"",
    );
}

#[tokio::test]
async fn a_relative_program_name_is_never_looked_up_on_path() {
    let marker = marker();
    let grants = Grants {
        commands: vec![command("/bin/sleep", &[&marker])],
        ..Grants::default()
    };
    let outcome = run("cmd-program-relative", grants, &[("marker", &marker)]).await;
    let mut reaper = Reaper::default();
    reaper.add(outcome.services.iter().map(|s| s.pid));
    reaper.add(live_with_arg(&marker));
    assert_denied(&outcome, 8);
    let live = live_with_arg(&marker);
    let control: Vec<u32> = outcome.services.iter().map(|s| s.pid).collect();
    assert_eq!(live, control, "only the control service runs");
    assert_eq!(argv0(control[0]), "/bin/sleep");
}

#[tokio::test]
async fn nul_in_a_program_or_argument_is_denied_even_by_any() {
    let probe = Probe::new();
    let grants = probe_grants(
        &probe,
        vec![
            command(probe.program(), &["{any}"]),
            command(probe.program(), &["-0", "*"]),
        ],
    );
    let outcome = run("cmd-arg-nul", grants, &[("program", probe.program())]).await;
    assert_denied(&outcome, 4);
    assert_only_control_ran(&probe, &["-1"]);
}

#[tokio::test]
async fn a_glob_over_host_paths_cannot_be_climbed_out_of_with_dot_dot() {
    let site = Site::new();
    let work = site.work.to_str().unwrap().to_string();
    let grants = site.grants(vec![command("/usr/bin/touch", &[&format!("{work}/*")])]);
    let outcome = run("cmd-glob-dotdot", grants, &[("work", &work)]).await;
    assert_denied(&outcome, 4);
    assert!(site.work.join("made").is_file(), "the granted touch ran");
    assert!(
        !exists(&site.outside("pwned")),
        "touch created a file outside"
    );
}

#[tokio::test]
async fn a_path_argument_is_never_an_option_and_reaches_the_program_as_the_real_path() {
    let site = Site::new();
    let probe = Probe::new();
    let grants = Grants {
        mounts: vec![site.work_mount()],
        commands: vec![command(probe.program(), &["{path:/work}"])],
        env: probe.env(),
        ..Grants::default()
    };
    let outcome = run("cmd-path-option", grants, &[("program", probe.program())]).await;
    assert_denied(&outcome, 7);
    let real = std::fs::canonicalize(&site.work).unwrap().join("x");
    assert_only_control_ran(&probe, &[real.to_str().unwrap()]);
}
