//! Shared set-up: one sandbox per test process, guests from `target/guests/wasm`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use davit_sandbox::{
    Access, ActionInput, Call, ComponentStep, Context, Grants, Job, Limits, Mount, Outcome, Plugin,
    Sandbox, Verdict,
};

pub fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| Sandbox::new(None).expect("sandbox"))
}

/// Where `scripts/build-guests` puts the test guests.
pub fn guest_dir() -> PathBuf {
    match std::env::var_os("DAVIT_GUEST_WASM") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/guests/wasm"),
    }
}

pub fn guest(name: &str) -> Plugin {
    let path = guest_dir().join(format!("{name}.wasm"));
    let wasm = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the test guests first with `scripts/build-guests --only tests`",
            path.display()
        )
    });
    sandbox().load(&wasm).expect("guest loads")
}

pub fn mount(host: &Path, guest: &str, access: Access) -> Mount {
    Mount::open(host, guest, access).expect("mount opens")
}

pub fn limits(timeout_ms: u64) -> Limits {
    Limits {
        timeout: std::time::Duration::from_millis(timeout_ms),
        ..Limits::default()
    }
}

/// An AfterInstall call with `grants` and `params`.
pub fn call(grants: Grants, params: &[(&str, &str)]) -> Call {
    Call {
        context: Context {
            job: Job::deployment("AfterInstall", Default::default()),
            parameters: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Context::default()
        },
        grants,
        observer: None,
        action: None,
        query_actions: false,
    }
}

/// Calls the action probe `name` (inputs: one operation `op`) under `grants` as an image step;
/// the `result` it returns (`{"result":"…"}`, messages without quotes).
pub async fn probe_op(name: &str, grants: Grants, op: &str) -> String {
    let call = Call {
        context: Context {
            job: Job::Component(ComponentStep {
                attempt: 1,
                ..ComponentStep::default()
            }),
            ..Context::default()
        },
        grants,
        action: Some(ActionInput {
            name: "Probe".into(),
            inputs: op.into(),
        }),
        ..Call::default()
    };
    let outcome = sandbox().invoke(&guest(name), call).await.unwrap();
    match outcome.result {
        Ok(Verdict::Action { outputs, .. }) => outputs
            .strip_prefix("{\"result\":\"")
            .and_then(|o| o.strip_suffix("\"}"))
            .unwrap_or_else(|| panic!("{outputs}"))
            .to_owned(),
        other => panic!("{other:?}"),
    }
}

pub async fn run(name: &str, grants: Grants, params: &[(&str, &str)]) -> Outcome {
    sandbox()
        .invoke(&guest(name), call(grants, params))
        .await
        .expect("invocation set up")
}

/// Asserts the guest reported its attack contained, with `needle` in the reason.
#[track_caller]
pub fn assert_contained(outcome: &Outcome, needle: &str) {
    match &outcome.result {
        Ok(Verdict::Failed(message)) => {
            assert!(
                message.starts_with("contained: "),
                "not contained: {message}\nlogs: {:?}",
                outcome.logs
            );
            assert!(
                message.contains(needle),
                "expected `{needle}` in `{message}`"
            );
        }
        other => panic!(
            "expected a contained attack, got {other:?}\nlogs: {:?}",
            outcome.logs
        ),
    }
}
