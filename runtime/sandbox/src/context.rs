//! The deployment context handed to a plugin, in host terms.

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

/// Everything a hook is told about the call it serves (WIT `hook-context`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookContext {
    /// The lifecycle event, in CodeDeploy's spelling (`AfterInstall`); other names are custom events.
    pub event: String,
    pub deployment: DeploymentInfo,
    /// Guest path where the revision's files are mounted read-only.
    pub bundle_dir: String,
    /// Host path that absolute destinations are installed under (`/` on a live host).
    pub target_root: String,
    pub parameters: Vec<(String, String)>,
}

impl HookContext {
    pub(crate) fn to_wit(&self) -> types::HookContext {
        use types::Event as E;
        let event = match self.event.as_str() {
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
        };
        let d = &self.deployment;
        types::HookContext {
            event,
            deployment: types::Deployment {
                id: d.id.clone(),
                application: d.application.clone(),
                deployment_group: d.deployment_group.clone(),
                revision: d.revision.clone(),
                last_good_revision: d.last_good_revision.clone(),
            },
            bundle_dir: self.bundle_dir.clone(),
            target_root: self.target_root.clone(),
            parameters: self.parameters.clone(),
        }
    }
}
