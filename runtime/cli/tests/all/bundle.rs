//! `davit bundle push|pull` and `davit store serve` as a user runs them.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::support::*;

fn json(output: &std::process::Output) -> serde_json::Value {
    let (out, err) = text(output);
    assert!(output.status.success(), "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Pushes hello-web twice and pulls it back through `store`.
fn push_twice_and_pull(store: &str, work: &std::path::Path) {
    let example = repo().join("examples/hello-web");
    let push = || {
        json(
            &davit()
                .args(["bundle", "push"])
                .arg(&example)
                .args(["--store", store, "--output", "json"])
                .output()
                .unwrap(),
        )
    };
    let first = push();
    assert!(first["new_bytes"].as_u64().unwrap() > 0);
    let second = push();
    assert_eq!(second["revision"], first["revision"]);
    assert_eq!(second["new_bytes"], 0);
    assert_eq!(second["new_chunks"], 0);

    let dest = work.join("pulled");
    let pulled = json(
        &davit()
            .args(["bundle", "pull", first["revision"].as_str().unwrap()])
            .args(["--store", store, "--output", "json", "--dest"])
            .arg(&dest)
            .arg("--cache")
            .arg(work.join("cache"))
            .output()
            .unwrap(),
    );
    assert_eq!(pulled["fetched_bytes"], first["new_bytes"]);
    assert_eq!(
        std::fs::read(dest.join("appspec.yml")).unwrap(),
        std::fs::read(example.join("appspec.yml")).unwrap()
    );
    assert_eq!(
        std::fs::read(dest.join("hooks/after-install.wasm")).unwrap(),
        std::fs::read(example.join("hooks/after-install.wasm")).unwrap()
    );
}

#[test]
fn push_and_pull_through_a_directory_store() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    push_twice_and_pull(store.to_str().unwrap(), work.path());
}

#[test]
fn push_and_pull_through_davit_store_serve() {
    let work = tempfile::tempdir().unwrap();
    let mut server = davit()
        .args(["store", "serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(work.path().join("served"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    push_twice_and_pull(&url, work.path());
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn a_bad_revision_id_or_store_is_a_clear_error() {
    let output = davit()
        .args([
            "bundle", "pull", "abc", "--store", "/tmp", "--dest", "/tmp/x",
        ])
        .output()
        .unwrap();
    let (_, err) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("`abc` is not a digest"), "{err}");
    assert!(
        err.contains("hint: a revision id is the 64 hex digits"),
        "{err}"
    );
    let output = davit()
        .args(["bundle", "push", ".", "--store", "ftp://x"])
        .output()
        .unwrap();
    let (_, err) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("`ftp://x` is not a store"), "{err}");
}

#[test]
fn deploy_pulls_a_revision_from_a_store_with_the_same_revision_id() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let pushed = json(
        &davit()
            .args(["bundle", "push"])
            .arg(repo().join("examples/hello-web"))
            .arg("--store")
            .arg(&store)
            .args(["--output", "json"])
            .output()
            .unwrap(),
    );
    let id = pushed["revision"].as_str().unwrap();
    let deploy = |extra: &[&str]| {
        davit()
            .args(["deploy", "--local", id, "--store"])
            .arg(&store)
            .arg("--policy")
            .arg(repo().join("examples/hello-web/host-policy.toml"))
            .arg("--deployment-root")
            .arg(work.path().join("root"))
            .arg("--target-root")
            .arg(work.path().join("target"))
            .args(["--events", "BeforeInstall", "--output", "json"])
            .args(extra)
            .output()
            .unwrap()
    };
    let report = json(&deploy(&["-a", "hello-web"]));
    assert_eq!(
        report["revision"], id,
        "the deployed revision is the pushed one"
    );
    assert!(
        work.path()
            .join("target/opt/hello-web/www/index.html")
            .is_file()
    );
    let chunks = work.path().join("root/cache/chunks/chunks");
    assert!(chunks.is_dir(), "pulled through the host's chunk cache");
    assert_eq!(
        std::fs::read_dir(work.path().join("root/scratch"))
            .unwrap()
            .count(),
        0,
        "the pulled copy is cleaned up"
    );

    let output = deploy(&[]);
    let (_, err) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("needs `--application-name`"), "{err}");
}
