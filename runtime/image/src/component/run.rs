//! The runner: a document's phases in order (those `--phases` names), each step's loop
//! iterations, `if` decided once per step, `maxAttempts` retries, `onFailure`, chaining, and
//! `ExecuteDocument` run in place; every other action is one sandbox invocation of the action
//! component with the step's inputs as JSON and grants computed from them.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use davit_sandbox::{
    ActionInput, ActionNext, Call, ComponentStep, Context, Job, Plugin, S3Access, Sandbox, Verdict,
};
use davit_spec::HostPolicy;
use davit_toe::{
    Action, Bindings, Document, OnFailure, PlannedStep, Runnable, StepAction, Timeout, ToeError,
};

use super::steps::{DocumentSteps, PlanStep, Suspension, document_report};
use serde_json::{Value as Json, json};
use std::sync::Mutex;

use super::chain::ChainStore;
use super::grants;
use super::inputs::to_json;
use super::journal::Journal;
use super::logdir::LogDir;
use super::precheck::{precheck, selected, step_ref};
use super::report::{DocumentReport, RunReport, Status, StepReport, now};
use super::target::{Target, TargetProbe};
use super::{Progress, RunError};

/// How often one iteration may ask to reboot and run again on an image root, where the reboot
/// is emulated: more fails the step (a script that always exits 194 would loop for ever).
pub const MAX_RERUNS: u32 = 3;

/// How deep `ExecuteDocument` may nest.
pub const MAX_NESTING: usize = 8;

