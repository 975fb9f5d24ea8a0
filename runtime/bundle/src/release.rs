//! Named versions of revisions: a release `NAME` `VERSION` says which revision it is and when
//! it was pushed, written once under `refs/releases/NAME/VERSION` (a package version, say).
//! A version never changes; the newest push is "the latest".

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::store::{RefWrite, Store, StoreError};

/// One release's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub schema_version: u32,
    pub name: String,
    pub version: String,
    /// The revision (blake3 hex).
    pub revision: String,
    /// When it was pushed (seconds since the epoch).
    pub pushed_at: u64,
}

/// What [`Store::create_release`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// Written now.
    New,
    /// The same release was there (same revision).
    Same,
    /// The version was pushed before with another revision; nothing was written.
    Other(Release),
}

const SCHEMA: u32 = 1;

fn key(name: &str, version: &str) -> String {
    format!("releases/{name}/{version}")
}

impl Release {
    /// A release of `revision` as `name` `version`, pushed now.
    pub fn new(name: &str, version: &str, revision: &str) -> Release {
        Release {
            schema_version: SCHEMA,
            name: name.to_owned(),
            version: version.to_owned(),
            revision: revision.to_owned(),
            pushed_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }
}

impl Store {
    /// Records `release` unless its version exists.
    ///
    /// # Errors
    ///
    /// When the store fails or holds a record davit did not write.
    pub async fn create_release(&self, release: &Release) -> Result<Created, StoreError> {
        let bytes = serde_json::to_vec_pretty(release).expect("a release serializes");
        match self
            .create_ref(&key(&release.name, &release.version), Bytes::from(bytes))
            .await?
        {
            RefWrite::Created => Ok(Created::New),
            RefWrite::Exists(existing) => {
                let existing = self.parse(&release.name, &release.version, &existing)?;
                Ok(if existing.revision == release.revision {
                    Created::Same
                } else {
                    Created::Other(existing)
                })
            }
        }
    }

    /// The release `name` `version`, if the store has it.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn release(&self, name: &str, version: &str) -> Result<Option<Release>, StoreError> {
        match self.get_ref(&key(name, version)).await? {
            Some(bytes) => self.parse(name, version, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Every release of `name`, oldest push first.
    ///
    /// # Errors
    ///
    /// When the store fails or cannot list.
    pub async fn releases(&self, name: &str) -> Result<Vec<Release>, StoreError> {
        let prefix = format!("releases/{name}/");
        let mut out = Vec::new();
        for key in self.list_refs(&format!("releases/{name}")).await? {
            let Some(version) = key.strip_prefix(&prefix) else {
                continue;
            };
            if let Some(release) = self.release(name, version).await? {
                out.push(release);
            }
        }
        out.sort_by(|a, b| (a.pushed_at, &a.version).cmp(&(b.pushed_at, &b.version)));
        Ok(out)
    }

    /// The release `name` `version`, or the newest one when `version` is `None`.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn find_release(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<Option<Release>, StoreError> {
        match version {
            Some(v) => self.release(name, v).await,
            None => Ok(self.releases(name).await?.pop()),
        }
    }

    /// Forgets the release (its chunks go with the store's garbage collection).
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn delete_release(&self, name: &str, version: &str) -> Result<(), StoreError> {
        self.delete_ref(&key(name, version)).await
    }

    fn parse(&self, name: &str, version: &str, bytes: &[u8]) -> Result<Release, StoreError> {
        serde_json::from_slice(bytes).map_err(|e| StoreError::BadRecord {
            what: format!("the release `{name}` {version}"),
            url: self.url().to_owned(),
            reason: e.to_string(),
        })
    }
}
