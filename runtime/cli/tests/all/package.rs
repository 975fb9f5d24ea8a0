//! `davit package`: Distributor packages pushed to a real directory store and installed on a
//! target root, with real scripts (the `package-demo` component, `.sh` scripts) writing real
//! files, and the host's state read back after each operation.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};
use sha2::Digest;

use crate::support::{davit, test_guest, text};

/// A host: a target root with its os-release, a deployment root, a store and a policy.
struct Host {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    state: PathBuf,
    store: PathBuf,
    policy: PathBuf,
    work: PathBuf,
}

const POLICY: &str = r#"
allow_native_scripts = true
[[directories]]
path = "/opt/demo"
access = "read-write"
"#;

impl Host {
    fn new(policy: &str) -> Host {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("opt/demo")).unwrap();
        std::fs::write(
            root.join("etc/os-release"),
            "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12\"\n",
        )
        .unwrap();
        let policy_file = tmp.path().join("policy.toml");
        std::fs::write(&policy_file, policy).unwrap();
        Host {
            state: tmp.path().join("state"),
            store: tmp.path().join("store"),
            work: tmp.path().join("work"),
            root,
            policy: policy_file,
            _tmp: tmp,
        }
    }

    /// `davit package ACTION ARGS… --store … --policy … --deployment-root … --target-root …
    /// --output json`.
    fn run(&self, action: &str, args: &[&str]) -> Output {
        let mut cmd = davit();
        cmd.args(["package", action]).args(args);
        if action != "uninstall" {
            cmd.arg("--store").arg(&self.store);
        }
        cmd.arg("--policy")
            .arg(&self.policy)
            .arg("--deployment-root")
            .arg(&self.state)
            .arg("--target-root")
            .arg(&self.root)
            .args(["--output", "json"]);
        cmd.output().unwrap()
    }

    fn push(&self, dir: &Path) -> Output {
        davit()
            .args(["package", "push"])
            .arg(dir)
            .args(["--name", "demo", "--store"])
            .arg(&self.store)
            .args(["--output", "json"])
            .output()
            .unwrap()
    }

    fn status(&self) -> Value {
        let out = davit()
            .args(["package", "status", "demo", "--deployment-root"])
            .arg(&self.state)
            .args(["--output", "json"])
            .output()
            .unwrap();
        report(&out, 0)[0].clone()
    }

    fn file(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.root.join(rel)).ok()
    }

    /// The calls `package-demo` recorded, one `ACTION VERSION` each, and forgets them.
    fn calls(&self) -> Vec<String> {
        let path = self.root.join("opt/demo/calls");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let _ = std::fs::remove_file(&path);
        text.lines().map(str::to_owned).collect()
    }
}

