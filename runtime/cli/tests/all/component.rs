//! `davit component validate` and `davit component run`, end to end: the Image Builder corpus
//! validated, and documents run against scratch roots.

use std::path::Path;

use crate::support::*;

/// Every document of the corpus, with the outcome `awstoe validate` would give it.
#[test]
fn the_imagebuilder_corpus_validates_as_awstoe_would() {
    let dir = corpus().join("imagebuilder");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml") || n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 12, "the corpus lost documents: {names:?}");
    for name in names {
        let out = davit()
            .args(["component", "validate", "--output", "json"])
            .arg(dir.join(&name))
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        let json: serde_json::Value =
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{name}: {e}: {stdout}"));
        let outcome = json["outcome"].as_str().unwrap();
        if name.starts_with("10-chef-recipe-execution-windows") {
            // Not valid YAML as published: reported, at its line and column.
            assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
            assert_eq!(outcome, "invalid");
            assert!(json["errors"][0]["line"].is_u64(), "{name}: {json}");
            assert!(stderr.starts_with("error: "), "{stderr}");
            continue;
        }
        assert_eq!(out.status.code(), Some(0), "{name}: {stderr}");
        let windows = name.contains("windows") || name.contains("Windows");
        let expected = if windows {
            "valid-not-runnable-linux"
        } else {
            "valid"
        };
        assert_eq!(outcome, expected, "{name}: {json}");
    }
}

#[test]
fn validate_prints_a_summary_and_says_not_runnable_on_linux() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = tmp.path().join("w.yml");
    std::fs::write(
        &doc,
        "name: Win\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Ps\n        action: ExecutePowerShell\n        inputs:\n          commands: [dir]\n",
    )
    .unwrap();
    let out = davit()
        .args(["component", "validate"])
        .arg(&doc)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("valid component document `Win`, but not runnable on Linux"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Windows only: build.Ps (ExecutePowerShell)"),
        "{stdout}"
    );
}

/// The file actions, end to end, against a scratch root: needs the built-in `toe-actions`.
const FILE_ACTIONS: &str = r#"name: FileActions
schemaVersion: 1.0
parameters:
  - Greeting:
      type: string
      default: hello
phases:
  - name: build
    steps:
      - name: MakeDirs
        action: CreateFolder
        loop:
          forEach: [a, b]
        inputs:
          - path: '/opt/app/{{ loop.value }}'
      - name: Write
        action: CreateFile
        inputs:
          - path: /opt/app/a/greeting.txt
            content: '{{ Greeting }}'
      - name: Append
        action: AppendFile
        inputs:
          - path: /opt/app/a/greeting.txt
            content: ' world'
      - name: Copy
        action: CopyFile
        inputs:
          - source: /opt/app/a/greeting.txt
            destination: /opt/app/b/copy.txt
      - name: Read
        action: ReadFile
        inputs:
          - path: /opt/app/b/copy.txt
      - name: Chained
        action: CreateFile
        inputs:
          - path: /opt/app/chained.txt
            content: '{{ build.Read.outputs.content }}'
      - name: List
        action: ListFiles
        inputs:
          - path: /opt/app/b
      - name: Mode
        action: SetFilePermissions
        inputs:
          - path: /opt/app/chained.txt
            permissions: '0600'
      - name: Remove
        action: DeleteFile
        inputs:
          - path: /opt/app/a/greeting.txt
      - name: OnlyIfMissing
        action: CreateFile
        if:
          fileExists: /opt/app/a/greeting.txt
        inputs:
          - path: /opt/app/never.txt
            content: should be skipped
"#;

