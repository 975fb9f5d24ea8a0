//! The journal of the deployment in flight, and the locks that say whether it is still running.
//!
//! A deployment takes a shared `flock` on `<root>/lock` (the chunk cache's collection takes it
//! exclusively, so it never removes what a deployment is pulling) and an exclusive one on its
//! application's `<root>/apps/<app>/lock`: deployments of two applications run side by side,
//! two of one application never. It writes the application's `journal.json` before its first
//! event, updating it as events start. When it ends it removes the journal. If a later run gets
//! the lock and still finds a journal, the process that wrote it was killed: that deployment is
//! reported as `FailedAfterRestart`, as CodeDeploy does, unless the journal says the
//! deployment stopped for a reboot (`reboot`): then the next deployment of the same revision
//! resumes it at the event after the one that asked.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::layout::{Layout, write_atomically};
use crate::report::EventReport;

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
    /// Set when the deployment stopped for a reboot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reboot: Option<Suspension>,
}

/// A deployment stopped for a reboot: what asked, and the events it had run (reported again
/// when the deployment ends), to resume with; davit-plan's, as every front end's.
pub type Suspension = davit_plan::Suspension<EventReport>;

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
        let file = open_lock(lock).map_err(io)?;
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

    /// Takes the shared lock of the deployment root and the exclusive lock of `application`;
    /// returns them and the journal of a deployment of it that was killed, if any.
    ///
    /// # Errors
    ///
    /// [`LockError::Busy`] while another process deploys the same application.
    pub fn acquire_application(
        layout: &Layout,
        application: &str,
    ) -> Result<(AppLock, Option<JournalEntry>), LockError> {
        let root = layout.root().to_path_buf();
        let io = |source| LockError::Io {
            root: root.clone(),
            source,
        };
        std::fs::create_dir_all(&root).map_err(io)?;
        let shared = open_lock(&layout.lock()).map_err(io)?;
        // Blocking: the collection that may hold it exclusively is short.
        // SAFETY: flock on a descriptor we own; no memory is shared.
        if unsafe { libc::flock(shared.as_raw_fd(), libc::LOCK_SH) } != 0 {
            return Err(io(std::io::Error::last_os_error()));
        }
        let app = layout.application(application);
        let (lock, interrupted) = RootLock::acquire(&app.join("lock"), &app.join("journal.json"))?;
        Ok((
            AppLock {
                lock,
                shared: Some(shared),
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

/// The locks of one application's deployment (see the module docs), released on drop.
#[derive(Debug)]
pub struct AppLock {
    lock: RootLock,
    shared: Option<File>,
}

impl AppLock {
    /// See [`RootLock::write`].
    ///
    /// # Errors
    ///
    /// When the journal cannot be written.
    pub fn write(&self, entry: &JournalEntry) -> std::io::Result<()> {
        self.lock.write(entry)
    }

    /// See [`RootLock::clear`].
    ///
    /// # Errors
    ///
    /// When the journal exists and cannot be removed.
    pub fn clear(&self) -> std::io::Result<()> {
        self.lock.clear()
    }

    /// Gives up the shared lock of the root and tries to take it exclusively, without waiting:
    /// `Some` when no other deployment runs under the root (then the chunk cache may be
    /// collected).
    pub fn exclusive_root(&mut self, layout: &Layout) -> Option<File> {
        drop(self.shared.take());
        let file = open_lock(&layout.lock()).ok()?;
        // SAFETY: flock on a descriptor we own; no memory is shared.
        (unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0)
            .then_some(file)
    }
}

fn open_lock(path: &Path) -> std::io::Result<File> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
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
            reboot: None,
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

    #[test]
    fn two_applications_deploy_side_by_side_and_one_application_once() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let (mut shop, _) = RootLock::acquire_application(&layout, "shop").unwrap();
        let (blog, _) = RootLock::acquire_application(&layout, "blog").unwrap();
        let busy = RootLock::acquire_application(&layout, "shop").unwrap_err();
        assert!(matches!(busy, LockError::Busy { .. }), "{busy}");
        // While `blog` runs, `shop` cannot take the root for a collection; alone, it can.
        assert!(shop.exclusive_root(&layout).is_none());
        drop(blog);
        assert!(shop.exclusive_root(&layout).is_some());
    }
}
