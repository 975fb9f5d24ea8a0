//! Deployments that never leave a host half-done: `davit deploy --local` killed with SIGKILL
//! during the Install of a large revision, at many moments, and the tree checked each time;
//! and the revision whose hooks stop what runs now.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

const FILES: usize = 1_500;

/// Every file under `dir`, with its contents (the staging sibling of `dir` is not under it).
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A revision of `FILES` files under `site/`, each saying which revision it is from.
fn revision(dir: &Path, label: &str, destination: &str) -> PathBuf {
    let bundle = dir.join(label);
    let appspec = format!(
        "version: 0.0\nos: linux\nfiles:\n  - source: site\n    destination: {destination}\n"
    );
    write_bundle(&bundle, &appspec, &[]);
    for i in 0..FILES {
        // Names differ between revisions, so a mix of the two is visible as such.
        let path = bundle.join(format!("site/d{}/{label}-{i}.txt", i % 40));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("{label} {i}\n")).unwrap();
    }
    bundle
}

struct Host {
    dir: tempfile::TempDir,
    root: PathBuf,
    target: PathBuf,
    policy: PathBuf,
}

impl Host {
    fn new(prefix: &str) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("policy.toml");
        std::fs::write(
            &policy,
            format!("[install]\ndestinations = [\"{prefix}\"]\n"),
        )
        .unwrap();
        Host {
            root: dir.path().join("root"),
            target: dir.path().join("target"),
            policy,
            dir,
        }
    }

    fn command(&self, bundle: &Path) -> Command {
        let mut cmd = davit();
        cmd.args(["deploy", "--local"]).arg(bundle);
        cmd.args(["-a", "shop", "--output", "json", "--deployment-root"])
            .arg(&self.root)
            .arg("--target-root")
            .arg(&self.target)
            .arg("--policy")
            .arg(&self.policy);
        cmd
    }

    fn deploy(&self, bundle: &Path) -> serde_json::Value {
        let output = self.command(bundle).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", text(&output).1);
        json_ok(&output)
    }

    /// Starts a deployment of `bundle` and kills it `delay` after `started` appears.
    fn kill_during(&self, bundle: &Path, started: &Path, delay: Duration) {
        let mut child = self
            .command(bundle)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !started.exists() && child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the install never started");
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(delay);
        let _ = child.kill();
        child.wait().unwrap();
    }

    /// Runs davit once more on the deployment root, as the next deployment would: it recovers
    /// the interrupted Install before anything else, then stops on a bundle without an appspec.
    fn next_run(&self) {
        let empty = self.dir.path().join("no-appspec");
        std::fs::create_dir_all(&empty).unwrap();
        let output = self.command(&empty).output().unwrap();
        let (_, err) = text(&output);
        assert!(err.contains("appspec"), "{err}");
    }

    fn group(&self) -> PathBuf {
        self.root.join("apps/shop/default-local-deployment-group")
    }

    /// The revision the cleanup record says is installed.
    fn installed(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.group().join("cleanup.json")).ok()?;
        let record: serde_json::Value = serde_json::from_str(&text).unwrap();
        record["revision"]["revision"].as_str().map(str::to_owned)
    }

    /// The recovery line of every deployment recorded as FailedAfterRestart.
    fn recoveries(&self) -> Vec<String> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.group().join("deployments")).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let report: serde_json::Value = serde_json::from_str(&text).unwrap();
            if report["status"] == "FailedAfterRestart" {
                out.push(report["events"][0]["detail"].as_str().unwrap().to_owned());
            }
        }
        out
    }
}

