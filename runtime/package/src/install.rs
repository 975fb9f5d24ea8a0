//! Installing, updating and uninstalling a package on this host: the SSM agent's state machine,
//! made safe.
//!
//! - Everything that can be checked is checked before any script runs: the version is in the
//!   store, a file fits the host, its sha256, its scripts (install and uninstall present, none
//!   twice, an `update` for an in-place update), every action's grant against the policy, the
//!   previous version's too (its uninstall runs, and a rollback reinstalls it).
//! - The operation is a davit-plan plan of steps (`uninstall 1.0.0`, `install 2.0.0`,
//!   `validate 2.0.0`); the state file (written atomically) names it while it runs.
//! - When install or validate fails, the previous version comes back (its install and
//!   validate again, after the new one's uninstall): "failed, rolled back to 1.0.0";
//!   without one, the new version's uninstall cleans up: "failed, nothing to roll back to".
//! - A script may ask for a reboot (exit 194, or `ok(reboot)`); the operation stops with its
//!   suspension in the state file and the next command on the package resumes it, at most
//!   `max_reboots` times.
//! - An operation davit did not finish (killed, power lost) is rolled back by the next
//!   command on the package: the old version or the new one, never a mix.
//! - The same version installed with the same arguments is validated only (SSM's drift
//!   check: a failed validate reinstalls); other arguments reinstall (amazon-ssm-agent #366).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use davit_bundle::Store;
use davit_lifecycle::{Progress, Recording, Status};
use davit_plan::{Front, Plan, RebootRequest, Verdict};
use davit_sandbox::Sandbox;
use davit_spec::HostPolicy;
use serde::Serialize;

use crate::error::{FileError, PackageError};
use crate::run::{Action, Prepared, Reach, StepReport, Target};
use crate::state::{InFlight, Operation, PackageDir, PackageState, Phase, Planned, State, Version};
use crate::{Host, store};

/// Progress of a package operation: the lines of its scripts (as a deployment's), and its
/// steps.
pub trait PackageProgress: Progress {
    /// The lock is held by another action: `holder` says which.
    fn waiting(&self, _holder: &str) {}
    fn step_started(&self, _step: &str) {}
    fn step_finished(&self, _report: &StepReport) {}
}

/// Shows nothing.
#[derive(Debug, Default)]
pub struct Silent;
impl Progress for Silent {}
impl PackageProgress for Silent {}

/// Where and how an operation runs.
pub struct Options<'a> {
    pub sandbox: &'a Sandbox,
    pub policy: &'a HostPolicy,
    pub deployment_root: &'a Path,
    pub target_root: &'a Path,
    /// Reboots one operation may ask for.
    pub max_reboots: u32,
    /// How long to wait for another action on the same package.
    pub lock_timeout: Duration,
    pub progress: Arc<dyn PackageProgress>,
    /// Say what would run and what it may touch, and run nothing.
    pub dry_run: bool,
    /// Run a version whose scripts ask for more than the installed one's were granted.
    pub approve_grants: bool,
}

/// What to do.
#[derive(Debug, Clone)]
pub enum Request {
    /// Install `version` (the newest when `None`), replacing what is installed.
    Install {
        name: String,
        version: Option<String>,
        arguments: BTreeMap<String, String>,
        /// Update in place with the new version's `update` instead of uninstall and reinstall.
        in_place: bool,
        /// `update`: refused when nothing is installed.
        update: bool,
    },
    Uninstall {
        name: String,
    },
}

impl Request {
    pub fn name(&self) -> &str {
        match self {
            Request::Install { name, .. } | Request::Uninstall { name } => name,
        }
    }
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Installed,
    /// The same version and arguments, and it validated.
    AlreadyInstalled,
    /// The same version, which failed its validate and was installed again.
    Repaired,
    Updated,
    Uninstalled,
    /// An uninstall of a package that is not installed.
    NotInstalled,
    /// A script asked for a reboot: run the command again after it to go on.
    Rebooting,
    /// It failed and the previous version is back.
    RolledBack,
    /// It failed, with nothing to roll back to, or the rollback failed too.
    Failed,
    /// `--dry-run`: what it would run and touch; nothing ran.
    DryRun,
    /// The new version asks for more grants than the installed one: nothing ran until an
    /// operator approves it.
    Held,
}

