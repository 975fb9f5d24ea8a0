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

fn action_call(action: &str, inputs: &str) -> davit_sandbox::Call {
    davit_sandbox::Call {
        context: davit_sandbox::Context {
            job: davit_sandbox::Job::Component(davit_sandbox::ComponentStep {
                run_id: "r-1".into(),
                document: "doc".into(),
                phase: "build".into(),
                step: "Echo".into(),
                iteration: None,
                attempt: 1,
            }),
            ..Default::default()
        },
        action: Some(davit_sandbox::ActionInput {
            name: action.into(),
            inputs: inputs.into(),
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn an_action_gets_its_step_and_inputs_and_returns_outputs_and_next() {
    use davit_sandbox::ActionNext;
    let plugin = crate::support::guest("action-echo");
    assert_eq!(plugin.kind(), davit_sandbox::PluginKind::Action);
    let sandbox = crate::support::sandbox();
    let ran = sandbox
        .invoke(&plugin, action_call("CreateFile", r#"[{"path":"/x"}]"#))
        .await
        .unwrap();
    assert_eq!(
        ran.result,
        Ok(Verdict::Action {
            outputs: r#"{"action":"CreateFile","inputs":[{"path":"/x"}]}"#.into(),
            next: ActionNext::Proceed,
        })
    );
    assert!(ran.logs.iter().any(|l| l.text == "build.Echo: CreateFile"));
    for (action, next) in [
        ("Reboot", ActionNext::Reboot),
        ("Rerun", ActionNext::RebootAndRerun),
    ] {
        let ran = sandbox
            .invoke(&plugin, action_call(action, "{}"))
            .await
            .unwrap();
        assert!(
            matches!(ran.result, Ok(Verdict::Action { next: n, .. }) if n == next),
            "{action}: {:?}",
            ran.result
        );
    }
    let failed = sandbox
        .invoke(&plugin, action_call("Fail", "{}"))
        .await
        .unwrap();
    assert_eq!(
        failed.result,
        Ok(Verdict::Failed("build.Echo failed as asked".into()))
    );
}

#[tokio::test]
async fn an_action_component_is_not_called_as_a_hook_nor_a_hook_as_an_action() {
    let sandbox = crate::support::sandbox();
    let action = crate::support::guest("action-echo");
    let as_hook = crate::support::call(Grants::default(), &[]);
    let err = sandbox.invoke(&action, as_hook).await.err().unwrap();
    assert!(err.to_string().contains("it needs an action"), "{err}");
    let hook = crate::support::guest("reboot-request");
    let err = sandbox
        .invoke(&hook, action_call("CreateFile", "{}"))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("it takes no action"), "{err}");
}

fn package_call(action: davit_sandbox::PackageAction) -> davit_sandbox::Call {
    davit_sandbox::Call {
        context: davit_sandbox::Context {
            job: davit_sandbox::Job::Package(davit_sandbox::PackageStep {
                name: "escape".into(),
                version: "1.0.0".into(),
                action,
                previous_version: None,
                platform: "debian".into(),
            }),
            bundle_dir: "/package".into(),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn a_package_component_says_its_actions_and_only_those_are_called() {
    use davit_sandbox::{PackageAction, PluginKind};
    let sandbox = crate::support::sandbox();
    let plugin = crate::support::guest("package-escape");
    assert_eq!(plugin.kind(), PluginKind::Package);
    let actions = sandbox.package_actions(&plugin).await.unwrap();
    assert_eq!(actions, [PackageAction::Install, PackageAction::Uninstall]);
    // `validate` is not among them: it is not called, and the answer says so.
    let outcome = sandbox
        .invoke(&plugin, package_call(PackageAction::Validate))
        .await
        .unwrap();
    assert_eq!(
        outcome.result,
        Ok(Verdict::Unsupported(PackageAction::Validate))
    );
    // A package component runs only for a package's step.
    let err = sandbox
        .invoke(&plugin, davit_sandbox::Call::default())
        .await
        .expect_err("refused");
    assert!(
        err.to_string().contains("runs only for a package's step"),
        "{err}"
    );
    // A hook is not a package's scripts.
    let hook = crate::support::guest("reboot-request");
    assert!(sandbox.package_actions(&hook).await.is_err());
}
