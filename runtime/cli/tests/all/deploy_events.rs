//! Which revision's hooks run at each event, and in which order: as the CodeDeploy agent, the
//! installed revision (whose Install finished last) stops what runs and takes it out of
//! traffic, before ApplicationStop, even when it then failed ValidateService.

use std::path::{Path, PathBuf};

use crate::support::*;

/// A revision whose every hook appends `LABEL EVENT` to `events.log` in the target root;
/// ValidateService fails when `fail_validation`.
fn revision(dir: &Path, label: &str, fail_validation: bool) -> PathBuf {
    let bundle = dir.join(label);
    let record = format!(
        "#!/bin/sh\necho \"{label} $LIFECYCLE_EVENT\" >> \"$DAVIT_TARGET_ROOT/events.log\"\n"
    );
    let validate = format!("{record}exit {}\n", u8::from(fail_validation));
    let mut appspec = String::from(
        "version: 0.0\nos: linux\nfiles:\n  - source: site\n    destination: /srv/app\nhooks:\n",
    );
    for event in [
        "BeforeBlockTraffic",
        "AfterBlockTraffic",
        "ApplicationStop",
        "BeforeInstall",
    ] {
        appspec.push_str(&format!("  {event}:\n    - location: record.sh\n"));
    }
    appspec.push_str("  ValidateService:\n    - location: validate.sh\n");
    let index = format!("{label}\n");
    write_bundle(
        &bundle,
        &appspec,
        &[
            ("record.sh", record.as_bytes()),
            ("validate.sh", validate.as_bytes()),
            ("site/index.html", index.as_bytes()),
        ],
    );
    bundle
}

fn deploy(dir: &Path, bundle: &Path, events: Option<&str>) -> (Option<i32>, Vec<String>) {
    let target = dir.join("target");
    let _ = std::fs::remove_file(target.join("events.log"));
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        "allow_native_scripts = true\n\n[install]\ndestinations = [\"/srv/app\"]\n",
    )
    .unwrap();
    let mut cmd = davit();
    cmd.args(["deploy", "--local"]).arg(bundle);
    cmd.args(["-a", "shop", "--deployment-root"])
        .arg(dir.join("root"))
        .arg("--target-root")
        .arg(&target)
        .arg("--policy")
        .arg(&policy);
    if let Some(events) = events {
        cmd.args(["--events", events]);
    }
    let output = cmd.output().unwrap();
    let log = std::fs::read_to_string(target.join("events.log")).unwrap_or_default();
    (
        output.status.code(),
        log.lines().map(str::to_owned).collect(),
    )
}

#[test]
fn application_stop_comes_from_the_installed_revision_even_after_it_failed_validation() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = revision(dir.path(), "v1", false);
    let v2 = revision(dir.path(), "v2", true);
    let v3 = revision(dir.path(), "v3", false);
    assert_eq!(deploy(dir.path(), &v1, None).0, Some(0));
    let (code, log) = deploy(dir.path(), &v2, None);
    assert_eq!(code, Some(1), "v2 fails ValidateService");
    assert_eq!(
        log,
        [
            "v1 ApplicationStop",
            "v2 BeforeInstall",
            "v2 ValidateService"
        ]
    );
    // v2 is what is installed and running, although v1 is the last good revision.
    let (code, log) = deploy(dir.path(), &v3, None);
    assert_eq!(code, Some(0));
    assert_eq!(
        log,
        [
            "v2 ApplicationStop",
            "v3 BeforeInstall",
            "v3 ValidateService"
        ]
    );
}

#[test]
fn traffic_is_blocked_before_application_stop_by_the_installed_revision() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = revision(dir.path(), "v1", false);
    let v2 = revision(dir.path(), "v2", false);
    let events =
        "ValidateService,AfterBlockTraffic,ApplicationStop,BeforeBlockTraffic,BeforeInstall";
    let (code, log) = deploy(dir.path(), &v1, Some(events));
    assert_eq!(code, Some(0));
    // Nothing is installed yet: the first three events have no hooks to run.
    assert_eq!(log, ["v1 BeforeInstall", "v1 ValidateService"]);
    let (code, log) = deploy(dir.path(), &v2, Some(events));
    assert_eq!(code, Some(0));
    assert_eq!(
        log,
        [
            "v1 BeforeBlockTraffic",
            "v1 AfterBlockTraffic",
            "v1 ApplicationStop",
            "v2 BeforeInstall",
            "v2 ValidateService"
        ]
    );
}

#[test]
fn a_conflict_a_hook_before_install_may_remove_is_left_to_it() {
    // `/srv/app/index.html` is in the way: a BeforeInstall native script may remove it, so the
    // check before hooks leaves it to Install, and the hook's removal makes it pass.
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("b");
    let clean = b"#!/bin/sh\nrm -f \"$DAVIT_TARGET_ROOT/srv/app/index.html\"\n";
    write_bundle(
        &bundle,
        "version: 0.0\nos: linux\nfiles:\n  - source: site\n    destination: /srv/app\nhooks:\n  BeforeInstall:\n    - location: clean.sh\n",
        &[
            ("clean.sh", clean.as_slice()),
            ("site/index.html", b"new\n".as_slice()),
        ],
    );
    let target = dir.path().join("target/srv/app");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("index.html"), "someone else's\n").unwrap();
    assert_eq!(deploy(dir.path(), &bundle, None).0, Some(0));
    assert_eq!(
        std::fs::read_to_string(target.join("index.html")).unwrap(),
        "new\n"
    );
}
