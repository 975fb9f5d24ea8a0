//! The cleanup record: what one Install put on the host, so the next one can take it away.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The schema version this build writes and reads.
pub const RECORD_SCHEMA_VERSION: u32 = 1;

/// The files and directories an Install created, as absolute host paths (the target root
/// included), in the order they were created. The next Install removes the files, then the
/// directories that are left empty, before it copies anything.
///
/// ```json
/// {
///   "schema_version": 1,
///   "files": ["/opt/hello-web/index.html", "/opt/hello-web/conf/app.toml"],
///   "dirs_created": ["/opt/hello-web", "/opt/hello-web/conf"]
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanupRecord {
    /// Always [`RECORD_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Files (and symlinks) copied, in copy order.
    pub files: Vec<PathBuf>,
    /// Directories created, parents before children.
    pub dirs_created: Vec<PathBuf>,
    /// The Install that wrote this record: a journal naming it was committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_id: Option<String>,
    /// The revision these files are from: what this host has installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<Installed>,
}

/// The revision whose Install finished last: its ApplicationStop and traffic hooks stop what
/// runs now, as the CodeDeploy agent's "last successful install".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Installed {
    /// The revision id.
    pub revision: String,
    /// The deployment that installed it.
    pub deployment_id: String,
    /// Its appspec's name at the bundle root.
    pub appspec_filename: String,
}

impl Default for CleanupRecord {
    fn default() -> Self {
        Self {
            schema_version: RECORD_SCHEMA_VERSION,
            files: Vec::new(),
            dirs_created: Vec::new(),
            install_id: None,
            revision: None,
        }
    }
}

/// Why a cleanup record could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// An I/O error.
    #[error("cannot {action} cleanup record `{}`", path.display())]
    Io {
        /// "read", "write", ...
        action: &'static str,
        /// The record file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// Not JSON of the expected shape (or a path that is not UTF-8, when writing).
    #[error("cleanup record `{}` is not valid", path.display())]
    Json {
        /// The record file.
        path: PathBuf,
        /// The error.
        source: serde_json::Error,
    },
    /// Written by a davit that uses another schema.
    #[error(
        "cleanup record `{}` has schema version {found}, this davit reads version {}",
        path.display(),
        RECORD_SCHEMA_VERSION
    )]
    Version {
        /// The record file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
    },
}

impl CleanupRecord {
    /// Reads the record at `path`; `None` if there is none (no Install has run yet).
    ///
    /// # Errors
    ///
    /// [`RecordError`] if the file cannot be read, is not a record, or has another schema version.
    pub fn load(path: &Path) -> Result<Option<CleanupRecord>, RecordError> {
        let text = match fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(RecordError::Io {
                    action: "read",
                    path: path.to_owned(),
                    source,
                });
            }
        };
        // Look at the version first: a future schema may not parse as this one.
        #[derive(Deserialize)]
        struct Versioned {
            schema_version: u32,
        }
        let json = |source| RecordError::Json {
            path: path.to_owned(),
            source,
        };
        let Versioned { schema_version } = serde_json::from_slice(&text).map_err(json)?;
        if schema_version != RECORD_SCHEMA_VERSION {
            return Err(RecordError::Version {
                path: path.to_owned(),
                found: schema_version,
            });
        }
        serde_json::from_slice(&text).map(Some).map_err(json)
    }

    /// Writes the record to `path` through a temporary file in the same directory and a rename,
    /// so a reader sees the old record or the new one, never half of one.
    ///
    /// # Errors
    ///
    /// [`RecordError`] if the directory cannot be written or a path is not UTF-8.
    pub fn save(&self, path: &Path) -> Result<(), RecordError> {
        let io = |action| {
            move |source| RecordError::Io {
                action,
                path: path.to_owned(),
                source,
            }
        };
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|source| RecordError::Json {
            path: path.to_owned(),
            source,
        })?;
        bytes.push(b'\n');
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fs::create_dir_all(dir).map_err(io("create the directory of"))?;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4()));
        let written = (|| {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            fs::rename(&tmp, path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written.map_err(io("write"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_absence() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("deep/cleanup.json");
        assert!(CleanupRecord::load(&path).unwrap().is_none());
        let record = CleanupRecord {
            files: vec!["/opt/a/x".into(), "/opt/a/y".into()],
            dirs_created: vec!["/opt/a".into()],
            ..CleanupRecord::default()
        };
        record.save(&path).unwrap();
        assert_eq!(CleanupRecord::load(&path).unwrap(), Some(record));
        let leftovers = fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }

    #[test]
    fn other_versions_and_garbage_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("cleanup.json");
        fs::write(&path, r#"{"schema_version": 2, "entries": {}}"#).unwrap();
        let err = CleanupRecord::load(&path).unwrap_err();
        assert!(
            matches!(err, RecordError::Version { found: 2, .. }),
            "{err}"
        );
        fs::write(&path, "not json").unwrap();
        assert!(matches!(
            CleanupRecord::load(&path),
            Err(RecordError::Json { .. })
        ));
    }
}
