//! A hook that asks for a reboot (exit 194 from a native script, `ok(reboot)` from a wasm
//! hook): `deploy --local` stops with exit code 4 and keeps its journal; deploying the same
//! revision again, as after the reboot, resumes the same deployment at the next event; a
//! deployment that keeps asking is failed at its bound.

use std::path::{Path, PathBuf};

use crate::support::*;

/// Every hook appends `EVENT` to `events.log` in the target root; AfterInstall then asks for
/// a reboot by `after_install` (a native script's exit status 194, or the wasm test guest).
fn revision(dir: &Path, label: &str, after_install: &str) -> PathBuf {
    let bundle = dir.join(label);
    let record = "#!/bin/sh\necho \"$LIFECYCLE_EVENT\" >> \"$DAVIT_TARGET_ROOT/events.log\"\n";
    let reboot = format!("{record}exit 194\n");
    let mut appspec = String::from(
        "version: 0.0\nos: linux\nfiles:\n  - source: site\n    destination: /srv/app\nhooks:\n",
    );
    for event in ["ApplicationStop", "BeforeInstall", "AfterInstall"] {
        appspec.push_str(&format!("  {event}:\n    - location: record.sh\n"));
    }
    appspec.push_str(&format!("    - location: {after_install}\n"));
    for event in ["ApplicationStart", "ValidateService"] {
        appspec.push_str(&format!("  {event}:\n    - location: record.sh\n"));
    }
    let guest = std::fs::read(test_guest("reboot-request")).unwrap();
    write_bundle(
        &bundle,
        &appspec,
        &[
            ("record.sh", record.as_bytes()),
            ("reboot.sh", reboot.as_bytes()),
            ("noop.sh", b"#!/bin/sh\n".as_slice()),
            ("reboot.wasm", &guest),
            ("site/index.html", label.as_bytes()),
        ],
    );
    bundle
}

struct Run {
    code: Option<i32>,
    log: Vec<String>,
    report: serde_json::Value,
}

fn deploy(dir: &Path, bundle: &Path, extra: &[&str]) -> Run {
    let target = dir.join("target");
    let _ = std::fs::remove_file(target.join("events.log"));
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        "allow_native_scripts = true\n\n[install]\ndestinations = [\"/srv/app\"]\n",
    )
    .unwrap();
    let output = davit()
        .args(["deploy", "--local"])
        .arg(bundle)
        .args(["-a", "shop", "--output", "json", "--deployment-root"])
        .arg(dir.join("root"))
        .arg("--target-root")
        .arg(&target)
        .arg("--policy")
        .arg(&policy)
        .args(extra)
        .output()
        .unwrap();
    let log = std::fs::read_to_string(target.join("events.log")).unwrap_or_default();
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&output).1));
    Run {
        code: output.status.code(),
        log: log.lines().map(str::to_owned).collect(),
        report,
    }
}

fn events(report: &serde_json::Value) -> Vec<(String, String)> {
    report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let name = e["event"].as_str().unwrap().to_owned();
            (name, e["status"].as_str().unwrap().to_owned())
        })
        .collect()
}

