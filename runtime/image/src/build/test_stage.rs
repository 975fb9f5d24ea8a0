//! The test stage: a fresh instance of the image, made from the output layout's blobs (never
//! the build's root), runs the `test` phase of every component that has one, then the
//! recipe's tests, each with its parameters. The first failure fails the build.

use std::path::Path;

use davit_sandbox::{Plugin, Sandbox};

use super::{BuildError, BuildOptions, Loaded, WorkRoot, apply, io, phases, run_phases};
use crate::oci::layout::{Layout, Manifest, file_digest};

#[allow(clippy::too_many_arguments)]
pub(super) async fn run<'a>(
    sandbox: &Sandbox,
    plugin: &Plugin,
    options: &BuildOptions,
    out: &Layout,
    manifest: &Manifest,
    documents: impl Iterator<Item = &'a Loaded<'a>>,
    work_parent: &Path,
) -> Result<Vec<String>, BuildError> {
    let tests: Vec<&Loaded<'_>> = documents
        .filter(|d| !phases(&d.document, &["test"]).is_empty())
        .collect();
    if tests.is_empty() {
        return Ok(Vec::new());
    }
    let fresh = fresh_instance(out, manifest, work_parent)?;
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

/// A new root holding the image as the layout has it: each layer checked against the manifest
/// before it is applied.
pub(super) fn fresh_instance(
    out: &Layout,
    manifest: &Manifest,
    work_parent: &Path,
) -> Result<WorkRoot, BuildError> {
    let fresh = WorkRoot::create(work_parent)?;
    let root = fresh.open()?;
    for layer in &manifest.layers {
        let path = out
            .blob_path(&layer.digest)
            .map_err(io("a layer's digest"))?;
        let digest = file_digest(&path).map_err(io(format!("reading layer {}", layer.digest)))?;
        if digest != layer.digest {
            return Err(BuildError::Io {
                what: format!("layer {} in the output layout", layer.digest),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("its bytes hash to {digest}"),
                ),
            });
        }
        apply(&root, out, &layer.digest)?;
    }
    Ok(fresh)
}
