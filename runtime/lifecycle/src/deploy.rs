//! A local in-place deployment, as CodeDeploy runs one on a host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use davit_sandbox::{Context, DeploymentInfo, Job, Sandbox};
use davit_spec::{
    AppSpec, EffectiveGrant, Event, FileExistsBehavior, HookId, HookKind, HostPolicy, SpecError,
};

use crate::DeployError;
use crate::events::Events;
use crate::hooks::{self, BUNDLE_GUEST_DIR, HookRun};
use crate::install::{self, CleanupRecord, InstallRequest, Installed};
use crate::journal::{JournalEntry, RootLock, SCHEMA_VERSION};
use crate::layout::{GroupLayout, Layout, is_safe_name, write_atomically};
use crate::recover::{record_interrupted, recover_install};
use crate::report::{DeploymentReport, EventReport, HookReport, Progress, Status};
use crate::services::{self, StartedBy};
use crate::source::{self, Source};
use crate::stage::{self, StagedRevision};
use crate::state::GroupState;

/// What to deploy and how (the flags of `davit deploy --local`).
#[derive(Debug, Clone)]
pub struct DeployOptions {
    pub application: String,
    pub deployment_group: String,
    /// Events to run (`--events`); DownloadBundle and Install always run. None: the default events.
    pub events: Option<Vec<Event>>,
    /// What to do with existing files where the appspec says nothing (`file_exists_behavior`
    /// in the appspec wins, as in the CodeDeploy agent).
    pub file_exists_behavior: Option<FileExistsBehavior>,
    /// Name of the appspec at the bundle's root.
    pub appspec_filename: String,
    pub layout: Layout,
    /// Every absolute destination and granted path is re-rooted under it (`/` on a live host).
    pub target_root: PathBuf,
    pub policy: HostPolicy,
    /// Staged revisions kept per deployment group (never the current or last good one).
    pub keep_revisions: usize,
    /// Reboots one deployment may ask for ([`MAX_REBOOTS`] by default); one more fails the
    /// event that asked, so a hook that always asks cannot keep a host rebooting.
    pub max_reboots: u32,
}

/// How many reboots a deployment may ask for unless told otherwise.
pub const MAX_REBOOTS: u32 = 3;

/// The events a deployment runs, in order: the default in-place events, or those asked for
/// (`--events`) in the CodeDeploy agent's order, DownloadBundle and Install always, then custom events in the
/// order given.
pub fn plan(events: Option<&[Event]>) -> Vec<Event> {
    let Some(wanted) = events else {
        return Event::IN_PLACE_ORDER.to_vec();
    };
    let mut plan: Vec<Event> = Event::KNOWN
        .iter()
        .filter(|e| matches!(e, Event::DownloadBundle | Event::Install) || wanted.contains(e))
        .cloned()
        .collect();
    for event in wanted {
        if !plan.contains(event) {
            plan.push(event.clone());
        }
    }
    plan
}

/// Whether `event`'s hooks come from the installed revision (what runs now, which they stop
/// or take out of traffic) rather than the new one, as in the CodeDeploy agent.
fn from_installed(event: &Event) -> bool {
    matches!(
        event,
        Event::BeforeBlockTraffic | Event::AfterBlockTraffic | Event::ApplicationStop
    )
}

fn new_deployment_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    format!("d-{}", &hex[..9])
}

fn now() -> String {
    rfc3339(std::time::SystemTime::now())
}

