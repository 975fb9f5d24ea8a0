//! `davit deploy --local` end to end.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::*;

fn deploy(
    bundle: &Path,
    root: &Path,
    target: &Path,
    policy: Option<&Path>,
    extra: &[&str],
) -> std::process::Output {
    let mut cmd = davit();
    cmd.args(["deploy", "--local"]).arg(bundle);
    cmd.arg("--deployment-root")
        .arg(root)
        .arg("--target-root")
        .arg(target);
    if let Some(policy) = policy {
        cmd.arg("--policy").arg(policy);
    }
    cmd.args(extra).output().unwrap()
}

const SLEEPY_APPSPEC: &str = "version: 0.0
os: linux
files:
  - source: site
    destination: /srv/app
hooks:
  BeforeInstall:
    - location: hooks/sleep.wasm
      timeout: 120
";

#[test]
fn a_grant_beyond_the_policy_fails_before_any_hook_naming_hook_grant_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let hook = std::fs::read(test_guest("log-injection")).unwrap();
    let appspec = "version: 0.0
os: linux
hooks:
  AfterInstall:
    - location: hooks/hook.wasm
      grants:
        directories:
          - {path: /etc/app, access: read-write}
";
    write_bundle(&bundle, appspec, &[("hooks/hook.wasm", &hook)]);
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[[directories]]\npath = \"/etc/app\"\naccess = \"read\"\n",
    )
    .unwrap();
    let output = deploy(
        &bundle,
        &dir.path().join("root"),
        &dir.path().join("target"),
        Some(&policy),
        &[],
    );
    let (_, err) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the host policy refuses 1 grant (no hook has run)"),
        "{err}"
    );
    assert!(
        err.contains("appspec.yml:8:13"),
        "hook grant location: {err}"
    );
    assert!(err.contains("`hooks/hook.wasm`"), "{err}");
    assert!(err.contains("directory `/etc/app` read-write"), "{err}");
    assert!(
        err.contains(&format!("{}:1:1", policy.display())),
        "policy rule: {err}"
    );
    assert!(err.contains("hint:"), "{err}");
    // Nothing ran: no report, no journal.
    assert!(!dir.path().join("root/journal.json").exists());
}

#[test]
fn a_killed_deployment_is_reported_as_failed_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let sleepy = std::fs::read(test_guest("sleep-forever")).unwrap();
    write_bundle(
        &bundle,
        SLEEPY_APPSPEC,
        &[
            ("hooks/sleep.wasm", &sleepy),
            ("site/index.html", b"hi".as_slice()),
        ],
    );
    let (root, target) = (dir.path().join("root"), dir.path().join("target"));
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[install]\ndestinations = [\"/srv/app\"]\n").unwrap();
    let mut child = davit()
        .args(["deploy", "--local"])
        .arg(&bundle)
        .arg("--deployment-root")
        .arg(&root)
        .arg("--target-root")
        .arg(&target)
        .arg("--policy")
        .arg(&policy)
        .args(["-a", "app", "-g", "group"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let journal = root.join("apps/app/journal.json");
    let started = Instant::now();
    while !std::fs::read_to_string(&journal).is_ok_and(|j| j.contains("BeforeInstall")) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the hook never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // The next run finds the journal, reports the killed deployment, and goes on.
    std::fs::write(bundle.join("appspec.yml"), "version: 0.0\nos: linux\n").unwrap();
    let output = deploy(
        &bundle,
        &root,
        &target,
        None,
        &["-a", "app", "-g", "group", "--output", "json"],
    );
    let (out, err) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let interrupted = &report["interrupted"];
    assert_eq!(interrupted["event"], "BeforeInstall");
    // Killed before Install: nothing to put back, and the report says what the host holds.
    assert_eq!(
        interrupted["recovery"],
        "the host holds no revision of this group"
    );
    let old = root.join(format!(
        "apps/app/group/deployments/{}.json",
        interrupted["deployment_id"].as_str().unwrap()
    ));
    let old: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(old).unwrap()).unwrap();
    assert_eq!(old["status"], "FailedAfterRestart");
    assert!(!journal.exists());
}