impl Outcome {
    pub fn succeeded(self) -> bool {
        !matches!(self, Outcome::RolledBack | Outcome::Failed | Outcome::Held)
    }
}

/// What an operation did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub name: String,
    pub operation: Operation,
    pub outcome: Outcome,
    /// The version it installed (or tried to), or removed.
    pub version: Option<String>,
    pub previous_version: Option<String>,
    /// One line: `installed 2.0.0`, `failed, rolled back to 1.0.0`.
    pub message: String,
    /// It went on with an operation a reboot (or a kill) had stopped.
    pub resumed: bool,
    pub steps: Vec<StepReport>,
    pub rollback: Vec<StepReport>,
    /// The steps it runs (or, in a dry run, would run).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub planned: Vec<String>,
    /// What each of those steps may touch.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reach: Vec<Reach>,
    /// What the new version asks for beyond the installed one's grants.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub widened: Vec<String>,
}

/// Runs `request` on this host.
///
/// # Errors
///
/// A [`PackageError`] for what was refused before any script ran (nothing changed then), or
/// for a state that could not be written.
pub async fn apply(
    store: Option<&Store>,
    request: Request,
    opts: &Options<'_>,
) -> Result<Report, PackageError> {
    let name = request.name().to_owned();
    store::check_name(&name)?;
    let dir = PackageDir::new(opts.deployment_root, &name);
    let what = match &request {
        Request::Install {
            version, update, ..
        } => format!(
            "{} {}",
            if *update { "update" } else { "install" },
            version.as_deref().unwrap_or("latest")
        ),
        Request::Uninstall { .. } => "uninstall".to_owned(),
    };
    let _lock = crate::lock::acquire(&name, &dir.lock(), &what, opts.lock_timeout, |h| {
        opts.progress.waiting(h)
    })
    .await?;
    let host = host_of(opts.target_root)?;
    let t = Target {
        name: &name,
        sandbox: opts.sandbox,
        policy: opts.policy,
        deployment_root: opts.deployment_root,
        target_root: opts.target_root,
        host: &host,
        dir: &dir,
    };
    let mut state = dir.load(&name)?;
    let mut resumed = None;
    if let Some(flight) = state.in_flight.clone() {
        if opts.dry_run {
            return Err(PackageError::Invalid {
                name,
                detail: format!(
                    "its {} of {} is in flight (a reboot or a kill stopped it): a dry run cannot say what comes after it",
                    flight.operation.name(),
                    flight.target.version
                ),
            });
        }
        let report = execute(&t, &mut state, flight, opts, true).await?;
        if report.outcome == Outcome::Rebooting {
            return Ok(report);
        }
        resumed = Some(report);
    }
    let planned_op = plan(&t, store, &request, &state, opts, resumed.as_ref()).await?;
    let (flight, new, old) = match planned_op {
        Planning::Done(report) => return Ok(after(resumed, report)),
        Planning::Resumed(report) => return Ok(resumed.unwrap_or(report)),
        Planning::Run(ready) => {
            let Ready { flight, new, old } = *ready;
            (flight, new, old)
        }
    };
    let widened = match &old {
        Some(old) if flight.operation != Operation::Uninstall => new.widens(old),
        _ => Vec::new(),
    };
    let mut reach: Vec<Reach> = Vec::new();
    for p in &flight.steps {
        let version = if p.old {
            old.as_ref().unwrap_or(&new)
        } else {
            &new
        };
        reach.extend(version.reach(p.action));
    }
    // A report of what it would run (`planned`, from the steps) and may touch.
    let preview = |outcome, message: String| Report {
        reach: reach.clone(),
        widened: widened.clone(),
        ..report(
            &name,
            &flight,
            outcome,
            message,
            false,
            flight.forward.clone(),
            Vec::new(),
        )
    };
    if opts.dry_run {
        let (steps, message) = dry_run(&t, &flight, &new, old.as_ref(), opts).await?;
        return Ok(Report {
            steps,
            ..preview(Outcome::DryRun, message)
        });
    }
    if !widened.is_empty() && !opts.approve_grants {
        let message = format!(
            "held: {} asks for more than {} was granted ({}); an operator approves it with `--approve-grants`",
            flight.target.version,
            flight.previous.as_ref().map_or("?", |p| p.version.as_str()),
            widened.join("; ")
        );
        return Ok(after(resumed, preview(Outcome::Held, message)));
    }
    state.in_flight = Some(flight.clone());
    state.retry_count = 0;
    dir.save(&mut state)?;
    let report = execute(&t, &mut state, flight, opts, false).await?;
    Ok(after(resumed, report))
}

