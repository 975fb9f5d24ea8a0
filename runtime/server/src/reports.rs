//! What agents tell the server, written in batches: reports, and that an agent was seen.
//!
//! Reports that arrive together are applied in one transaction, those of one deployment in one
//! change of it (its row taken once, each host recorded, the plan's steps taken once), so a
//! thousand hosts reporting at once cost a few commits instead of a thousand. A report
//! refused in a batch (its host not running) leaves only the bump of its deployment's lock
//! counter, which nothing reads. When a batch fails, its reports are applied one at a time, so
//! that one report's error is its own.
//!
//! Sightings are not waited for: the agents seen since the last batch are written with one
//! statement. A sighting is late by at most one batch, where the silence it ends is minutes.

use std::collections::BTreeMap;

use davit_fleet::HostFailure;
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use crate::ServerError;
use crate::db::backend;
use crate::plan_store::{HostChange, Who, apply_in};

/// The most reports or sightings one batch takes.
const BATCH: usize = 256;

/// Something an agent told the server, waiting to be written.
pub(crate) enum Pending {
    /// A report, and where its result goes.
    Report {
        agent: String,
        deployment: String,
        result: Result<String, HostFailure>,
        /// Its events, as JSON.
        events: Option<String>,
        done: oneshot::Sender<Result<bool, ServerError>>,
    },
    /// The agent was heard from in this second (Unix time).
    Seen { agent: String, second: i64 },
}

pub(crate) type Queue = mpsc::UnboundedSender<Pending>;

/// A report of a batch: its agent, deployment, result and events.
type Report = (String, String, Result<String, HostFailure>, Option<String>);

/// Writes what is queued on `pool` until every sender is gone (the last `Db` dropped).
pub(crate) async fn run(pool: AnyPool, mut queue: mpsc::UnboundedReceiver<Pending>) {
    let mut batch = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut batch, BATCH).await > 0 {
        let mut reports = Vec::new();
        let mut seen = Vec::new();
        for pending in batch.drain(..) {
            match pending {
                Pending::Report {
                    agent,
                    deployment,
                    result,
                    events,
                    done,
                } => reports.push(((agent, deployment, result, events), done)),
                Pending::Seen { agent, second } => seen.push((agent, second)),
            }
        }
        if let Err(e) = sightings(&pool, &seen).await {
            eprintln!("warning: recording that agents were seen: {e}");
        }
        apply(&pool, reports).await;
    }
}

/// Records when each of `seen` was heard from, in one statement.
async fn sightings(pool: &AnyPool, seen: &[(String, i64)]) -> Result<(), ServerError> {
    let Some(second) = seen.iter().map(|(_, s)| *s).max() else {
        return Ok(());
    };
    let mut sql = String::from("UPDATE agents SET last_seen = $1 WHERE last_seen < $1 AND id IN (");
    for i in 0..seen.len() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("${}", i + 2));
    }
    sql.push(')');
    // The statement is built of placeholders only.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(second);
    for (agent, _) in seen {
        query = query.bind(agent.as_str());
    }
    query.execute(pool).await.map(drop).map_err(backend)
}

/// Applies `reports` together, or one at a time when together fails, and sends each its result.
async fn apply(pool: &AnyPool, reports: Vec<(Report, oneshot::Sender<Result<bool, ServerError>>)>) {
    if reports.is_empty() {
        return;
    }
    let (changes, done): (Vec<Report>, Vec<_>) = reports.into_iter().unzip();
    match together(pool, &changes).await {
        Ok(applied) => {
            for (done, applied) in done.into_iter().zip(applied) {
                let _ = done.send(Ok(applied));
            }
        }
        Err(e) if changes.len() == 1 => {
            if let Some(done) = done.into_iter().next() {
                let _ = done.send(Err(e));
            }
        }
        Err(_) => {
            for (change, done) in changes.iter().zip(done) {
                let applied = together(pool, std::slice::from_ref(change)).await;
                let _ = done.send(applied.map(|a| a[0]));
            }
        }
    }
}

/// Applies `batch` in one transaction, the reports of one deployment in one change of it:
/// what each report did, or the first error.
async fn together(pool: &AnyPool, batch: &[Report]) -> Result<Vec<bool>, ServerError> {
    let mut by_deployment: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (_, deployment, _, _)) in batch.iter().enumerate() {
        by_deployment.entry(deployment).or_default().push(i);
    }
    let mut tx = pool.begin().await.map_err(backend)?;
    let mut applied = vec![false; batch.len()];
    for (deployment, reports) in by_deployment {
        let changes: Vec<HostChange> = reports
            .iter()
            .map(|&i| HostChange {
                who: Who::Agent(&batch[i].0),
                result: batch[i].2.clone(),
                events: batch[i].3.clone(),
            })
            .collect();
        let recorded = apply_in(&mut tx, deployment, &changes, |_| {}).await?;
        for (i, recorded) in reports.into_iter().zip(recorded) {
            applied[i] = recorded;
        }
    }
    tx.commit().await.map_err(backend)?;
    Ok(applied)
}