#[test]
fn a_corpus_bundle_installs_its_files_under_the_target_root() {
    let corpus = corpus();
    let dir = tempfile::tempdir().unwrap();
    let source = corpus.join("appspec/bundles-gurre/files-basic");
    // Its validate_service.sh is a native script; run Install only, under a policy that allows
    // only where and how it installs (what `davit policy suggest` writes for it).
    let appspec = std::fs::read_to_string(source.join("appspec.yml")).unwrap();
    let files_only: String = appspec.split("hooks:").next().unwrap().to_string();
    let bundle_dir = dir.path().join("bundle");
    copy_tree(&source, &bundle_dir);
    std::fs::write(bundle_dir.join("appspec.yml"), files_only).unwrap();
    let target = dir.path().join("target");
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[install]\ndestinations = [\"/opt/cdagent-test\"]\nowners = [\"root\"]\ngroups = [\"root\"]\n",
    )
    .unwrap();
    let output = deploy(
        &bundle_dir,
        &dir.path().join("root"),
        &target,
        Some(&policy),
        &[],
    );
    let (out, err) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}\n{err}");
    let installed: Vec<_> = walk(&target);
    assert!(
        !installed.is_empty(),
        "nothing installed under {}",
        target.display()
    );
    assert!(out.contains("Install"), "{out}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().unwrap().is_dir() {
            out.extend(walk(&entry.path()));
        } else {
            out.push(entry.path());
        }
    }
    out
}

/// A bundle whose native scripts record their event and CodeDeploy environment in
/// `$DAVIT_TARGET_ROOT/events.log`; AfterInstall's script can be told to hang.
fn native_bundle(bundle: &Path, after_install_timeout: u32) {
    let record = b"#!/bin/sh\necho \"$LIFECYCLE_EVENT $DEPLOYMENT_ID $APPLICATION_NAME $DEPLOYMENT_GROUP_NAME\" >> \"$DAVIT_TARGET_ROOT/events.log\"\nenv > \"$DAVIT_TARGET_ROOT/env-$LIFECYCLE_EVENT\"\necho \"ran $LIFECYCLE_EVENT\"\n";
    let hang = b"#!/bin/sh\necho \"$LIFECYCLE_EVENT\" >> \"$DAVIT_TARGET_ROOT/events.log\"\nif [ -f \"$DAVIT_TARGET_ROOT/hang\" ]; then sleep 60 & echo $! > \"$DAVIT_TARGET_ROOT/sleep.pid\"; wait; fi\n";
    let appspec = format!(
        "version: 0.0
os: linux
files:
  - source: site
    destination: /srv/app
hooks:
  BeforeInstall:
    - location: scripts/record.sh
  AfterInstall:
    - location: scripts/hang.sh
      timeout: {after_install_timeout}
  ApplicationStart:
    - location: scripts/record.sh
  ValidateService:
    - location: scripts/record.sh
"
    );
    write_bundle(
        bundle,
        &appspec,
        &[
            ("scripts/record.sh", record.as_slice()),
            ("scripts/hang.sh", hang.as_slice()),
            ("site/index.html", b"hi".as_slice()),
        ],
    );
}

/// A scratch directory with a [`native_bundle`], a policy allowing native scripts, and the
/// deployment and target roots to use: (dir, bundle, policy, root, target).
fn native_setup(
    after_install_timeout: u32,
) -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    native_bundle(&bundle, after_install_timeout);
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "allow_native_scripts = true\n\n[install]\ndestinations = [\"/srv/app\"]\n",
    )
    .unwrap();
    let (root, target) = (dir.path().join("root"), dir.path().join("target"));
    (dir, bundle, policy, root, target)
}

fn report(output: &std::process::Output) -> serde_json::Value {
    let (out, err) = text(output);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"))
}

fn event_status(report: &serde_json::Value, event: &str) -> String {
    report["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == event)
        .map(|e| e["status"].as_str().unwrap().to_string())
        .unwrap_or_else(|| "absent".into())
}

#[test]
fn native_scripts_are_refused_unless_the_policy_allows_them() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    native_bundle(&bundle, 5);
    let (root, target) = (dir.path().join("root"), dir.path().join("target"));
    let output = deploy(&bundle, &root, &target, None, &[]);
    let (_, err) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(
        err.contains("`BeforeInstall` hook `scripts/record.sh` requests to run as a native script"),
        "{err}"
    );
    assert!(err.contains("allow_native_scripts = true"), "{err}");
    assert!(!target.join("events.log").exists(), "no script may run");
}