#[test]
fn killed_at_many_moments_a_directory_destination_holds_one_revision_complete() {
    let host = Host::new("/srv/app");
    let (v1, v2) = (
        revision(host.dir.path(), "v1", "/srv/app"),
        revision(host.dir.path(), "v2", "/srv/app"),
    );
    let dest = host.target.join("srv/app");
    let first = host.deploy(&v1);
    let second = host.deploy(&v2);
    let ids = [first["revision"].clone(), second["revision"].clone()];
    let whole = [tree(&dest), {
        host.deploy(&v1);
        tree(&dest)
    }];
    // whole[0] is v2's tree, whole[1] v1's; v1 is installed now.
    assert_eq!(whole[0].len(), FILES);
    assert_eq!(whole[1].len(), FILES);
    let staging = host.target.join("srv/.app.davit-next");
    let taken_back = "the interrupted Install was taken back: the host holds revision";
    let mut interrupted = 0;
    // Fixed moments first; then, until a kill lands between the switch and the commit (a
    // window of a few milliseconds that the machine's speed moves), a sweep in 1 ms steps.
    let fixed = [0u64, 1, 3, 6, 10, 20, 40, 80, 160, 320];
    let sweep =
        (0u64..400).take_while(|_| !host.recoveries().iter().any(|r| r.contains(taken_back)));
    for (n, delay_ms) in fixed.into_iter().chain(sweep).enumerate() {
        let installed = host.installed().unwrap();
        let bundle = if installed == ids[0] { &v2 } else { &v1 };
        host.kill_during(bundle, &staging, Duration::from_millis(delay_ms));
        // A reader of the destination sees one revision, complete, before any recovery.
        let now = tree(&dest);
        assert!(
            now == whole[0] || now == whole[1],
            "kill {n} ({delay_ms} ms): {} files, a mix of revisions",
            now.len()
        );
        let journal = host.group().join("install.journal").exists();
        interrupted += usize::from(journal);
        host.next_run();
        assert!(!host.group().join("install.journal").exists());
        assert!(!staging.exists(), "kill {n}: the staging tree is gone");
        let now = tree(&dest);
        let holds = host.installed().unwrap();
        let expected = if holds == ids[0] {
            &whole[1]
        } else {
            &whole[0]
        };
        assert!(
            &now == expected,
            "kill {n}: the tree is the revision the record names"
        );
    }
    assert!(
        interrupted >= 3,
        "only {interrupted} kills landed during an Install"
    );
    let recoveries = host.recoveries();
    assert!(recoveries.len() >= interrupted, "{recoveries:?}");
    assert!(
        recoveries.iter().any(|r| r.contains(taken_back)),
        "no kill landed between the switch and the commit: {recoveries:?}"
    );
}

#[test]
fn killed_at_many_moments_a_shared_directory_is_put_back_by_the_next_run() {
    // `/srv/shared` holds a file davit did not install: it is shared, files go in one by one.
    let host = Host::new("/srv/shared");
    let (v1, v2) = (
        revision(host.dir.path(), "v1", "/srv/shared"),
        revision(host.dir.path(), "v2", "/srv/shared"),
    );
    let dest = host.target.join("srv/shared");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(dest.join("keep.conf"), "the host's\n").unwrap();
    let v1_id = host.deploy(&v1)["revision"].clone();
    let old = tree(&dest);
    assert_eq!(old.len(), FILES + 1);
    let journal = host.group().join("install.journal");
    let mut interrupted = 0;
    for (n, delay_ms) in [0u64, 2, 5, 10, 30, 80].into_iter().enumerate() {
        host.kill_during(&v2, &journal, Duration::from_millis(delay_ms));
        // Every file is whole under its name: one revision's or the other's, never cut short.
        // (A file being put in is written under a hidden sibling name first, `.NAME.davit-next`,
        // which no reader of NAME sees; the next run removes it, as the check below shows.)
        for (path, bytes) in tree(&dest) {
            let text = String::from_utf8(bytes).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with('.') && name.ends_with(".davit-next") {
                continue;
            }
            assert!(
                text == "the host's\n"
                    || text.ends_with('\n') && name.starts_with(text.split(' ').next().unwrap()),
                "kill {n}: `{}` holds {text:?}",
                path.display()
            );
        }
        host.next_run();
        if host.installed().as_deref() == v1_id.as_str() {
            interrupted += 1;
        } else {
            // It committed before the kill: go back to v1 for the next round.
            host.deploy(&v1);
        }
        assert_eq!(
            tree(&dest),
            old,
            "kill {n} ({delay_ms} ms): v1 and the host's file, exactly"
        );
    }
    assert!(
        interrupted >= 3,
        "only {interrupted} kills landed during an Install"
    );
}