/// Runs the plan's steps as a dry run: each Wasm script on copies of the directories it may
/// write, its commands, services, requests and connections recorded and not done; a native
/// script not at all. Stops at the first step that fails, as the plan would (its rollback is
/// not tried). Returns the steps, each with what it would have done, and a one-line summary.
async fn dry_run(
    t: &Target<'_>,
    flight: &InFlight,
    new: &Prepared,
    old: Option<&Prepared>,
    opts: &Options<'_>,
) -> Result<(Vec<StepReport>, String), PackageError> {
    let failed = |detail: String| PackageError::Invalid {
        name: t.name.to_owned(),
        detail,
    };
    let recording = Recording::new(&opts.deployment_root.join("scratch"))
        .map_err(|e| failed(format!("dry run: cannot make its scratch directory: {e}")))?;
    let mut steps = Vec::new();
    for p in &flight.steps {
        let version = if p.old { old.unwrap_or(new) } else { new };
        opts.progress.step_started(&step_name(p, flight));
        let mut report = version
            .run(
                t,
                p.action,
                told(p, flight),
                opts.progress.clone(),
                Some(&recording),
            )
            .await;
        report.recorded = Some(recording.take().map_err(failed)?);
        opts.progress.step_finished(&report);
        let status = report.status;
        steps.push(report);
        // The drift check of an installed version: when it validates, nothing runs after it.
        let drift_check = p.action == Action::Validate && !p.stop;
        if drift_check && status == Status::Succeeded {
            let message = format!(
                "{} is installed and validates: nothing would run after that; nothing changed",
                new.version.version
            );
            return Ok((steps, message));
        }
        if status == Status::Failed && !drift_check {
            break;
        }
    }
    let names: Vec<&str> = steps.iter().map(|s| s.step.as_str()).collect();
    let message = match steps.last() {
        Some(last) if last.status == Status::Failed => format!(
            "would fail at {} ({}); nothing changed",
            last.step,
            last.detail.as_deref().unwrap_or("failed")
        ),
        _ => format!("would run {}; nothing changed", names.join(", ")),
    };
    Ok((steps, message))
}

/// What a request comes to before anything runs.
enum Planning {
    /// Nothing to run: its report (not installed, already installed).
    Done(Report),
    /// The operation a resume finished was the request itself.
    Resumed(Report),
    /// Run this, with the versions made ready.
    Run(Box<Ready>),
}

/// An operation ready to run: the plan, the new version and the installed one.
struct Ready {
    flight: InFlight,
    new: Prepared,
    old: Option<Prepared>,
}

