//! The state of one deployment group on this host: the last good revision and the revisions kept.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::layout::write_atomically;

/// The revision that last passed ValidateService here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastGood {
    pub revision: String,
    pub deployment_id: String,
    pub appspec_filename: String,
    pub at: String,
}

/// `state.json` of a deployment group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupState {
    pub schema_version: u32,
    pub last_good: Option<LastGood>,
    /// Staged revisions, least recently deployed first.
    pub revisions: Vec<String>,
}

impl Default for GroupState {
    fn default() -> Self {
        GroupState {
            schema_version: crate::journal::SCHEMA_VERSION,
            last_good: None,
            revisions: Vec::new(),
        }
    }
}

impl GroupState {
    /// Reads `state.json`; a group never deployed has the default state.
    ///
    /// # Errors
    ///
    /// When the file exists and cannot be read or parsed.
    pub fn load(path: &Path) -> std::io::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e),
        }
    }

    /// Writes `state.json` atomically.
    ///
    /// # Errors
    ///
    /// When it cannot be written.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("state serializes");
        write_atomically(path, &json)
    }

    pub(crate) fn mark_good(
        &mut self,
        revision: &str,
        deployment_id: &str,
        appspec_filename: &str,
        at: &str,
    ) {
        self.last_good = Some(LastGood {
            revision: revision.to_string(),
            deployment_id: deployment_id.to_string(),
            appspec_filename: appspec_filename.to_string(),
            at: at.to_string(),
        });
    }

    /// Moves `revision` to the most recent end of the list.
    pub(crate) fn touch(&mut self, revision: &str) {
        self.revisions.retain(|r| r != revision);
        self.revisions.push(revision.to_string());
    }

    /// Drops the oldest revisions beyond `keep`, never the newest, the last good one or the
    /// `installed` one (its ApplicationStop runs next); returns the ones dropped, whose
    /// directories the caller removes.
    pub(crate) fn prune(&mut self, keep: usize, installed: Option<&str>) -> Vec<String> {
        let keep = keep.max(1);
        let newest = self.revisions.last().cloned();
        let good = self.last_good.as_ref().map(|g| g.revision.clone());
        let mut removed = Vec::new();
        while self.revisions.len() > keep {
            let Some(index) = self.revisions.iter().position(|r| {
                Some(r) != newest.as_ref()
                    && Some(r) != good.as_ref()
                    && Some(r.as_str()) != installed
            }) else {
                break;
            };
            removed.push(self.revisions.remove(index));
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_keeps_the_newest_and_the_last_good() {
        let mut state = GroupState::default();
        for r in ["a", "b", "c", "d"] {
            state.touch(r);
        }
        state.mark_good("a", "d-1", "appspec.yml", "t");
        assert_eq!(state.prune(2, None), ["b", "c"]);
        assert_eq!(state.revisions, ["a", "d"]);
        for r in ["e", "f"] {
            state.touch(r);
        }
        assert_eq!(state.prune(1, Some("e")), ["d"], "the installed one stays");
    }
}
