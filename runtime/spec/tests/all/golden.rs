//! Golden files for every user-facing message: `errors/NAME.{yml,toml}` must fail with exactly
//! `errors/NAME.err`; `several/NAME.yml` must fail with exactly the errors of
//! `several/NAME.err`, one per line, every one found at once; `refusals/NAME.yml` checked against
//! `refusals/NAME.toml` must be refused with exactly the lines of `refusals/NAME.err` (grants,
//! then `[install]`). Run with `DAVIT_BLESS=1` to rewrite the `.err` files after a deliberate
//! wording change, then review the diff.

use std::path::{Path, PathBuf};

use davit_spec::{AppSpec, HostPolicy};

fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/all")
        .join(name)
}

fn inputs(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    out.sort();
    out
}

fn name(path: &Path) -> &str {
    path.file_name().unwrap().to_str().unwrap()
}

/// Compares `actual` with the golden file, or rewrites it when blessing; returns a mismatch.
fn compare(golden: &Path, actual: &str) -> Option<String> {
    let actual = format!("{actual}\n");
    if std::env::var_os("DAVIT_BLESS").is_some() {
        std::fs::write(golden, &actual).unwrap();
        return None;
    }
    let expected = std::fs::read_to_string(golden).unwrap_or_default();
    (expected != actual).then(|| {
        format!(
            "{}:\n  expected: {}\n  actual:   {}",
            golden.display(),
            expected.trim_end(),
            actual.trim_end()
        )
    })
}

#[test]
fn error_messages_match_their_golden_files() {
    let dir = dir("errors");
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for ext in ["yml", "toml"] {
        for input in inputs(&dir, ext) {
            let text = std::fs::read_to_string(&input).unwrap();
            let result = match ext {
                "yml" => AppSpec::parse(name(&input), &text).map(drop),
                _ => HostPolicy::parse(name(&input), &text).map(drop),
            };
            let Err(err) = result else {
                mismatches.push(format!("{}: parsed, expected an error", input.display()));
                continue;
            };
            assert!(err.location().is_some(), "{err}");
            mismatches.extend(compare(&input.with_extension("err"), &err.to_string()));
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} golden errors");
    assert!(mismatches.is_empty(), "\n{}", mismatches.join("\n"));
}

#[test]
fn every_error_of_a_document_is_reported_at_once() {
    let dir = dir("several");
    let mut mismatches = Vec::new();
    let inputs = inputs(&dir, "yml");
    assert!(inputs.len() >= 3, "only {} golden files", inputs.len());
    for input in inputs {
        let text = std::fs::read_to_string(&input).unwrap();
        let Err(err) = AppSpec::parse(name(&input), &text) else {
            mismatches.push(format!("{}: parsed, expected errors", input.display()));
            continue;
        };
        let lines: Vec<String> = err
            .errors()
            .iter()
            .map(|e| {
                assert!(e.location().is_some(), "{e}");
                e.to_string()
            })
            .collect();
        mismatches.extend(compare(&input.with_extension("err"), &lines.join("\n")));
    }
    assert!(mismatches.is_empty(), "\n{}", mismatches.join("\n"));
}

#[test]
fn refusals_match_their_golden_files() {
    let dir = dir("refusals");
    let mut mismatches = Vec::new();
    let inputs = inputs(&dir, "yml");
    assert!(!inputs.is_empty());
    for input in inputs {
        let spec = AppSpec::parse(name(&input), &std::fs::read_to_string(&input).unwrap())
            .unwrap_or_else(|e| panic!("{e}"));
        let policy_file = input.with_extension("toml");
        let policy = HostPolicy::parse(
            name(&policy_file),
            &std::fs::read_to_string(&policy_file).unwrap(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // Grant refusals, then install refusals (`[install]`).
        let grants = policy.check_appspec(&spec).err().unwrap_or_default();
        let install = policy.check_install(&spec).err().unwrap_or_default();
        if grants.is_empty() && install.is_empty() {
            mismatches.push(format!("{}: allowed, expected refusals", input.display()));
            continue;
        }
        let lines: Vec<String> = grants
            .iter()
            .map(ToString::to_string)
            .chain(install.iter().map(ToString::to_string))
            .collect();
        mismatches.extend(compare(&input.with_extension("err"), &lines.join("\n")));
    }
    assert!(mismatches.is_empty(), "\n{}", mismatches.join("\n"));
}