async fn plan(
    t: &Target<'_>,
    store: Option<&Store>,
    request: &Request,
    state: &PackageState,
    opts: &Options<'_>,
    resumed: Option<&Report>,
) -> Result<Planning, PackageError> {
    let name = t.name.to_owned();
    let nothing = |operation, outcome, version: Option<String>, message: String, steps| Report {
        name: name.clone(),
        operation,
        outcome,
        version,
        previous_version: None,
        message,
        resumed: false,
        steps,
        rollback: Vec::new(),
        planned: Vec::new(),
        reach: Vec::new(),
        widened: Vec::new(),
    };
    let (version, arguments, in_place, update) = match request {
        Request::Uninstall { .. } => {
            let Some(current) = installed(state) else {
                let report = nothing(
                    Operation::Uninstall,
                    Outcome::NotInstalled,
                    None,
                    "not installed: nothing to do".into(),
                    Vec::new(),
                );
                return Ok(Planning::Resumed(report));
            };
            let new = Prepared::new(t, current.clone()).await?;
            let flight = InFlight {
                operation: Operation::Uninstall,
                phase: Phase::Forward,
                target: current,
                previous: None,
                steps: vec![planned(false, Action::Uninstall, true)],
                forward: Vec::new(),
                suspension: None,
            };
            return Ok(Planning::Run(Box::new(Ready {
                flight,
                new,
                old: None,
            })));
        }
        Request::Install {
            version,
            arguments,
            in_place,
            update,
            ..
        } => (version, arguments, *in_place, *update),
    };
    let store = store.ok_or_else(|| PackageError::Invalid {
        name: name.clone(),
        detail: "installing needs `--store`".into(),
    })?;
    let record = store::resolve(store, &name, version.as_deref()).await?;
    let current = installed(state);
    // The operation a resume just finished was this very one.
    if let Some(r) = resumed
        && r.version.as_deref() == Some(record.version.as_str())
        && r.operation != Operation::Uninstall
        && current
            .as_ref()
            .is_some_and(|v| v.version == record.version && &v.arguments == arguments)
    {
        return Ok(Planning::Resumed(r.clone()));
    }
    if update && current.is_none() {
        return Err(PackageError::NotInstalled { name });
    }
    let target = fetch(t, store, &record, arguments.clone()).await?;
    let new = Prepared::new(t, target.clone()).await?;
    let Some(cur) = current else {
        return Ok(Planning::Run(Box::new(Ready {
            flight: fresh_install(target, Vec::new()),
            new,
            old: None,
        })));
    };
    if cur == target {
        // SSM's drift check: validate; a failure installs it again.
        let mut flight = fresh_install(target, Vec::new());
        if opts.dry_run {
            flight
                .steps
                .insert(0, planned(false, Action::Validate, false));
            return Ok(Planning::Run(Box::new(Ready {
                flight,
                new,
                old: None,
            })));
        }
        let check = new
            .run(t, Action::Validate, None, opts.progress.clone(), None)
            .await;
        opts.progress.step_finished(&check);
        if check.status == Status::Succeeded {
            let message = format!("{} is installed and validates", cur.version);
            let report = nothing(
                Operation::Install,
                Outcome::AlreadyInstalled,
                Some(cur.version.clone()),
                message,
                vec![check],
            );
            return Ok(Planning::Done(report));
        }
        flight.forward = vec![check];
        return Ok(Planning::Run(Box::new(Ready {
            flight,
            new,
            old: None,
        })));
    }
    let old = Prepared::new(t, cur.clone()).await?;
    let steps = if in_place {
        if !new.has(Action::Update) {
            return Err(FileError::new(
                &target.file,
                "has no `update` action, which an in-place update needs",
            )
            .on(&name, &target.version, &target.platform));
        }
        vec![
            planned(false, Action::Update, true),
            planned(false, Action::Validate, true),
        ]
    } else {
        vec![
            planned(true, Action::Uninstall, false),
            planned(false, Action::Install, true),
            planned(false, Action::Validate, true),
        ]
    };
    let flight = InFlight {
        operation: Operation::Update,
        phase: Phase::Forward,
        target,
        previous: Some(cur),
        steps,
        forward: Vec::new(),
        suspension: None,
    };
    Ok(Planning::Run(Box::new(Ready {
        flight,
        new,
        old: Some(old),
    })))
}

/// A step's name in reports: `install 2.0.0`.
/// The version a step tells its script was installed before: the new version's install or
/// update is told the old one, nothing else is.
fn told<'a>(step: &Planned, flight: &'a InFlight) -> Option<&'a str> {
    let forward = flight.phase == Phase::Forward;
    match (step.old, flight.operation) {
        (false, Operation::Update) | (false, Operation::Install) if forward => {
            flight.previous.as_ref().map(|p| p.version.as_str())
        }
        _ => None,
    }
}

