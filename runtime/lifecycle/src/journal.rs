//! The journal of the deployment in flight, and the lock that says whether it is still running.
//!
//! A deployment takes an exclusive `flock` on `<root>/lock` and writes `journal.json` before its
//! first event, updating it as events start. When it ends it removes the journal. If a later run
//! gets the lock and still finds a journal, the process that wrote it was killed: that deployment
//! is reported as `FailedAfterRestart`, as CodeDeploy does.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::layout::write_atomically;

pub(crate) const SCHEMA_VERSION: u32 = 1;

/// What is known of the deployment in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub schema_version: u32,
    pub deployment_id: String,
    pub application: String,
    pub deployment_group: String,
    pub revision: String,
    pub pid: u32,
    pub started_at: String,
    /// The event running when the journal was last written.
    pub event: Option<String>,
}

/// The exclusive lock of a deployment root, released on drop.
#[derive(Debug)]
pub struct RootLock {
    _file: File,
    journal: PathBuf,
}

/// Another deployment holds the lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another deployment is running under `{root}`{}", holder.as_ref().map(|j| format!(" ({} of `{}`, pid {})", j.deployment_id, j.application, j.pid)).unwrap_or_default())]
    Busy {
        root: PathBuf,
        holder: Option<Box<JournalEntry>>,
    },
    #[error("cannot use deployment root `{root}`")]
    Io {
        root: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl RootLock {
    /// Takes the lock; returns it and the journal of a deployment that was killed, if any.
    ///
    /// # Errors
    ///
    /// [`LockError::Busy`] while another process deploys under the same root.
    pub fn acquire(
        lock: &Path,
        journal: &Path,
    ) -> Result<(RootLock, Option<JournalEntry>), LockError> {
        let root = lock.parent().unwrap_or(Path::new("/")).to_path_buf();
        let io = |source| LockError::Io {
            root: root.clone(),
            source,
        };
        std::fs::create_dir_all(&root).map_err(io)?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock)
            .map_err(io)?;
        // SAFETY: flock on a descriptor we own; no memory is shared.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(LockError::Busy {
                root: root.clone(),
                holder: read(journal).map(Box::new),
            });
        }
        let interrupted = read(journal);
        Ok((
            RootLock {
                _file: file,
                journal: journal.to_path_buf(),
            },
            interrupted,
        ))
    }

    /// Records the deployment (and its current event) in the journal.
    ///
    /// # Errors
    ///
    /// When the journal cannot be written.
    pub fn write(&self, entry: &JournalEntry) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(entry).expect("journal serializes");
        write_atomically(&self.journal, &json)
    }

    /// Removes the journal: no deployment is in flight.
    ///
    /// # Errors
    ///
    /// When the journal exists and cannot be removed.
    pub fn clear(&self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.journal) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

fn read(journal: &Path) -> Option<JournalEntry> {
    let text = std::fs::read(journal).ok()?;
    serde_json::from_slice(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> JournalEntry {
        JournalEntry {
            schema_version: SCHEMA_VERSION,
            deployment_id: "d-TEST".into(),
            application: "app".into(),
            deployment_group: "group".into(),
            revision: "abc".into(),
            pid: 1,
            started_at: "now".into(),
            event: Some("AfterInstall".into()),
        }
    }

    #[test]
    fn a_journal_left_behind_is_reported_once_the_lock_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let (lock, journal) = (dir.path().join("lock"), dir.path().join("journal.json"));
        {
            let (held, interrupted) = RootLock::acquire(&lock, &journal).unwrap();
            assert!(interrupted.is_none());
            held.write(&entry()).unwrap();
            // A second deployment while the first holds the lock is refused, naming the first.
            let busy = RootLock::acquire(&lock, &journal).unwrap_err();
            assert!(busy.to_string().contains("d-TEST"), "{busy}");
        } // dropped without clear(): as if killed
        let (_held, interrupted) = RootLock::acquire(&lock, &journal).unwrap();
        assert_eq!(interrupted, Some(entry()));
    }
}