/// `at` as an RFC 3339 timestamp in UTC, as every record davit writes shows time.
pub(crate) fn rfc3339(at: std::time::SystemTime) -> String {
    time::OffsetDateTime::from(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A revision whose hooks may run in this deployment: the new one, or the installed one (for
/// ApplicationStop and the traffic-blocking events).
pub(crate) struct Revision {
    staged: StagedRevision,
    spec: AppSpec,
    grants: BTreeMap<HookId, EffectiveGrant>,
}

/// Deploys `source` (a directory or archive) on this host.
///
/// Everything that can be checked before an event runs is checked first: names, the lock, the
/// appspec, every hook's grants against the policy, and every wasm hook is compiled. Then the
/// events run in order; the first failure stops the deployment and the rest are skipped.
///
/// # Errors
///
/// A [`DeployError`] when the deployment could not start. A deployment that started returns
/// its report, whose status says whether it succeeded.
pub async fn deploy(
    sandbox: &Sandbox,
    source: Source<'_>,
    opts: &DeployOptions,
    progress: Arc<dyn Progress>,
) -> Result<DeploymentReport, DeployError> {
    let started = Instant::now();
    for name in [&opts.application, &opts.deployment_group] {
        if !is_safe_name(name) {
            return Err(DeployError::BadName { name: name.clone() });
        }
    }
    let layout = &opts.layout;
    let group = layout.group(&opts.application, &opts.deployment_group);
    let (mut lock, found) = RootLock::acquire_application(layout, &opts.application)?;
    // Before anything else: an Install a killed davit left half-done is taken back (or, if it
    // had committed, finished), so the host holds one revision, complete. A deployment that
    // stopped for a reboot waits to see what is deployed now: the same revision resumes it.
    let (mut interrupted, suspended) = match found {
        Some(entry) if entry.reboot.is_some() => (None, Some(entry)),
        Some(entry) => (Some(record_interrupted(layout, entry, None)), None),
        None => (None, None),
    };
    recover_install(&group).map_err(|e| DeployError::io("recovering an interrupted Install", e))?;

    source::check_signature(&opts.policy, &source).await?;
    let pulled = match source {
        Source::Local(_) => None,
        Source::Store { store, revision } => Some(source::pull(store, &revision, layout).await?),
    };
    let tree = match (&source, &pulled) {
        (_, Some(pulled)) => pulled.tree(),
        (Source::Local(path), None) => path.to_path_buf(),
        (Source::Store { .. }, None) => unreachable!("a store revision is pulled"),
    };
    let staged =
        stage::stage(&tree, &group.revisions()).map_err(|source_error| DeployError::Stage {
            path: source.describe(),
            source: source_error,
        })?;
    drop(pulled);
    if let Source::Store { revision, .. } = source
        && staged.id.as_str() != revision.to_hex()
    {
        return Err(DeployError::RevisionMismatch {
            asked: revision.to_hex(),
            staged: staged.id.to_string(),
        });
    }
    let resumed = match suspended {
        Some(entry)
            if entry.revision == staged.id.to_string()
                && entry.deployment_group == opts.deployment_group =>
        {
            Some(entry)
        }
        Some(entry) => {
            let by = format!("a deployment of revision {}", staged.id.short());
            interrupted = Some(record_interrupted(layout, entry, Some(&by)));
            None
        }
        None => None,
    };
    // The events a resumed deployment ran before its reboot are not run again.
    let done: Vec<EventReport> = resumed
        .as_ref()
        .and_then(|entry| entry.reboot.as_ref())
        .map(|s| s.done.clone())
        .unwrap_or_default();
    let is_done = |event: &Event| done.iter().any(|r| r.event == event.name());
    let plan = plan(opts.events.as_deref());
    let remaining: Vec<Event> = plan.iter().filter(|e| !is_done(e)).cloned().collect();
    let spec = load_appspec(&staged.dir, &opts.appspec_filename, Some(&source))?;
    // The agent's rules that need the bundle: a file object takes no `pattern`, a default ACL
    // no file.
    spec.check_bundle(&staged.dir)
        .map_err(|e| DeployError::Appspec(Box::new(e)))?;
    spec.runnable_here()
        .map_err(|reason| DeployError::NotRunnable { reason })?;
    let mut state = GroupState::load(&group.state())
        .map_err(|e| DeployError::io("reading the group state", e))?;

    // The installed revision (whose Install finished last, whether or not it then passed
    // ValidateService) stops what runs now: its ApplicationStop and traffic-blocking hooks.
    // Read once: only Install writes it, and no grant reaches davit's own state.
    let previous = CleanupRecord::load(&group.cleanup_record())
        .map_err(|e| DeployError::io("reading the cleanup record", std::io::Error::other(e)))?;
    let installed = previous
        .as_ref()
        .and_then(|record| record.revision.as_ref());
    let installed = match installed {
        // Also when the same revision is deployed again: its own ApplicationStop stops it.
        Some(installed) => {
            let dir = group.revisions().join(&installed.revision);
            match load_appspec(&dir, &installed.appspec_filename, None) {
                Ok(spec) => Some((dir, installed.revision.clone(), spec)),
                Err(_) => None,
            }
        }
        None => None,
    };

    let mut refusals = Vec::new();
    let grants = opts.policy.check_appspec(&spec).unwrap_or_else(|r| {
        refusals.extend(r);
        BTreeMap::new()
    });
    let old = installed.and_then(|(dir, revision, spec)| {
        let grants = opts.policy.check_appspec(&spec).unwrap_or_else(|r| {
            refusals.extend(r.into_iter().filter(|r| {
                r.subject
                    .hook()
                    .is_some_and(|h| from_installed(&h.id.event) && remaining.contains(&h.id.event))
            }));
            BTreeMap::new()
        });
        Some(Revision {
            staged: StagedRevision {
                id: revision.parse().ok()?,
                dir,
            },
            spec,
            grants,
        })
    });
    // The install precheck, at the same point: where the new revision's files go, their modes
    // and owners, and its links, read from the staged tree (nothing is written).
    let install = install::precheck(&staged.dir, &spec, &opts.policy)
        .map_err(|e| DeployError::io("reading the staged revision", e))?;
    if !refusals.is_empty() || !install.is_empty() {
        return Err(DeployError::Refused { refusals, install });
    }
    let new = Revision {
        staged,
        spec,
        grants,
    };
    if remaining.contains(&Event::Install) {
        check_install(&new, old.as_ref(), &plan, opts, &group, previous.as_ref())?;
    }
    preload(sandbox, &new, &remaining, old.as_ref())?;

    let (deployment_id, started_at) = match &resumed {
        Some(entry) => (entry.deployment_id.clone(), entry.started_at.clone()),
        None => (new_deployment_id(), now()),
    };
    let mut journal = JournalEntry {
        schema_version: SCHEMA_VERSION,
        deployment_id: deployment_id.clone(),
        application: opts.application.clone(),
        deployment_group: opts.deployment_group.clone(),
        revision: new.staged.id.to_string(),
        pid: std::process::id(),
        started_at,
        event: None,
        reboot: None,
    };
    lock.write(&journal)
        .map_err(|e| DeployError::io("writing the journal", e))?;

    let info = DeploymentInfo {
        id: deployment_id.clone(),
        application: opts.application.clone(),
        deployment_group: opts.deployment_group.clone(),
        revision: new.staged.id.to_string(),
        last_good_revision: state.last_good.as_ref().map(|g| g.revision.clone()),
    };
    let mut front = Events {
        sandbox,
        new: &new,
        old: old.as_ref(),
        info: &info,
        opts,
        group: &group,
        previous: previous.as_ref(),
        progress: progress.clone(),
        lock: &lock,
        journal: &mut journal,
        journal_error: None,
    };
    let resume = resumed.as_ref().and_then(|entry| entry.reboot.as_ref());
    let steps = davit_plan::Plan {
        steps: &plan,
        max_reboots: opts.max_reboots,
    };
    let ran = davit_plan::run(steps, resume, &mut front).await;
    if let Some(e) = front.journal_error.take() {
        return Err(DeployError::io("writing the journal", e));
    }
    let (mut events, failed) = (ran.reports, ran.failed);
    let suspension = ran.suspended;

    // The Install's deletions, kept until now (its journal finishes them after a kill).
    if let Err(e) = recover_install(&group)
        && let Some(install) = events.iter_mut().find(|e| e.event == Event::Install.name())
    {
        install.warnings.push(format!(
            "what the Install replaced was not all deleted: {e}"
        ));
    }
    let report = |status, events, interrupted, reboot| DeploymentReport {
        schema_version: SCHEMA_VERSION,
        deployment_id: deployment_id.clone(),
        application: opts.application.clone(),
        deployment_group: opts.deployment_group.clone(),
        revision: new.staged.id.to_string(),
        previous_revision: info.last_good_revision.clone(),
        status,
        started_at: journal.started_at.clone(),
        elapsed_ms: started.elapsed().as_millis() as u64,
        events,
        interrupted,
        reboot,
    };
    if let Some(suspension) = suspension {
        // Stopped for a reboot: the journal stays, saying where to resume; nothing is final.
        let report = report(
            Status::Rebooting,
            events,
            interrupted,
            Some(suspension.request.clone()),
        );
        journal.reboot = Some(suspension);
        lock.write(&journal)
            .map_err(|e| DeployError::io("writing the journal", e))?;
        write_report(&group, &report)?;
        return Ok(report);
    }
    let validated = !failed && plan.contains(&Event::ValidateService);
    if validated {
        state.mark_good(
            &new.staged.id.to_string(),
            &deployment_id,
            &opts.appspec_filename,
            &now(),
        );
    }
    state.touch(&new.staged.id.to_string());
    // Install succeeded only if it committed: then the new revision is the installed one.
    let new_installed = events
        .iter()
        .any(|e| e.event == Event::Install.name() && e.status == Status::Succeeded);
    let installed = match new_installed {
        true => Some(new.staged.id.to_string()),
        false => previous.and_then(|r| r.revision).map(|i| i.revision),
    };
    let removed = state.prune(opts.keep_revisions, installed.as_deref());
    for revision in &removed {
        let _ = std::fs::remove_dir_all(group.revisions().join(revision));
    }
    state
        .save(&group.state())
        .map_err(|e| DeployError::io("writing the group state", e))?;
    // Chunks only removed revisions used go with them, when no other deployment runs. A
    // failure here costs disk, not the deployment: the next collection retries.
    if let Some(_root) = lock.exclusive_root(layout) {
        let _ = crate::cache::collect_locked(layout);
    }

    let status = if failed {
        Status::Failed
    } else {
        Status::Succeeded
    };
    let report = report(status, events, interrupted, None);
    write_report(&group, &report)?;
    lock.clear()
        .map_err(|e| DeployError::io("clearing the journal", e))?;
    Ok(report)
}

fn write_report(group: &GroupLayout, report: &DeploymentReport) -> Result<(), DeployError> {
    let json = serde_json::to_vec_pretty(report).expect("report serializes");
    write_atomically(&group.report(&report.deployment_id), &json)
        .map_err(|e| DeployError::io("writing the deployment report", e))
}

/// Reads and validates the appspec at the root of a staged revision. Errors name it as the user
/// knows it when `source` (what was deployed) is given: `bundle/appspec.yml`,
/// `bundle.tgz!appspec.yml` in an archive, `revision 0123456789ab!appspec.yml` from a store;
/// else by its staged path.
fn load_appspec(
    dir: &Path,
    filename: &str,
    source: Option<&Source<'_>>,
) -> Result<AppSpec, DeployError> {
    let mut name = filename;
    if !dir.join(name).exists() && filename == "appspec.yml" && dir.join("appspec.yaml").exists() {
        name = "appspec.yaml";
    }
    let path = dir.join(name);
    if !path.exists() {
        return Err(DeployError::NoAppspec {
            bundle: source.map_or_else(|| dir.to_path_buf(), Source::describe),
            name: filename.to_string(),
        });
    }
    let file = match source {
        Some(source) => source.label(name),
        None => path.display().to_string(),
    };
    let spec = match std::fs::read_to_string(&path) {
        Ok(text) => AppSpec::parse(&file, &text),
        Err(error) => Err(SpecError::Read { file, error }),
    };
    spec.map_err(|e| DeployError::Appspec(Box::new(e)))
}

/// Compiles every wasm hook the plan will run, so a bad component fails before any event.
fn preload(
    sandbox: &Sandbox,
    new: &Revision,
    plan: &[Event],
    old: Option<&Revision>,
) -> Result<(), DeployError> {
    let mut hooks: Vec<(&Revision, &davit_spec::Hook)> = Vec::new();
    for event in plan {
        let source = if from_installed(event) {
            old
        } else {
            Some(new)
        };
        if let Some(revision) = source {
            hooks.extend(revision.spec.hooks_for(event).iter().map(|h| (revision, h)));
        }
    }
    for (revision, hook) in hooks {
        if hook.kind != HookKind::Wasm {
            continue;
        }
        let wasm = hooks::component(&revision.staged.dir, &hook.location).map_err(|e| {
            DeployError::HookFile {
                location: hook.location.to_string(),
                event: hook.id.event.name().to_string(),
                source: e,
            }
        })?;
        sandbox.load(&wasm).map_err(|e| DeployError::Load {
            location: hook.location.to_string(),
            event: hook.id.event.name().to_string(),
            source: e,
        })?;
    }
    Ok(())
}

pub(crate) fn skipped(event: &Event) -> EventReport {
    EventReport {
        event: event.name().to_string(),
        status: Status::Skipped,
        elapsed_ms: 0,
        detail: None,
        warnings: Vec::new(),
        hooks: Vec::new(),
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_event(
    sandbox: &Sandbox,
    event: &Event,
    new: &Revision,
    old: Option<&Revision>,
    info: &DeploymentInfo,
    opts: &DeployOptions,
    group: &GroupLayout,
    previous: Option<&CleanupRecord>,
    progress: Arc<dyn Progress>,
) -> EventReport {
    let started = Instant::now();
    let mut report = skipped(event);
    report.status = Status::Succeeded;
    match event {
        Event::DownloadBundle => {
            report.detail = Some(format!("revision {} staged", new.staged.id.short()));
        }
        Event::Install => match install_files(new, info, opts, group, previous) {
            Ok((detail, warnings)) => {
                report.detail = Some(detail);
                report.warnings = warnings;
            }
            Err(message) => {
                report.status = Status::Failed;
                report.detail = Some(message);
            }
        },
        _ => {
            let revision = if from_installed(event) {
                old
            } else {
                Some(new)
            };
            if let Some(revision) = revision {
                report.hooks =
                    run_hooks(sandbox, event, revision, info, opts, group, progress).await;
                if let Some(failed) = report.hooks.iter().find(|h| h.status != Status::Succeeded) {
                    report.status = Status::Failed;
                    report.detail = Some(format!(
                        "hook `{}` failed: {}",
                        failed.location,
                        failed.error.as_deref().unwrap_or("no reason given")
                    ));
                }
            }
            if *event == Event::ApplicationStop && report.status == Status::Succeeded {
                stop_services(group, &mut report, revision).await;
            }
        }
    }
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    report
}

/// After the stop hooks: stops what hooks of this group started and is still running (every
/// revision's, since whatever started it is being replaced), so a revision needs no `kill`
/// grant to stop its own daemon.
async fn stop_services(group: &GroupLayout, report: &mut EventReport, revision: Option<&Revision>) {
    match services::stop_group(group, |_| true, services::STOP_GRACE).await {
        Ok(stopped) if stopped.is_empty() => {
            if revision.is_none() {
                report.detail = Some("no previous revision: nothing to stop".into());
            }
        }
        Ok(stopped) => {
            let lines: Vec<String> = stopped
                .iter()
                .map(|(service, how)| services::describe(service, *how))
                .collect();
            report.detail = Some(lines.join("; "));
        }
        Err(e) => {
            report.status = Status::Failed;
            report.detail = Some(format!("cannot stop the group's services: {e}"));
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_hooks(
    sandbox: &Sandbox,
    event: &Event,
    revision: &Revision,
    info: &DeploymentInfo,
    opts: &DeployOptions,
    group: &GroupLayout,
    progress: Arc<dyn Progress>,
) -> Vec<HookReport> {
    let mut reports = Vec::new();
    for hook in revision.spec.hooks_for(event) {
        let Some(grant) = revision.grants.get(&hook.id) else {
            continue;
        };
        progress.hook_started(event.name(), &hook.location.as_str());
        let run = HookRun {
            hook,
            grant,
            bundle_dir: &revision.staged.dir,
            target_root: &opts.target_root,
            scratch: &opts.layout.scratch(),
            deployment_root: opts.layout.root(),
            context: Context {
                job: Job::deployment(event.name(), info.clone()),
                bundle_dir: BUNDLE_GUEST_DIR.into(),
                target_root: opts.target_root.display().to_string(),
                parameters: hook.parameters.clone(),
            },
        };
        let report = match hook.kind {
            HookKind::Wasm => {
                let (mut report, started) =
                    hooks::run_wasm(sandbox, run, event.name(), progress.clone()).await;
                let by = StartedBy {
                    revision: revision.staged.id.to_string(),
                    deployment_id: &info.id,
                    event: event.name(),
                    hook: &hook.location.as_str(),
                };
                let records = started.into_iter().map(|s| by.record(s)).collect();
                if let Err(e) = services::record(group, records) {
                    report.status = Status::Failed;
                    report.error = Some(format!("cannot record the services it started: {e}"));
                }
                report
            }
            HookKind::NativeScript => hooks::run_native(run, event.name(), progress.clone()).await,
        };
        progress.hook_finished(event.name(), &report);
        let ok = report.status == Status::Succeeded;
        reports.push(report);
        if !ok {
            break;
        }
    }
    reports
}

/// The Install event: the previous revision's files go, the new ones come, atomically (see
/// [`install`]); it commits by writing the group's cleanup record, which then names the new
/// revision as installed.
fn install_files(
    new: &Revision,
    info: &DeploymentInfo,
    opts: &DeployOptions,
    group: &GroupLayout,
    previous: Option<&CleanupRecord>,
) -> Result<(String, Vec<String>), String> {
    std::fs::create_dir_all(&opts.target_root).map_err(|e| {
        format!(
            "cannot create the target root `{}`: {e}",
            opts.target_root.display()
        )
    })?;
    // Kept until the Install commits or, after a kill, until its journal is recovered.
    let backup = opts
        .layout
        .scratch()
        .join(format!("install-backup-{}", info.id));
    let _ = std::fs::remove_dir_all(&backup);
    std::fs::create_dir_all(&backup)
        .map_err(|e| format!("cannot create `{}`: {e}", backup.display()))?;
    let request = InstallRequest {
        bundle_dir: &new.staged.dir,
        spec: &new.spec,
        target_root: &opts.target_root,
        policy: &opts.policy,
        behavior: file_exists_behavior(&new.spec, opts),
        previous: previous.cloned(),
        backup_dir: &backup,
        state_dir: group.dir(),
        revision: Some(Installed {
            revision: new.staged.id.to_string(),
            deployment_id: info.id.clone(),
            appspec_filename: opts.appspec_filename.clone(),
        }),
    };
    // What it replaced is deleted once the deployment's other events have run.
    let result = install::install_then(&request, install::Cleanup::Later);
    // Committed, the backups go with the deletions; on NotUndone the old files are still in
    // the backup: keep it for the operator.
    if matches!(result, Err(ref e) if !matches!(e, install::InstallError::NotUndone { .. })) {
        let _ = std::fs::remove_dir_all(&backup);
    }
    let report = result.map_err(|e| with_causes(&e))?;
    Ok((
        format!(
            "{} files copied, {} retained, {} removed from the previous revision",
            report.copied, report.retained, report.removed
        ),
        report.warnings,
    ))
}

/// Runs Install's checks against the host as it is, before any hook: a revision that cannot
/// be installed fails before BeforeInstall. Files in the way under `DISALLOW` are an error
/// here only where no hook that runs before Install may remove them (a native script may
/// touch anything; a wasm hook, its read-write directories): "delete the old files in
/// BeforeInstall" stays a working pattern.
fn check_install(
    new: &Revision,
    old: Option<&Revision>,
    plan: &[Event],
    opts: &DeployOptions,
    group: &GroupLayout,
    previous: Option<&CleanupRecord>,
) -> Result<(), DeployError> {
    if !opts.target_root.is_dir() {
        // Created by Install: nothing is there to check against.
        return Ok(());
    }
    let request = InstallRequest {
        bundle_dir: &new.staged.dir,
        spec: &new.spec,
        target_root: &opts.target_root,
        policy: &opts.policy,
        behavior: file_exists_behavior(&new.spec, opts),
        previous: previous.cloned(),
        backup_dir: &new.staged.dir,
        state_dir: group.dir(),
        revision: None,
    };
    let error = match install::check(&request) {
        Ok(()) => return Ok(()),
        Err(install::InstallError::FilesExist { paths }) => {
            let before: Vec<(&Revision, &davit_spec::Hook)> = plan
                .iter()
                .take_while(|e| **e != Event::Install)
                .flat_map(|event| {
                    let revision = if from_installed(event) {
                        old
                    } else {
                        Some(new)
                    };
                    revision
                        .into_iter()
                        .flat_map(move |r| r.spec.hooks_for(event).iter().map(move |h| (r, h)))
                })
                .collect();
            let movable = |path: &Path| {
                before.iter().any(|(revision, hook)| {
                    hook.kind == HookKind::NativeScript
                        || revision.grants.get(&hook.id).is_some_and(|grant| {
                            grant.directories.iter().any(|dir| {
                                dir.access == davit_spec::Access::ReadWrite
                                    && path.starts_with(
                                        opts.target_root
                                            .join(dir.path.as_str().trim_start_matches('/')),
                                    )
                            })
                        })
                })
            };
            let paths: Vec<PathBuf> = paths.into_iter().filter(|p| !movable(p)).collect();
            if paths.is_empty() {
                return Ok(());
            }
            install::InstallError::FilesExist { paths }
        }
        Err(error) => error,
    };
    Err(DeployError::Install(Box::new(error)))
}

/// What to do with files that exist where the revision puts files: the appspec's
/// `file_exists_behavior` wins over the command line's, as in the CodeDeploy agent (1.4.0 and
/// later); `DISALLOW` when neither says.
pub(crate) fn file_exists_behavior(spec: &AppSpec, opts: &DeployOptions) -> FileExistsBehavior {
    spec.file_exists_behavior
        .or(opts.file_exists_behavior)
        .unwrap_or(FileExistsBehavior::Disallow)
}

/// An error and its sources on one line, for a report's detail.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