/// What sees each step as it starts and ends.
pub type ProgressFn = Arc<dyn Fn(&Progress<'_>) + Send + Sync>;

/// What a run is told.
pub struct RunOptions {
    /// What the actions act on.
    pub target: Target,
    /// The host policy commands, URLs and (on the host) directories are checked against.
    pub policy: HostPolicy,
    /// The phases to run, in document order; `None`: all.
    pub phases: Option<Vec<String>>,
    /// `--parameters`, as parsed.
    pub parameters: Vec<(String, String)>,
    /// Where `TOE_<date>_<runId>/` is made.
    pub log_root: PathBuf,
    /// davit's own state (`--deployment-root`), which no step is ever granted.
    pub deployment_root: PathBuf,
    /// Reboot requests allowed in one run on this host, counting those before a resume.
    pub max_reboots: u32,
    /// Where S3 is and the credentials that sign S3Download and S3Upload (kept on the host).
    pub s3: S3Access,
    /// The run's id (a fresh UUID if `None`).
    pub run_id: Option<String>,
    /// Sees each step start and end, and each line an action prints.
    pub progress: Option<ProgressFn>,
}

/// Runs `document` against `options.target` with the action component `plugin`.
///
/// Before anything runs: Windows-only actions are refused ([`RunError::NotOnLinux`]), the
/// parameters are bound, and every step's grants that do not depend on chaining are checked
/// against the policy ([`RunError::Refused`], every refusal at once). A step's failure is in
/// the [`RunReport`], not an error.
///
/// # Errors
///
/// See [`RunError`].
pub async fn run(
    sandbox: &Sandbox,
    plugin: &Plugin,
    document: &Document,
    options: RunOptions,
) -> Result<RunReport, RunError> {
    if let Runnable::NotOnLinux(steps) = document.runnable_on_linux() {
        return Err(RunError::NotOnLinux {
            file: document.file.clone(),
            steps,
        });
    }
    if let Some(phases) = &options.phases {
        for p in phases {
            if document.phase(p).is_none() {
                return Err(RunError::UnknownPhase {
                    file: document.file.clone(),
                    phase: p.clone(),
                    available: document.phases.iter().map(|p| p.name.clone()).collect(),
                });
            }
        }
    }
    let bindings = document.bind(&options.parameters)?;
    let plan = document.expand(&bindings)?;
    precheck(&plan, document, &options)?;
    let root = options
        .target
        .open()
        .map_err(|e| RunError::Target(options.target.root_dir().to_path_buf(), e))?;
    let run_id = options
        .run_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let text = std::fs::read_to_string(&document.file).unwrap_or_default();
    // On this host, the same command resumes a run a reboot stopped (on a root, reboots are
    // emulated and nothing stops).
    let journal = (options.target == Target::Host).then(|| {
        Journal::for_run(
            &options.deployment_root,
            &text,
            options.phases.as_deref(),
            &options.parameters,
        )
    });
    let journal_error = |j: &Journal, e| RunError::Journal(j.path().to_path_buf(), e);
    let resumed = match &journal {
        Some(j) => j.load().map_err(|e| journal_error(j, e))?,
        None => None,
    };
    let log = LogDir::create(&options.log_root, &run_id, &text)
        .map_err(|e| RunError::Log(options.log_root.clone(), e))?;
    log.app(&format!(
        "run {run_id}: `{}` against {}",
        document.file,
        match &options.target {
            Target::Root(dir) => format!("the root `{}`", dir.display()),
            Target::Host => "this host".to_owned(),
        }
    ));
    if let Some(entry) = &resumed {
        let request = &entry.suspension.request;
        log.app(&format!(
            "resuming run {} after the reboot `{}` asked for ({} of at most {})",
            entry.execution_id, request.after, request.count, options.max_reboots
        ));
    }
    let runner = Runner {
        sandbox,
        plugin,
        probe: TargetProbe::new(root),
        log,
        run_id: run_id.clone(),
        nested: Mutex::new(Vec::new()),
        options,
    };
    let phases = runner.options.phases.clone();
    let resume = resumed.as_ref().map(|e| &e.suspension);
    let (top, chain, suspended) = runner
        .document(document, &bindings, phases.as_deref(), 0, resume)
        .await;
    let mut documents = vec![top.clone()];
    documents.extend(runner.nested.lock().expect("nested reports").drain(..));
    let report = RunReport {
        execution_id: run_id,
        status: top.status,
        failure_message: top.failure_message.clone(),
        log_url: runner.log.path().display().to_string(),
        executed_step_count: documents.iter().map(|d| d.executed_step_count).sum(),
        failed_step_count: documents.iter().map(|d| d.failed_step_count).sum(),
        ignored_failed_step_count: documents.iter().map(|d| d.ignored_failed_step_count).sum(),
        documents,
        reboot: suspended.as_ref().map(|s| s.request.clone()),
        resumed: resumed.as_ref().map(|e| e.execution_id.clone()),
    };
    if let Some(j) = &journal {
        match suspended {
            Some(suspension) => {
                let first = report.resumed.as_ref().unwrap_or(&report.execution_id);
                j.save(first, &document.file, suspension)
                    .map_err(|e| journal_error(j, e))?;
            }
            None if resumed.is_some() => j.clear().map_err(|e| journal_error(j, e))?,
            None => {}
        }
    }
    let write = |name: &str, value: &dyn erased::Json| {
        value
            .write(&runner.log, name)
            .map_err(|e| RunError::Log(runner.log.path().to_path_buf(), e))
    };
    write("detailedoutput.json", &report)?;
    write("chaining.json", &chain)?;
    runner
        .log
        .app(&format!("run {}: {:?}", report.execution_id, report.status));
    Ok(report)
}

mod erased {
    //! Lets `run` write two different types through one closure.
    pub trait Json {
        fn write(&self, log: &super::LogDir, name: &str) -> std::io::Result<()>;
    }
    impl<T: serde::Serialize> Json for T {
        fn write(&self, log: &super::LogDir, name: &str) -> std::io::Result<()> {
            log.json(name, self)
        }
    }
}

pub(super) struct Runner<'a> {
    sandbox: &'a Sandbox,
    plugin: &'a Plugin,
    probe: TargetProbe,
    pub(super) log: LogDir,
    run_id: String,
    /// Reports of the documents `ExecuteDocument` steps ran.
    nested: Mutex<Vec<DocumentReport>>,
    options: RunOptions,
}

type Boxed<'f, T> = Pin<Box<dyn Future<Output = T> + Send + 'f>>;

/// The outcome of one iteration.
enum Ran {
    Ok(Json),
    Failed(String),
    /// It asked this host to reboot; with `rerun`, to run it again after.
    Rebooting {
        rerun: bool,
    },
}

