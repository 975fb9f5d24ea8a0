//! The builder: an agent started with `--builder` also long-polls `/v1/agent/build` for the
//! image pipelines' runs whose builder tags it has, and builds each with davit-image under
//! this host's policy, one at a time, with the host's component store
//! (`<deployment root>/components`). A scheduled run of a "changed" pipeline is first
//! compared with the last good build's inputs and reported `Skipped` when they are equal.
//! The image is distributed as the pipeline says; the server records it on the groups.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use davit_api::{BuildJob, BuildResult, MAX_RUN_LOG, RunStatus};
use davit_image::build::{self, BuildOptions, BuildReport};
use davit_image::component::Progress;
use davit_image::distribute::{self, Distribution};
use davit_image::recipe::Recipe;
use davit_image::store::ComponentStore;
use davit_sandbox::{Plugin, S3Access};

use crate::AgentError;
use crate::execute::Agent;

/// The builder's loop; ends only with the process (or when the credential is refused).
pub(crate) async fn serve(agent: Arc<Agent>, busy: Arc<AtomicUsize>) -> Result<(), AgentError> {
    let wasm = davit_plugins::find("toe-actions")
        .ok_or_else(|| AgentError::Sandbox(anyhow::anyhow!("no built-in `toe-actions`")))?;
    let plugin = agent
        .sandbox
        .load(wasm.wasm)
        .map_err(|e| AgentError::Sandbox(e.into()))?;
    loop {
        let job = match agent.server.poll_build(20).await {
            Ok(Some(job)) => job,
            Ok(None) => continue,
            Err(crate::client::PollError::Refused) => {
                return Err(AgentError::CredentialRefused {
                    identity: crate::identity::file(&agent.config.data_dir),
                });
            }
            Err(crate::client::PollError::Other(e)) => {
                eprintln!("warning: builder: {e:#}");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        eprintln!("builder: run {} of pipeline {}", job.run, job.pipeline);
        busy.fetch_add(1, Ordering::Relaxed);
        let result = build_run(&agent, &plugin, &job).await;
        busy.fetch_sub(1, Ordering::Relaxed);
        eprintln!(
            "builder: run {} {}: {}",
            job.run, result.status, result.detail
        );
        agent.server.build_result_until_taken(&result).await;
    }
}

/// The log of a run: the steps and what they printed, bounded to what the server keeps.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<String>>);

impl Log {
    fn line(&self, line: &str) {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        log.push_str(line);
        log.push('\n');
        if log.len() > 2 * MAX_RUN_LOG {
            let cut = log.len() - MAX_RUN_LOG;
            let cut = (cut..log.len())
                .find(|&i| log.is_char_boundary(i))
                .unwrap_or(log.len());
            log.replace_range(..cut, "");
        }
    }

    fn text(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

async fn build_run(agent: &Agent, plugin: &Plugin, job: &BuildJob) -> BuildResult {
    let log = Log::default();
    let mut result = BuildResult {
        run: job.run.clone(),
        status: RunStatus::Failed,
        inputs: None,
        digest: None,
        reference: None,
        name: String::new(),
        version: String::new(),
        detail: String::new(),
        log: String::new(),
    };
    match attempt(agent, plugin, job, &log, &mut result).await {
        Ok(detail) => result.detail = detail,
        Err(e) => {
            result.status = RunStatus::Failed;
            result.detail = format!("{e:#}");
        }
    }
    log.line(&result.detail);
    result.log = log.text();
    result
}

async fn attempt(
    agent: &Agent,
    plugin: &Plugin,
    job: &BuildJob,
    log: &Log,
    result: &mut BuildResult,
) -> anyhow::Result<String> {
    let recipe = Recipe::parse(&job.recipe_file, &job.recipe)?;
    let distribution = match (&job.distribution_file, &job.distribution) {
        (Some(file), Some(text)) => Some(Distribution::parse(file, text)?),
        _ => None,
    };
    let confined = crate::confine::confine(
        job.pipeline.as_str(),
        recipe,
        distribution.as_ref(),
        &agent.config.policy,
        &agent.config.deployment_root,
    )
    .map_err(|e| anyhow::anyhow!("refused by this builder: {e}"))?;
    let recipe = confined.recipe;
    result.name = recipe.name.clone();
    result.version = recipe.version.to_string();
    let progress_log = log.clone();
    let options = BuildOptions {
        oci_layout: None,
        tags: Vec::new(),
        keep_on_failure: false,
        push: false,
        policy: agent.config.policy.clone(),
        s3: S3Access::from_vars(|k| std::env::var(k).ok()).map_err(anyhow::Error::msg)?,
        store: ComponentStore::at(&ComponentStore::default_dir(&agent.config.deployment_root)),
        deployment_root: agent.config.deployment_root.clone(),
        epoch: recipe.source_date_epoch.unwrap_or(0),
        progress: Some(Arc::new(move |p: &Progress<'_>| match p {
            Progress::StepStarted {
                phase,
                step,
                action,
            } => progress_log.line(&format!("{phase}.{step} ({action})")),
            Progress::Line { text, .. } => progress_log.line(&format!("  {text}")),
            Progress::StepEnded {
                phase,
                step,
                failure,
                ..
            } if !failure.is_empty() => progress_log.line(&format!("{phase}.{step}: {failure}")),
            Progress::StepEnded { .. } => {}
        })),
    };
    if let Some(previous) = &job.unless_inputs {
        let inputs = build::inputs(plugin, &recipe, &options).await?;
        result.inputs = Some(inputs.clone());
        if inputs == *previous {
            result.status = RunStatus::Skipped;
            return Ok(format!(
                "nothing the image is made of changed since the last good build (inputs {})",
                &inputs[..19.min(inputs.len())]
            ));
        }
        log.line("the image's inputs changed since the last good build");
    }
    let report = build::build(&agent.sandbox, plugin, &recipe, &options).await?;
    log.line(&summary(&report));
    result.inputs = Some(report.inputs.clone());
    result.digest = Some(report.digest.clone());
    let mut detail = format!(
        "built {} {} as {}",
        report.name, report.version, report.digest
    );
    if let Some(config) = &distribution {
        let built = distribute::Built::of(&report)?;
        let done = distribute::distribute(config, &built.artifact(), confined.disk_store.as_ref())
            .await
            .map_err(|e| anyhow::Error::new(e).context("built and tested, but not distributed"))?;
        for r in &done.registries {
            detail.push_str(&format!("; {} as {}", r.repository, r.tags.join(", ")));
        }
        if let Some(d) = &done.disks {
            detail.push_str(&format!("; disks in {}", d.dir));
        }
        result.reference = done.reference;
    }
    result.status = RunStatus::Succeeded;
    Ok(detail)
}

fn summary(report: &BuildReport) -> String {
    let cached = report.layers.iter().filter(|l| l.cached).count();
    format!(
        "{} layers ({cached} from the cache), tests passed on a fresh instance: {}",
        report.layers.len(),
        report.tests.join(", ")
    )
}
