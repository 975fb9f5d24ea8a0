//! `davit server` and the operator's commands, as a user runs them: real server process,
//! SQLite state in a scratch directory, a restart in the middle.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

use crate::support::*;

/// Starts `davit server` over `data_dir`; returns it and its URL.
fn start_server(data_dir: &Path) -> (Child, String) {
    let mut server = davit()
        .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("the server says where it listens")
            .unwrap();
        if let Some(rest) = line.strip_prefix("davit server on ") {
            break rest.split(' ').next().unwrap().to_string();
        }
    };
    (server, url)
}

fn operator(url: &str, token: &str, args: &[&str]) -> std::process::Output {
    davit()
        .args(args)
        .env("DAVIT_SERVER", url)
        .env("DAVIT_TOKEN", token)
        .output()
        .unwrap()
}

#[test]
fn operators_create_apps_and_groups_that_survive_a_restart() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("server");
    let (mut server, url) = start_server(&data);
    let token = std::fs::read_to_string(data.join("operator-token")).unwrap();
    let token = token.trim();

    let output = operator(&url, token, &["app", "create", "shop"]);
    assert!(output.status.success(), "{}", text(&output).1);
    let output = operator(
        &url,
        token,
        &[
            "group",
            "create",
            "shop",
            "prod",
            "--tags",
            "env=prod,zone=a",
            "--hosts",
            "web-1,web-2",
        ],
    );
    assert!(output.status.success(), "{}", text(&output).1);

    let output = operator(&url, token, &["app", "create", "shop"]);
    let (_, err) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("application `shop` exists"), "{err}");
    let output = operator(&url, "dvo_wrong", &["app", "list"]);
    let (_, err) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("hint: check DAVIT_TOKEN"), "{err}");

    server.kill().unwrap();
    server.wait().unwrap();
    let (mut server, url) = start_server(&data);
    let output = operator(&url, token, &["group", "list", "shop", "--output", "json"]);
    let (out, err) = text(&output);
    assert!(output.status.success(), "{err}");
    let groups: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(groups[0]["name"], "prod");
    assert_eq!(groups[0]["tags"]["zone"], "a");
    assert_eq!(groups[0]["hosts"][1], "web-2");
    let output = operator(&url, token, &["enroll-token", "create"]);
    assert!(text(&output).0.starts_with("dve_"), "{}", text(&output).1);
    server.kill().unwrap();
    server.wait().unwrap();
}

/// `davit agent` processes that end when dropped.
struct Agents(Vec<Child>);

impl Drop for Agents {
    fn drop(&mut self) {
        for agent in &mut self.0 {
            let _ = agent.kill();
            let _ = agent.wait();
        }
    }
}

fn json_of(output: &std::process::Output) -> serde_json::Value {
    let (out, err) = text(output);
    assert!(output.status.success(), "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn a_fleet_deployment_runs_on_every_agent_and_reports_each_host() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (mut server, url) = start_server(&w.join("server"));
    let token = std::fs::read_to_string(w.join("server/operator-token")).unwrap();
    let token = token.trim();
    assert!(
        operator(&url, token, &["app", "create", "shop"])
            .status
            .success()
    );
    let output = operator(
        &url,
        token,
        &[
            "group", "create", "shop", "prod", "--tags", "env=prod", "--hosts", "web-4",
        ],
    );
    assert!(output.status.success(), "{}", text(&output).1);

    // The revision: a page and an AfterInstall script that fails where the host says so.
    let bundle = w.join("bundle");
    write_bundle(
        &bundle,
        "version: 0.0\nos: linux\nfiles:\n  - source: site\n    destination: /srv/app\nhooks:\n  AfterInstall:\n    - location: check.sh\n",
        &[
            ("site/index.html", b"fleet".as_slice()),
            (
                "check.sh",
                b"#!/bin/sh\nif [ -f \"$DAVIT_TARGET_ROOT/fail\" ]; then echo 'disk check failed' >&2; exit 3; fi\n".as_slice(),
            ),
        ],
    );
    let store = w.join("store");
    let pushed = json_of(
        &davit()
            .args(["bundle", "push"])
            .arg(&bundle)
            .arg("--store")
            .arg(&store)
            .args(["--output", "json"])
            .output()
            .unwrap(),
    );
    let revision = pushed["revision"].as_str().unwrap();
    let policy = w.join("policy.toml");
    std::fs::write(&policy, "allow_native_scripts = true\n").unwrap();

    // Three agents; web-3's host makes the hook fail; web-4 never enrolls.
    let mut agents = Agents(Vec::new());
    for host in ["web-1", "web-2", "web-3"] {
        let enroll = operator(&url, token, &["enroll-token", "create"]);
        let enroll = text(&enroll).0.trim().to_string();
        let target = w.join(host).join("target");
        std::fs::create_dir_all(&target).unwrap();
        if host == "web-3" {
            std::fs::write(target.join("fail"), "").unwrap();
        }
        agents.0.push(
            davit()
                .args([
                    "agent",
                    "--server",
                    &url,
                    "--enroll-token",
                    &enroll,
                    "--tags",
                    "env=prod,zone=a",
                ])
                .args(["--hostname", host, "--policy"])
                .arg(&policy)
                .arg("--deployment-root")
                .arg(w.join(host).join("root"))
                .arg("--target-root")
                .arg(&target)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while json_of(&operator(&url, token, &["agents", "--output", "json"]))
        .as_array()
        .unwrap()
        .len()
        < 3
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the agents did not enroll"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    let store_arg = store.to_str().unwrap();
    let created = json_of(&operator(
        &url,
        token,
        &[
            "deploy",
            "shop",
            "prod",
            "--revision",
            revision,
            "--store",
            store_arg,
            "--config",
            "AllAtOnce",
            "--output",
            "json",
        ],
    ));
    let id = created["id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let done = loop {
        let shown = json_of(&operator(
            &url,
            token,
            &["deployments", "show", &id, "--output", "json"],
        ));
        if shown["status"] != "InProgress" {
            break shown;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the deployment never ended: {shown}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(done["status"], "Succeeded", "{done}");
    let host = |name: &str| {
        done["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["host"] == name)
            .cloned()
            .unwrap()
    };
    for ok in ["web-1", "web-2"] {
        assert_eq!(host(ok)["state"], "Succeeded", "{done}");
        assert_eq!(
            std::fs::read_to_string(w.join(ok).join("target/srv/app/index.html")).unwrap(),
            "fleet"
        );
    }
    assert_eq!(host("web-3")["state"], "Failed");
    let detail = host("web-3")["detail"].as_str().unwrap().to_string();
    assert!(detail.starts_with("AfterInstall:"), "{detail}");
    assert!(detail.contains("exited with status 3"), "{detail}");
    assert_eq!(host("web-4")["state"], "Failed");
    assert_eq!(
        host("web-4")["detail"],
        "no agent ever enrolled on this host"
    );
    drop(agents);
    server.kill().unwrap();
    server.wait().unwrap();
}