/// The JSON a command printed, after checking its exit code.
fn report(out: &Output, code: i32) -> Value {
    let (stdout, stderr) = text(out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"))
}

fn sha256(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes a package: `demo.zip` holding `files`, the manifest naming it for Debian 12 on this
/// machine (and `_any` elsewhere), and `davit.yml` when given.
pub(crate) fn package(
    dir: &Path,
    version: &str,
    files: &[(&str, &[u8])],
    section: Option<&str>,
) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let zip_path = dir.join("demo.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    for (name, bytes) in files {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "x86_64"
    };
    let manifest = json!({
        "schemaVersion": "2.0",
        "version": version,
        "publisher": "davit tests",
        "packages": {
            "debian": {"12": {arch: {"file": "demo.zip"}}},
            "_any": {"_any": {"_any": {"file": "demo.zip"}}}
        },
        "files": {"demo.zip": {"checksums": {"sha256": sha256(&zip_path)}}}
    });
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
    if let Some(section) = section {
        std::fs::write(dir.join("davit.yml"), section).unwrap();
    }
    dir.to_path_buf()
}

pub(crate) const DEMO_GRANTS: &str = "\
scripts:
  install: {grants: {directories: [{path: /opt/demo, access: read-write}]}}
  uninstall: {grants: {directories: [{path: /opt/demo, access: read-write}]}}
  update: {grants: {directories: [{path: /opt/demo, access: read-write}]}}
  validate: {grants: {directories: [{path: /opt/demo, access: read-write}]}}
";

/// A version of the Wasm demo package whose payload is `payload`.
fn demo(host: &Host, version: &str, payload: &str) -> PathBuf {
    let wasm = std::fs::read(test_guest("package-demo")).unwrap();
    package(
        &host.work.join(version),
        version,
        &[("package.wasm", &wasm), ("payload.txt", payload.as_bytes())],
        Some(DEMO_GRANTS),
    )
}

fn steps(report: &Value, key: &str) -> Vec<String> {
    report[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s["step"].as_str().unwrap(),
                s["status"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn a_wasm_package_installs_updates_rolls_back_and_uninstalls() {
    let host = Host::new(POLICY);

    // Push: once, again as a no-op, and never with other content under the same version.
    let v1 = demo(&host, "1.0.0", "one");
    let pushed = report(&host.push(&v1), 0);
    assert_eq!(pushed["created"], true);
    assert!(pushed["new_chunks"].as_u64().unwrap() > 0);
    let again = report(&host.push(&v1), 0);
    assert_eq!(
        (again["created"].clone(), again["new_chunks"].clone()),
        (json!(false), json!(0))
    );
    let other = demo(&host, "1.0.0-other", "other");
    let manifest = std::fs::read_to_string(other.join("manifest.json")).unwrap();
    std::fs::write(
        other.join("manifest.json"),
        manifest.replace("1.0.0-other", "1.0.0"),
    )
    .unwrap();
    let refused = host.push(&other);
    let (_, err) = text(&refused);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(
        err.contains("a version never changes") && err.contains("hint:"),
        "{err}"
    );

    // A fresh install: install, then validate, and the state says so.
    let r = report(&host.run("install", &["demo@1.0.0"]), 0);
    assert_eq!(r["outcome"], "installed");
    assert_eq!(host.calls(), ["install 1.0.0", "validate 1.0.0"]);
    assert_eq!(host.file("opt/demo/payload.txt").as_deref(), Some("one"));
    let status = host.status();
    assert_eq!(
        (
            status["state"].clone(),
            status["installed"]["version"].clone()
        ),
        (json!("Installed"), json!("1.0.0"))
    );
    assert_eq!(status["installed"]["platform"], "debian");

    // The same version again is validated only.
    let r = report(&host.run("install", &["demo@1.0.0"]), 0);
    assert_eq!(r["outcome"], "already-installed");
    assert_eq!(host.calls(), ["validate 1.0.0"]);

    // A version whose validate fails: the previous one comes back, and the result says so.
    report(&host.push(&demo(&host, "2.0.0", "two, broken")), 0);
    let r = report(&host.run("update", &["demo@2.0.0"]), 1);
    assert_eq!(r["outcome"], "rolled-back");
    let message = r["message"].as_str().unwrap();
    assert!(
        message.contains("validate 2.0.0") && message.ends_with("rolled back to 1.0.0"),
        "{message}"
    );
    assert_eq!(
        host.calls(),
        [
            "uninstall 1.0.0",
            "install 2.0.0",
            "validate 2.0.0",
            "uninstall 2.0.0",
            "install 1.0.0",
            "validate 1.0.0"
        ]
    );
    assert_eq!(host.file("opt/demo/payload.txt").as_deref(), Some("one"));
    assert_eq!(host.file("opt/demo/version").as_deref(), Some("1.0.0"));
    let status = host.status();
    assert_eq!(
        (
            status["state"].clone(),
            status["installed"]["version"].clone()
        ),
        (json!("Installed"), json!("1.0.0"))
    );
    assert!(status["in_flight"].is_null());

    // In place: the new version's update, told the version before.
    report(&host.push(&demo(&host, "3.0.0", "three")), 0);
    let r = report(&host.run("update", &["demo", "--in-place"]), 0);
    assert_eq!(
        (r["outcome"].clone(), r["version"].clone()),
        (json!("updated"), json!("3.0.0"))
    );
    assert_eq!(host.calls(), ["update 3.0.0", "validate 3.0.0"]);
    assert_eq!(host.file("opt/demo/updated-from").as_deref(), Some("1.0.0"));

    // Other arguments for the same version reinstall it (amazon-ssm-agent #366).
    let r = report(
        &host.run(
            "install",
            &["demo@3.0.0", "--args", r#"{"SSM_colour": "blue"}"#],
        ),
        0,
    );
    assert_eq!(
        steps(&r, "steps"),
        [
            "uninstall 3.0.0 Succeeded",
            "install 3.0.0 Succeeded",
            "validate 3.0.0 Succeeded"
        ]
    );
    assert_eq!(
        host.status()["installed"]["arguments"]["SSM_colour"],
        "blue"
    );
    host.calls();

    // Uninstall: the files go, and the host keeps no tree of the package.
    let r = report(&host.run("uninstall", &["demo"]), 0);
    assert_eq!(r["outcome"], "uninstalled");
    assert_eq!(host.calls(), ["uninstall 3.0.0"]);
    assert!(host.file("opt/demo/payload.txt").is_none());
    assert_eq!(host.status()["state"], "Uninstalled");
    let trees = host.state.join("packages/demo/trees");
    assert_eq!(
        std::fs::read_dir(&trees).unwrap().count(),
        0,
        "no tree is kept"
    );
    let r = report(&host.run("uninstall", &["demo"]), 0);
    assert_eq!(r["outcome"], "not-installed");
}

#[test]
fn a_failed_first_install_cleans_up_and_says_there_was_nothing_to_roll_back_to() {
    let host = Host::new(POLICY);
    report(&host.push(&demo(&host, "1.0.0", "one")), 0);
    let r = report(
        &host.run(
            "install",
            &["demo", "--args", r#"{"SSM_FAIL": "validate"}"#],
        ),
        1,
    );
    assert_eq!(r["outcome"], "failed");
    let message = r["message"].as_str().unwrap();
    assert!(message.ends_with("nothing to roll back to"), "{message}");
    assert_eq!(
        host.calls(),
        ["install 1.0.0", "validate 1.0.0", "uninstall 1.0.0"]
    );
    assert!(
        host.file("opt/demo/payload.txt").is_none(),
        "the new version's uninstall cleaned up"
    );
    assert_eq!(host.status()["state"], "Failed");
}

#[test]
fn a_reboot_request_resumes_after_it_and_is_bounded() {
    let host = Host::new(POLICY);
    report(&host.push(&demo(&host, "1.0.0", "one")), 0);
    let args = ["demo@1.0.0", "--args", r#"{"SSM_REBOOT": "install"}"#];
    let r = report(&host.run("install", &args), 4);
    assert_eq!(r["outcome"], "rebooting");
    assert_eq!(host.calls(), ["install 1.0.0"]);
    let status = host.status();
    assert_eq!(status["state"], "Installing");
    assert_eq!(
        status["in_flight"]["suspension"]["request"]["resumes_at"],
        "validate 1.0.0"
    );

    // After the reboot the same command goes on at validate: install does not run again.
    let r = report(&host.run("install", &args), 0);
    assert_eq!(
        (r["outcome"].clone(), r["resumed"].clone()),
        (json!("installed"), json!(true))
    );
    assert_eq!(host.calls(), ["validate 1.0.0"]);
    assert_eq!(host.status()["state"], "Installed");

    // With no reboot allowed, asking for one fails the script (and cleans up).
    report(&host.push(&demo(&host, "2.0.0", "two")), 0);
    let r = report(
        &host.run(
            "install",
            &[
                "demo@2.0.0",
                "--args",
                r#"{"SSM_REBOOT": "install"}"#,
                "--max-reboots",
                "0",
            ],
        ),
        1,
    );
    let message = r["message"].as_str().unwrap();
    assert!(
        message.contains("install 2.0.0: asked for a reboot")
            && message.contains("at most 0 are allowed"),
        "{message}"
    );
    assert!(message.ends_with("rolled back to 1.0.0"), "{message}");
}

/// A native package: `install.sh` records its environment and arguments, then sleeps for
/// `SSM_SLEEP` seconds.
fn native(host: &Host, version: &str, section: Option<&str>) -> PathBuf {
    let install = "#!/bin/sh\nset -e\nd=\"$DAVIT_TARGET_ROOT/opt/demo\"\nenv | sort > \"$d/env\"\necho $$ > \"$d/pid\"\necho \"install $DAVIT_PACKAGE_VERSION\" >> \"$d/calls\"\nsleep \"${SSM_SLEEP:-0}\"\necho \"$DAVIT_PACKAGE_VERSION\" > \"$d/version\"\n";
    let uninstall = "#!/bin/sh\necho \"uninstall $DAVIT_PACKAGE_VERSION\" >> \"$DAVIT_TARGET_ROOT/opt/demo/calls\"\nrm -f \"$DAVIT_TARGET_ROOT/opt/demo/version\"\n";
    package(
        &host.work.join(format!("native-{version}")),
        version,
        &[
            ("install.sh", install.as_bytes()),
            ("uninstall.sh", uninstall.as_bytes()),
        ],
        section,
    )
}

#[test]
fn native_scripts_get_ssms_environment_and_a_hung_one_is_killed_at_its_timeout() {
    let host = Host::new(POLICY);
    report(&host.push(&native(&host, "1.0.0", None)), 0);
    report(
        &host.run("install", &["demo", "--args", r#"{"SSM_token": "s3cret"}"#]),
        0,
    );
    let env = host.file("opt/demo/env").unwrap();
    for want in [
        "BWS_ACTION_NAME=install",
        "BWS_PLATFORM_NAME=debian",
        "BWS_PLATFORM_VERSION=12",
        "SSM_token=s3cret",
        "DAVIT_PACKAGE_NAME=demo",
    ] {
        assert!(env.lines().any(|l| l == want), "{want} in\n{env}");
    }
    assert!(
        !env.contains("DAVIT_STORE_TOKEN") && !env.contains("CARGO"),
        "davit's own environment stays out:\n{env}"
    );
    // The state file keeps the arguments: only its owner may read it.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(host.state.join("packages/demo/state.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // A script that hangs is killed at the timeout davit.yml gives it (amazon-ssm-agent #190).
    report(
        &host.push(&native(
            &host,
            "2.0.0",
            Some("scripts:\n  install: {timeout: 1}\n"),
        )),
        0,
    );
    let started = std::time::Instant::now();
    let r = report(
        &host.run(
            "update",
            &["demo@2.0.0", "--args", r#"{"SSM_SLEEP": "60"}"#],
        ),
        1,
    );
    assert!(started.elapsed().as_secs() < 30, "killed at its timeout");
    let message = r["message"].as_str().unwrap();
    assert!(
        message.contains("timed out after 1s (the script's `timeout`)")
            && message.ends_with("rolled back to 1.0.0"),
        "{message}"
    );
    assert_eq!(host.file("opt/demo/version").as_deref(), Some("1.0.0\n"));
}

#[test]
fn one_action_at_a_time_and_a_killed_install_is_rolled_back_by_the_next() {
    let host = Host::new(POLICY);
    report(&host.push(&native(&host, "1.0.0", None)), 0);
    report(&host.run("install", &["demo@1.0.0"]), 0);
    report(&host.push(&native(&host, "2.0.0", None)), 0);
    let mut slow = davit();
    slow.args([
        "package",
        "update",
        "demo@2.0.0",
        "--args",
        r#"{"SSM_SLEEP": "30"}"#,
        "--store",
    ])
    .arg(&host.store)
    .arg("--policy")
    .arg(&host.policy)
    .arg("--deployment-root")
    .arg(&host.state)
    .arg("--target-root")
    .arg(&host.root)
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    let mut child = slow.spawn().unwrap();
    let calls = host.root.join("opt/demo/calls");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !std::fs::read_to_string(&calls)
        .unwrap_or_default()
        .contains("install 2.0.0")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the update never started its install"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // A second action waits its turn; past its deadline it names the holder.
    let busy = host.run("install", &["demo@1.0.0", "--lock-timeout", "0"]);
    let (_, err) = text(&busy);
    assert_eq!(busy.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!("pid {} is running `update 2.0.0`", child.id())),
        "{err}"
    );

    // The holder dies (SIGKILL, and its script with it): its lock is not stale, and the next
    // action rolls the half-done update back before anything else.
    child.kill().unwrap();
    child.wait().unwrap();
    let script = host.file("opt/demo/pid").unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", script.trim())])
        .status()
        .unwrap();
    assert!(
        killed.success(),
        "the script's process group is killed with it"
    );
    assert_eq!(
        host.status()["state"],
        "Installing",
        "the state names the update in flight"
    );
    let r = report(
        &host.run("install", &["demo@1.0.0", "--lock-timeout", "5"]),
        0,
    );
    assert_eq!(r["resumed"], true, "{r}");
    let status = host.status();
    assert_eq!(
        (
            status["state"].clone(),
            status["installed"]["version"].clone()
        ),
        (json!("Installed"), json!("1.0.0"))
    );
    assert!(
        status["last_result"]
            .as_str()
            .unwrap()
            .contains("rolled back to 1.0.0"),
        "{status}"
    );
    assert_eq!(host.file("opt/demo/version").as_deref(), Some("1.0.0\n"));
}

#[test]
fn bad_packages_are_refused_naming_package_version_platform_and_file() {
    let host = Host::new("[[directories]]\npath = \"/opt/demo\"\naccess = \"read-write\"\n");
    let err_of = |out: &Output| {
        let (_, err) = text(out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        err
    };

    // A malformed manifest: located.
    let dir = native(&host, "1.0.0", None);
    std::fs::write(dir.join("manifest.json"), "{\"schemaVersion\": \"2.0\",\n \"version\": \"1.0.0\",\n \"packages\": {}, \"publisher\": 3}").unwrap();
    let err = err_of(&host.push(&dir));
    assert!(err.contains("manifest.json:"), "{err}");

    // A checksum mismatch.
    let dir = native(&host, "1.0.1", None);
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("demo.zip"))
        .unwrap()
        .write_all(b"x")
        .unwrap();
    let err = err_of(&host.push(&dir));
    assert!(
        err.contains("package `demo` 1.0.1") && err.contains("`demo.zip` hashes to sha256"),
        "{err}"
    );

    // A doubled and a missing script.
    let doubled = package(
        &host.work.join("d"),
        "1.0.2",
        &[
            ("install.sh", b"true"),
            ("install.ps1", b""),
            ("uninstall.sh", b"true"),
        ],
        None,
    );
    let err = err_of(&host.push(&doubled));
    assert!(
        err.contains("more than one implementation of `install`"),
        "{err}"
    );
    let missing = package(
        &host.work.join("m"),
        "1.0.3",
        &[("uninstall.sh", b"true")],
        None,
    );
    let err = err_of(&host.push(&missing));
    assert!(
        err.contains("`demo.zip` is missing the `install` action"),
        "{err}"
    );

    // A malformed davit.yml: located.
    let dir = native(&host, "1.0.4", Some("scripts:\n  instal: {}\n"));
    let err = err_of(&host.push(&dir));
    assert!(err.contains("davit.yml:2:3"), "{err}");

    // No file for this platform: refused before anything is installed.
    let dir = native(&host, "1.0.5", None);
    let text_of = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    let mut m: Value = serde_json::from_str(&text_of).unwrap();
    m["packages"] = json!({"windows": {"_any": {"x86_64": {"file": "demo.zip"}}}});
    std::fs::write(dir.join("manifest.json"), m.to_string()).unwrap();
    report(&host.push(&dir), 0);
    let err = err_of(&host.run("install", &["demo@1.0.5"]));
    assert!(
        err.contains("package `demo` 1.0.5: no manifest found for platform debian"),
        "{err}"
    );

    // A native script where the policy does not allow them: the policy rule is named.
    report(&host.push(&native(&host, "1.0.6", None)), 0);
    let err = err_of(&host.run("install", &["demo@1.0.6"]));
    assert!(
        err.contains("script `install` (`install.sh`) of package `demo` 1.0.6")
            && err.contains("allow_native_scripts"),
        "{err}"
    );

    // A Wasm script asking for more than the policy allows.
    let wasm = std::fs::read(test_guest("package-demo")).unwrap();
    let greedy = package(
        &host.work.join("g"),
        "1.0.7",
        &[("package.wasm", &wasm), ("payload.txt", b"x")],
        Some("scripts:\n  install: {grants: {directories: [{path: /etc, access: read-write}]}}\n"),
    );
    report(&host.push(&greedy), 0);
    let err = err_of(&host.run("install", &["demo@1.0.7"]));
    assert!(
        err.contains("requests directory `/etc` read-write"),
        "{err}"
    );
    assert!(
        !host.state.join("packages/demo/state.json").exists(),
        "nothing was installed: {err}"
    );
}

#[test]
fn a_hostile_package_script_is_contained() {
    let host = Host::new(POLICY);
    let wasm = std::fs::read(test_guest("package-escape")).unwrap();
    let dir = package(
        &host.work.join("escape"),
        "6.6.6",
        &[("package.wasm", &wasm)],
        Some(
            "scripts:\n  install: {grants: {directories: [{path: /opt/demo, access: read-write}]}}\n  uninstall: {grants: {directories: [{path: /opt/demo, access: read-write}]}}\n",
        ),
    );
    report(&host.push(&dir), 0);
    let r = report(&host.run("install", &["demo"]), 1);
    let message = r["message"].as_str().unwrap();
    assert!(
        message.contains("contained: 5 refused"),
        "every attempt refused: {message}"
    );
    // Uninstall's attempt on the package's own files was refused too.
    let uninstall = &r["rollback"][0];
    assert!(
        uninstall["detail"]
            .as_str()
            .unwrap()
            .starts_with("contained: 1 refused"),
        "{uninstall}"
    );
    // On the host: nothing outside the grant, nothing in the package's files, no shell.
    assert!(!host.root.join("opt/escaped").exists());
    assert!(!host.root.join("etc/davit-escaped").exists());
    assert!(!Path::new("/etc/davit-escaped").exists());
    assert!(!Path::new("/tmp/davit-package-escaped").exists());
    let trees = host.state.join("packages/demo/trees");
    for tree in std::fs::read_dir(&trees).unwrap().flatten() {
        for planted in ["planted", "etc"] {
            assert!(
                !tree.path().join(planted).exists(),
                "{planted} in the package's files"
            );
        }
    }
    // The link it planted in its own grant points out, and davit never followed it.
    let link = host.root.join("opt/demo/etc-link");
    assert!(
        link.symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
    );
}

#[test]
fn a_dry_run_touches_nothing_and_a_version_asking_for_more_is_held_until_approved() {
    let host = Host::new("[[directories]]\npath = \"/opt\"\naccess = \"read-write\"\n");
    report(&host.push(&demo(&host, "1.0.0", "one")), 0);

    // A dry run: the plan and what each step may touch, and nothing done.
    let r = report(&host.run("install", &["demo@1.0.0", "--dry-run"]), 0);
    assert_eq!(r["outcome"], "dry-run");
    assert_eq!(r["planned"], json!(["install 1.0.0", "validate 1.0.0"]));
    assert_eq!(
        r["reach"][0]["directories"],
        json!(["/opt/demo read-write"])
    );
    assert_eq!(r["reach"][0]["native"], false);
    // The scripts ran on copies: what they would write is recorded, step by step.
    let created = |f: &str| json!({"path": format!("/opt/demo/{f}"), "change": "created"});
    assert_eq!(
        r["steps"][0]["recorded"]["files"],
        json!([created("calls"), created("payload.txt"), created("version")]),
        "{r:#}"
    );
    assert_eq!(
        r["steps"][1]["recorded"]["files"],
        json!([{"path": "/opt/demo/calls", "change": "modified"}])
    );
    assert!(host.calls().is_empty() && host.file("opt/demo/payload.txt").is_none());
    assert!(!host.state.join("packages/demo/state.json").exists());
    report(&host.run("install", &["demo@1.0.0"]), 0);
    host.calls();

    // 2.0.0's install also wants /opt/other: held, and 1.0.0 stays untouched.
    let wider = DEMO_GRANTS.replace(
        "  install: {grants: {directories: [{path: /opt/demo, access: read-write}]}}",
        "  install: {grants: {directories: [{path: /opt/demo, access: read-write}, {path: /opt/other, access: read-write}]}}",
    );
    let wasm = std::fs::read(test_guest("package-demo")).unwrap();
    let v2 = package(
        &host.work.join("2.0.0"),
        "2.0.0",
        &[("package.wasm", &wasm), ("payload.txt", b"two")],
        Some(&wider),
    );
    report(&host.push(&v2), 0);
    let r = report(&host.run("update", &["demo@2.0.0"]), 2);
    assert_eq!(r["outcome"], "held");
    assert_eq!(
        r["widened"],
        json!(["`install` (package.wasm) asks for directory /opt/other read-write"])
    );
    assert!(host.calls().is_empty());
    assert_eq!(host.status()["installed"]["version"], "1.0.0");

    // An operator approves: it runs.
    let r = report(&host.run("update", &["demo@2.0.0", "--approve-grants"]), 0);
    assert_eq!(r["outcome"], "updated");
    assert_eq!(host.file("opt/demo/payload.txt").as_deref(), Some("two"));
    host.calls();

    // The dry run of an uninstall names its one step.
    let r = report(&host.run("uninstall", &["demo", "--dry-run"]), 0);
    assert_eq!(r["planned"], json!(["uninstall 2.0.0"]));
    let removed = |f: &str| json!({"path": format!("/opt/demo/{f}"), "change": "removed"});
    assert_eq!(
        r["steps"][0]["recorded"]["files"],
        json!([
            {"path": "/opt/demo/calls", "change": "created"},
            removed("payload.txt"),
            removed("version")
        ]),
        "{r:#}"
    );
    assert!(host.calls().is_empty());
    assert_eq!(host.status()["state"], "Installed");
}

/// Counts the connections made to a local port; answers each as an HTTP server would.
struct Listener {
    port: u16,
    seen: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Listener {
    fn start() -> Listener {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut stream = stream;
                    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
                    let mut buf = [0u8; 1024];
                    if matches!(std::io::Read::read(&mut stream, &mut buf), Ok(n) if n > 0) {
                        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                    }
                });
            }
        });
        Listener { port, seen }
    }

    fn seen(&self) -> usize {
        self.seen.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Every entry under `dir` with its mode and contents (links by their target).
fn tree(dir: &Path) -> Vec<(String, u32, String)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    for entry in walkdir(dir) {
        let meta = entry.symlink_metadata().unwrap();
        let what = if meta.is_symlink() {
            format!("-> {}", std::fs::read_link(&entry).unwrap().display())
        } else if meta.is_file() {
            std::fs::read_to_string(&entry).unwrap()
        } else {
            String::new()
        };
        let rel = entry.strip_prefix(dir).unwrap().display().to_string();
        out.push((rel, meta.permissions().mode(), what));
    }
    out.sort();
    out
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            out.extend(walkdir(&path));
        }
        out.push(path);
    }
    out
}

/// The guest's log lines of a step, joined.
fn logs(step: &Value) -> String {
    step["script"]["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_dry_run_records_what_a_script_would_do_and_does_none_of_it() {
    let listener = Listener::start();
    let port = listener.port;
    let host = Host::new(&format!(
        "[[directories]]\npath = \"/opt/demo\"\naccess = \"read-write\"\n\n\
         [[commands]]\nprogram = \"/usr/bin/touch\"\nargs = [\"*\"]\n\n\
         [[commands]]\nprogram = \"/usr/bin/sleep\"\nargs = [\"*\"]\n\n\
         [[urls]]\nprefix = \"http://127.0.0.1:{port}/\"\n\n\
         [[tcp]]\nhost = \"127.0.0.1\"\nports = \"{port}\"\n"
    ));
    let demo_dir = host.root.join("opt/demo");
    std::fs::write(demo_dir.join("existing"), "orig").unwrap();
    std::fs::write(demo_dir.join("old"), "old").unwrap();
    std::fs::write(demo_dir.join("mode-me"), "m").unwrap();
    let marker = host.work.join("touched");
    std::fs::create_dir_all(&host.work).unwrap();
    let dir_grant = "directories: [{path: /opt/demo, access: read-write}]";
    let section = format!(
        "scripts:\n  install:\n    grants:\n      {dir_grant}\n      commands:\n        \
         - {{program: /usr/bin/touch, args: [\"{m}\"]}}\n        \
         - {{program: /usr/bin/sleep, args: [\"2\"]}}\n      \
         urls: [\"http://127.0.0.1:{port}/\"]\n      tcp: [\"127.0.0.1:{port}\"]\n  \
         uninstall: {{grants: {{{dir_grant}}}}}\n  validate: {{grants: {{{dir_grant}}}}}\n",
        m = marker.display()
    );
    let wasm = std::fs::read(test_guest("package-dry-run")).unwrap();
    let dir = package(
        &host.work.join("1.0.0"),
        "1.0.0",
        &[("package.wasm", &wasm)],
        Some(&section),
    );
    report(&host.push(&dir), 0);
    let args = json!({
        "SSM_MARKER": marker.display().to_string(),
        "SSM_HTTP": format!("127.0.0.1:{port}"),
        "SSM_TCP": format!("127.0.0.1:{port}"),
    })
    .to_string();
    let before = tree(&host.root);

    let r = report(
        &host.run("install", &["demo", "--dry-run", "--args", &args]),
        0,
    );
    assert_eq!(r["outcome"], "dry-run", "{r:#}");
    assert_eq!(
        steps(&r, "steps"),
        ["install 1.0.0 Succeeded", "validate 1.0.0 Succeeded"],
        "the validate saw what the install wrote: {r:#}"
    );
    let install = &r["steps"][0];
    assert_eq!(
        install["recorded"]["files"],
        json!([
            {"path": "/opt/demo/etc-link", "change": "created"},
            {"path": "/opt/demo/existing", "change": "modified"},
            {"path": "/opt/demo/mode-me", "change": "attributes"},
            {"path": "/opt/demo/new.conf", "change": "created"},
            {"path": "/opt/demo/old", "change": "removed"},
        ]),
        "{install:#}"
    );
    assert_eq!(
        install["recorded"]["effects"],
        json!([
            format!("run /usr/bin/touch {:?}", marker.display().to_string()),
            "start /usr/bin/sleep \"2\"",
            format!("GET http://127.0.0.1:{port}/install"),
            format!("connect to 127.0.0.1:{port}"),
        ]),
        "granted effects recorded, the ungranted shell not: {install:#}"
    );
    assert_eq!(
        r["steps"][1]["recorded"],
        json!({"files": [], "effects": []})
    );
    let said = logs(install);
    for line in [
        "touch: Ok(Some(0))",
        "spawn: Ok(0)",
        "sh: Err(Denied",
        "http: Err(",
        "tcp: Err(",
        "write through etc-link: Err(",
        "write ../escaped: Err(",
    ] {
        assert!(said.contains(line), "`{line}` in:\n{said}");
    }
    // On the host: nothing changed, ran, connected or was left behind.
    assert_eq!(tree(&host.root), before, "the target root is as it was");
    assert!(!marker.exists() && !host.work.join("touched.sh").exists());
    assert!(!Path::new("/etc/davit-dry-run").exists());
    assert_eq!(listener.seen(), 0, "no request and no connection was made");
    assert!(!host.state.join("packages/demo/state.json").exists());
    let scratch = host.state.join("scratch");
    let left: Vec<_> = std::fs::read_dir(&scratch)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "the dry run's copies are gone: {left:?}");

    // The real install does what the dry run said.
    let r = report(&host.run("install", &["demo", "--args", &args]), 0);
    assert_eq!(r["outcome"], "installed", "{r:#}");
    assert!(r["steps"][0]["recorded"].is_null());
    assert!(marker.exists(), "the granted touch ran");
    assert!(
        listener.seen() >= 2,
        "the request and the connection were made"
    );
    assert_eq!(
        host.file("opt/demo/new.conf").as_deref(),
        Some("listen=8080")
    );
    assert_eq!(host.file("opt/demo/existing").as_deref(), Some("changed"));
    assert!(host.file("opt/demo/old").is_none());
}

#[test]
fn a_policy_requiring_signatures_installs_only_a_version_a_trusted_key_signed() {
    let host = Host::new("");
    let key = host.work.join("trusted.key");
    std::fs::create_dir_all(&host.work).unwrap();
    let generated = davit()
        .args(["key", "generate", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(generated.status.success(), "{}", text(&generated).1);
    let trusted = text(&generated).0.trim().to_string();
    std::fs::write(
        &host.policy,
        format!("{POLICY}\n[signatures]\nrequire = true\ntrusted_keys = [\"{trusted}\"]\n"),
    )
    .unwrap();

    // Unsigned: refused before anything is pulled or run.
    report(&host.push(&demo(&host, "1.0.0", "one")), 0);
    let refused = host.run("install", &["demo@1.0.0"]);
    let (_, err) = text(&refused);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(
        err.contains("package `demo`: 1.0.0") && err.contains("sign"),
        "{err}"
    );
    assert!(host.calls().is_empty());
    assert!(
        !host.state.join("packages/demo/revisions").exists(),
        "nothing pulled"
    );

    // Signed by the trusted key at push: installed.
    let dir = demo(&host, "2.0.0", "two");
    let out = davit()
        .args(["package", "push"])
        .arg(&dir)
        .args(["--name", "demo", "--store"])
        .arg(&host.store)
        .arg("--sign")
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    let r = report(&host.run("install", &["demo@2.0.0"]), 0);
    assert_eq!(r["outcome"], "installed");
    assert_eq!(host.file("opt/demo/payload.txt").as_deref(), Some("two"));
}
