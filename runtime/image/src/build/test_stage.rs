//! The test stage: a fresh instance of the image, made from the output layout's blobs (never
//! the build's root: a new root, over the parent's cached root where overlay works, each layer
//! checked against its digest), runs the `test` phase of every component that has one, then
//! the recipe's tests, each with its parameters. The first failure fails the build.

use davit_sandbox::{Plugin, Sandbox};

use super::{BuildError, BuildOptions, Loaded, WorkRoot, phases, run_phases};

pub(super) async fn run<'a>(
    sandbox: &Sandbox,
    plugin: &Plugin,
    options: &BuildOptions,
    documents: impl Iterator<Item = &'a Loaded<'a>>,
    fresh_instance: &impl Fn() -> Result<WorkRoot, BuildError>,
) -> Result<Vec<String>, BuildError> {
    let tests: Vec<&Loaded<'_>> = documents
        .filter(|d| !phases(&d.document, &["test"]).is_empty())
        .collect();
    if tests.is_empty() {
        return Ok(Vec::new());
    }
    let fresh = fresh_instance()?;
    let mut ran = Vec::new();
    for test in tests {
        let file = test.document.file.clone();
        let report = run_phases(
            sandbox,
            plugin,
            options,
            test,
            &fresh.root_dir(),
            vec!["test".into()],
        )
        .await?;
        if !report.status.is_success() {
            return Err(BuildError::TestFailed {
                file,
                message: report.failure_message,
                log: report.log_url,
            });
        }
        ran.push(file);
    }
    Ok(ran)
}
