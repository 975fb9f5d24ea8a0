//! Requests and responses of every route, in the order of the server's router.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{AppName, DeploymentStatus, EventStatus, GroupName, HostStatus, RevisionId};

/// Every error answer: `{"error": "…"}`, with a 4xx or 5xx status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, one lowercase line.
    pub error: String,
}

/// `POST /v1/apps`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApp {
    /// The application's name.
    pub name: AppName,
}

/// An application (`POST /v1/apps` answers one, `GET /v1/apps` a list).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    /// Its name.
    pub name: AppName,
}

/// The ceiling of a deployment's run time on one host when its group sets none.
pub const DEFAULT_MAX_DEPLOYMENT_MINUTES: u32 = 60;

fn default_max_deployment_minutes() -> u32 {
    DEFAULT_MAX_DEPLOYMENT_MINUTES
}

/// `POST /v1/apps/{app}/groups`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    /// The group's name.
    pub name: GroupName,
    /// Tags a host must all have to belong.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Hosts that belong whether or not their agent runs.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// How long a host may run one deployment before it fails, heartbeats or not (default 60).
    #[serde(default = "default_max_deployment_minutes")]
    pub max_deployment_minutes: u32,
    /// Whether a host that joins the group gets its last good revision by itself, as its own
    /// deployment (default `true`).
    #[serde(default = "yes")]
    pub auto_deploy_new_hosts: bool,
}

fn yes() -> bool {
    true
}

/// A deployment group: hosts chosen by tags, and hosts expected by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// The application.
    pub app: AppName,
    /// The group's name.
    pub name: GroupName,
    /// Tags a host must all have to belong.
    pub tags: BTreeMap<String, String>,
    /// Hosts that belong whether or not their agent runs.
    pub hosts: Vec<String>,
    /// How long a host may run one deployment before it fails, heartbeats or not.
    pub max_deployment_minutes: u32,
    /// Whether a host that joins the group gets its last good revision by itself.
    #[serde(default = "yes")]
    pub auto_deploy_new_hosts: bool,
    /// The image its hosts should use, as the last distribution recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<GroupImage>,
}

/// `PUT /v1/apps/{app}/groups/{group}/image`: a distribution records the image a group's
/// hosts should use (and the answer's `Group.image`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupImage {
    /// Where it is: `docker://HOST[:PORT]/REPOSITORY:TAG`.
    pub reference: String,
    /// Its manifest's digest, `sha256:` and 64 lowercase hex.
    pub digest: String,
    /// The recipe's name and version.
    pub name: String,
    pub version: String,
    /// Seconds since the epoch when it was recorded (set by the server).
    #[serde(default)]
    pub recorded_at: i64,
}

/// `POST /v1/enroll-tokens` asks for a new enrollment token: one-time, or reusable by every
/// host started from an image that holds it (`davit/agent`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEnrollToken {
    #[serde(default)]
    pub reusable: bool,
    /// Seconds it enrolls for, from now; none: until it is used (or revoked, if reusable).
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// `POST /v1/enroll-tokens` answers a new enrollment token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollToken {
    /// The secret, `dve_…`, shown once.
    pub token: String,
    /// When it stops enrolling (seconds since the epoch).
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// `POST /v1/enroll-tokens/revoke`: an enrollment token that enrolls no more host (its
/// answer says whether there was one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeEnrollToken {
    pub token: String,
}

/// What a revocation answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    pub revoked: bool,
}

/// `POST /v1/enroll`: an agent swaps an enrollment token for its own credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enrollment {
    /// The one-time token.
    pub token: String,
    /// The host's name.
    pub hostname: String,
    /// The host's tags, which groups select on.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// What `POST /v1/enroll` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolled {
    /// The agent's id.
    pub agent_id: String,
    /// Its bearer credential, `dva_…`, shown once.
    pub credential: String,
}

