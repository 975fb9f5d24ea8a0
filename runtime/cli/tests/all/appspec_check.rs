//! `davit appspec check` on the real corpus.

use crate::support::*;

#[test]
fn every_corpus_appspec_but_the_malformed_one_passes() {
    let Some(corpus) = corpus() else { return };
    let mut checked = 0;
    let mut dirs: Vec<_> = std::fs::read_dir(corpus.join("appspec"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.extend(
        std::fs::read_dir(corpus.join("appspec/bundles-gurre"))
            .unwrap()
            .flatten()
            .map(|e| e.path()),
    );
    for dir in dirs {
        let file = dir.join("appspec.yml");
        if !file.exists() {
            continue;
        }
        let output = davit()
            .args(["appspec", "check"])
            .arg(&file)
            .output()
            .unwrap();
        let (out, err) = text(&output);
        checked += 1;
        if dir.to_string_lossy().contains("MALFORMED") {
            assert_eq!(output.status.code(), Some(2), "{}", file.display());
            let location = format!("{}:14:1:", file.display());
            assert!(err.starts_with(&format!("error: {location}")), "{err}");
        } else {
            assert_eq!(output.status.code(), Some(0), "{}:\n{err}", file.display());
            assert!(out.contains("valid appspec"), "{out}");
        }
        if dir.to_string_lossy().contains("Windows") || dir.to_string_lossy().contains("windows") {
            assert!(out.contains("runnable here: no"), "{out}");
        }
    }
    assert!(checked >= 20, "only {checked} appspecs found");
}

#[test]
fn a_malformed_appspec_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("appspec.yml");
    std::fs::write(&file, "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - location: a.wasm\n      timeout: 7200\n").unwrap();
    let output = davit()
        .args(["appspec", "check"])
        .arg(&file)
        .output()
        .unwrap();
    let (_, err) = text(&output);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        err.starts_with(&format!("error: {}:6:16:", file.display())),
        "{err}"
    );
}