#[test]
fn file_actions_run_against_a_scratch_root() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let doc = tmp.path().join("files.yml");
    std::fs::write(&doc, FILE_ACTIONS).unwrap();
    let logs = tmp.path().join("logs");
    let out = davit()
        .args(["component", "run", "--output", "json", "--target-root"])
        .arg(&root)
        .arg("--log-directory")
        .arg(&logs)
        .arg(&doc)
        .output()
        .unwrap();
    let report = json_ok(&out);
    assert_eq!(report["status"], "success", "{report}");
    let on_disk = |p: &str| std::fs::read_to_string(root.join(p)).ok();
    assert_eq!(
        on_disk("opt/app/b/copy.txt").as_deref(),
        Some("hello world")
    );
    assert_eq!(
        on_disk("opt/app/chained.txt").as_deref(),
        Some("hello world")
    );
    assert_eq!(on_disk("opt/app/a/greeting.txt"), None);
    assert_eq!(on_disk("opt/app/never.txt"), None);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(root.join("opt/app/chained.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let detailed = read_detailed(&logs);
    let steps = &detailed["documents"][0]["phases"][0]["steps"];
    let step = |name: &str| {
        steps
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(step("MakeDirs")["iterations"], 2);
    assert_eq!(step("Read")["outputs"]["content"], "hello world");
    assert_eq!(step("Chained")["inputs"][0]["content"], "hello world");
    assert_eq!(step("List")["outputs"]["files"], "/opt/app/b/copy.txt");
    assert_eq!(step("OnlyIfMissing")["status"], "skipped");
}

/// With the echo guest as the action component: the runner's own semantics (inputs as JSON
/// with defaults, chaining, loops, `if`, `onFailure`, the log directory), checked without the
/// real actions.
#[test]
fn the_runner_sends_awstoe_inputs_and_writes_awstoe_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/marker"), "x").unwrap();
    let doc = tmp.path().join("echo.yml");
    std::fs::write(
        &doc,
        r#"name: Echo
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Make
        action: CreateFile
        loop:
          forEach: [one, two]
        inputs:
          - path: '/tmp/{{ loop.value }}'
      - name: Again
        action: CreateFolder
        inputs:
          - path: '{{ build.Make.inputs[0].path }}-dir'
      - name: Skipped
        action: CreateFolder
        if:
          fileExists: /etc/no-such-file
        inputs:
          - path: /never
      - name: Marked
        action: CreateFolder
        if:
          fileExists: /etc/marker
        inputs:
          - path: /marked
  - name: validate
    steps:
      - name: Nope
        action: Assert
        onFailure: Continue
        inputs:
          stringEquals: a
          value: a
"#,
    )
    .unwrap();
    let logs = tmp.path().join("logs");
    let out = davit()
        .args([
            "component",
            "run",
            "--output",
            "json",
            "--phases",
            "build",
            "--target-root",
        ])
        .arg(&root)
        .arg("--log-directory")
        .arg(&logs)
        .arg("--actions")
        .arg(test_guest("action-echo"))
        .arg(&doc)
        .output()
        .unwrap();
    let report = json_ok(&out);
    assert_eq!(report["status"], "success", "{report}");
    let detailed = read_detailed(&logs);
    let phases = detailed["documents"][0]["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 1, "--phases build runs only build");
    let steps = phases[0]["steps"].as_array().unwrap();
    assert_eq!(steps[0]["iterations"], 2);
    // The echo guest returns what it was sent: defaults filled in, the last iteration's path.
    assert_eq!(
        steps[0]["outputs"]["inputs"],
        serde_json::json!([{"path": "/tmp/two", "content": "", "encoding": "utf-8", "overwrite": true}])
    );
    assert_eq!(steps[1]["inputs"][0]["path"], "/tmp/two-dir");
    assert_eq!(steps[2]["status"], "skipped");
    assert_eq!(steps[3]["status"], "success");
    let run_dir = only_run_dir(&logs);
    for f in [
        "document.yaml",
        "application.log",
        "console.log",
        "detailedoutput.json",
        "chaining.json",
    ] {
        assert!(
            run_dir.join(f).is_file(),
            "{f} missing in {}",
            run_dir.display()
        );
    }
    let chaining: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("chaining.json")).unwrap())
            .unwrap();
    assert_eq!(chaining["build.Again"]["inputs"][0]["path"], "/tmp/two-dir");
    let console = std::fs::read_to_string(run_dir.join("console.log")).unwrap();
    assert!(console.contains("[build.Make]"), "{console}");
}

