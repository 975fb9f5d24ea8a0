//! What a killed davit left behind, put right before anything else runs: the journal of the
//! deployment in flight becomes a `FailedAfterRestart` report, and the Install it may have left
//! half-done is taken back (or, if it had committed, finished), so the host holds one revision,
//! complete, and the report says which.

use crate::DeployError;
use crate::cache::subdirs;
use crate::install::{self, CleanupRecord};
use crate::journal::{JournalEntry, RootLock, SCHEMA_VERSION};
use crate::layout::{GroupLayout, Layout, is_safe_name, write_atomically};
use crate::report::{DeploymentReport, EventReport, Interrupted, RebootRequest, Status};

/// What [`recover`] found under a deployment root.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Deployments a killed davit left, now reported `FailedAfterRestart`.
    pub interrupted: Vec<Interrupted>,
    /// Deployments stopped for a reboot, which a deployment of the same revision resumes.
    pub suspended: Vec<Suspended>,
}

/// A deployment that stopped for a reboot and waits to resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspended {
    pub deployment_id: String,
    pub application: String,
    pub deployment_group: String,
    pub revision: String,
    pub request: RebootRequest,
}

/// Recovers every application under the deployment root that is not deploying now (the agent
/// calls it when it starts): each killed deployment is reported `FailedAfterRestart` and its
/// Install put right; a deployment that stopped for a reboot is left to resume. Returns what
/// was found.
///
/// # Errors
///
/// When the deployment root cannot be read, or an interrupted Install cannot be put back
/// (nothing else may run then).
pub fn recover(layout: &Layout) -> Result<Recovery, DeployError> {
    let mut found = Recovery::default();
    for app in names(&layout.root().join("apps"))? {
        let Ok((lock, interrupted)) = RootLock::acquire_application(layout, &app) else {
            // Deploying now: that deployment recovers its own.
            continue;
        };
        match interrupted {
            Some(JournalEntry {
                reboot: Some(suspension),
                deployment_id,
                application,
                deployment_group,
                revision,
                ..
            }) => found.suspended.push(Suspended {
                deployment_id,
                application,
                deployment_group,
                revision,
                request: suspension.request,
            }),
            Some(entry) => {
                found
                    .interrupted
                    .push(record_interrupted(layout, entry, None));
                lock.clear()
                    .map_err(|e| DeployError::io("clearing the journal", e))?;
            }
            None => {}
        }
        for group in names(&layout.application(&app))? {
            recover_install(&layout.group(&app, &group))
                .map_err(|e| DeployError::io("recovering an interrupted Install", e))?;
        }
    }
    Ok(found)
}

/// Which revision of `group` the host holds, as its cleanup record says.
fn holds(group: &GroupLayout) -> String {
    match CleanupRecord::load(&group.cleanup_record()) {
        Ok(Some(CleanupRecord {
            revision: Some(installed),
            ..
        })) => format!("revision {}", &installed.revision),
        Ok(_) => "no revision of this group".to_owned(),
        Err(e) => format!("an unreadable cleanup record ({e})"),
    }
}

/// The names of the directories in `dir` that can name an application or group, sorted.
fn names(dir: &std::path::Path) -> Result<Vec<String>, DeployError> {
    let dirs = subdirs(dir).map_err(|e| DeployError::io("reading the deployment root", e))?;
    let mut out: Vec<String> = dirs
        .iter()
        .filter_map(|d| d.file_name()?.to_str())
        .filter(|name| is_safe_name(name))
        .map(str::to_owned)
        .collect();
    out.sort();
    Ok(out)
}

/// Takes back (or finishes) the Install whose journal is in `group`'s directory, if a killed
/// davit left one; says what it did and which revision the host holds now.
///
/// # Errors
///
/// When the journal cannot be read or its steps cannot be undone: nothing else may run then.
pub fn recover_install(group: &GroupLayout) -> std::io::Result<Option<String>> {
    let Some(done) =
        install::recover(&group.dir().join(install::JOURNAL), &group.cleanup_record())?
    else {
        return Ok(None);
    };
    if !done.failures.is_empty() {
        return Err(std::io::Error::other(format!(
            "the interrupted Install could not be put back ({}); fix it and run again",
            done.failures.join("; ")
        )));
    }
    let holds = holds(group);
    let what = if done.committed {
        "had committed and was finished"
    } else {
        "was taken back"
    };
    Ok(Some(format!(
        "the interrupted Install {what}: the host holds {holds}"
    )))
}

