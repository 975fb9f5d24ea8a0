//! What a hook's result becomes: `ok(reboot)` is a success that asks for a reboot; an error
//! after a request is a failure, and the request is dropped.

use davit_sandbox::{Grants, Verdict};

use crate::support::run;

#[tokio::test]
async fn a_hook_that_asks_for_a_reboot_succeeds_with_the_request() {
    let outcome = run("reboot-request", Grants::default(), &[]).await;
    assert_eq!(outcome.result, Ok(Verdict::Reboot));
    assert!(outcome.succeeded());
    assert!(
        outcome
            .logs
            .iter()
            .any(|l| l.text == "AfterInstall: asking for a reboot"),
        "{:?}",
        outcome.logs
    );
}

#[tokio::test]
async fn a_hook_that_asks_then_fails_is_a_failure_without_a_reboot() {
    let outcome = run("reboot-request", Grants::default(), &[("fail", "yes")]).await;
    assert_eq!(
        outcome.result,
        Ok(Verdict::Failed("asked for a reboot, then failed".into()))
    );
    assert!(!outcome.succeeded());
}
