//! Golden files, one per rule: `golden/NAME.yml` must fail with exactly `golden/NAME.err` (the
//! error's Display). `golden/NAME.params` next to it, if present, holds `--parameters` text the
//! document is bound and expanded with: the error is then that of binding or expansion. Run with
//! `DAVIT_BLESS=1` to rewrite the `.err` files after a deliberate wording change, then review the
//! diff.

use std::path::{Path, PathBuf};

use davit_toe::{Document, ToeError, parse_parameters};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/all/golden")
}

fn check(name: &str, text: &str, params: Option<&str>) -> Result<(), ToeError> {
    let doc = Document::parse(name, text)?;
    let Some(params) = params else { return Ok(()) };
    let bound = doc.bind(&parse_parameters(params.trim_end())?)?;
    let plan = doc.expand(&bound)?;
    for phase in &plan.phases {
        for step in &phase.steps {
            for run in step.iterations()? {
                run?;
            }
        }
    }
    Ok(())
}

#[test]
fn error_messages_match_their_golden_files() {
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 30, "only {} golden files", inputs.len());
    let mut mismatches = Vec::new();
    for input in inputs {
        let name = input.file_name().unwrap().to_str().unwrap();
        let text = std::fs::read_to_string(&input).unwrap();
        let params = std::fs::read_to_string(input.with_extension("params")).ok();
        let Err(err) = check(name, &text, params.as_deref()) else {
            mismatches.push(format!("{name}: accepted, expected an error"));
            continue;
        };
        assert!(err.location().is_some(), "{err}");
        let actual = format!("{err}\n");
        let golden = input.with_extension("err");
        if std::env::var_os("DAVIT_BLESS").is_some() {
            std::fs::write(&golden, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if expected != actual {
            mismatches.push(format!(
                "{name}:\n  expected: {}\n  actual:   {}",
                expected.trim_end(),
                actual.trim_end()
            ));
        }
    }
    assert!(mismatches.is_empty(), "\n{}", mismatches.join("\n"));
}