/// Writes the report of a deployment that was killed (or, `superseded_by` another, given up
/// while it waited for a reboot), and returns what to tell the user. An Install it left in
/// flight is recovered first, and the report says what the host holds.
pub(crate) fn record_interrupted(
    layout: &Layout,
    entry: JournalEntry,
    superseded_by: Option<&str>,
) -> Interrupted {
    let recovery = (is_safe_name(&entry.application) && is_safe_name(&entry.deployment_group))
        .then(|| {
            let group = layout.group(&entry.application, &entry.deployment_group);
            let holds = match recover_install(&group) {
                Ok(Some(done)) => done,
                // No Install was in flight: it had not started, or it had finished.
                Ok(None) => format!("the host holds {}", holds(&group)),
                Err(e) => format!("the interrupted Install was not recovered: {e}"),
            };
            match (&entry.reboot, superseded_by) {
                (Some(s), Some(by)) => format!(
                    "it waited for a reboot after {} and was given up for {by}; {holds}",
                    s.request.after
                ),
                _ => holds,
            }
        });
    let interrupted = Interrupted {
        deployment_id: entry.deployment_id.clone(),
        application: entry.application.clone(),
        deployment_group: entry.deployment_group.clone(),
        revision: entry.revision.clone(),
        event: entry.event.clone(),
        started_at: entry.started_at.clone(),
        recovery: recovery.clone(),
    };
    let report = DeploymentReport {
        schema_version: SCHEMA_VERSION,
        deployment_id: entry.deployment_id.clone(),
        application: entry.application.clone(),
        deployment_group: entry.deployment_group.clone(),
        revision: entry.revision.clone(),
        previous_revision: None,
        status: Status::FailedAfterRestart,
        started_at: entry.started_at.clone(),
        elapsed_ms: 0,
        events: entry
            .event
            .iter()
            .map(|e| EventReport {
                event: e.clone(),
                status: Status::FailedAfterRestart,
                elapsed_ms: 0,
                detail: Some(match (&recovery, &entry.reboot) {
                    (Some(recovery), Some(_)) => recovery.clone(),
                    (Some(recovery), None) => format!(
                        "davit (pid {}) stopped during this event; {recovery}",
                        entry.pid
                    ),
                    (None, _) => format!("davit (pid {}) stopped during this event", entry.pid),
                }),
                warnings: Vec::new(),
                hooks: Vec::new(),
            })
            .collect(),
        interrupted: None,
        reboot: None,
    };
    if is_safe_name(&entry.application) && is_safe_name(&entry.deployment_group) {
        let group = layout.group(&entry.application, &entry.deployment_group);
        let json = serde_json::to_vec_pretty(&report).expect("report serializes");
        let _ = write_atomically(&group.report(&entry.deployment_id), &json);
    }
    interrupted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_left_behind_is_reported_once_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        {
            let (lock, _) = RootLock::acquire_application(&layout, "shop").unwrap();
            let entry = JournalEntry {
                schema_version: SCHEMA_VERSION,
                deployment_id: "d-KILLED".into(),
                application: "shop".into(),
                deployment_group: "web".into(),
                revision: "ab".repeat(32),
                pid: 1,
                started_at: "2026-12-01T00:00:00Z".into(),
                event: Some("Install".into()),
                reboot: None,
            };
            lock.write(&entry).unwrap();
        } // dropped without clear(): as if killed
        let found = recover(&layout).unwrap().interrupted;
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].deployment_id, "d-KILLED");
        assert_eq!(found[0].event.as_deref(), Some("Install"));
        let report = layout.group("shop", "web").report("d-KILLED");
        let report: DeploymentReport =
            serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap();
        assert_eq!(report.status, Status::FailedAfterRestart);
        assert!(
            recover(&layout).unwrap().interrupted.is_empty(),
            "reported once"
        );
    }
}
