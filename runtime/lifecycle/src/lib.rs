//! Runs a deployment plan against a target root.
//!
//! The lifecycle engine stages a revision, checks every hook's grants and what Install would put
//! on the host (the policy's `[install]` table, the bundle's links and modes) against the host
//! policy before anything runs, then runs CodeDeploy's in-place events in order: hooks through the
//! sandbox, Install as an atomic file step. It keeps a journal so a killed run is reported at the
//! next start, a cleanup record so the next revision removes this one's files, and the last
//! good revision per deployment group. Everything absolute is re-rooted under a target root, so
//! the same engine installs onto a live host (`/`) or into an image's root filesystem.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use davit_lifecycle::{DeployOptions, Layout, Quiet, Source, deploy};
//! let sandbox = davit_sandbox::Sandbox::new(None)?;
//! let opts = DeployOptions {
//!     application: "hello-web".into(),
//!     deployment_group: "local".into(),
//!     events: None,
//!     file_exists_behavior: None,
//!     appspec_filename: "appspec.yml".into(),
//!     layout: Layout::new("/var/lib/davit"),
//!     target_root: "/".into(),
//!     policy: davit_spec::HostPolicy::default(),
//!     keep_revisions: 5,
//!     max_reboots: davit_lifecycle::MAX_REBOOTS,
//! };
//! let source = Source::Local("examples/hello-web".as_ref());
//! let report = deploy(&sandbox, source, &opts, Arc::new(Quiet)).await?;
//! println!("{}", report.status);
//! # Ok(()) }
//! ```

mod cache;
mod deploy;
pub mod digest;
mod events;
mod hooks;
pub mod install;
mod journal;
mod layout;
mod record;
mod recover;
mod report;
pub mod services;
mod source;
pub mod stage;
mod state;

use std::path::PathBuf;

pub use cache::{collect_garbage, kept_revisions};
pub use deploy::{DeployOptions, MAX_REBOOTS, deploy, plan};
pub use hooks::{
    BUNDLE_GUEST_DIR, ComponentRun, NativeScript, REBOOT_EXIT, SCRATCH_GUEST_DIR,
    open_granted_dirs, reroot, run_component, run_native_script,
};
pub use journal::{JournalEntry, LockError};
pub use layout::{GroupLayout, Layout, write_atomically};
pub use record::{FileChange, FileEffect, Recorded, Recording, SHADOW_BOUND};
pub use recover::{Recovery, Suspended, recover, recover_install};
pub use report::{
    DeploymentReport, EventReport, HookReport, Interrupted, Line, Progress, Quiet, RebootRequest,
    Status,
};
pub use source::{Source, check_signature};
pub use state::{GroupState, LastGood};

/// Why a deployment could not start. Once events run, failures are in the report instead.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(
        "`{name}` cannot name an application or deployment group (use letters, digits, `-`, `_`, `.`)"
    )]
    BadName { name: String },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("cannot stage the revision from `{}`", path.display())]
    Stage {
        path: PathBuf,
        #[source]
        source: stage::StageError,
    },
    #[error("bundle `{}` has no `{name}` at its root", bundle.display())]
    NoAppspec { bundle: PathBuf, name: String },
    #[error(transparent)]
    Appspec(Box<davit_spec::SpecError>),
    #[error("this revision cannot run here: {reason}")]
    NotRunnable { reason: String },
    /// Grants and install requests the host policy refuses (and bundle links that would lead
    /// out of their destination), all found before any hook runs.
    #[error("{} (no hook has run)", refused_summary(refusals.len(), install.len()))]
    Refused {
        refusals: Vec<davit_spec::Refusal>,
        install: Vec<davit_spec::InstallRefusal>,
    },
    /// What Install would refuse, found against the host as it is before any hook runs
    /// (files in the way are named only where no hook that runs before Install could move
    /// them).
    #[error("the revision cannot be installed here (no hook has run)")]
    Install(#[source] Box<install::InstallError>),
    #[error("cannot read hook `{location}` ({event}) from the bundle")]
    HookFile {
        location: String,
        event: String,
        #[source]
        source: std::io::Error,
    },
    #[error("hook `{location}` ({event}) cannot be loaded")]
    Load {
        location: String,
        event: String,
        #[source]
        source: davit_sandbox::SandboxError,
    },
    #[error(
        "the host policy requires a signature by a trusted key ({rule}); nothing was fetched or run: {detail}"
    )]
    Unsigned { rule: String, detail: String },
    #[error("cannot pull the revision")]
    Pull(#[source] davit_bundle::BundleError),
    #[error(
        "the store's revision {asked} arrived as {staged}; the store holds a manifest davit would not write"
    )]
    RevisionMismatch { asked: String, staged: String },
    #[error("{what}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// `the host policy refuses 2 grants and 1 install request`: what [`DeployError::Refused`]
/// counts, for whoever lists the refusals themselves.
pub fn refused_summary(grants: usize, installs: usize) -> String {
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let what = match (grants, installs) {
        (g, 0) => count(g, "grant"),
        (0, i) => count(i, "install request"),
        (g, i) => format!("{} and {}", count(g, "grant"), count(i, "install request")),
    };
    format!("the host policy refuses {what}")
}

impl DeployError {
    pub(crate) fn io(what: &'static str, source: std::io::Error) -> Self {
        DeployError::Io { what, source }
    }
}
