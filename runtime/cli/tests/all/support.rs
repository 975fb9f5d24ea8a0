//! Running `davit` and building throwaway bundles.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn davit() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_davit"));
    cmd.env("NO_COLOR", "1");
    cmd
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `$DAVIT_CORPUS`, or `shared/corpus` next to the repository: a test that needs it fails
/// when it is absent, never passes by skipping.
pub fn corpus() -> PathBuf {
    let dir = std::env::var_os("DAVIT_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/corpus"));
    assert!(
        dir.is_dir(),
        "the corpus is not at {} (set DAVIT_CORPUS)",
        dir.display()
    );
    dir
}

/// A test guest built by `scripts/build-guests`.
pub fn test_guest(name: &str) -> PathBuf {
    let path = repo()
        .join("target/guests/wasm")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `scripts/build-guests --only tests`",
        path.display()
    );
    path
}

pub fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Writes a bundle: `appspec.yml` plus `(path, bytes)` files.
pub fn write_bundle(dir: &Path, appspec: &str, files: &[(&str, &[u8])]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("appspec.yml"), appspec).unwrap();
    for (path, bytes) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// Copies a tree of directories and regular files.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// The JSON a successful command printed.
pub fn json_ok(output: &Output) -> serde_json::Value {
    let (out, err) = text(output);
    assert!(output.status.success(), "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// `davit bundle push <tree> --store <store> --output json`, which must succeed.
pub fn push_bundle(tree: &Path, store: impl AsRef<std::ffi::OsStr>) -> serde_json::Value {
    json_ok(
        &davit()
            .args(["bundle", "push"])
            .arg(tree)
            .arg("--store")
            .arg(store)
            .args(["--output", "json"])
            .output()
            .unwrap(),
    )
}
