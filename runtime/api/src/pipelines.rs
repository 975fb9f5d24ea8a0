//! Image pipelines: what operators create and read, what builder agents are handed and
//! report.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{AppName, GroupName, PipelineName, RunStatus};

/// When a scheduled run builds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StartCondition {
    /// Only when something the image is made of changed since the last good build (the
    /// parent's layers, a component's content or resolved version, the package lock):
    /// otherwise the run is `Skipped`.
    #[default]
    Changed,
    /// Every time.
    Always,
}

impl StartCondition {
    pub fn as_str(self) -> &'static str {
        match self {
            StartCondition::Changed => "changed",
            StartCondition::Always => "always",
        }
    }
}

impl std::str::FromStr for StartCondition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "changed" => Ok(StartCondition::Changed),
            "always" => Ok(StartCondition::Always),
            other => Err(format!(
                "`{other}` is not a start condition (changed, always)"
            )),
        }
    }
}

/// `APP/GROUP`: a deployment group that records each image the pipeline distributes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRef {
    pub app: AppName,
    pub group: GroupName,
}

/// `POST /v1/pipelines`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPipeline {
    pub name: PipelineName,
    /// The recipe's file name on the builder (its `document:` paths are relative to it).
    pub recipe_file: String,
    /// The recipe's YAML.
    pub recipe: String,
    /// The distribution configuration's file name and YAML, if the image is distributed.
    #[serde(default)]
    pub distribution_file: Option<String>,
    #[serde(default)]
    pub distribution: Option<String>,
    /// The groups the server records each distributed image on.
    #[serde(default)]
    pub groups: Vec<GroupRef>,
    /// `cron(…)` or `rate(…)` as AWS writes them; none: runs only when asked.
    #[serde(default)]
    pub schedule: Option<String>,
    /// The IANA time zone of a `cron(…)` schedule.
    #[serde(default = "utc")]
    pub timezone: String,
    #[serde(default)]
    pub condition: StartCondition,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Disable the pipeline after this many failed runs in a row (0: never).
    #[serde(default)]
    pub max_failures: u32,
    /// Tags an agent started with `--builder` must have to build it.
    #[serde(default)]
    pub builder_tags: BTreeMap<String, String>,
}

fn utc() -> String {
    "UTC".to_owned()
}

fn yes() -> bool {
    true
}

/// A pipeline, as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pipeline {
    pub name: PipelineName,
    pub recipe_file: String,
    #[serde(default)]
    pub distribution_file: Option<String>,
    #[serde(default)]
    pub groups: Vec<GroupRef>,
    #[serde(default)]
    pub schedule: Option<String>,
    pub timezone: String,
    pub condition: StartCondition,
    pub enabled: bool,
    pub max_failures: u32,
    /// Failed runs in a row, since the last one that succeeded or was skipped.
    pub failures: u32,
    pub builder_tags: BTreeMap<String, String>,
    /// When the schedule next starts a run (seconds since the epoch).
    #[serde(default)]
    pub next_run_at: Option<i64>,
    pub created_at: i64,
    /// Why it was disabled, when the server did it.
    #[serde(default)]
    pub disabled_because: Option<String>,
}

/// `POST /v1/pipelines/{name}/enabled`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineEnabled {
    pub enabled: bool,
}

/// `POST /v1/pipelines/{name}/runs`: a run now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    /// Apply the pipeline's start condition as a scheduled run does (skip when nothing
    /// changed); by default a run asked for builds.
    #[serde(default)]
    pub if_changed: bool,
}

/// A run of a pipeline: its history's entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineRun {
    pub id: String,
    pub pipeline: PipelineName,
    /// 1, 2, … per pipeline.
    pub seq: i64,
    /// `schedule` or `manual`.
    pub cause: String,
    pub status: RunStatus,
    #[serde(default)]
    pub agent: Option<String>,
    pub created_at: i64,
    #[serde(default)]
    pub started_at: Option<i64>,
    #[serde(default)]
    pub ended_at: Option<i64>,
    /// The digest of what the image was made from (davit-image's `inputs`).
    #[serde(default)]
    pub inputs: Option<String>,
    /// The image's manifest digest.
    #[serde(default)]
    pub digest: Option<String>,
    /// Where it was distributed to first (`docker://…:TAG`).
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub detail: String,
    /// The build's log (its tail, at most [`MAX_RUN_LOG`] bytes).
    #[serde(default)]
    pub log: String,
}

/// What the server keeps of a run's log.
pub const MAX_RUN_LOG: usize = 64 << 10;

/// `GET /v1/agent/build`: a run handed to a builder agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildJob {
    pub run: String,
    pub pipeline: PipelineName,
    pub recipe_file: String,
    pub recipe: String,
    #[serde(default)]
    pub distribution_file: Option<String>,
    #[serde(default)]
    pub distribution: Option<String>,
    /// Build only if the inputs differ from these (the last good build's); `None`: build.
    #[serde(default)]
    pub unless_inputs: Option<String>,
}

/// `POST /v1/agent/build`: a builder's result for a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildResult {
    pub run: String,
    /// `Succeeded`, `Failed` or `Skipped`.
    pub status: RunStatus,
    #[serde(default)]
    pub inputs: Option<String>,
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub reference: Option<String>,
    /// The image's name and version (for the groups' record).
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub log: String,
}