fn step_name(step: &Planned, flight: &InFlight) -> String {
    let version = match (step.old, &flight.previous) {
        (true, Some(previous)) => &previous.version,
        _ => &flight.target.version,
    };
    format!("{} {version}", step.action.name())
}

/// The report of a request that first went on with an operation left in flight: says so.
fn after(resumed: Option<Report>, mut report: Report) -> Report {
    if let Some(earlier) = resumed {
        report.resumed = true;
        report.message = format!(
            "{} (first, the {} of {} left in flight: {})",
            report.message,
            earlier.operation.name(),
            earlier.version.as_deref().unwrap_or("?"),
            earlier.message
        );
    }
    report
}

/// Installs `target` where nothing (working) is installed: install, then validate.
fn fresh_install(target: Version, forward: Vec<StepReport>) -> InFlight {
    InFlight {
        operation: Operation::Install,
        phase: Phase::Forward,
        target,
        previous: None,
        steps: vec![
            planned(false, Action::Install, true),
            planned(false, Action::Validate, true),
        ],
        forward,
        suspension: None,
    }
}

fn planned(old: bool, action: Action, stop: bool) -> Planned {
    Planned { old, action, stop }
}

/// The version installed and working (or of unknown health), if any.
fn installed(state: &PackageState) -> Option<Version> {
    state.installed_version()?;
    state.installed.clone()
}

/// The host as the manifest's keys know it: `etc/os-release` of the target root (read
/// beneath it), and this machine's architecture.
fn host_of(target_root: &Path) -> Result<Host, PackageError> {
    let root = davit_fsroot::Root::open_ambient(target_root, davit_fsroot::Resolve::InRoot)
        .map_err(|e| PackageError::io("open", target_root, e))?;
    let mut text = String::new();
    for file in ["etc/os-release", "usr/lib/os-release"] {
        if let Ok(mut f) =
            root.open_file(Path::new(file), davit_fsroot::OpenOptions::new().read(true))
        {
            use std::io::Read;
            let _ = f.read_to_string(&mut text);
            break;
        }
    }
    Ok(Host::from_os_release(&text, std::env::consts::ARCH))
}

