//! `davit deploy --local` end to end.

use std::path::Path;
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
    let mut child = davit()
        .args(["deploy", "--local"])
        .arg(&bundle)
        .arg("--deployment-root")
        .arg(&root)
        .arg("--target-root")
        .arg(&target)
        .args(["-a", "app", "-g", "group"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let journal = root.join("journal.json");
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
    let Some(corpus) = corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let source = corpus.join("appspec/bundles-gurre/files-basic");
    // Its validate_service.sh is a native script; run Install only, under an empty policy.
    let appspec = std::fs::read_to_string(source.join("appspec.yml")).unwrap();
    let files_only: String = appspec.split("hooks:").next().unwrap().to_string();
    let bundle_dir = dir.path().join("bundle");
    copy_tree(&source, &bundle_dir);
    std::fs::write(bundle_dir.join("appspec.yml"), files_only).unwrap();
    let target = dir.path().join("target");
    let output = deploy(&bundle_dir, &dir.path().join("root"), &target, None, &[]);
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

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
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
