//! `davit bundle push|pull` and `davit store serve` as a user runs them.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::support::*;

/// Pushes hello-web twice and pulls it back through `store`.
fn push_twice_and_pull(store: &str, work: &std::path::Path) {
    let example = repo().join("examples/hello-web");
    let push = || push_bundle(&example, store);
    let first = push();
    assert!(first["new_bytes"].as_u64().unwrap() > 0);
    let second = push();
    assert_eq!(second["revision"], first["revision"]);
    assert_eq!(second["new_bytes"], 0);
    assert_eq!(second["new_chunks"], 0);

    let dest = work.join("pulled");
    let pulled = json_ok(
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
    let pushed = push_bundle(&repo().join("examples/hello-web"), &store);
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
    let report = json_ok(&deploy(&["-a", "hello-web"]));
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

#[test]
fn a_policy_requiring_signatures_deploys_only_what_a_trusted_key_signed() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let store = w.join("store");
    let generate = |name: &str| -> String {
        let output = davit()
            .args(["key", "generate", "--out"])
            .arg(w.join(name))
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output).1);
        text(&output).0.trim().to_string()
    };
    let trusted = generate("trusted.key");
    generate("other.key");
    let policy = w.join("policy.toml");
    let example_policy =
        std::fs::read_to_string(repo().join("examples/hello-web/host-policy.toml")).unwrap();
    std::fs::write(
        &policy,
        format!("{example_policy}\n[signatures]\nrequire = true\ntrusted_keys = [\"{trusted}\"]\n"),
    )
    .unwrap();

    // Three revisions: signed by the trusted key, by another key, and not at all.
    let tree = |name: &str, version: &str| {
        let dir = w.join(name);
        copy_tree(&repo().join("examples/hello-web"), &dir);
        std::fs::write(dir.join("www/version.txt"), version).unwrap();
        dir
    };
    let push = |dir: &std::path::Path, key: Option<&str>| -> String {
        let mut cmd = davit();
        cmd.args(["bundle", "push"])
            .arg(dir)
            .arg("--store")
            .arg(&store);
        if let Some(key) = key {
            cmd.arg("--sign").arg(w.join(key));
        }
        json_ok(&cmd.args(["--output", "json"]).output().unwrap())["revision"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let good = push(&tree("good", "1"), Some("trusted.key"));
    let foreign = push(&tree("foreign", "2"), Some("other.key"));
    let unsigned = push(&tree("unsigned", "3"), None);

    let deploy = |source: &str, from_store: bool| {
        let mut cmd = davit();
        cmd.args(["deploy", "--local", source, "-a", "hello-web"]);
        if from_store {
            cmd.arg("--store").arg(&store);
        }
        cmd.arg("--policy")
            .arg(&policy)
            .arg("--deployment-root")
            .arg(w.join("root"))
            .arg("--target-root")
            .arg(w.join("target"))
            .args(["--events", "BeforeInstall"])
            .output()
            .unwrap()
    };
    let output = deploy(&good, true);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output).1);

    for (revision, expect) in [
        (&foreign, "no signature in the store"),
        (&unsigned, "no signature in the store"),
    ] {
        let output = deploy(revision, true);
        let (_, err) = text(&output);
        assert_eq!(output.status.code(), Some(2), "{err}");
        assert!(
            err.contains("requires a signature by a trusted key"),
            "{err}"
        );
        assert!(err.contains(&format!("{trusted}: {expect}")), "{err}");
    }

    // A signature object moved onto another revision does not verify for it.
    let key_id = std::fs::read_dir(store.join("signatures").join(&good))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let moved = store.join("signatures").join(&unsigned);
    std::fs::create_dir_all(&moved).unwrap();
    std::fs::copy(
        store.join("signatures").join(&good).join(&key_id),
        moved.join(&key_id),
    )
    .unwrap();
    let output = deploy(&unsigned, true);
    let (_, err) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("signature does not verify"), "{err}");

    // A directory carries no signature.
    let output = deploy(w.join("good").to_str().unwrap(), false);
    let (_, err) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(
        err.contains("a directory or archive carries no signature"),
        "{err}"
    );
    assert!(
        !w.join("target/opt/hello-web/www/version.txt").exists()
            || std::fs::read_to_string(w.join("target/opt/hello-web/www/version.txt")).unwrap()
                == "1",
        "only the signed revision was ever installed"
    );
}

#[test]
fn the_chunk_cache_keeps_only_what_kept_revisions_use() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let store = w.join("store");
    let root = w.join("root");
    let mut revisions = Vec::new();
    for version in ["1", "2", "3"] {
        let dir = w.join(format!("v{version}"));
        copy_tree(&repo().join("examples/hello-web"), &dir);
        // A 2 MiB file of its own per version, so each revision has chunks of its own.
        let noise: Vec<u8> = (0..2u32 << 20)
            .map(|i| {
                (i.wrapping_mul(2654435761)
                    .wrapping_add(version.as_bytes()[0] as u32)
                    >> 13) as u8
            })
            .collect();
        std::fs::write(dir.join("www/data.bin"), noise).unwrap();
        let pushed = push_bundle(&dir, &store);
        let id = pushed["revision"].as_str().unwrap().to_string();
        let output = davit()
            .args([
                "deploy",
                "--local",
                &id,
                "-a",
                "hello-web",
                "--keep-revisions",
                "1",
            ])
            .arg("--store")
            .arg(&store)
            .arg("--policy")
            .arg(repo().join("examples/hello-web/host-policy.toml"))
            .arg("--deployment-root")
            .arg(&root)
            .arg("--target-root")
            .arg(w.join("target"))
            .args(["--events", "BeforeInstall"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output).1);
        revisions.push(id);
    }
    // Only the current revision is kept (none was validated), so only its manifest remains.
    let manifests: Vec<String> = std::fs::read_dir(root.join("cache/chunks/manifests"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(manifests, [revisions[2].clone()]);

    let gc = json_ok(
        &davit()
            .args(["cache", "gc", "--output", "json", "--deployment-root"])
            .arg(&root)
            .output()
            .unwrap(),
    );
    assert_eq!(gc["removed_chunks"], 0, "the deployment already collected");
    assert_eq!(gc["kept_manifests"], 1);
    let kept = gc["kept_bytes"].as_u64().unwrap();
    assert!((2 << 20..4 << 20).contains(&kept), "{gc}");
}

#[test]
fn a_store_manifest_davit_would_not_write_is_refused() {
    // Same tree, same chunks, but the manifest re-encoded (pretty JSON): it hashes to another
    // id, which the staged tree would not have.
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let pushed = push_bundle(&repo().join("examples/hello-web"), &store);
    let id = pushed["revision"].as_str().unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.join("manifests").join(id)).unwrap()).unwrap();
    let pretty = serde_json::to_vec_pretty(&manifest).unwrap();
    let other = blake3::hash(&pretty).to_hex().to_string();
    std::fs::write(store.join("manifests").join(&other), &pretty).unwrap();
    let output = davit()
        .args(["deploy", "--local", &other, "-a", "hello-web", "--store"])
        .arg(&store)
        .arg("--deployment-root")
        .arg(work.path().join("root"))
        .arg("--target-root")
        .arg(work.path().join("target"))
        .output()
        .unwrap();
    let (_, err) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("arrived as {id}")), "{err}");
    assert!(
        !work.path().join("target/opt").exists(),
        "nothing was installed"
    );
}
