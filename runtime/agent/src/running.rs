//! The deployments the agent runs now, one file each in `<data-dir>/running/` holding the
//! server's command, so that a deployment it was running when it was killed is reported when it
//! starts again, and one that stopped for a reboot is resumed.

use std::path::{Path, PathBuf};

use davit_api::Command;

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

    /// The deployments recorded by an agent that did not finish them, with their commands
    /// where the record holds one (older agents kept only the id).
    pub(crate) fn left_behind(&self) -> Vec<(String, Option<Command>)> {
        let mut found: Vec<(String, Option<Command>)> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let id = e.file_name().into_string().ok()?;
                let command = std::fs::read(e.path())
                    .ok()
                    .and_then(|bytes| serde_json::from_slice::<Command>(&bytes).ok())
                    .filter(|c| c.deployment == id);
                Some((id, command))
            })
            .collect();
        if let Ok(id) = std::fs::read_to_string(&self.legacy) {
            found.push((id.trim().to_string(), None));
            let _ = std::fs::remove_file(&self.legacy);
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    fn path(&self, deployment: &str) -> Option<PathBuf> {
        // A deployment id is one path component, or it is not recorded.
        davit_api::is_safe_name(deployment).then(|| self.dir.join(deployment))
    }

    /// Records that `command`'s deployment starts.
    pub(crate) fn start(&self, command: &Command) -> Result<(), AgentError> {
        let Some(path) = self.path(&command.deployment) else {
            return Ok(());
        };
        let json = serde_json::to_vec(command).expect("a command serializes");
        std::fs::write(&path, json).map_err(|source| AgentError::Io {
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

    fn command(deployment: &str) -> Command {
        Command {
            deployment: deployment.into(),
            app: "shop".parse().unwrap(),
            group: "web".parse().unwrap(),
            revision: "ab".repeat(32).parse().unwrap(),
            store: "http://127.0.0.1:1/".into(),
            max_deployment_minutes: 60,
            package: None,
        }
    }

    #[test]
    fn deployments_left_running_are_found_with_their_commands_once_reported() {
        let dir = tempfile::tempdir().unwrap();
        let running = Running::new(dir.path()).unwrap();
        running.start(&command("d-SHOP")).unwrap();
        running.start(&command("d-BLOG")).unwrap();
        running.start(&command("../escape")).unwrap();
        running.finish("d-SHOP");
        // An agent of before kept its one deployment in `current-deployment`, and the id alone.
        std::fs::write(dir.path().join("current-deployment"), "d-OLD\n").unwrap();
        std::fs::write(dir.path().join("running/d-IDONLY"), "d-IDONLY").unwrap();
        let again = Running::new(dir.path()).unwrap();
        assert_eq!(
            again.left_behind(),
            [
                ("d-BLOG".to_owned(), Some(command("d-BLOG"))),
                ("d-IDONLY".to_owned(), None),
                ("d-OLD".to_owned(), None),
            ]
        );
        again.finish("d-BLOG");
        again.finish("d-IDONLY");
        assert!(again.left_behind().is_empty());
    }
}
