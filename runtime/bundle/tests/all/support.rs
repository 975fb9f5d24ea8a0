//! Trees to push, stores to push them to, and comparing trees.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use davit_bundle::Store;

/// Deterministic pseudo-random bytes (xorshift), so content-defined cuts fall anywhere.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A tree with big and small files, an empty file, a nested directory, modes and a symlink.
pub fn sample_tree(root: &Path) {
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("www/assets/empty-dir")).unwrap();
    std::fs::write(root.join("appspec.yml"), "version: 0.0\nos: linux\n").unwrap();
    std::fs::write(root.join("www/big.bin"), noise(3 << 20, 1)).unwrap();
    std::fs::write(root.join("www/assets/small.css"), "body { color: red }\n").unwrap();
    std::fs::write(root.join("www/empty"), "").unwrap();
    std::fs::write(root.join("bin/start"), "#!/bin/sh\necho start\n").unwrap();
    std::fs::set_permissions(root.join("bin/start"), PermissionsExt::from_mode(0o750)).unwrap();
    std::os::unix::fs::symlink("../www/big.bin", root.join("bin/data")).unwrap();
}

/// Asserts two trees hold the same paths, kinds, contents, modes and link targets.
pub fn assert_same_tree(a: &Path, b: &Path) {
    let (left, right) = (listing(a), listing(b));
    assert_eq!(left, right);
}

fn listing(root: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    collect(root, Path::new(""), &mut out);
    out.sort();
    out
}

fn collect(root: &Path, rel: &Path, out: &mut Vec<(PathBuf, String)>) {
    for entry in std::fs::read_dir(root.join(rel)).unwrap() {
        let entry = entry.unwrap();
        let rel = rel.join(entry.file_name());
        let meta = std::fs::symlink_metadata(root.join(&rel)).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(root.join(&rel)).unwrap();
            out.push((rel, format!("link {}", target.display())));
        } else if meta.is_dir() {
            out.push((rel.clone(), format!("dir {mode:o}")));
            collect(root, &rel, out);
        } else {
            let digest = blake3::hash(&std::fs::read(root.join(&rel)).unwrap());
            out.push((rel, format!("file {mode:o} {digest}")));
        }
    }
}

/// The S3 store of the test run: `DAVIT_TEST_S3` (set by `scripts/services start`) with a fresh
/// prefix. Missing, it fails the test unless `DAVIT_SKIP_S3=1` says to skip on purpose.
pub fn s3_store(prefix: &str) -> Option<Store> {
    match std::env::var("DAVIT_TEST_S3") {
        Ok(url) => Some(Store::open(&format!("{url}/{prefix}-{}", std::process::id())).unwrap()),
        Err(_) if std::env::var_os("DAVIT_SKIP_S3").is_some() => {
            eprintln!("SKIPPED: S3 store (DAVIT_SKIP_S3 is set)");
            None
        }
        Err(_) => panic!(
            "DAVIT_TEST_S3 is not set: run `eval \"$(scripts/services start)\"` first (scripts/test does), or set DAVIT_SKIP_S3=1"
        ),
    }
}

/// An HTTP store served by davit itself on a free port, over `dir`.
pub async fn http_store(dir: &Path) -> Store {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(davit_bundle::serve::serve(
        dir.to_path_buf(),
        listener,
        None,
    ));
    Store::open(&url).unwrap()
}
