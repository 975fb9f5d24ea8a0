//! The deployments the agent runs now, one file each in `<data-dir>/running/`, so that a
//! deployment it was running when it was killed is reported when it starts again.

use std::path::{Path, PathBuf};

use crate::AgentError;

/// The records of deployments in flight.
#[derive(Debug)]
pub(crate) struct Running {
    dir: PathBuf,
    /// Where agents before several deployments at once kept their one deployment.
    legacy: PathBuf,
}

impl Running {
    pub(crate) fn new(data_dir: &Path) -> Result<Running, AgentError> {
        let dir = data_dir.join("running");
        std::fs::create_dir_all(&dir).map_err(|source| AgentError::Io {
            action: "creating",
            path: dir.clone(),
            source,
        })?;
        Ok(Running {
            dir,
            legacy: data_dir.join("current-deployment"),
        })
    }

    /// The deployments recorded by an agent that did not finish them.
    pub(crate) fn left_behind(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        if let Ok(id) = std::fs::read_to_string(&self.legacy) {
            ids.push(id.trim().to_string());
            let _ = std::fs::remove_file(&self.legacy);
        }
        ids.sort();
        ids
    }

    fn path(&self, deployment: &str) -> Option<PathBuf> {
        // A deployment id is one path component, or it is not recorded.
        davit_api::is_safe_name(deployment).then(|| self.dir.join(deployment))
    }

    /// Records that `deployment` starts.
    pub(crate) fn start(&self, deployment: &str) -> Result<(), AgentError> {
        let Some(path) = self.path(deployment) else {
            return Ok(());
        };
        std::fs::write(&path, deployment).map_err(|source| AgentError::Io {
            action: "writing",
            path,
            source,
        })
    }

    /// Records that `deployment` was reported.
    pub(crate) fn finish(&self, deployment: &str) {
        if let Some(path) = self.path(deployment) {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployments_left_running_are_found_once_reported() {
        let dir = tempfile::tempdir().unwrap();
        let running = Running::new(dir.path()).unwrap();
        running.start("d-SHOP").unwrap();
        running.start("d-BLOG").unwrap();
        running.start("../escape").unwrap();
        running.finish("d-SHOP");
        // An agent of before kept its one deployment in `current-deployment`.
        std::fs::write(dir.path().join("current-deployment"), "d-OLD\n").unwrap();
        let again = Running::new(dir.path()).unwrap();
        assert_eq!(again.left_behind(), ["d-BLOG", "d-OLD"]);
        again.finish("d-BLOG");
        assert!(again.left_behind().is_empty());
    }
}