/// An enrolled agent (`GET /v1/agents` answers a list).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    /// Its id.
    pub id: String,
    /// The host name it gave.
    pub hostname: String,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// Seconds since the epoch of its last request.
    pub last_seen: i64,
}

/// What `POST /v1/agent/heartbeat` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The agent the server heard from.
    pub agent_id: String,
}

/// `POST /v1/apps/{app}/groups/{group}/deployments`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDeployment {
    /// The revision to deploy.
    pub revision: RevisionId,
    /// Where agents pull it from (a directory, an HTTP store, `s3://…`).
    pub store: String,
    /// `OneAtATime`, `HalfAtATime` or `AllAtOnce` (default `OneAtATime`, as CodeDeploy).
    #[serde(default)]
    pub config: Option<String>,
    /// A minimum of healthy hosts, `3` or `75%`, instead of the configuration's.
    #[serde(default)]
    pub min_healthy: Option<String>,
    /// A ramp of batches, `1,5,20%`.
    #[serde(default)]
    pub batches: Option<String>,
    /// A package job instead of a revision's lifecycle: `revision` is the version's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<crate::PackageJob>,
    /// Hosts at once, `10` or `50%` (a package job's; default 50, as State Manager).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<String>,
    /// Failures past which it stops, `0` or `10%` (a package job's; default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_errors: Option<String>,
}

/// A deployment in `GET /v1/deployments` (newest first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentSummary {
    /// Its id.
    pub id: String,
    /// The application.
    pub app: AppName,
    /// The deployment group.
    pub group: GroupName,
    /// The revision.
    pub revision: RevisionId,
    /// Its status.
    pub status: DeploymentStatus,
    /// The failed deployment this one rolls back.
    pub rollback_of: Option<String>,
    /// What made it, when not an operator: `auto: rollback`, `auto: host joined`.
    #[serde(default)]
    pub cause: Option<String>,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// A package job's package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<crate::PackageJob>,
}

/// A deployment and its hosts (`GET /v1/deployments/{id}`; creating and stopping answer one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// Its id.
    pub id: String,
    /// The application.
    pub app: AppName,
    /// The deployment group.
    pub group: GroupName,
    /// The revision.
    pub revision: RevisionId,
    /// The store agents pull from.
    pub store: String,
    /// Its status.
    pub status: DeploymentStatus,
    /// Why it failed.
    pub reason: Option<String>,
    /// The failed deployment this one rolls back.
    pub rollback_of: Option<String>,
    /// The deployment that rolled this one back.
    pub rolled_back_by: Option<String>,
    /// What made it, when not an operator: `auto: rollback`, `auto: host joined`.
    #[serde(default)]
    pub cause: Option<String>,
    /// A package job's package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<crate::PackageJob>,
    /// Each host.
    pub hosts: Vec<DeploymentHost>,
}

/// One host of a deployment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentHost {
    /// The host's name.
    pub host: String,
    /// Its agent, if one enrolled.
    pub agent: Option<String>,
    /// Its state.
    pub state: HostStatus,
    /// The failure, or what the agent said.
    pub detail: Option<String>,
    /// What the agent reported per lifecycle event, so far or in the end.
    pub events: Option<Vec<EventResult>>,
}

/// One lifecycle event as an agent reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventResult {
    /// `ApplicationStop`, `Install`, …
    pub event: String,
    /// How it ended.
    pub status: EventStatus,
    /// How long it took.
    pub elapsed_ms: u64,
    /// What the built-in step did, or why the event failed.
    #[serde(default)]
    pub detail: Option<String>,
    /// The last lines its hooks printed, `[stream] text`.
    #[serde(default)]
    pub log_tail: Vec<String>,
    /// A dry run's: what the step would have done, a line each (`create /opt/app/x`, `run
    /// /usr/bin/systemctl "restart" "app"`, `GET https://…`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recorded: Vec<String>,
}

