//! Every document of the corpus's `imagebuilder/` (`$DAVIT_CORPUS`, or `shared/corpus` beside
//! the repository; read where it is, never copied; a missing corpus fails the test) must
//! validate; the Windows ones must be reported as not runnable on Linux.
//!
//! One is not valid YAML and is held to its exact error instead: the last line of
//! `10-chef-recipe-execution-windows.yml` ends `...stdout}}'"`, a stray `"` after a closing
//! single quote, which YAML parsers (libyaml and go-yaml included) refuse.

use std::path::PathBuf;

use davit_toe::{Document, Runnable};

fn corpus() -> PathBuf {
    std::env::var_os("DAVIT_CORPUS")
        .map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
            PathBuf::from,
        )
        .join("imagebuilder")
}

#[test]
fn every_corpus_document_validates() {
    let dir = corpus();
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the corpus {} must exist: {e}", dir.display()));
    let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort();
    assert!(
        paths.len() >= 12,
        "only {} documents in {}",
        paths.len(),
        dir.display()
    );
    let mut failures = Vec::new();
    for path in &paths {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match Document::load(path) {
            Ok(doc) => {
                let windows = name.contains("windows") || name.contains("Windows");
                let runnable = doc.runnable_on_linux();
                match (windows, &runnable) {
                    (false, Runnable::Yes) | (true, Runnable::NotOnLinux(_)) => {}
                    _ => failures.push(format!("{name}: {runnable:?}")),
                }
            }
            Err(e) if name == "10-chef-recipe-execution-windows.yml" => {
                let msg = e.to_string();
                if !msg.ends_with(":50:63: invalid trailing content after single-quoted scalar") {
                    failures.push(msg);
                }
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