/// Brings `record`'s files here (only the chunks this host lacks), chooses the host's file,
/// checks its sha256 and unpacks it beneath `trees/`.
async fn fetch(
    t: &Target<'_>,
    store: &Store,
    record: &store::VersionRecord,
    arguments: BTreeMap<String, String>,
) -> Result<Version, PackageError> {
    let (name, v) = (t.name, record.version.as_str());
    // A policy that requires signatures trusts a version only as its revision's signer.
    let revision: davit_bundle::Digest =
        record.revision.parse().map_err(|_| PackageError::Store {
            detail: format!("the record of `{name}` {v} names no revision"),
        })?;
    let source = davit_lifecycle::Source::Store { store, revision };
    davit_lifecycle::check_signature(t.policy, &source)
        .await
        .map_err(|e| PackageError::Invalid {
            name: name.to_owned(),
            detail: format!("{v}: {e}"),
        })?;
    let revision_dir = t.dir.revision(&record.revision);
    if !revision_dir.is_dir() {
        let revisions = t.dir.revisions();
        std::fs::create_dir_all(&revisions)
            .map_err(|e| PackageError::io("create", &revisions, e))?;
        let tmp = revisions.join(format!(".{}.{}", record.revision, std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let cache = davit_bundle::ChunkCache::new(t.deployment_root.join("cache").join("chunks"));
        store::pull(store, record, &cache, &tmp).await?;
        std::fs::rename(&tmp, &revision_dir).map_err(|e| PackageError::io("rename", &tmp, e))?;
    }
    let manifest = store::read_manifest(&revision_dir)?;
    if manifest.version != record.version {
        return Err(PackageError::Invalid {
            name: name.to_owned(),
            detail: format!(
                "the store's {v} holds a manifest of version {}",
                manifest.version
            ),
        });
    }
    let selected = crate::select(&manifest, t.host).map_err(|source| PackageError::Select {
        name: name.to_owned(),
        version: v.to_owned(),
        source: Box::new(source),
    })?;
    let zip = revision_dir.join(selected.file);
    crate::archive::check_sha256(&zip, selected.sha256)
        .map_err(|e| e.on(name, v, selected.platform))?;
    let staged = davit_lifecycle::stage::stage(&zip, &t.dir.trees()).map_err(|e| {
        FileError::new(selected.file, format!("cannot be unpacked: {e}")).on(
            name,
            v,
            selected.platform,
        )
    })?;
    Ok(Version {
        version: record.version.clone(),
        revision: record.revision.clone(),
        platform: selected.platform.to_owned(),
        file: selected.file.to_owned(),
        tree: staged.id.to_string(),
        arguments,
    })
}

/// Runs an operation's plan (or goes on with it), then its rollback when it failed, and
/// records the end.
async fn execute(
    t: &Target<'_>,
    state: &mut PackageState,
    mut flight: InFlight,
    opts: &Options<'_>,
    resuming: bool,
) -> Result<Report, PackageError> {
    let target = Prepared::new(t, flight.target.clone()).await?;
    let previous = match &flight.previous {
        Some(v) => Some(Prepared::new(t, v.clone()).await?),
        None => None,
    };
    let interrupted = resuming && flight.suspension.is_none();
    let mut forward = std::mem::take(&mut flight.forward);
    if flight.phase == Phase::Forward && !interrupted {
        let ran = run_plan(t, state, &mut flight, &target, previous.as_ref(), opts).await?;
        forward.extend(ran.reports);
        if let Some(suspension) = ran.suspended {
            flight.suspension = Some(suspension);
            flight.forward = forward.clone();
            state.retry_count = flight.suspension.as_ref().map_or(0, |s| s.request.count);
            state.in_flight = Some(flight.clone());
            t.dir.save(state)?;
            return Ok(report(
                t.name,
                &flight,
                Outcome::Rebooting,
                "a script asked for a reboot: run the same command after it to go on".into(),
                resuming,
                forward,
                Vec::new(),
            ));
        }
        if !ran.failed {
            return finish_forward(t, state, &flight, resuming, forward);
        }
    }
    // The rollback: the new version's uninstall, then the previous version back.
    if flight.phase == Phase::Forward {
        flight.phase = Phase::Rollback;
        flight.suspension = None;
        flight.steps = if flight.operation == Operation::Uninstall {
            Vec::new()
        } else if previous.is_some() {
            vec![
                planned(false, Action::Uninstall, false),
                planned(true, Action::Install, true),
                planned(true, Action::Validate, true),
            ]
        } else {
            vec![planned(false, Action::Uninstall, false)]
        };
    }
    flight.forward = forward.clone();
    state.in_flight = Some(flight.clone());
    t.dir.save(state)?;
    let ran = run_plan(t, state, &mut flight, &target, previous.as_ref(), opts).await?;
    if let Some(suspension) = ran.suspended {
        flight.suspension = Some(suspension);
        state.in_flight = Some(flight.clone());
        t.dir.save(state)?;
        return Ok(report(t.name, &flight, Outcome::Rebooting, "a script asked for a reboot during the rollback: run the same command after it to go on".into(), resuming, forward, ran.reports));
    }
    let why = forward
        .iter()
        .rev()
        .find(|r| r.status == Status::Failed)
        .map(|r| format!("{}: {}", r.step, r.detail.as_deref().unwrap_or("failed")))
        .unwrap_or_else(|| "davit stopped before it ended".to_owned());
    state.in_flight = None;
    state.retry_count = 0;
    let (outcome, message) = match (&flight.previous, flight.operation, ran.failed) {
        (_, Operation::Uninstall, _) => {
            state.state = State::Failed;
            (
                Outcome::Failed,
                format!("failed ({why}); {} stays", flight.target.version),
            )
        }
        (Some(old), _, false) => {
            state.state = State::Installed;
            state.installed = Some(old.clone());
            (
                Outcome::RolledBack,
                format!("failed ({why}), rolled back to {}", old.version),
            )
        }
        (Some(old), _, true) => {
            state.state = State::Failed;
            state.installed = Some(old.clone());
            (
                Outcome::Failed,
                format!(
                    "failed ({why}), and rolling back to {} failed too",
                    old.version
                ),
            )
        }
        (None, _, _) => {
            state.state = State::Failed;
            state.installed = Some(flight.target.clone());
            (
                Outcome::Failed,
                format!("failed ({why}), nothing to roll back to"),
            )
        }
    };
    state.last_result = Some(message.clone());
    t.dir.save(state)?;
    let keep: Vec<&Version> = state.installed.iter().collect();
    sweep(t.dir, &keep);
    Ok(report(
        t.name,
        &flight,
        outcome,
        message,
        resuming,
        forward,
        ran.reports,
    ))
}

fn finish_forward(
    t: &Target<'_>,
    state: &mut PackageState,
    flight: &InFlight,
    resuming: bool,
    steps: Vec<StepReport>,
) -> Result<Report, PackageError> {
    let v = &flight.target.version;
    let repaired = steps
        .first()
        .is_some_and(|s| s.action == Action::Validate && s.status == Status::Failed);
    let (outcome, message) = match flight.operation {
        Operation::Uninstall => {
            state.state = State::Uninstalled;
            state.installed = None;
            state.last_installed_version = Some(v.clone());
            (Outcome::Uninstalled, format!("uninstalled {v}"))
        }
        op => {
            state.state = State::Installed;
            state.installed = Some(flight.target.clone());
            if let Some(old) = &flight.previous {
                state.last_installed_version = Some(old.version.clone());
            }
            match (op, &flight.previous) {
                (Operation::Update, Some(old)) => {
                    (Outcome::Updated, format!("updated {} to {v}", old.version))
                }
                _ if repaired => (
                    Outcome::Repaired,
                    format!("{v} failed its validate and was installed again"),
                ),
                _ => (Outcome::Installed, format!("installed {v}")),
            }
        }
    };
    state.in_flight = None;
    state.retry_count = 0;
    state.last_result = Some(message.clone());
    t.dir.save(state)?;
    let keep: Vec<&Version> = state.installed.iter().collect();
    sweep(t.dir, &keep);
    Ok(report(
        t.name,
        flight,
        outcome,
        message,
        resuming,
        steps,
        Vec::new(),
    ))
}

fn report(
    name: &str,
    flight: &InFlight,
    outcome: Outcome,
    message: String,
    resumed: bool,
    steps: Vec<StepReport>,
    rollback: Vec<StepReport>,
) -> Report {
    Report {
        name: name.to_owned(),
        operation: flight.operation,
        outcome,
        version: Some(flight.target.version.clone()),
        previous_version: flight.previous.as_ref().map(|p| p.version.clone()),
        message,
        resumed,
        steps,
        rollback,
        planned: flight.steps.iter().map(|p| step_name(p, flight)).collect(),
        reach: Vec::new(),
        widened: Vec::new(),
    }
}

/// Removes the trees and revisions no kept version uses.
fn sweep(dir: &PackageDir, keep: &[&Version]) {
    for (parent, used) in [
        (
            dir.trees(),
            keep.iter().map(|v| v.tree.clone()).collect::<Vec<_>>(),
        ),
        (
            dir.revisions(),
            keep.iter().map(|v| v.revision.clone()).collect(),
        ),
    ] {
        let Ok(entries) = std::fs::read_dir(&parent) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !used.contains(&name) {
                let _ = davit_lifecycle::stage::remove_tree(&entry.path());
            }
        }
    }
}

async fn run_plan(
    t: &Target<'_>,
    state: &mut PackageState,
    flight: &mut InFlight,
    target: &Prepared,
    previous: Option<&Prepared>,
    opts: &Options<'_>,
) -> Result<davit_plan::Ran<StepReport>, PackageError> {
    let steps = flight.steps.clone();
    let resume = flight.suspension.take();
    let mut front = Steps {
        t,
        state,
        flight,
        target,
        previous,
        opts,
        error: None,
    };
    let plan = Plan {
        steps: &steps,
        max_reboots: opts.max_reboots,
    };
    let ran = davit_plan::run(plan, resume.as_ref(), &mut front).await;
    match front.error {
        Some(e) => Err(e),
        None => Ok(ran),
    }
}

/// The plan's front end: a step is one action of the new or the old version.
struct Steps<'a, 'b> {
    t: &'a Target<'b>,
    state: &'a mut PackageState,
    flight: &'a InFlight,
    target: &'a Prepared,
    previous: Option<&'a Prepared>,
    opts: &'a Options<'b>,
    error: Option<PackageError>,
}

impl Steps<'_, '_> {
    fn version(&self, step: &Planned) -> &Prepared {
        match (step.old, self.previous) {
            (true, Some(previous)) => previous,
            _ => self.target,
        }
    }

    fn planned(&self, report: &StepReport) -> Option<&Planned> {
        self.flight
            .steps
            .iter()
            .find(|p| self.name_of(p) == report.step)
    }

    fn name_of(&self, step: &Planned) -> String {
        format!(
            "{} {}",
            step.action.name(),
            self.version(step).version.version
        )
    }
}

impl Front<Planned> for Steps<'_, '_> {
    type Report = StepReport;

    fn name(&self, step: &Planned) -> String {
        self.name_of(step)
    }

    fn reports(&self, report: &StepReport, step: &Planned) -> bool {
        report.step == self.name_of(step)
    }

    async fn run(&mut self, step: &Planned) -> StepReport {
        let rollback = self.flight.phase == Phase::Rollback;
        self.state.state = match (step.action, step.old, rollback) {
            (Action::Uninstall, false, true) => State::RollbackUninstall,
            (_, true, true) => State::RollbackInstall,
            (Action::Uninstall, true, false) => State::Upgrading,
            (Action::Uninstall, false, false) => State::Uninstalling,
            (Action::Update, _, _) => State::Updating,
            _ => State::Installing,
        };
        let name = self.name_of(step);
        if let Err(e) = self.t.dir.save(self.state) {
            self.error = Some(e);
            return StepReport {
                step: name,
                action: step.action,
                version: self.version(step).version.version.clone(),
                status: Status::Failed,
                detail: Some("the state could not be written".into()),
                script: None,
                recorded: None,
            };
        }
        self.opts.progress.step_started(&name);
        self.version(step)
            .run(
                self.t,
                step.action,
                told(step, self.flight),
                self.opts.progress.clone(),
                None,
            )
            .await
    }

    fn verdict(&self, report: &StepReport) -> Verdict {
        match report.status {
            Status::Succeeded if report.reboot() => Verdict::Reboot {
                rerun: false,
                asked_by: report.script.iter().map(|s| s.location.clone()).collect(),
            },
            Status::Succeeded => Verdict::Succeeded,
            _ => Verdict::Failed {
                stop: self.planned(report).is_none_or(|p| p.stop),
            },
        }
    }

    fn skipped(&mut self, _step: &Planned) -> Option<StepReport> {
        None
    }

    fn finished(&mut self, report: &StepReport) {
        self.opts.progress.step_finished(report);
    }

    fn refuse_reboot(&mut self, report: &mut StepReport, count: u32, max: u32) {
        report.status = Status::Failed;
        report.detail = Some(format!(
            "asked for a reboot, this operation's reboot {count}; at most {max} are allowed, so a script that always asks cannot keep the host rebooting"
        ));
    }

    fn accept_reboot(&mut self, report: &mut StepReport, request: &RebootRequest) {
        let then = match &request.resumes_at {
            Some(next) => format!("then `{next}`"),
            None => "then the operation ends".to_owned(),
        };
        report.detail = Some(format!("asked for a reboot: the host reboots, {then}"));
    }
}
