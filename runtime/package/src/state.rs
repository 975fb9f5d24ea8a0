//! A package's state on a host, one file per package, written through a temporary file and a
//! rename (SSM writes it in place, so a crash can leave half a file): what is installed, in
//! SSM's states, and the operation in flight with where it stopped for a reboot.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use davit_plan::Suspension;
use serde::{Deserialize, Serialize};

use crate::error::PackageError;
use crate::run::{Action, StepReport};

/// SSM's package states, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    None,
    Unknown,
    Failed,
    Uninstalling,
    Uninstalled,
    New,
    Upgrading,
    Installing,
    Installed,
    RollbackUninstall,
    RollbackInstall,
    Updating,
}

/// One version of a package as this host has it: enough to run its scripts again (a
/// rollback, a resume after a reboot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub version: String,
    /// The store's revision of its files (`revisions/<revision>/` here).
    pub revision: String,
    /// The manifest's platform key that chose its file.
    pub platform: String,
    /// The zip it installs, and the digest of its unpacked tree (`trees/<tree>/`).
    pub file: String,
    pub tree: String,
    /// Its `SSM_*` arguments; other arguments are another install (amazon-ssm-agent #366).
    pub arguments: BTreeMap<String, String>,
}

/// What the host does to a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    Install,
    Update,
    Uninstall,
}

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Operation::Install => "install",
            Operation::Update => "update",
            Operation::Uninstall => "uninstall",
        }
    }
}

/// Which way an operation in flight was going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Forward,
    Rollback,
}

/// A step of the plan, as kept for a resume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Planned {
    /// `true`: the version installed before; `false`: the one being installed.
    pub old: bool,
    pub action: Action,
    /// A failure stops the plan (an old version's uninstall does not: SSM installs anyway).
    pub stop: bool,
}

/// The operation in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InFlight {
    pub operation: Operation,
    pub phase: Phase,
    pub target: Version,
    pub previous: Option<Version>,
    pub steps: Vec<Planned>,
    /// The reports of the forward phase, kept while a rollback runs.
    #[serde(default)]
    pub forward: Vec<StepReport>,
    /// Set while the host reboots.
    pub suspension: Option<Suspension<StepReport>>,
}

/// A package's state file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageState {
    pub schema_version: u32,
    pub name: String,
    pub state: State,
    /// When the state last changed (RFC 3339).
    pub time: String,
    /// What is installed (for `Failed`, what was being installed).
    pub installed: Option<Version>,
    pub last_installed_version: Option<String>,
    /// Reboots asked for by the operation in flight.
    pub retry_count: u32,
    pub in_flight: Option<InFlight>,
    /// The last operation's result, one line.
    pub last_result: Option<String>,
}

const SCHEMA: u32 = 1;

impl PackageState {
    pub fn new(name: &str) -> PackageState {
        PackageState {
            schema_version: SCHEMA,
            name: name.to_owned(),
            state: State::None,
            time: now(),
            installed: None,
            last_installed_version: None,
            retry_count: 0,
            in_flight: None,
            last_result: None,
        }
    }

    /// The version installed and working, if any.
    pub fn installed_version(&self) -> Option<&str> {
        match self.state {
            State::Installed | State::Unknown => {
                self.installed.as_ref().map(|v| v.version.as_str())
            }
            _ => None,
        }
    }
}

/// Now, RFC 3339.
pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Paths of one package on a host.
#[derive(Debug, Clone)]
pub struct PackageDir {
    dir: PathBuf,
}

impl PackageDir {
    /// `<deployment root>/packages/<name>`.
    pub fn new(deployment_root: &Path, name: &str) -> PackageDir {
        PackageDir {
            dir: packages_dir(deployment_root).join(name),
        }
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn lock(&self) -> PathBuf {
        self.dir.join("lock")
    }
    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    pub fn revisions(&self) -> PathBuf {
        self.dir.join("revisions")
    }
    pub fn revision(&self, revision: &str) -> PathBuf {
        self.revisions().join(revision)
    }
    pub fn trees(&self) -> PathBuf {
        self.dir.join("trees")
    }
    pub fn tree(&self, tree: &str) -> PathBuf {
        self.trees().join(tree)
    }

    /// The state, or a fresh one when the package was never seen here.
    ///
    /// # Errors
    ///
    /// When the file cannot be read or is not one davit wrote.
    pub fn load(&self, name: &str) -> Result<PackageState, PackageError> {
        let path = self.state();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| PackageError::Invalid {
                name: name.to_owned(),
                detail: format!("`{}` is not a state davit wrote: {e}", path.display()),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PackageState::new(name)),
            Err(e) => Err(PackageError::io("read", &path, e)),
        }
    }

    /// Writes the state atomically (mode 0600: arguments may be secrets).
    ///
    /// # Errors
    ///
    /// When it cannot be written.
    pub fn save(&self, state: &mut PackageState) -> Result<(), PackageError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        state.time = now();
        let path = self.state();
        std::fs::create_dir_all(&self.dir).map_err(|e| PackageError::io("create", &self.dir, e))?;
        let tmp = self.dir.join(format!(".state.json.{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&serde_json::to_vec_pretty(state).expect("a state serializes"))?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| PackageError::io("write", &path, e))
    }
}

/// `<deployment root>/packages`.
pub fn packages_dir(deployment_root: &Path) -> PathBuf {
    deployment_root.join("packages")
}

/// The state of every package this host has seen, by name.
///
/// # Errors
///
/// When a state cannot be read.
pub fn all(deployment_root: &Path) -> Result<Vec<PackageState>, PackageError> {
    let dir = packages_dir(deployment_root);
    let mut names = Vec::new();
    match std::fs::read_dir(&dir) {
        Ok(entries) => {
            for entry in entries.flatten() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(PackageError::io("read", &dir, e)),
    }
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let pkg = PackageDir::new(deployment_root, &name);
        if pkg.state().exists() {
            out.push(pkg.load(&name)?);
        }
    }
    Ok(out)
}
