//! The runner: a document's phases in order (those `--phases` names), each step's loop
//! iterations, `if` decided once per step, `maxAttempts` retries, `onFailure`, chaining, and
//! `ExecuteDocument` run in place; every other action is one sandbox invocation of the action
//! component with the step's inputs as JSON and grants computed from them.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use davit_sandbox::{
    ActionInput, ActionNext, Call, ComponentStep, Context, Job, Plugin, S3Access, Sandbox, Verdict,
};
use davit_spec::HostPolicy;
use davit_toe::{
    Action, Bindings, Document, OnFailure, PlannedStep, Runnable, StepAction, Timeout, ToeError,
};
use serde_json::{Value as Json, json};
use std::sync::Mutex;

use super::chain::ChainStore;
use super::grants;
use super::inputs::to_json;
use super::logdir::LogDir;
use super::precheck::{precheck, selected, step_ref};
use super::report::{DocumentReport, PhaseReport, RunReport, Status, StepReport, now};
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
    let runner = Runner {
        sandbox,
        plugin,
        probe: TargetProbe::new(root),
        log,
        run_id: run_id.clone(),
        stopped: AtomicBool::new(false),
        nested: Mutex::new(Vec::new()),
        options,
    };
    let phases = runner.options.phases.clone();
    let (top, chain) = runner
        .document(document, &bindings, phases.as_deref(), 0)
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
    };
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

struct Runner<'a> {
    sandbox: &'a Sandbox,
    plugin: &'a Plugin,
    probe: TargetProbe,
    log: LogDir,
    run_id: String,
    /// Set when a step asked this host to reboot: nothing more runs.
    stopped: AtomicBool,
    /// Reports of the documents `ExecuteDocument` steps ran.
    nested: Mutex<Vec<DocumentReport>>,
    options: RunOptions,
}

type Boxed<'f, T> = Pin<Box<dyn Future<Output = T> + 'f>>;

/// The outcome of one iteration.
enum Ran {
    Ok(Json),
    Failed(String),
    Rebooting,
}

impl Runner<'_> {
    fn progress(&self, p: Progress<'_>) {
        if let Some(f) = &self.options.progress {
            f(&p);
        }
    }

    /// Runs a document's phases; returns its report and its chaining values.
    fn document<'s>(
        &'s self,
        document: &'s Document,
        bindings: &'s Bindings,
        phases: Option<&'s [String]>,
        depth: usize,
    ) -> Boxed<'s, (DocumentReport, ChainStore)> {
        Box::pin(async move {
            let mut report = DocumentReport {
                name: document
                    .name
                    .clone()
                    .unwrap_or_else(|| document.file.clone()),
                file_path: document.file.clone(),
                status: Status::Success,
                failure_message: String::new(),
                executed_step_count: 0,
                failed_step_count: 0,
                ignored_failed_step_count: 0,
                phases: Vec::new(),
            };
            let mut chain = ChainStore::default();
            let plan = match document.expand(bindings) {
                Ok(plan) => plan,
                Err(e) => {
                    report.status = Status::Failed;
                    report.failure_message = e.to_string();
                    return (report, chain);
                }
            };
            'phases: for phase in selected(&plan, phases) {
                let name = &phase.phase.name;
                self.log
                    .app(&format!("`{}` phase `{name}` starts", report.name));
                let mut pr = PhaseReport {
                    name: name.clone(),
                    status: Status::Success,
                    failure_message: String::new(),
                    steps: Vec::new(),
                };
                for planned in &phase.steps {
                    if self.stopped.load(Ordering::SeqCst) {
                        break;
                    }
                    let step = self.step(document, name, planned, &mut chain, depth).await;
                    let abort = match step.status {
                        Status::Failed => planned.step.on_failure == OnFailure::Abort,
                        Status::Rebooting => true,
                        _ => false,
                    };
                    if !step.status.is_success() && pr.failure_message.is_empty() {
                        pr.failure_message =
                            format!("step `{}`: {}", step.name, step.failure_message);
                    }
                    if step.status == Status::Failed || step.status == Status::Rebooting {
                        pr.status = step.status;
                    }
                    pr.steps.push(step);
                    if abort {
                        report.status = pr.status;
                        report.failure_message = format!("phase `{name}`: {}", pr.failure_message);
                        report.phases.push(pr);
                        break 'phases;
                    }
                }
                if pr.status != Status::Success && report.status == Status::Success {
                    report.status = pr.status;
                    report.failure_message = format!("phase `{name}`: {}", pr.failure_message);
                }
                self.log.app(&format!(
                    "`{}` phase `{name}`: {:?}",
                    report.name, pr.status
                ));
                report.phases.push(pr);
                if self.stopped.load(Ordering::SeqCst) {
                    break;
                }
            }
            report.count();
            (report, chain)
        })
    }

    /// Runs one step: its `if`, then each iteration with its attempts.
    async fn step(
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
            Ran::Rebooting => report.status = Status::Rebooting,
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
                        self.suspend(document, phase, &s.name, iteration, next);
                        return Ran::Rebooting;
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

    /// Records that this host is to reboot and stops the run.
    ///
    /// TODO(davit-image): resume. The journal (`reboot.json` in the log directory) names the
    /// step; `davit component run --resume RUN` should skip the steps before it (and that step
    /// too for a plain reboot), with the chaining values restored from `chaining.json`, as
    /// davit-lifecycle's `Suspension` resumes a deployment.
    fn suspend(
        &self,
        document: &Document,
        phase: &str,
        step: &str,
        iteration: Option<u32>,
        next: ActionNext,
    ) {
        self.stopped.store(true, Ordering::SeqCst);
        let journal = json!({
            "schemaVersion": 1,
            "executionId": self.run_id,
            "document": document.file,
            "phase": phase,
            "step": step,
            "iteration": iteration,
            "rerunStep": next == ActionNext::RebootAndRerun,
        });
        if let Err(e) = self.log.json("reboot.json", &journal) {
            self.log.app(&format!("cannot write reboot.json: {e}"));
        }
        self.log.app(&format!(
            "step `{phase}.{step}` asked this host to reboot: the run stops here (resuming is not implemented yet)"
        ));
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
        let sandbox_grants = grants::sandbox_grants(
            &self.options.target,
            &grant,
            &self.options.deployment_root,
            s3,
        )?;
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
        };
        let outcome = self
            .sandbox
            .invoke(self.plugin, call)
            .await
            .map_err(|e| format!("cannot run the action component: {e}"))?;
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
        let (report, _) = self
            .document(&nested, &bindings, phases.as_deref(), depth + 1)
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
            Status::Rebooting => Ran::Rebooting,
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