#[test]
fn a_program_that_cannot_be_granted_is_refused_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let doc = tmp.path().join("fail.yml");
    std::fs::write(
        &doc,
        "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Bad\n        action: ExecuteBinary\n        onFailure: Continue\n        maxAttempts: 2\n        inputs:\n          path: relative-program\n      - name: After\n        action: CreateFolder\n        inputs:\n          - path: /x\n",
    )
    .unwrap();
    std::fs::write(tmp.path().join("policy.toml"), "").unwrap();
    let logs = tmp.path().join("logs");
    let out = davit()
        .args(["component", "run", "--output", "json", "--policy"])
        .arg(tmp.path().join("policy.toml"))
        .arg("--target-root")
        .arg(&root)
        .arg("--log-directory")
        .arg(&logs)
        .arg("--actions")
        .arg(test_guest("action-echo"))
        .arg(&doc)
        .output()
        .unwrap();
    // A relative program cannot be granted: refused before anything runs.
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("step `build.Bad` (`ExecuteBinary`)"),
        "{stderr}"
    );
    assert!(!logs.exists(), "nothing ran, so no log directory");
}

fn only_run_dir(logs: &Path) -> std::path::PathBuf {
    let dirs: Vec<_> = std::fs::read_dir(logs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let name = dirs[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("TOE_"), "{name}");
    dirs[0].clone()
}

fn read_detailed(logs: &Path) -> serde_json::Value {
    let path = only_run_dir(logs).join("detailedoutput.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The Debian base root filesystem (`scripts/base-rootfs`, built once per checkout and
/// shared), unpacked into `dir/root`.
fn debian_root(dir: &Path) -> std::path::PathBuf {
    let script = repo().join("scripts/base-rootfs");
    let made = std::process::Command::new(&script).output().unwrap();
    assert!(made.status.success(), "{}", text(&made).1);
    let tar = String::from_utf8(made.stdout).unwrap();
    let root = dir.join("root");
    std::fs::create_dir(&root).unwrap();
    let unpacked = std::process::Command::new("tar")
        .args(["--numeric-owner", "-xpf", tar.trim(), "-C"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(unpacked.status.success(), "{}", text(&unpacked).1);
    root
}

/// The corpus's hello-world component, as Image Builder's getting-started runs it: its two
/// ExecuteBash steps run with the Debian root's own bash, inside that root, and what they
/// write stays in it.
#[test]
fn the_hello_world_component_runs_with_bash_inside_a_debian_root() {
    let tmp = tempfile::tempdir().unwrap();
    let root = debian_root(tmp.path());
    let policy = tmp.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[[commands]]\nprogram = \"/bin/bash\"\nargs = [\"*\"]\n",
    )
    .unwrap();
    let doc = corpus().join("imagebuilder/01-hello-world-component.yaml");
    let logs = tmp.path().join("logs");
    let host_home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let before = host_home
        .as_ref()
        .map(|h| h.join("helloworld.txt").exists());
    let out = davit()
        .args(["component", "run", "--output", "json", "--target-root"])
        .arg(&root)
        .arg("--policy")
        .arg(&policy)
        .arg("--log-directory")
        .arg(&logs)
        .arg(&doc)
        .output()
        .unwrap();
    let report = json_ok(&out);
    assert_eq!(report["status"], "success", "{report}");
    assert_eq!(
        std::fs::read_to_string(root.join("root/helloworld.txt")).unwrap(),
        "hello world\n",
        "written in the root's own home of root"
    );
    let after = host_home.map(|h| h.join("helloworld.txt").exists());
    assert_eq!(before, after, "nothing was written on the host");
    let detailed = read_detailed(&logs);
    let steps = &detailed["documents"][0]["phases"][0]["steps"];
    assert_eq!(steps[1]["name"], "Assert");
    assert_eq!(
        steps[1]["outputs"]["stdout"].as_str().map(str::trim),
        Some("Hello world echo file created")
    );
    let console = std::fs::read_to_string(only_run_dir(&logs).join("console.log")).unwrap();
    assert!(
        console.contains("Hello world echo file created"),
        "{console}"
    );
}

/// On the live host, ExecuteBash is a native command: a policy that allows `/bin/bash` but not
/// native scripts refuses it before anything runs, as it refuses a native script hook (the
/// Debian-root test runs it inside a root with the same policy).
#[test]
fn execute_bash_on_the_host_needs_the_policy_to_allow_native_scripts() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = tmp.path().join("bash.yml");
    std::fs::write(
        &doc,
        "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Hello\n        action: ExecuteBash\n        inputs:\n          commands: ['echo hi']\n",
    )
    .unwrap();
    let policy = tmp.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[[commands]]\nprogram = \"/bin/bash\"\nargs = [\"*\"]\n",
    )
    .unwrap();
    let run = |target: &Path| {
        davit()
            .args(["component", "run", "--policy"])
            .arg(&policy)
            .arg("--target-root")
            .arg(target)
            .arg("--log-directory")
            .arg(tmp.path().join("logs"))
            .arg(&doc)
            .output()
            .unwrap()
    };
    let on_host = run(Path::new("/"));
    let (_, stderr) = text(&on_host);
    assert_eq!(on_host.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("step `build.Hello` (`ExecuteBash`)")
            && stderr.contains("allow_native_scripts"),
        "{stderr}"
    );
    assert!(!tmp.path().join("logs").exists(), "nothing ran");
}

/// The S3 endpoint of the test run (`scripts/services start`): its URL, from `AWS_ENDPOINT_URL`,
/// and the bucket `DAVIT_TEST_S3` names.
fn test_s3() -> (String, String) {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect(
        "AWS_ENDPOINT_URL is not set: run `eval \"$(scripts/services start)\"` first (scripts/test does)",
    );
    let bucket = std::env::var("DAVIT_TEST_S3")
        .expect("DAVIT_TEST_S3 is not set")
        .trim_start_matches("s3://")
        .trim_end_matches('/')
        .to_owned();
    (endpoint.trim_end_matches('/').to_owned(), bucket)
}

/// S3Upload then S3Download against the SeaweedFS of the test run, with the host's credentials
/// signing each request on the host: a folder's files go up under a prefix (recursively), come
/// back into another root through `prefix/*`, byte for byte; the secret is nowhere in the logs.
#[test]
fn s3_upload_and_download_round_trip_through_a_real_s3_server() {
    let (endpoint, bucket) = test_s3();
    let tmp = tempfile::tempdir().unwrap();
    let prefix = format!("component-{}", std::process::id());
    let (up, down) = (tmp.path().join("up"), tmp.path().join("down"));
    std::fs::create_dir_all(up.join("data/sub/deeper")).unwrap();
    std::fs::create_dir_all(&down).unwrap();
    let binary: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(up.join("data/a.txt"), "alpha").unwrap();
    std::fs::write(up.join("data/sub/b.bin"), &binary).unwrap();
    std::fs::write(up.join("data/sub/deeper/c & d.txt"), "gamma").unwrap();
    let policy = tmp.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!("[[urls]]\nprefix = \"{endpoint}/{bucket}/{prefix}\"\n"),
    )
    .unwrap();
    let doc = |name: &str, body: String| {
        let path = tmp.path().join(name);
        std::fs::write(
            &path,
            format!("schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n{body}"),
        )
        .unwrap();
        path
    };
    let upload = doc(
        "up.yml",
        format!(
            "      - name: Up\n        action: S3Upload\n        inputs:\n          - source: /data/*\n            destination: s3://{bucket}/{prefix}/tree/\n            recurse: true\n          - source: /data/a.txt\n            destination: s3://{bucket}/{prefix}/single/renamed.txt\n"
        ),
    );
    let download = doc(
        "down.yml",
        format!(
            "      - name: Down\n        action: S3Download\n        inputs:\n          - source: s3://{bucket}/{prefix}/tree/*\n            destination: /restored\n          - source: s3://{bucket}/{prefix}/single/renamed.txt\n            destination: /etc/one.txt\n"
        ),
    );
    let run = |root: &Path, doc: &Path, logs: &str| {
        davit()
            .args(["component", "run", "--output", "json", "--policy"])
            .arg(&policy)
            .arg("--target-root")
            .arg(root)
            .arg("--log-directory")
            .arg(tmp.path().join(logs))
            .arg(doc)
            .output()
            .unwrap()
    };
    let report = json_ok(&run(&up, &upload, "logs-up"));
    assert_eq!(report["status"], "success", "{report}");
    let report = json_ok(&run(&down, &download, "logs-down"));
    assert_eq!(report["status"], "success", "{report}");
    let read = |p: &str| std::fs::read(down.join(p)).unwrap();
    assert_eq!(read("restored/a.txt"), b"alpha");
    assert_eq!(read("restored/sub/b.bin"), binary);
    assert_eq!(read("restored/sub/deeper/c & d.txt"), b"gamma");
    assert_eq!(read("etc/one.txt"), b"alpha");
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap();
    for logs in ["logs-up", "logs-down"] {
        let run_dir = only_run_dir(&tmp.path().join(logs));
        for entry in std::fs::read_dir(&run_dir).unwrap().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            assert!(!text.contains(&secret), "{}", entry.path().display());
        }
    }
}

