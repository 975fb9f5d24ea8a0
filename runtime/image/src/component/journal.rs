//! The journal of a component run on this host that stopped for a reboot: under the deployment
//! root (`component-journals/<key>.json`, no step is ever granted it), keyed by the document's
//! text, the phases and the parameters, so that the same command run again after the reboot
//! resumes it, and any other run does not. Written through a temporary file and a rename.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::chain::ChainStore;
use super::steps::Suspension;

const SCHEMA_VERSION: u32 = 1;

/// What a suspended run keeps.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Entry {
    pub schema_version: u32,
    /// The run that stopped (the first, when it had resumed before).
    pub execution_id: String,
    pub document: String,
    pub suspension: Suspension,
}

pub(super) struct Journal {
    path: PathBuf,
}

impl Journal {
    pub fn for_run(
        deployment_root: &Path,
        text: &str,
        phases: Option<&[String]>,
        parameters: &[(String, String)],
    ) -> Journal {
        let mut key = Sha256::new();
        let identity = serde_json::json!([text, phases, parameters]);
        key.update(identity.to_string().as_bytes());
        let hex: String = key.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let layout = davit_lifecycle::Layout::new(deployment_root);
        Journal {
            path: layout.component_journals().join(format!("{hex}.json")),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The suspended run, if this command's run stopped for a reboot.
    pub fn load(&self) -> std::io::Result<Option<Entry>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                let entry: Entry = serde_json::from_slice(&bytes)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
                if entry.schema_version != SCHEMA_VERSION {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "schema version {} is not {SCHEMA_VERSION}",
                            entry.schema_version
                        ),
                    ));
                }
                let state = &entry.suspension.state;
                if !state.is_null() && serde_json::from_value::<ChainStore>(state.clone()).is_err()
                {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "its chaining values are not a component run's",
                    ));
                }
                Ok(Some(entry))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn save(
        &self,
        execution_id: &str,
        document: &str,
        suspension: Suspension,
    ) -> std::io::Result<()> {
        let entry = Entry {
            schema_version: SCHEMA_VERSION,
            execution_id: execution_id.to_owned(),
            document: document.to_owned(),
            suspension,
        };
        let json = serde_json::to_vec_pretty(&entry).expect("journal serializes");
        davit_lifecycle::write_atomically(&self.path, &json)
    }

    pub fn clear(&self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}
