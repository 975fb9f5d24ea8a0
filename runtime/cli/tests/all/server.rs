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
