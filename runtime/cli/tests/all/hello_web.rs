//! The hello-web example, deployed as a user would: v1, then v2, then the broken v3.

use std::path::{Path, PathBuf};

use crate::support::*;

/// Copies the example (and its policy) with the port rewritten to a free one.
fn example_on_free_port(dir: &Path) -> (PathBuf, PathBuf, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let from = repo().join("examples/hello-web");
    let to = dir.join("hello-web");
    copy_rewriting(&from, &to, port);
    let policy = dir.join("policy.toml");
    let text = std::fs::read_to_string(from.join("host-policy.toml")).unwrap();
    std::fs::write(&policy, text.replace("8080", &port.to_string())).unwrap();
    (to, policy, port)
}

fn copy_rewriting(from: &Path, to: &Path, port: u16) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dest) = (entry.path(), to.join(entry.file_name()));
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "target" || name == "hooks-src" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_rewriting(&src, &dest, port);
        } else if name == "appspec.yml" {
            let text = std::fs::read_to_string(&src).unwrap();
            std::fs::write(dest, text.replace("8080", &port.to_string())).unwrap();
        } else {
            std::fs::copy(&src, &dest).unwrap();
        }
    }
}

fn get(port: u16) -> String {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    write!(stream, "GET / HTTP/1.0\r\nhost: 127.0.0.1\r\n\r\n").unwrap();
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body);
    body
}

/// Stops the server the example started, whatever version it is, as an operator would.
struct Server(PathBuf);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = davit()
            .args([
                "services",
                "stop",
                "-a",
                "hello-web",
                "-g",
                GROUP,
                "--grace",
                "1",
            ])
            .arg("--deployment-root")
            .arg(&self.0)
            .output();
    }
}

const GROUP: &str = "default-local-deployment-group";

/// The services recorded for the example's group: (pid, running).
fn services(root: &Path) -> Vec<(u64, bool)> {
    let out = davit()
        .args(["services", "list", "-a", "hello-web", "--output", "json"])
        .arg("--deployment-root")
        .arg(root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["pid"].as_u64().unwrap(), s["running"].as_bool().unwrap()))
        .collect()
}

/// Whether the process runs (not merely waits to be reaped).
fn alive(pid: u64) -> bool {
    davit_sandbox::start_ticks(pid as u32).is_some()
}

#[test]
fn v1_then_v2_then_a_broken_v3_leaves_v2_as_last_good() {
    let dir = tempfile::tempdir().unwrap();
    let (example, policy, port) = example_on_free_port(dir.path());
    let (root, target) = (dir.path().join("root"), dir.path().join("target"));
    let _server = Server(root.clone());
    let deploy = |bundle: &Path| {
        davit()
            .args(["deploy", "--local"])
            .arg(bundle)
            .args(["-a", "hello-web", "--output", "json"])
            .arg("--deployment-root")
            .arg(&root)
            .arg("--target-root")
            .arg(&target)
            .arg("--policy")
            .arg(&policy)
            .output()
            .unwrap()
    };
    let www = target.join("opt/hello-web/www");

    let v1 = deploy(&example);
    assert_eq!(v1.status.code(), Some(0), "{:?}", text(&v1));
    assert!(get(port).contains("hello-web version 1"));
    assert!(www.join("v1-only.txt").exists());
    let config = std::fs::read_to_string(target.join("etc/hello-web/config.json")).unwrap();
    assert!(config.contains(&port.to_string()), "{config}");
    let first = services(&root);
    assert_eq!(
        first.len(),
        1,
        "the server ApplicationStart spawned is recorded"
    );
    assert!(first[0].1 && alive(first[0].0));

    // The same revision again: its ApplicationStop must stop the running server first.
    let again = deploy(&example);
    assert_eq!(again.status.code(), Some(0), "{:?}", text(&again));
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["events"][0]["event"], "ApplicationStop");
    assert_eq!(
        again["events"][0]["hooks"].as_array().unwrap().len(),
        1,
        "{}",
        again["events"][0]
    );
    // davit itself stopped the server it recorded: the hook has no `kill` grant.
    let stop = again["events"][0]["detail"].as_str().unwrap();
    assert!(
        stop.contains(&format!("(pid {}", first[0].0)) && stop.ends_with("stopped"),
        "{stop}"
    );
    assert!(!alive(first[0].0), "v1's first server is gone");
    let second = services(&root);
    assert_eq!(second.len(), 1);
    assert_ne!(second[0].0, first[0].0);

    let v2 = deploy(&example.join("versions/v2"));
    assert_eq!(v2.status.code(), Some(0), "{:?}", text(&v2));
    assert!(get(port).contains("hello-web version 2"));
    assert!(
        !www.join("v1-only.txt").exists(),
        "v1's files are cleaned up"
    );
    assert!(www.join("v2-only.txt").exists());
    let v2: serde_json::Value = serde_json::from_slice(&v2.stdout).unwrap();

    let v3 = deploy(&example.join("versions/v3-broken"));
    assert_eq!(v3.status.code(), Some(1));
    let v3: serde_json::Value = serde_json::from_slice(&v3.stdout).unwrap();
    assert_eq!(v3["status"], "Failed");
    let failed: Vec<_> = v3["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["status"] == "Failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["event"], "ValidateService");
    assert!(
        failed[0]["detail"]
            .as_str()
            .unwrap()
            .contains("does not contain `hello-web version 3`")
    );

    let state = root.join("apps/hello-web/default-local-deployment-group/state.json");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state).unwrap()).unwrap();
    assert_eq!(
        state["last_good"]["revision"], v2["revision"],
        "last good stays at v2"
    );
}

#[test]
fn the_versions_carry_the_same_hooks_as_the_example() {
    let hooks = repo().join("examples/hello-web/hooks");
    for version in ["v2", "v3-broken"] {
        for entry in std::fs::read_dir(&hooks).unwrap().flatten() {
            let copy = repo()
                .join("examples/hello-web/versions")
                .join(version)
                .join("hooks")
                .join(entry.file_name());
            assert_eq!(
                std::fs::read(entry.path()).unwrap(),
                std::fs::read(&copy).unwrap(),
                "{}",
                copy.display()
            );
        }
    }
}
