//! Logs (issue 8, point 8): what a hook writes cannot pass for the host's own lines, cannot
//! carry terminal escapes, bidi overrides or invisible characters, and cannot crowd the host's
//! lines out. The rule checked: no guest-produced line's text starts with `sandbox:`, and the
//! host's lines are still there after a guest filled its budget.

use std::time::Duration;

use davit_sandbox::{Fault, Grants, Limits, Outcome, Stream};

use crate::hostile::*;
use crate::support::*;

#[track_caller]
fn assert_no_char(outcome: &Outcome, what: &str, bad: impl Fn(char) -> bool) {
    for line in &outcome.logs {
        assert!(
            !line.text.chars().any(&bad),
            "{what} kept in {line:?} ({:?})",
            line.text.chars().filter(|c| bad(*c)).collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn guest_lines_never_pass_for_the_hosts() {
    let outcome = run("log-forge-host-line", Grants::default(), &[]).await;
    assert_contained(&outcome, "the host decides");
    assert_only_host_lines(&outcome, &[]);
    let kept = outcome
        .logs
        .iter()
        .filter(|l| l.text.contains("hook succeeded"))
        .count();
    assert!(
        kept >= 10,
        "the forged lines are kept, marked: {:#?}",
        outcome.logs
    );
}

#[tokio::test]
async fn terminal_escapes_never_reach_the_log() {
    let outcome = run("log-escapes", Grants::default(), &[]).await;
    assert_contained(&outcome, "nothing to break");
    assert_no_char(&outcome, "a control character", |c| {
        c.is_control() && c != '\t'
    });
    assert_only_host_lines(&outcome, &[]);
    assert!(outcome.logs.iter().any(|l| l.text.contains("after title")));
}

#[tokio::test]
async fn bidi_overrides_and_invisible_characters_never_reach_the_log() {
    let outcome = run("log-bidi", Grants::default(), &[]).await;
    assert_contained(&outcome, "nothing to break");
    assert_no_char(&outcome, "a bidi or invisible format character", |c| {
        matches!(c as u32,
            0x00AD | 0x061C | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2069 | 0xFEFF
            | 0xE0000..=0xE007F)
    });
    assert_only_host_lines(&outcome, &[]);
}

#[tokio::test]
async fn no_line_break_but_newline_survives_to_start_a_fake_host_line() {
    let outcome = run("log-unicode-newline", Grants::default(), &[]).await;
    assert_contained(&outcome, "nothing to break");
    assert_no_char(&outcome, "a line or paragraph separator", |c| {
        matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}' | '\u{b}' | '\u{c}')
    });
    assert_only_host_lines(&outcome, &[]);
}

#[tokio::test]
async fn a_long_line_cut_by_the_host_does_not_start_a_fake_host_line() {
    let outcome = run("log-split-line", Grants::default(), &[]).await;
    assert_contained(&outcome, "nothing to break");
    assert_only_host_lines(&outcome, &[]);
    for line in &outcome.logs {
        assert!(
            line.text.len() <= 4096 + 4,
            "{} bytes kept in one line",
            line.text.len()
        );
    }
}

#[tokio::test]
async fn host_lines_survive_a_guest_that_filled_its_output_budget() {
    let grants = Grants {
        limits: Limits {
            output: 4096,
            ..limits(1000)
        },
        ..Grants::default()
    };
    let outcome = run("log-flood-then-fault", grants, &[]).await;
    assert_eq!(
        outcome.result,
        Err(Fault::Timeout {
            limit: Duration::from_secs(1)
        })
    );
    assert!(
        outcome.dropped_output > 50_000,
        "dropped {}",
        outcome.dropped_output
    );
    assert_host_line(&outcome, Stream::Warn, "sandbox: command denied: `/bin/sh");
    assert_host_line(&outcome, Stream::Error, "sandbox: hook timed out");
    assert_only_host_lines(
        &outcome,
        &["sandbox: command denied: ", "sandbox: hook timed out"],
    );
}

/// Host lines that quote what the guest asked for must not use up the room kept for the host's
/// fault line.
#[tokio::test]
async fn denied_requests_cannot_crowd_out_the_hosts_fault_line() {
    let outcome = run("log-crowd-host-reserve", Grants::default(), &[]).await;
    assert!(
        matches!(&outcome.result, Err(Fault::Trap { .. })),
        "{:?}",
        outcome.result
    );
    assert_host_line(&outcome, Stream::Error, "sandbox: hook trapped");
    assert_only_host_lines(
        &outcome,
        &["sandbox: command denied: ", "sandbox: hook trapped"],
    );
}
