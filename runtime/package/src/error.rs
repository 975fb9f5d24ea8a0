//! What can go wrong with a package, each error naming the package, version, platform and
//! file it concerns.

use std::path::{Path, PathBuf};

use crate::manifest::ManifestError;
use crate::select::SelectError;

/// A problem with one file of a package, before the package it belongs to is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{file}` {message}")]
pub struct FileError {
    pub file: String,
    pub message: String,
}

impl FileError {
    pub(crate) fn new(file: &str, message: impl Into<String>) -> FileError {
        FileError {
            file: file.to_owned(),
            message: message.into(),
        }
    }

    /// The error, as a problem of package `name` at `version`.
    pub fn of(self, name: &str, version: &str) -> PackageError {
        PackageError::File {
            name: name.to_owned(),
            version: version.to_owned(),
            platform: None,
            file: self.file,
            message: self.message,
        }
    }

    /// The error, as a problem of the file chosen for `platform`.
    pub fn on(self, name: &str, version: &str, platform: &str) -> PackageError {
        PackageError::File {
            name: name.to_owned(),
            version: version.to_owned(),
            platform: Some(platform.to_owned()),
            file: self.file,
            message: self.message,
        }
    }
}

/// Why a package command could not do what it was asked, before or without running a script.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error(
        "`{name}` is not a package name: use letters, digits, `_`, `-` and `.` (not `.` or `..`)"
    )]
    Name { name: String },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Section(#[from] davit_spec::SpecError),
    #[error("package `{name}` {version}{}: {}", platform.as_ref().map(|p| format!(" for platform `{p}`")).unwrap_or_default(), FileError { file: file.clone(), message: message.clone() })]
    File {
        name: String,
        version: String,
        platform: Option<String>,
        file: String,
        message: String,
    },
    #[error("package `{name}` {version}: {source}")]
    Select {
        name: String,
        version: String,
        source: Box<SelectError>,
    },
    #[error(
        "package `{name}` {version} is in the store already with other content (revision {revision}): a version never changes"
    )]
    VersionExists {
        name: String,
        version: String,
        revision: String,
    },
    #[error("package `{name}`{} is not in the store `{store}`", version.as_ref().map(|v| format!(" {v}")).unwrap_or_default())]
    NoSuchVersion {
        name: String,
        version: Option<String>,
        store: String,
    },
    #[error("package `{name}` {version}: the host policy refuses {} of its grants:\n  {}", refusals.len(), refusals.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Refused {
        name: String,
        version: String,
        refusals: Vec<davit_spec::Refusal>,
    },
    #[error("package `{name}`: {detail}")]
    Invalid { name: String, detail: String },
    #[error("package `{name}` is not installed")]
    NotInstalled { name: String },
    #[error("package `{name}` is busy: {holder} (waited {waited_s}s for it)")]
    Busy {
        name: String,
        holder: String,
        waited_s: u64,
    },
    #[error("the store: {detail}")]
    Store { detail: String },
    #[error(transparent)]
    Bundle(#[from] davit_bundle::BundleError),
    #[error(transparent)]
    StoreFailed(#[from] davit_bundle::StoreError),
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl PackageError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> PackageError {
        PackageError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }

    /// Whether it is the input's fault (exit 2) rather than the machine's or the store's (3).
    pub fn is_invalid_input(&self) -> bool {
        !matches!(
            self,
            PackageError::Store { .. }
                | PackageError::Bundle(_)
                | PackageError::StoreFailed(_)
                | PackageError::Io { .. }
                | PackageError::Busy { .. }
        )
    }
}