/// An S3 object outside the policy's url rules is refused before anything runs, naming the step
/// and the object's URL at the endpoint (a sibling of the allowed prefix, not under it).
#[test]
fn an_s3_object_the_policy_does_not_allow_is_refused_before_anything_runs() {
    let (endpoint, bucket) = test_s3();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let policy = tmp.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!("[[urls]]\nprefix = \"{endpoint}/{bucket}/allowed\"\n"),
    )
    .unwrap();
    let doc = tmp.path().join("down.yml");
    std::fs::write(
        &doc,
        format!("schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Fetch\n        action: S3Download\n        inputs:\n          - source: s3://{bucket}/allowed-not/secret.txt\n            destination: /x.txt\n"),
    )
    .unwrap();
    let out = davit()
        .args(["component", "run", "--policy"])
        .arg(&policy)
        .arg("--target-root")
        .arg(&root)
        .arg("--log-directory")
        .arg(tmp.path().join("logs"))
        .arg(&doc)
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("step `build.Fetch` (`S3Download`)")
            && stderr.contains(&format!("{endpoint}/{bucket}/allowed-not/secret.txt")),
        "{stderr}"
    );
    assert!(!tmp.path().join("logs").exists(), "nothing ran");
}

/// `davit component run` on this host with `--deployment-root` and `--log-directory` under
/// `tmp`, and the policy `policy`.
fn run_on_host(tmp: &Path, policy: &str, doc: &Path, extra: &[&str]) -> std::process::Output {
    std::fs::write(tmp.join("policy.toml"), policy).unwrap();
    davit()
        .args(["component", "run", "--output", "json", "--target-root", "/"])
        .arg("--policy")
        .arg(tmp.join("policy.toml"))
        .arg("--deployment-root")
        .arg(tmp.join("state"))
        .arg("--log-directory")
        .arg(tmp.join("logs"))
        .args(extra)
        .arg(doc)
        .output()
        .unwrap()
}

