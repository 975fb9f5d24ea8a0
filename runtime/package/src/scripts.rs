//! A package's `davit.yml`, read beside its manifest.

use std::path::Path;

use davit_spec::PackageScripts;

use crate::error::PackageError;
use crate::store::DAVIT_SECTION;

/// The section of the package at `dir` (no section: no action is granted anything).
///
/// # Errors
///
/// [`PackageError::Section`] (located) or I/O.
pub fn read(dir: &Path) -> Result<PackageScripts, PackageError> {
    let path = dir.join(DAVIT_SECTION);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(PackageScripts::parse(&path.display().to_string(), &text)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PackageScripts::default()),
        Err(e) => Err(PackageError::io("read", &path, e)),
    }
}
