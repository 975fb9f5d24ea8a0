//! File operations WASI lacks, for image actions (world `action`): owners, modes and symbolic
//! links with any target, on paths under the call's read-write directories. The host resolves
//! each path beneath the directory that grants it; a link leading out is refused.
//!
//! ```no_run
//! # fn f() -> Result<(), davit_sdk::files::FilesError> {
//! davit_sdk::files::set_owner("/opt/app", Some("app"), Some("app"), true)?;
//! davit_sdk::files::set_mode("/opt/app/run.sh", 0o755, false)?;
//! davit_sdk::files::symlink("/opt/app/current", "/usr/local/bin/app")?;
//! # Ok(()) }
//! ```

use crate::__private::action_bindings::davit::plugin::files as wit;
pub use wit::FilesError;

/// Sets the owner and group of `path` (names as the target knows them, or numeric ids); `None`
/// leaves one as it is.
///
/// # Errors
///
/// [`FilesError::Denied`] outside the read-write directories, [`FilesError::NotFound`] for a
/// missing path, user or group, [`FilesError::Failed`] otherwise.
pub fn set_owner(
    path: &str,
    owner: Option<&str>,
    group: Option<&str>,
    recursive: bool,
) -> Result<(), FilesError> {
    wit::set_owner(path, owner, group, recursive)
}

/// Sets the permission bits of `path` (at most `0o7777`).
///
/// # Errors
///
/// As [`set_owner`].
pub fn set_mode(path: &str, mode: u32, recursive: bool) -> Result<(), FilesError> {
    wit::set_mode(path, mode, recursive)
}

/// Creates a symbolic link at `path` pointing to `target`, kept as written.
///
/// # Errors
///
/// As [`set_owner`]; an existing `path` is [`FilesError::Failed`].
pub fn symlink(target: &str, path: &str) -> Result<(), FilesError> {
    wit::symlink(target, path)
}

/// One line for a [`FilesError`], as a step's failure shows it.
pub fn describe(e: &FilesError) -> String {
    match e {
        FilesError::Denied(why) => format!("denied: {why}"),
        FilesError::NotFound(what) => format!("not found: {what}"),
        FilesError::Failed(why) => why.clone(),
    }
}

impl From<FilesError> for String {
    fn from(e: FilesError) -> String {
        describe(&e)
    }
}