/// On this host a Reboot step stops the run (exit 4) with a journal; the same command run
/// again after the reboot resumes at the next step: what ran before is not run again, and
/// the chaining values of those steps are restored.
#[test]
fn a_reboot_on_the_host_stops_the_run_and_the_same_command_resumes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let w = work.display();
    let policy = format!("[[directories]]\npath = \"{w}\"\naccess = \"read-write\"\n");
    let doc = tmp.path().join("reboot.yml");
    std::fs::write(
        &doc,
        format!(
            "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Before\n        action: CreateFile\n        inputs:\n          - path: {w}/before.txt\n            content: first\n      - name: Read\n        action: ReadFile\n        inputs:\n          - path: {w}/before.txt\n      - name: Restart\n        action: Reboot\n      - name: After\n        action: CreateFile\n        inputs:\n          - path: {w}/after.txt\n            content: '{{{{ build.Read.outputs.content }}}}'\n"
        ),
    )
    .unwrap();
    let first = run_on_host(tmp.path(), &policy, &doc, &[]);
    let (stdout, stderr) = text(&first);
    assert_eq!(first.status.code(), Some(4), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("run the same command again: it resumes at `build.After`"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["status"], "rebooting", "{report}");
    assert_eq!(report["reboot"]["after"], "build.Restart");
    assert!(
        !work.join("after.txt").exists(),
        "nothing after the reboot ran"
    );
    let journals = tmp.path().join("state/component-journals");
    assert_eq!(std::fs::read_dir(&journals).unwrap().count(), 1);
    // Changed while the host rebooted: a step run again would put `first` back.
    std::fs::write(work.join("before.txt"), "changed").unwrap();
    let second = run_on_host(tmp.path(), &policy, &doc, &[]);
    let report = json_ok(&second);
    assert_eq!(report["status"], "success", "{report}");
    assert_eq!(report["resumed"], report_id(&stdout));
    assert_eq!(
        std::fs::read_to_string(work.join("before.txt")).unwrap(),
        "changed"
    );
    assert_eq!(
        std::fs::read_to_string(work.join("after.txt")).unwrap(),
        "first",
        "the chained value is the one read before the reboot"
    );
    assert_eq!(std::fs::read_dir(&journals).unwrap().count(), 0);
    let steps = &report["documents"][0]["phases"][0]["steps"];
    let names: Vec<&str> = steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Before", "Read", "Restart", "After"], "{steps}");
    // Another run of the same document is a new run: it starts from the first step.
    let third = run_on_host(tmp.path(), &policy, &doc, &[]);
    assert_eq!(third.status.code(), Some(4));
    assert_eq!(
        std::fs::read_to_string(work.join("before.txt")).unwrap(),
        "first"
    );
}

