//! The context handed to a plugin, in host terms: which job and step the call serves.

use crate::bindings::types;

/// The deployment a plugin is invoked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentInfo {
    pub id: String,
    pub application: String,
    pub deployment_group: String,
    /// blake3 digest (hex) of the revision.
    pub revision: String,
    pub last_good_revision: Option<String>,
}

/// One step of a component document's run (WIT `component-step`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentStep {
    pub run_id: String,
    /// The document's `name`.
    pub document: String,
    pub phase: String,
    pub step: String,
    /// The iteration of the step's loop, from 0.
    pub iteration: Option<u32>,
    /// The attempt, from 1.
    pub attempt: u32,
}

/// A package's action (WIT `package-action`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PackageAction {
    #[default]
    Install,
    Uninstall,
    Update,
    Validate,
}

impl PackageAction {
    /// Every action, in WIT order.
    pub const ALL: [PackageAction; 4] = [
        PackageAction::Install,
        PackageAction::Uninstall,
        PackageAction::Update,
        PackageAction::Validate,
    ];

    /// Its name, as a Distributor script's file (`install`) and `davit.yml` write it.
    pub fn name(self) -> &'static str {
        match self {
            PackageAction::Install => "install",
            PackageAction::Uninstall => "uninstall",
            PackageAction::Update => "update",
            PackageAction::Validate => "validate",
        }
    }

    pub(crate) fn to_wit(self) -> types::PackageAction {
        match self {
            PackageAction::Install => types::PackageAction::Install,
            PackageAction::Uninstall => types::PackageAction::Uninstall,
            PackageAction::Update => types::PackageAction::Update,
            PackageAction::Validate => types::PackageAction::Validate,
        }
    }

    pub(crate) fn from_wit(action: types::PackageAction) -> PackageAction {
        match action {
            types::PackageAction::Install => PackageAction::Install,
            types::PackageAction::Uninstall => PackageAction::Uninstall,
            types::PackageAction::Update => PackageAction::Update,
            types::PackageAction::Validate => PackageAction::Validate,
        }
    }
}

impl std::fmt::Display for PackageAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One action of a package version (WIT `package-step`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageStep {
    /// The package's name.
    pub name: String,
    pub version: String,
    pub action: PackageAction,
    /// The version installed before, if any.
    pub previous_version: Option<String>,
    /// The manifest's platform key the file was chosen by.
    pub platform: String,
}

/// The job a call serves, and which of its steps (WIT `job`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// A deployment's lifecycle event, in CodeDeploy's spelling (`AfterInstall`); other names
    /// are custom events.
    Deployment {
        event: String,
        deployment: DeploymentInfo,
    },
    Component(ComponentStep),
    Package(PackageStep),
}

impl Job {
    /// A deployment's `event`.
    pub fn deployment(event: impl Into<String>, deployment: DeploymentInfo) -> Job {
        Job::Deployment {
            event: event.into(),
            deployment,
        }
    }
}

impl Default for Job {
    fn default() -> Self {
        Job::Deployment {
            event: String::new(),
            deployment: DeploymentInfo::default(),
        }
    }
}

/// Everything a plugin is told about the call it serves (WIT `context`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    pub job: Job,
    /// Guest path where the job's files are mounted read-only.
    pub bundle_dir: String,
    /// Host path that absolute paths are meant under (`/` on a live host).
    pub target_root: String,
    pub parameters: Vec<(String, String)>,
}

impl Context {
    /// The deployment the call serves, if it serves one.
    pub fn deployment(&self) -> Option<&DeploymentInfo> {
        match &self.job {
            Job::Deployment { deployment, .. } => Some(deployment),
            _ => None,
        }
    }

    pub(crate) fn to_wit(&self) -> types::Context {
        types::Context {
            job: job_to_wit(&self.job),
            bundle_dir: self.bundle_dir.clone(),
            target_root: self.target_root.clone(),
            parameters: self.parameters.clone(),
        }
    }
}

fn job_to_wit(job: &Job) -> types::Job {
    match job {
        Job::Deployment { event, deployment } => {
            let d = deployment;
            types::Job::Deployment(types::DeploymentEvent {
                event: event_to_wit(event),
                deployment: types::Deployment {
                    id: d.id.clone(),
                    application: d.application.clone(),
                    deployment_group: d.deployment_group.clone(),
                    revision: d.revision.clone(),
                    last_good_revision: d.last_good_revision.clone(),
                },
            })
        }
        Job::Component(s) => types::Job::Component(types::ComponentStep {
            run_id: s.run_id.clone(),
            document: s.document.clone(),
            phase: s.phase.clone(),
            step: s.step.clone(),
            iteration: s.iteration,
            attempt: s.attempt,
        }),
        Job::Package(p) => types::Job::Package(types::PackageStep {
            name: p.name.clone(),
            version: p.version.clone(),
            action: p.action.to_wit(),
            previous_version: p.previous_version.clone(),
            platform: p.platform.clone(),
        }),
    }
}

fn event_to_wit(event: &str) -> types::Event {
    use types::Event as E;
    match event {
        "ApplicationStop" => E::ApplicationStop,
        "DownloadBundle" => E::DownloadBundle,
        "BeforeInstall" => E::BeforeInstall,
        "Install" => E::Install,
        "AfterInstall" => E::AfterInstall,
        "ApplicationStart" => E::ApplicationStart,
        "ValidateService" => E::ValidateService,
        "BeforeBlockTraffic" => E::BeforeBlockTraffic,
        "AfterBlockTraffic" => E::AfterBlockTraffic,
        "BeforeAllowTraffic" => E::BeforeAllowTraffic,
        "AfterAllowTraffic" => E::AfterAllowTraffic,
        other => E::Custom(other.to_string()),
    }
}