#[test]
fn native_scripts_run_with_codedeploys_environment_and_timeout() {
    let (_dir, bundle, policy, root, target) = native_setup(1);
    let args = ["-a", "shop", "-g", "blue", "--output", "json"];

    let output = deploy(&bundle, &root, &target, Some(&policy), &args);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output).1);
    let first = report(&output);
    let id = first["deployment_id"].as_str().unwrap();
    let log = std::fs::read_to_string(target.join("events.log")).unwrap();
    assert_eq!(
        log,
        format!(
            "BeforeInstall {id} shop blue\nAfterInstall\nApplicationStart {id} shop blue\nValidateService {id} shop blue\n"
        )
    );
    let before = &first["events"][2];
    assert_eq!(before["event"], "BeforeInstall");
    assert_eq!(before["hooks"][0]["kind"], "native");
    // The bundle's scripts lost their mode (as in a zip): made executable, with a warning.
    let logs = &before["hooks"][0]["logs"];
    assert_eq!(logs[0]["stream"], "warn");
    assert_eq!(
        logs[0]["text"],
        "`scripts/record.sh` was not executable: made it executable, as CodeDeploy does"
    );
    assert_eq!(logs[1]["text"], "ran BeforeInstall");

    // A script that outlives its `timeout` fails the event, and its process group is killed.
    std::fs::write(target.join("hang"), "").unwrap();
    let started = Instant::now();
    let output = deploy(&bundle, &root, &target, Some(&policy), &args);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output).1);
    assert!(started.elapsed() < Duration::from_secs(30));
    let failed = report(&output);
    assert_eq!(event_status(&failed, "AfterInstall"), "Failed");
    assert_eq!(
        failed["events"][4]["hooks"][0]["error"],
        "timed out after 1s (the hook's `timeout`)"
    );
    assert_eq!(event_status(&failed, "ApplicationStart"), "Skipped");
    let pid: i32 = std::fs::read_to_string(target.join("sleep.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    // SAFETY: signal 0 only asks whether the process exists.
    while unsafe { libc::kill(pid, 0) } == 0 {
        assert!(Instant::now() < deadline, "the script's `sleep` survived");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn native_scripts_never_see_davits_own_environment() {
    let (_dir, bundle, policy, root, target) = native_setup(5);
    let secrets = [
        ("DAVIT_STORE_TOKEN", "store-secret"),
        ("DAVIT_TOKEN", "operator-secret"),
        ("AWS_SECRET_ACCESS_KEY", "aws-secret"),
        ("LD_PRELOAD", "/tmp/evil.so"),
    ];
    let mut cmd = davit();
    cmd.args(["deploy", "--local"])
        .arg(&bundle)
        .arg("--deployment-root")
        .arg(&root)
        .arg("--target-root")
        .arg(&target)
        .arg("--policy")
        .arg(&policy)
        .envs(secrets);
    let output = cmd.output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output).1);
    let env = std::fs::read_to_string(target.join("env-BeforeInstall")).unwrap();
    for (name, value) in secrets {
        assert!(
            !env.contains(name) && !env.contains(value),
            "{name} leaked:\n{env}"
        );
    }
    for name in [
        "LIFECYCLE_EVENT=BeforeInstall",
        "APPLICATION_NAME=",
        "PATH=/usr/local/sbin:",
    ] {
        assert!(
            env.lines().any(|l| l.starts_with(name)),
            "{name} missing:\n{env}"
        );
    }
}

#[test]
fn events_limits_the_run_and_a_revision_without_validate_service_is_not_good() {
    let (_dir, bundle, policy, root, target) = native_setup(5);
    let run = |events: &str| {
        let args = ["-a", "shop", "--events", events, "--output", "json"];
        let output = deploy(&bundle, &root, &target, Some(&policy), &args);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output).1);
        report(&output)
    };

    let partial = run("BeforeInstall,ApplicationStart");
    let log = std::fs::read_to_string(target.join("events.log")).unwrap();
    let ran: Vec<&str> = log.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(ran, ["BeforeInstall", "ApplicationStart"]);
    for (event, status) in [
        ("ApplicationStop", "absent"),
        ("DownloadBundle", "Succeeded"),
        ("BeforeInstall", "Succeeded"),
        ("Install", "Succeeded"),
        ("AfterInstall", "absent"),
        ("ApplicationStart", "Succeeded"),
        ("ValidateService", "absent"),
    ] {
        assert_eq!(event_status(&partial, event), status, "{event}");
    }
    assert_eq!(
        std::fs::read_to_string(target.join("srv/app/index.html")).unwrap(),
        "hi"
    );

    // Not validated, so not the last good revision: the next deployment has no previous one.
    let full = run("ValidateService");
    assert!(full["previous_revision"].is_null(), "{full}");
    let validated = run("ValidateService");
    assert_eq!(validated["previous_revision"], full["revision"]);
}