/// The query of `GET /v1/agent/command`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Poll {
    /// Seconds to wait for a command (long poll), at most 25.
    #[serde(default)]
    pub wait: Option<u64>,
    /// Applications this agent is deploying now, comma-separated: no second command is handed
    /// out for them until their deployment ends.
    #[serde(default)]
    pub busy: Option<String>,
}

impl Poll {
    /// The applications in `busy`; a name that is not one is left out (it cannot be running).
    pub fn busy(&self) -> Vec<AppName> {
        self.busy
            .iter()
            .flat_map(|busy| busy.split(','))
            .filter_map(|a| AppName::try_from(a).ok())
            .collect()
    }

    /// The query string: `wait=20&busy=shop,blog`. Application names need no escaping.
    pub fn to_query(&self) -> String {
        let mut query = Vec::new();
        if let Some(wait) = self.wait {
            query.push(format!("wait={wait}"));
        }
        if let Some(busy) = &self.busy {
            query.push(format!("busy={busy}"));
        }
        query.join("&")
    }

    /// The `busy` value for these applications.
    pub fn busy_list<'a>(apps: impl IntoIterator<Item = &'a AppName>) -> Option<String> {
        let list: Vec<&str> = apps.into_iter().map(AppName::as_str).collect();
        (!list.is_empty()).then(|| list.join(","))
    }
}

/// A command for an agent (`GET /v1/agent/command` answers one, or 204 when there is none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// The deployment.
    pub deployment: String,
    /// The application.
    pub app: AppName,
    /// The deployment group.
    pub group: GroupName,
    /// The revision.
    pub revision: RevisionId,
    /// Where to pull it from.
    pub store: String,
    /// The group's ceiling: past it the server fails the host, heartbeats or not.
    pub max_deployment_minutes: u32,
    /// A package job: install or uninstall this package instead of deploying a revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<crate::PackageJob>,
}

/// `POST /v1/agent/report`: an agent's result for its host in a deployment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// The deployment.
    pub deployment: String,
    /// Whether it succeeded on this host.
    pub succeeded: bool,
    /// What happened: the failing event and hook, or a summary.
    #[serde(default)]
    pub detail: String,
    /// The agent restarted during the deployment (its records said so).
    #[serde(default)]
    pub after_restart: bool,
    /// Per lifecycle event, at most [`MAX_EVENTS_JSON`] bytes of JSON in all.
    #[serde(default)]
    pub events: Option<Vec<EventResult>>,
}

/// `POST /v1/agent/progress`: the events an agent has finished so far.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    /// The deployment.
    pub deployment: String,
    /// The events finished so far, as in a report.
    pub events: Vec<EventResult>,
    /// Set when a hook asked for a reboot and the host goes down for it: what asked, and
    /// where the deployment resumes once the agent is back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebooting: Option<String>,
}

/// The most the events of one report or progress may weigh, as JSON.
pub const MAX_EVENTS_JSON: usize = 64 << 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poll_says_which_applications_are_busy() {
        let shop: AppName = "shop".parse().unwrap();
        let blog: AppName = "blog".parse().unwrap();
        let poll = Poll {
            wait: Some(2),
            busy: Poll::busy_list([&shop, &blog]),
        };
        assert_eq!(poll.to_query(), "wait=2&busy=shop,blog");
        assert_eq!(poll.busy(), [shop, blog]);
        assert_eq!(Poll::default().busy(), []);
        assert_eq!(Poll::default().to_query(), "");
    }

    #[test]
    fn a_group_ceiling_defaults_to_an_hour() {
        let group: NewGroup = serde_json::from_str(r#"{"name": "prod", "hosts": ["a"]}"#).unwrap();
        assert_eq!(group.max_deployment_minutes, DEFAULT_MAX_DEPLOYMENT_MINUTES);
        let unknown = serde_json::from_str::<NewGroup>(r#"{"name": "prod", "hots": []}"#);
        assert!(
            unknown
                .unwrap_err()
                .to_string()
                .contains("unknown field `hots`")
        );
    }
}