fn report_id(stdout: &str) -> serde_json::Value {
    serde_json::from_str::<serde_json::Value>(stdout).unwrap()["executionId"].clone()
}

/// Exit 194 from a script on this host asks for a reboot and a rerun of the same step; reboots
/// past `--max-reboots` fail the step that asked, so a script that always asks cannot keep the
/// host rebooting.
#[test]
fn exit_194_on_the_host_reruns_the_step_after_the_reboot_within_the_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let w = work.display();
    let policy = format!(
        "allow_native_scripts = true\n\n[[commands]]\nprogram = \"/bin/bash\"\nargs = [\"*\"]\n\n[[directories]]\npath = \"{w}\"\naccess = \"read-write\"\n"
    );
    let doc = tmp.path().join("rerun.yml");
    // Asks twice (194), then succeeds: a counter in the work directory.
    std::fs::write(
        &doc,
        format!(
            "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Bash\n        action: ExecuteBash\n        inputs:\n          commands:\n            - echo x >> {w}/runs\n            - if [ $(wc -l < {w}/runs) -lt 3 ]; then exit 194; fi\n"
        ),
    )
    .unwrap();
    let runs = || {
        std::fs::read_to_string(work.join("runs"))
            .unwrap()
            .lines()
            .count()
    };
    let first = run_on_host(tmp.path(), &policy, &doc, &["--max-reboots", "2"]);
    let (stdout, stderr) = text(&first);
    assert_eq!(first.status.code(), Some(4), "{stdout}\n{stderr}");
    assert!(stderr.contains("it runs `build.Bash` again"), "{stderr}");
    assert_eq!(runs(), 1);
    let second = run_on_host(tmp.path(), &policy, &doc, &["--max-reboots", "2"]);
    assert_eq!(second.status.code(), Some(4));
    assert_eq!(runs(), 2);
    let third = run_on_host(tmp.path(), &policy, &doc, &["--max-reboots", "2"]);
    assert_eq!(json_ok(&third)["status"], "success");
    assert_eq!(runs(), 3);
    // With a bound of 1, the second request fails the step.
    std::fs::remove_file(work.join("runs")).unwrap();
    let first = run_on_host(tmp.path(), &policy, &doc, &["--max-reboots", "1"]);
    assert_eq!(first.status.code(), Some(4));
    let second = run_on_host(tmp.path(), &policy, &doc, &["--max-reboots", "1"]);
    let (stdout, _) = text(&second);
    assert_eq!(second.status.code(), Some(1), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let step = &report["documents"][0]["phases"][0]["steps"][0];
    assert_eq!(step["status"], "failed");
    assert!(
        step["failureMessage"]
            .as_str()
            .unwrap()
            .contains("this run's reboot 2; at most 1 are allowed"),
        "{step}"
    );
    assert_eq!(runs(), 2);
}

