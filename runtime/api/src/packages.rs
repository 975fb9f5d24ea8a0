//! Package jobs and inventory: a deployment of a package to a group's hosts (its `package`
//! part says which and how), and what each agent reports it has installed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a package job does on each host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PackageOperation {
    /// Install the version (replacing another one).
    Install,
    /// Uninstall the package.
    Uninstall,
}

/// The package part of a deployment: a job of kind "package" instead of a revision's
/// lifecycle. The deployment's `revision` is the version's bundle revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageJob {
    /// The package's name.
    pub name: String,
    /// The version (as its manifest says).
    pub version: String,
    pub operation: PackageOperation,
    /// Its `SSM_*` arguments.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub arguments: BTreeMap<String, String>,
    /// Update in place with the new version's `update` script.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_place: bool,
    /// An operator approved scripts that ask for more than the installed version's grants.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub approve_grants: bool,
    /// Each host runs the scripts on copies, records what they would do (each event's
    /// `recorded`) and changes nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// One package an agent has, in `POST /v1/agent/inventory`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryItem {
    pub name: String,
    /// The version installed (or last tried, when `state` is `Failed`).
    pub version: Option<String>,
    /// SSM's state: `Installed`, `Failed`, `Uninstalled`, …
    pub state: String,
    /// When the state last changed (RFC 3339).
    pub time: String,
}

/// `POST /v1/agent/inventory`: every package this host's agent knows, replacing what it said
/// before.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    pub packages: Vec<InventoryItem>,
}

/// One host's inventory in `GET /v1/inventory`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInventory {
    pub host: String,
    pub agent: String,
    /// When the agent last reported it (seconds since the epoch).
    pub reported_at: i64,
    pub packages: Vec<InventoryItem>,
}

/// `POST /v1/associations`: keep a package at a version (or the newest) on a group's hosts,
/// on a schedule (State Manager's association). It runs at once, then on its schedule; a
/// host that joins the group is picked up without waiting for the schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAssociation {
    pub name: String,
    pub app: crate::AppName,
    pub group: crate::GroupName,
    pub package: String,
    /// None: the newest version in the store at each run.
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub arguments: BTreeMap<String, String>,
    pub store: String,
    /// `cron(…)` or `rate(…)`, as AWS writes them.
    pub schedule: String,
    /// The IANA zone the schedule is read in.
    #[serde(default = "utc")]
    pub timezone: String,
    #[serde(default)]
    pub concurrency: Option<String>,
    #[serde(default)]
    pub max_errors: Option<String>,
}

fn utc() -> String {
    "UTC".to_owned()
}

/// Whether a host is where its association wants it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComplianceStatus {
    /// The last run succeeded on it.
    Compliant,
    /// The last run failed on it.
    NonCompliant,
    /// Not run on it yet (running, skipped, or it joined after the last run).
    Pending,
}

/// One host's compliance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compliance {
    pub host: String,
    pub status: ComplianceStatus,
    /// What the last run said there.
    pub detail: Option<String>,
}

/// An association, with its last run and each host's compliance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Association {
    #[serde(flatten)]
    pub spec: NewAssociation,
    /// The next scheduled run (seconds since the epoch).
    pub next_run_at: Option<i64>,
    /// The package job of its last run.
    pub last_job: Option<String>,
    /// Why the last attempt to run made no job (the store could not be read, say).
    pub last_error: Option<String>,
    pub compliance: Vec<Compliance>,
}
