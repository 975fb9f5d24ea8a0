//! Links (issue 8, point 1): what the host does on a path a hook can influence, a spawned
//! service's log file or a `{path:…}` argument of a native command, resolves beneath the granted
//! directory and never follows a link out of it. Each test asserts on the host that the file
//! outside was not created, appended to, read or chmod-ed.

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::time::Duration;

use davit_sandbox::{Access, Grants, Outcome, Stream};

use crate::hostile::*;
use crate::support::*;

/// Long enough for a program the host wrongly started to have written its output.
const SETTLE: Duration = Duration::from_millis(300);

#[track_caller]
fn assert_command_denied(outcome: &Outcome) {
    assert_contained(outcome, "Denied");
    assert_host_line(outcome, Stream::Warn, "sandbox: command denied: ");
}

fn echo_grants(site: &Site) -> Grants {
    site.grants(vec![command("/bin/echo", &["pwned"])])
}

#[tokio::test]
async fn a_planted_relative_link_as_log_file_creates_nothing_outside() {
    let site = Site::new();
    let outcome = run("link-log-relative", echo_grants(&site), &[]).await;
    assert_command_denied(&outcome);
    assert_host_line(
        &outcome,
        Stream::Warn,
        "sandbox: command denied: log file `/work/svc.log`",
    );
    std::thread::sleep(SETTLE);
    assert!(
        !exists(&site.outside("x")),
        "`x` was created outside the grant"
    );
    let link = std::fs::symlink_metadata(site.work.join("svc.log")).unwrap();
    assert!(
        link.file_type().is_symlink(),
        "the planted link is still a link"
    );
}

#[tokio::test]
async fn a_planted_relative_link_as_log_file_appends_nothing_outside() {
    let site = Site::new();
    std::fs::write(site.outside("x"), "original").unwrap();
    let outcome = run("link-log-relative", echo_grants(&site), &[]).await;
    assert_command_denied(&outcome);
    std::thread::sleep(SETTLE);
    assert_eq!(
        std::fs::read_to_string(site.outside("x")).unwrap(),
        "original"
    );
}

#[tokio::test]
async fn an_absolute_link_as_log_file_creates_nothing_where_it_points() {
    let site = Site::new();
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("x");
    symlink(&target, site.work.join("svc.log")).unwrap();
    let outcome = run(
        "link-log-absolute",
        echo_grants(&site),
        &[("outside", target.to_str().unwrap())],
    )
    .await;
    assert_command_denied(&outcome);
    assert_contained(&outcome, "plant `own.log`");
    std::thread::sleep(SETTLE);
    assert!(!exists(&target), "the absolute link's target was created");
    assert!(
        !exists(&site.work.join("own.log")),
        "the guest planted an absolute link"
    );
}

#[tokio::test]
async fn a_log_file_under_a_directory_link_out_creates_nothing_outside() {
    let site = Site::new();
    let elsewhere = tempfile::tempdir().unwrap();
    symlink(elsewhere.path(), site.work.join("abslogs")).unwrap();
    let outcome = run("link-log-parent", echo_grants(&site), &[]).await;
    assert_command_denied(&outcome);
    assert_contained(&outcome, "2 refused");
    std::thread::sleep(SETTLE);
    assert!(
        !exists(&site.outside("svc.log")),
        "created through `logs -> ..`"
    );
    assert!(
        !exists(&elsewhere.path().join("svc.log")),
        "created through `abslogs`"
    );
}

#[tokio::test]
async fn a_log_file_climbing_out_with_dot_dot_creates_nothing_outside() {
    let site = Site::new();
    let outcome = run("link-log-dotdot", echo_grants(&site), &[]).await;
    assert_command_denied(&outcome);
    assert_contained(&outcome, "4 refused");
    std::thread::sleep(SETTLE);
    assert!(!exists(&site.outside("x")));
}

fn cat_grants(site: &Site) -> Grants {
    site.grants(vec![command("/bin/cat", &["{path:/work}"])])
}

/// The granted `cat` ran on the file inside, and nothing of the secret came back.
#[track_caller]
fn assert_cat_contained(outcome: &Outcome, site: &Site) {
    assert_command_denied(outcome);
    assert!(
        outcome.logs.iter().any(|l| l.text == "granted: inside"),
        "the control call did not run: {:#?}",
        outcome.logs
    );
    assert_not_leaked(outcome, &site.secret);
}

#[tokio::test]
async fn cat_through_a_planted_relative_dir_link_reads_nothing_outside() {
    let site = Site::new();
    let outcome = run("link-cat-relative", cat_grants(&site), &[]).await;
    assert_cat_contained(&outcome, &site);
    assert_host_line(
        &outcome,
        Stream::Warn,
        "sandbox: command denied: argument 1 `/work/r/secret` of `/bin/cat`",
    );
}

