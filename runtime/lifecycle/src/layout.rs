//! Where davit keeps its state under the deployment root.
//!
//! ```text
//! <deployment-root>/
//!   lock                           shared by deployments, exclusive for collecting chunks
//!   cache/components/              compiled components (sandbox cache)
//!   cache/chunks/                  chunks and manifests pulled from bundle stores
//!   apps/<application>/lock        held while a deployment of the application runs
//!   apps/<application>/journal.json  its deployment in flight (gone when it ends)
//!   apps/<application>/<group>/
//!     state.json                   last good revision, revisions kept
//!     cleanup.json                 what the last Install put on disk, and its revision
//!     install.journal              the steps of the Install in flight (gone when it ends)
//!     services.json                services its hooks started, until stopped
//!     revisions/<revision>/        staged bundle contents, one directory per revision
//!     deployments/<id>.json        the report of every deployment
//! ```

use std::path::{Path, PathBuf};

/// Paths under one deployment root.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn lock(&self) -> PathBuf {
        self.root.join("lock")
    }
    pub fn journal(&self) -> PathBuf {
        self.root.join("journal.json")
    }
    pub fn component_cache(&self) -> PathBuf {
        self.root.join("cache").join("components")
    }
    /// Journals of component runs on this host that stopped for a reboot.
    pub fn component_journals(&self) -> PathBuf {
        self.root.join("component-journals")
    }
    /// The host's chunk cache, shared by every revision pulled from a store.
    pub fn chunk_cache(&self) -> PathBuf {
        self.root.join("cache").join("chunks")
    }
    pub fn scratch(&self) -> PathBuf {
        self.root.join("scratch")
    }
    /// One application's directory: its lock and journal, and its groups.
    pub fn application(&self, application: &str) -> PathBuf {
        self.root.join("apps").join(application)
    }
    pub fn group(&self, application: &str, group: &str) -> GroupLayout {
        GroupLayout {
            dir: self.root.join("apps").join(application).join(group),
        }
    }
}

/// Paths of one application's deployment group.
#[derive(Debug, Clone)]
pub struct GroupLayout {
    dir: PathBuf,
}

impl GroupLayout {
    /// The name of a group's state file in its directory.
    pub const STATE: &str = "state.json";

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn state(&self) -> PathBuf {
        self.dir.join(Self::STATE)
    }
    /// The services its hooks started and that are not yet stopped.
    pub fn services(&self) -> PathBuf {
        self.dir.join("services.json")
    }
    pub fn cleanup_record(&self) -> PathBuf {
        self.dir.join("cleanup.json")
    }
    pub fn revisions(&self) -> PathBuf {
        self.dir.join("revisions")
    }
    pub fn deployments(&self) -> PathBuf {
        self.dir.join("deployments")
    }
    pub fn report(&self, deployment_id: &str) -> PathBuf {
        self.deployments().join(format!("{deployment_id}.json"))
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, so readers never see half.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Checks that a name used as a directory under the root is one path component: the rule of
/// davit-api's `AppName` and `GroupName`, so the server refuses what an agent would.
pub(crate) fn is_safe_name(name: &str) -> bool {
    davit_api::is_safe_name(name)
}