#[test]
fn exit_194_stops_for_a_reboot_and_the_same_revision_resumes_at_the_next_event() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = revision(dir.path(), "v1", "reboot.sh");
    let first = deploy(dir.path(), &v1, &[]);
    assert_eq!(first.code, Some(4), "{}", first.report);
    assert_eq!(first.log, ["BeforeInstall", "AfterInstall", "AfterInstall"]);
    assert_eq!(first.report["status"], "Rebooting");
    let reboot = &first.report["reboot"];
    assert_eq!(reboot["after"], "AfterInstall");
    assert_eq!(reboot["resumes_at"], "ApplicationStart");
    assert_eq!(reboot["asked_by"][0], "reboot.sh");
    assert_eq!(reboot["count"], 1);
    // The Install committed before the reboot: the new page is in place.
    let page = dir.path().join("target/srv/app/index.html");
    assert_eq!(std::fs::read_to_string(&page).unwrap(), "v1");
    let journal = dir.path().join("root/apps/shop/journal.json");
    assert!(journal.exists(), "the journal says where to resume");

    // "After the reboot": the same deployment goes on at ApplicationStart, and nothing before
    // it runs again.
    let second = deploy(dir.path(), &v1, &[]);
    assert_eq!(second.code, Some(0), "{}", second.report);
    assert_eq!(second.log, ["ApplicationStart", "ValidateService"]);
    assert_eq!(
        second.report["deployment_id"],
        first.report["deployment_id"]
    );
    assert_eq!(second.report["status"], "Succeeded");
    let all: Vec<(String, String)> = [
        "ApplicationStop",
        "DownloadBundle",
        "BeforeInstall",
        "Install",
        "AfterInstall",
        "ApplicationStart",
        "ValidateService",
    ]
    .iter()
    .map(|e| (e.to_string(), "Succeeded".to_owned()))
    .collect();
    assert_eq!(events(&second.report), all);
    assert!(second.report["interrupted"].is_null());
    assert!(!journal.exists(), "the deployment has ended");

    // A later deployment is a new one, from the start.
    let third = deploy(dir.path(), &v1, &["--events", "BeforeInstall"]);
    assert_eq!(third.code, Some(0), "{}", third.report);
    assert_ne!(third.report["deployment_id"], first.report["deployment_id"]);
}

#[test]
fn a_wasm_hook_asks_for_a_reboot_and_a_deployment_past_its_bound_fails() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = revision(dir.path(), "v1", "reboot.wasm");
    let first = deploy(dir.path(), &v1, &["--max-reboots", "1"]);
    assert_eq!(first.code, Some(4), "{}", first.report);
    assert_eq!(first.report["reboot"]["asked_by"][0], "reboot.wasm");
    let second = deploy(dir.path(), &v1, &["--max-reboots", "1"]);
    assert_eq!(second.code, Some(0), "{}", second.report);

    // v2 asks at AfterInstall too; with a bound of none, that request fails the event.
    let v2 = revision(dir.path(), "v2", "reboot.wasm");
    let bounded = deploy(dir.path(), &v2, &["--max-reboots", "0"]);
    assert_eq!(bounded.code, Some(1), "{}", bounded.report);
    let after_install = &bounded.report["events"][4];
    assert_eq!(after_install["event"], "AfterInstall");
    assert_eq!(after_install["status"], "Failed");
    let detail = after_install["detail"].as_str().unwrap();
    assert!(
        detail.contains("hook `reboot.wasm` asked for a reboot")
            && detail.contains("at most 0 are allowed"),
        "{detail}"
    );
    assert_eq!(
        bounded.log,
        ["ApplicationStop", "BeforeInstall", "AfterInstall"]
    );
}

#[test]
fn another_revision_deployed_during_a_reboot_gives_up_the_waiting_deployment() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = revision(dir.path(), "v1", "reboot.sh");
    let v2 = revision(dir.path(), "v2", "noop.sh");
    let first = deploy(dir.path(), &v1, &[]);
    assert_eq!(first.code, Some(4), "{}", first.report);
    let second = deploy(dir.path(), &v2, &[]);
    assert_eq!(second.code, Some(0), "{}", second.report);
    // v2 runs from the start, as the installed v1's ApplicationStop shows.
    assert_eq!(second.log[0], "ApplicationStop");
    let interrupted = &second.report["interrupted"];
    assert_eq!(interrupted["deployment_id"], first.report["deployment_id"]);
    let recovery = interrupted["recovery"].as_str().unwrap();
    assert!(
        recovery.contains("waited for a reboot after AfterInstall and was given up"),
        "{recovery}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("target/srv/app/index.html")).unwrap(),
        "v2"
    );
}