#[tokio::test]
async fn cat_through_an_absolute_dir_link_reads_nothing_outside() {
    let site = Site::new();
    symlink(site.root.path(), site.work.join("r")).unwrap();
    let outcome = run("link-cat-absolute", cat_grants(&site), &[]).await;
    assert_cat_contained(&outcome, &site);
}

#[tokio::test]
async fn cat_of_a_last_component_link_out_reads_nothing_outside() {
    let site = Site::new();
    let outcome = run("link-cat-final", cat_grants(&site), &[]).await;
    assert_cat_contained(&outcome, &site);
}

#[tokio::test]
async fn cat_through_a_chain_of_local_looking_links_reads_nothing_outside() {
    let site = Site::new();
    let outcome = run("link-chain-out", cat_grants(&site), &[]).await;
    assert_cat_contained(&outcome, &site);
}

#[tokio::test]
async fn a_path_argument_with_dot_dot_is_refused_by_the_pattern() {
    let site = Site::new();
    let outcome = run("link-path-dotdot", cat_grants(&site), &[]).await;
    assert_cat_contained(&outcome, &site);
    assert_contained(&outcome, "5 refused");
    assert_host_line(
        &outcome,
        Stream::Warn,
        "sandbox: command denied: `/bin/cat \"/work/../secret\"` is not allowed",
    );
}

#[tokio::test]
async fn a_directory_swapped_for_a_link_after_an_allowed_call_is_refused_at_the_next() {
    let site = Site::new();
    let outcome = run("link-swap-then-call", cat_grants(&site), &[]).await;
    assert_cat_contained(&outcome, &site);
    assert!(exists(&site.work.join("r.old/secret")));
}

#[tokio::test]
async fn a_link_to_root_inside_a_read_only_grant_reads_nothing_outside() {
    let site = Site::new();
    let data = site.root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("keep.txt"), "inside").unwrap();
    symlink("/", data.join("root")).unwrap();
    let grants = Grants {
        mounts: vec![mount(&data, "/data", Access::Read)],
        commands: vec![command("/bin/cat", &["{path:/data}"])],
        ..Grants::default()
    };
    let secret = site.outside("secret");
    let outcome = run(
        "link-readonly-root",
        grants,
        &[("secret", secret.to_str().unwrap())],
    )
    .await;
    assert_cat_contained(&outcome, &site);
    assert_contained(&outcome, "3 refused");
    assert!(
        std::fs::symlink_metadata(data.join("root"))
            .unwrap()
            .is_symlink()
    );
    assert!(!exists(&data.join("up")));
}

#[tokio::test]
async fn touch_through_links_creates_nothing_outside() {
    let site = Site::new();
    let grants = site.grants(vec![command("/usr/bin/touch", &["{path:/work}"])]);
    let outcome = run("link-touch-outside", grants, &[]).await;
    assert_command_denied(&outcome);
    assert_contained(&outcome, "2 refused");
    assert!(site.work.join("made").is_file(), "the granted touch ran");
    assert!(!exists(&site.outside("pwned")), "created through `d -> ..`");
    assert!(
        !exists(&site.outside("pwned2")),
        "created through the dangling `n`"
    );
}

#[tokio::test]
async fn chmod_through_links_changes_no_mode_outside() {
    let site = Site::new();
    let secret = site.outside("secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mine = site.work.join("mine");
    std::fs::write(&mine, "mine").unwrap();
    std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o600)).unwrap();
    let grants = site.grants(vec![command("/bin/chmod", &["666", "{path:/work}"])]);
    let outcome = run("link-chmod-outside", grants, &[]).await;
    assert_command_denied(&outcome);
    assert_contained(&outcome, "2 refused");
    assert_eq!(
        std::fs::metadata(&mine).unwrap().mode() & 0o7777,
        0o666,
        "the granted chmod ran"
    );
    assert_eq!(std::fs::metadata(&secret).unwrap().mode() & 0o7777, 0o600);
}

/// The resolved host path is what the program gets: a link may not smuggle into it the control
/// characters the pattern refuses in what the hook wrote.
#[tokio::test]
async fn a_path_argument_resolved_through_a_link_carries_no_control_character() {
    let site = Site::new();
    let probe = Probe::new();
    let grants = Grants {
        env: probe.env(),
        ..site.grants(vec![command(probe.program(), &["{path:/work}"])])
    };
    let outcome = run("link-path-control", grants, &[("program", probe.program())]).await;
    let runs = probe.runs();
    assert!(
        runs.iter().all(|r| !r.contains("-rf")),
        "the program got a path with a newline: {runs:?}"
    );
    assert_command_denied(&outcome);
}