impl Runner<'_> {
    fn progress(&self, p: Progress<'_>) {
        if let Some(f) = &self.options.progress {
            f(&p);
        }
    }

    /// Runs a document's phases (resuming from `resume`); returns its report, its chaining
    /// values and, when a step asked this host to reboot, where to resume.
    fn document<'s>(
        &'s self,
        document: &'s Document,
        bindings: &'s Bindings,
        phases: Option<&'s [String]>,
        depth: usize,
        resume: Option<&'s Suspension>,
    ) -> Boxed<'s, (DocumentReport, ChainStore, Option<Suspension>)> {
        Box::pin(async move {
            let plan = match document.expand(bindings) {
                Ok(plan) => plan,
                Err(e) => {
                    let mut report = document_report(document, Vec::new());
                    report.status = Status::Failed;
                    report.failure_message = e.to_string();
                    return (report, ChainStore::default(), None);
                }
            };
            let steps: Vec<PlanStep<'_, '_>> = selected(&plan, phases)
                .flat_map(|phase| {
                    phase.steps.iter().map(|planned| PlanStep {
                        phase: &phase.phase.name,
                        planned,
                    })
                })
                .collect();
            let chain = resume
                .and_then(|s| serde_json::from_value(s.state.clone()).ok()) // checked at load
                .unwrap_or_default();
            let mut front = DocumentSteps {
                runner: self,
                document,
                depth,
                chain,
                phase: None,
            };
            let plan = davit_plan::Plan {
                steps: &steps,
                max_reboots: self.options.max_reboots,
            };
            let ran = davit_plan::run(plan, resume, &mut front).await;
            let report = document_report(document, ran.reports);
            for pr in &report.phases {
                self.log.app(&format!(
                    "`{}` phase `{}`: {:?}",
                    report.name, pr.name, pr.status
                ));
            }
            (report, front.chain, ran.suspended)
        })
    }

    /// Runs one step: its `if`, then each iteration with its attempts.
    pub(super) async fn step(
        &self,
        document: &Document,
        phase: &str,
        planned: &PlannedStep<'_>,
        chain: &mut ChainStore,
        depth: usize,
    ) -> StepReport {
        let s = planned.step;
        let mut report = StepReport {
            name: s.name.clone(),
            action: s.action.name().to_owned(),
            status: Status::Success,
            on_failure: format!("{:?}", s.on_failure),
            timeout_seconds: match s.timeout {
                Timeout::Seconds(n) => n as i64,
                Timeout::Unlimited => -1,
            },
            max_attempts: s.max_attempts,
            attempts: 0,
            iterations: 0,
            inputs: Json::Null,
            outputs: json!({}),
            failure_message: String::new(),
            start_time: now(),
            end_time: String::new(),
            rerun: false,
        };
        let label = format!("{phase}.{}", s.name);
        self.progress(Progress::StepStarted {
            phase,
            step: &s.name,
            action: s.action.name(),
        });
        let result = self
            .iterations(document, phase, planned, chain, depth, &mut report)
            .await;
        match result {
            Ran::Ok(_) => {}
            Ran::Rebooting { rerun } => {
                report.status = Status::Rebooting;
                report.rerun = rerun;
            }
            Ran::Failed(message) => {
                report.status = if s.on_failure == OnFailure::Ignore {
                    Status::Ignored
                } else {
                    Status::Failed
                };
                report.failure_message = message;
            }
        }
        report.end_time = now();
        self.log.app(&format!(
            "step `{label}` ({}): {:?}{}",
            report.action,
            report.status,
            if report.failure_message.is_empty() {
                String::new()
            } else {
                format!(": {}", report.failure_message)
            }
        ));
        self.progress(Progress::StepEnded {
            phase,
            step: &s.name,
            status: report.status,
            failure: &report.failure_message,
        });
        report
    }

    async fn iterations(
        &self,
        document: &Document,
        phase: &str,
        planned: &PlannedStep<'_>,
        chain: &mut ChainStore,
        depth: usize,
        report: &mut StepReport,
    ) -> Ran {
        let s = planned.step;
        match planned.decide(chain, &self.probe) {
            Ok(StepAction::Execute) => {}
            Ok(StepAction::Skip) => {
                report.status = Status::Skipped;
                return Ran::Ok(json!({}));
            }
            Ok(StepAction::Abort) => {
                return Ran::Failed("its `if` decided `Abort`".to_owned());
            }
            Err(e) => return Ran::Failed(e.to_string()),
        }
        let iterations = match planned.iterations() {
            Ok(i) => i,
            Err(e) => return Ran::Failed(e.to_string()),
        };
        for run in iterations {
            let run = match run {
                Ok(r) => r,
                Err(e) => return Ran::Failed(e.to_string()),
            };
            report.iterations += 1;
            let inputs = match to_json(&run.action, chain) {
                Ok(i) => i,
                Err(e) => return Ran::Failed(e.to_string()),
            };
            chain.set_inputs(phase, &s.name, inputs.clone());
            report.inputs = inputs.clone();
            let iteration = run.iteration.as_ref().map(|i| i.index as u32);
            let outcome = if let Action::ExecuteDocument(_) = &run.action {
                report.attempts = 1;
                self.execute_document(document, &inputs, depth).await
            } else {
                self.attempts(document, phase, planned, &inputs, iteration, report)
                    .await
            };
            match outcome {
                Ran::Ok(outputs) => {
                    chain.set_outputs(phase, &s.name, outputs.clone());
                    report.outputs = outputs;
                }
                other => return other,
            }
        }
        Ran::Ok(report.outputs.clone())
    }

    /// Up to `maxAttempts` invocations of one iteration; a reboot-and-rerun on a root runs it
    /// again (at most [`MAX_RERUNS`] times) without counting an attempt.
    async fn attempts(
        &self,
        document: &Document,
        phase: &str,
        planned: &PlannedStep<'_>,
        inputs: &Json,
        iteration: Option<u32>,
        report: &mut StepReport,
    ) -> Ran {
        let s = planned.step;
        let label = format!("{phase}.{}", s.name);
        let mut reruns = 0;
        let mut attempt = 1;
        loop {
            report.attempts = attempt;
            let result = self
                .invoke(document, phase, planned, inputs, iteration, attempt)
                .await;
            match result {
                Ok((outputs, ActionNext::Proceed)) => return Ran::Ok(outputs),
                Ok((outputs, next)) => match &self.options.target {
                    Target::Root(_) if next == ActionNext::Reboot => {
                        self.log.app(&format!(
                            "step `{label}` asked for a reboot: emulated on an image root (nothing to reboot), going on"
                        ));
                        return Ran::Ok(outputs);
                    }
                    Target::Root(_) => {
                        reruns += 1;
                        if reruns > MAX_RERUNS {
                            return Ran::Failed(format!(
                                "asked to reboot and run again more than {MAX_RERUNS} times"
                            ));
                        }
                        self.log.app(&format!(
                            "step `{label}` asked for a reboot and a rerun: emulated on an image root, running it again ({reruns} of at most {MAX_RERUNS})"
                        ));
                    }
                    Target::Host => {
                        return Ran::Rebooting {
                            rerun: next == ActionNext::RebootAndRerun,
                        };
                    }
                },
                Err(message) => {
                    if attempt >= s.max_attempts {
                        return Ran::Failed(message);
                    }
                    self.log.app(&format!(
                        "step `{label}` attempt {attempt} of {} failed: {message}",
                        s.max_attempts
                    ));
                    attempt += 1;
                }
            }
        }
    }

    /// One sandbox invocation of the action component.
    async fn invoke(
        &self,
        document: &Document,
        phase: &str,
        planned: &PlannedStep<'_>,
        inputs: &Json,
        iteration: Option<u32>,
        attempt: u32,
    ) -> Result<(Json, ActionNext), String> {
        let step = step_ref(document, phase, planned, &self.options.target);
        let request = grants::request(
            &self.options.target,
            &self.options.s3,
            &step.action,
            inputs,
            &step.at,
        )
        .map_err(|e| e.to_string())?;
        let grant = grants::check(&self.options.policy, &step, &request).map_err(|r| {
            r.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        let s3 = matches!(step.action.as_str(), "S3Download" | "S3Upload")
            .then(|| self.options.s3.clone());
        let mut sandbox_grants = grants::sandbox_grants(
            &self.options.target,
            &grant,
            &self.options.deployment_root,
            s3,
        )?;
        // On this host a step's scripts go in a directory of its own, at the same path for the
        // guest and for the native command that runs them; removed when the step ends.
        let scratch = match self.options.target {
            Target::Host => {
                let name = format!("{}-{phase}.{}-{attempt}", self.run_id, step.step);
                let scratch = grants::Scratch::create(&self.options.deployment_root, &name)?;
                sandbox_grants.mounts.push(scratch.mount()?);
                sandbox_grants
                    .env
                    .push(("TMPDIR".into(), scratch.path().display().to_string()));
                Some(scratch)
            }
            Target::Root(_) => None,
        };
        let label = format!("{phase}.{}", step.step);
        let call = Call {
            context: Context {
                job: Job::Component(ComponentStep {
                    run_id: self.run_id.clone(),
                    document: document
                        .name
                        .clone()
                        .unwrap_or_else(|| document.file.clone()),
                    phase: phase.to_owned(),
                    step: step.step.clone(),
                    iteration,
                    attempt,
                }),
                bundle_dir: String::new(),
                target_root: self.options.target.root_dir().display().to_string(),
                parameters: self.options.parameters.clone(),
            },
            grants: sandbox_grants,
            observer: None,
            action: Some(ActionInput {
                name: step.action.clone(),
                inputs: inputs.to_string(),
            }),
            query_actions: false,
        };
        let outcome = self
            .sandbox
            .invoke(self.plugin, call)
            .await
            .map_err(|e| format!("cannot run the action component: {e}"))?;
        drop(scratch);
        for line in &outcome.logs {
            self.log.console(&label, &line.text);
            self.progress(Progress::Line {
                phase,
                step: &step.step,
                text: &line.text,
            });
        }
        match outcome.result {
            Ok(Verdict::Action { outputs, next }) => {
                let outputs: Json = serde_json::from_str(&outputs)
                    .map_err(|e| format!("the action returned outputs that are not JSON: {e}"))?;
                if !outputs.is_object() {
                    return Err("the action returned outputs that are not a JSON object".into());
                }
                Ok((outputs, next))
            }
            Ok(Verdict::Failed(message)) => Err(message),
            Ok(other) => Err(format!(
                "the component is not an action component ({other:?})"
            )),
            Err(fault) => Err(fault.to_string()),
        }
    }

    /// `ExecuteDocument`: the nested document, loaded relative to its parent, run in place.
    async fn execute_document(&self, parent: &Document, inputs: &Json, depth: usize) -> Ran {
        let text = |k: &str| inputs.get(k).and_then(Json::as_str).map(str::to_owned);
        let Some(name) = text("document") else {
            return Ran::Failed("`document` is missing".into());
        };
        if name.starts_with("s3://") || name.starts_with("arn:") {
            return Ran::Failed(format!(
                "`{name}`: only local documents can be run here (not S3 objects or component ARNs)"
            ));
        }
        if depth + 1 > MAX_NESTING {
            return Ran::Failed(format!("documents nest deeper than {MAX_NESTING}"));
        }
        let path = Path::new(&parent.file)
            .parent()
            .unwrap_or(Path::new("."))
            .join(&name);
        let nested = match Document::load(&path) {
            Ok(d) => d,
            Err(e) => return Ran::Failed(e.to_string()),
        };
        if let Runnable::NotOnLinux(steps) = nested.runnable_on_linux() {
            let (p, s, a) = &steps[0];
            return Ran::Failed(format!(
                "`{}` is not runnable on Linux: step `{p}.{s}` uses `{a}`",
                nested.file
            ));
        }
        let params: Vec<(String, String)> = inputs
            .get("parameters")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some((
                    p.get("name")?.as_str()?.to_owned(),
                    p.get("value")?.as_str()?.to_owned(),
                ))
            })
            .collect();
        let bindings = match nested.bind(&params) {
            Ok(b) => b,
            Err(e) => return Ran::Failed(e.to_string()),
        };
        let phases: Option<Vec<String>> = text("phases").map(|p| {
            p.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        });
        self.log
            .app(&format!("running `{}` for `ExecuteDocument`", nested.file));
        // A reboot asked inside runs the whole `ExecuteDocument` step again after it.
        let (report, _, _) = self
            .document(&nested, &bindings, phases.as_deref(), depth + 1, None)
            .await;
        let outputs = json!({
            "executedStepCount": report.executed_step_count,
            "executionId": self.run_id,
            "failedStepCount": report.failed_step_count,
            "failureMessage": report.failure_message,
            "ignoredFailedStepCount": report.ignored_failed_step_count,
            "logUrl": self.log.path().display().to_string(),
            "status": report.status,
        });
        let status = report.status;
        let failure = report.failure_message.clone();
        self.nested.lock().expect("nested reports").push(report);
        match status {
            Status::Rebooting => Ran::Rebooting { rerun: true },
            s if s.is_success() => Ran::Ok(outputs),
            _ => Ran::Failed(format!("`{}` failed: {failure}", nested.file)),
        }
    }
}

impl From<ToeError> for RunError {
    fn from(e: ToeError) -> Self {
        RunError::Document(e)
    }
}