/// `davit component push` and `list`: a version is stored once; other content under it is
/// refused with exit 2 and a hint naming the next version; the list holds the built-in
/// `davit/agent` and the pushed versions.
#[test]
fn component_push_keeps_versions_immutable_and_list_shows_them() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = tmp.path().join("c.yml");
    let doc_text = "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: a\n        action: CreateFolder\n        inputs:\n          - path: /opt/a\n";
    std::fs::write(&doc, doc_text).unwrap();
    let push = |version: &str| {
        davit()
            .args([
                "component",
                "push",
                "--name",
                "acme/web",
                "--version",
                version,
                "--store",
            ])
            .arg(tmp.path().join("store"))
            .arg(&doc)
            .output()
            .unwrap()
    };
    let out = push("1.2.0");
    assert!(out.status.success(), "{}", text_of(&out));
    assert!(
        text(&out).0.contains("acme/web@1.2.0 stored"),
        "{}",
        text(&out).0
    );
    let again = push("1.2.0");
    assert!(again.status.success());
    assert!(
        text(&again).0.contains("already stored"),
        "{}",
        text(&again).0
    );
    std::fs::write(&doc, doc_text.replace("/opt/a", "/opt/b")).unwrap();
    let changed = push("1.2.0");
    assert_eq!(changed.status.code(), Some(2), "{}", text_of(&changed));
    let err = text(&changed).1;
    assert!(
        err.contains("version 1.2.0 exists with other content"),
        "{err}"
    );
    assert!(
        err.contains("hint: push the new content as a new version, such as 1.2.1"),
        "{err}"
    );
    assert!(push("1.3.0").status.success());
    let listed = davit()
        .args(["component", "list", "--output", "json", "--store"])
        .arg(tmp.path().join("store"))
        .output()
        .unwrap();
    let rows = json_ok(&listed);
    assert_eq!(rows[0]["name"], "davit/agent");
    assert_eq!(rows[1]["name"], "acme/web");
    assert_eq!(rows[1]["versions"], serde_json::json!(["1.2.0", "1.3.0"]));
}

fn text_of(out: &std::process::Output) -> String {
    let (o, e) = text(out);
    format!("{o}{e}")
}
