//! A deployment's plan in the database: one row per host is the truth about each host, and the
//! deployment's row holds davit-fleet's [`Plan`], the counts the planner decides by (a few
//! numbers, whatever the size of the group). Every change (a new deployment, a report, a stop,
//! a lost agent) runs in one transaction that first takes the deployment's row
//! (`UPDATE … SET version = version + 1 … RETURNING`, a row lock on PostgreSQL and the write
//! lock on SQLite), so changes to one deployment are applied one after the other, each exactly
//! once, by however many servers share the database; a restarted server finds the plan where
//! the last commit left it.
//!
//! A report touches its host's row and the deployment's; a dispatch moves the first `k` pending
//! hosts in their stored order (`ord`: unhealthy first, then by name) with one statement.

use std::collections::{BTreeMap, BTreeSet};

use davit_api::{DeploymentStatus, HostStatus};
use davit_fleet::{DeploymentConfig, HostFailure, LegacyPlanner, Outcome, Plan, Step};
use sqlx::Row;

use crate::ServerError;
use crate::db::{backend, now, parsed};
use crate::deployments::{NewDeployment, describe};

/// A transaction on the server's database.
pub(crate) type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// A deployment's row, as a change reads it.
#[derive(Clone, Debug)]
pub(crate) struct Stored {
    pub id: String,
    pub app: String,
    pub group: String,
    pub rollback_of: Option<String>,
    pub cause: Option<String>,
    pub config: Option<String>,
    /// A package job's package (JSON): no rollback, no catch-up.
    pub package: Option<String>,
}

/// What happens to one host's row in a change: a result its agent reported, or a failure the
/// server found (a silent agent, a ceiling passed).
pub(crate) struct HostChange<'a> {
    /// The host, by its agent or by its name.
    pub who: Who<'a>,
    /// Succeeded (with what the agent said) or how it failed.
    pub result: Result<String, HostFailure>,
    /// The events the agent reported, as JSON.
    pub events: Option<String>,
}

/// Which host a change is about.
pub(crate) enum Who<'a> {
    /// The host this agent runs in the deployment.
    Agent(&'a str),
    /// The host of this name.
    Host(&'a str),
}

/// Rows inserted per statement: 6 parameters each stays far below every backend's limit.
const INSERT_CHUNK: usize = 500;

/// Creates deployment `what` to `members` (host, agent) in `tx` and takes its first steps
/// (which may end it, and roll it back, in `tx` too). `Ok(Err(_))` when the group cannot be
/// planned; `Ok(Ok(false))` when a deployment of that id exists (another server made it).
pub(crate) async fn create_in(
    tx: &mut Tx,
    what: &NewDeployment<'_>,
    config: &DeploymentConfig,
    members: &BTreeMap<String, Option<String>>,
    cause: Option<&str>,
) -> Result<Result<bool, String>, ServerError> {
    let healthy = healthy_hosts(tx, what.app, what.group).await?;
    let mut order: Vec<(bool, &String, &Option<String>)> = members
        .iter()
        .map(|(host, agent)| (healthy.contains(host), host, agent))
        .collect();
    // Unhealthy hosts first, then by name: the order davit-fleet's plan counts in.
    order.sort();
    let healthy_count = order.iter().filter(|(h, _, _)| *h).count();
    let mut plan = match Plan::new(order.len(), healthy_count, config) {
        Ok(plan) => plan,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let created = sqlx::query(
        "INSERT INTO deployments (id, app, deployment_group, revision, store, status, planner, version, created_at, rollback_of, config, cause, package, seq) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10, $11, $12, (SELECT COALESCE(MAX(seq), 0) + 1 FROM deployments)) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(what.id)
    .bind(what.app)
    .bind(what.group)
    .bind(what.revision)
    .bind(what.store)
    .bind(DeploymentStatus::InProgress.as_str())
    .bind(plan_json(&plan))
    .bind(now())
    .bind(what.rollback_of)
    .bind(serde_json::to_string(config).expect("a configuration serializes"))
    .bind(cause)
    .bind(what.package)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    if created.rows_affected() != 1 {
        return Ok(Ok(false));
    }
    for (chunk_index, chunk) in order.chunks(INSERT_CHUNK).enumerate() {
        let mut sql = String::from(
            "INSERT INTO deployment_hosts (deployment, host, agent, state, updated_at, ord) VALUES ",
        );
        for i in 0..chunk.len() {
            let p = i * 6;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${})",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6
            ));
        }
        // Placeholders only: nothing from input is in the text.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (i, (_, host, agent)) in chunk.iter().enumerate() {
            query = query
                .bind(what.id)
                .bind(host.as_str())
                .bind(agent.as_deref())
                .bind(HostStatus::Pending.as_str())
                .bind(now())
                .bind((chunk_index * INSERT_CHUNK + i) as i64);
        }
        query.execute(&mut **tx).await.map_err(backend)?;
    }
    let row = Stored {
        id: what.id.to_owned(),
        app: what.app.to_owned(),
        group: what.group.to_owned(),
        rollback_of: what.rollback_of.map(str::to_owned),
        cause: cause.map(str::to_owned),
        config: Some(serde_json::to_string(config).expect("a configuration serializes")),
        package: what.package.map(str::to_owned),
    };
    let outcome = steps(tx, &row.id, &mut plan).await?;
    store(tx, &row, &plan, outcome).await?;
    Ok(Ok(true))
}

/// Applies a change to deployment `id` in `tx`: takes its row, records the result of each of
/// `hosts` that is running, applies `change` to the plan, takes the steps and stores them.
/// Which of `hosts` were recorded: none when the deployment has ended, and then, or when
/// `hosts` were given and none is running, nothing but the row's lock counter changed.
pub(crate) async fn apply_in(
    tx: &mut Tx,
    id: &str,
    hosts: &[HostChange<'_>],
    change: impl FnOnce(&mut Plan),
) -> Result<Vec<bool>, ServerError> {
    let mut recorded = vec![false; hosts.len()];
    let row = sqlx::query(
        "UPDATE deployments SET version = version + 1 WHERE id = $1 AND status = $2 \
         RETURNING planner, app, deployment_group, rollback_of, cause, config, package",
    )
    .bind(id)
    .bind(DeploymentStatus::InProgress.as_str())
    .fetch_optional(&mut **tx)
    .await
    .map_err(backend)?;
    let Some(row) = row else { return Ok(recorded) };
    let text: String = row.try_get("planner").map_err(backend)?;
    let mut plan = read_plan(tx, id, &text).await?;
    let deployment = Stored {
        id: id.to_owned(),
        app: row.try_get("app").map_err(backend)?,
        group: row.try_get("deployment_group").map_err(backend)?,
        rollback_of: row.try_get("rollback_of").map_err(backend)?,
        cause: row.try_get("cause").map_err(backend)?,
        config: row.try_get("config").map_err(backend)?,
        package: row.try_get("package").map_err(backend)?,
    };
    for (host, recorded) in hosts.iter().zip(&mut recorded) {
        let (state, detail) = match &host.result {
            Ok(detail) => (HostStatus::Succeeded, detail.clone()),
            Err(failure) => (HostStatus::Failed, describe(failure)),
        };
        let (column, name) = match host.who {
            Who::Agent(agent) => ("agent", agent),
            Who::Host(name) => ("host", name),
        };
        // The column is one of two constants.
        let sql = format!(
            "UPDATE deployment_hosts SET state = $1, detail = $2, events = COALESCE($3, events), updated_at = $4 \
             WHERE deployment = $5 AND {column} = $6 AND state IN ($7, $8)"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(state.as_str())
            .bind(detail)
            .bind(host.events.as_deref())
            .bind(now())
            .bind(id)
            .bind(name)
            .bind(HostStatus::Running.as_str())
            .bind(HostStatus::Claimed.as_str())
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
        *recorded = done.rows_affected() == 1;
        if *recorded {
            plan.report(host.result.is_ok());
        }
    }
    if !hosts.is_empty() && !recorded.contains(&true) {
        return Ok(recorded);
    }
    change(&mut plan);
    let outcome = steps(tx, id, &mut plan).await?;
    store(tx, &deployment, &plan, outcome).await?;
    Ok(recorded)
}

/// Takes the plan's steps until it waits or ends: starts the hosts it dispatches (failing those
/// no agent ever enrolled on), and at the end skips the hosts never started.
async fn steps(tx: &mut Tx, id: &str, plan: &mut Plan) -> Result<Option<Outcome>, ServerError> {
    loop {
        match plan.step() {
            Step::Dispatch(k) => {
                let rows = sqlx::query(
                    "SELECT ord, agent FROM deployment_hosts WHERE deployment = $1 AND state = $2 \
                     ORDER BY ord LIMIT $3",
                )
                .bind(id)
                .bind(HostStatus::Pending.as_str())
                .bind(k as i64)
                .fetch_all(&mut **tx)
                .await
                .map_err(backend)?;
                let Some(last) = rows.last() else {
                    return Err(ServerError::Database(format!(
                        "deployment {id}: its plan counts pending hosts its rows do not have"
                    )));
                };
                let last: i64 = last.try_get("ord").map_err(backend)?;
                let mut never = 0;
                for row in &rows {
                    if row
                        .try_get::<Option<String>, _>("agent")
                        .map_err(backend)?
                        .is_none()
                    {
                        never += 1;
                    }
                }
                sqlx::query(
                    "UPDATE deployment_hosts SET state = $1, updated_at = $2 \
                     WHERE deployment = $3 AND state = $4 AND ord <= $5 AND agent IS NOT NULL",
                )
                .bind(HostStatus::Running.as_str())
                .bind(now())
                .bind(id)
                .bind(HostStatus::Pending.as_str())
                .bind(last)
                .execute(&mut **tx)
                .await
                .map_err(backend)?;
                if never > 0 {
                    sqlx::query(
                        "UPDATE deployment_hosts SET state = $1, detail = $2, updated_at = $3 \
                         WHERE deployment = $4 AND state = $5 AND ord <= $6 AND agent IS NULL",
                    )
                    .bind(HostStatus::Failed.as_str())
                    .bind(describe(&HostFailure::NeverEnrolled))
                    .bind(now())
                    .bind(id)
                    .bind(HostStatus::Pending.as_str())
                    .bind(last)
                    .execute(&mut **tx)
                    .await
                    .map_err(backend)?;
                    for _ in 0..never {
                        plan.report(false);
                    }
                }
            }
            Step::Wait => return Ok(None),
            Step::Done(outcome) => {
                sqlx::query(
                    "UPDATE deployment_hosts SET state = $1, updated_at = $2 WHERE deployment = $3 AND state = $4",
                )
                .bind(HostStatus::Skipped.as_str())
                .bind(now())
                .bind(id)
                .bind(HostStatus::Pending.as_str())
                .execute(&mut **tx)
                .await
                .map_err(backend)?;
                return Ok(Some(outcome));
            }
        }
    }
}

/// Stores the plan and, when it ended, the deployment's status; then what its end sets going
/// (its rollback, the last good revision for hosts that joined), in the same transaction.
async fn store(
    tx: &mut Tx,
    deployment: &Stored,
    plan: &Plan,
    outcome: Option<Outcome>,
) -> Result<(), ServerError> {
    let (status, reason) = match &outcome {
        None => (DeploymentStatus::InProgress, None),
        Some(Outcome::Succeeded) => (DeploymentStatus::Succeeded, None),
        Some(Outcome::Failed(reason)) => (DeploymentStatus::Failed, Some(reason.clone())),
    };
    sqlx::query(
        "UPDATE deployments SET planner = $1, status = $2, reason = $3, finished_at = $4 WHERE id = $5",
    )
    .bind(plan_json(plan))
    .bind(status.as_str())
    .bind(reason)
    .bind(outcome.as_ref().map(|_| now()))
    .bind(&deployment.id)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    if let Some(outcome) = outcome {
        Box::pin(crate::follow_up::ended(tx, deployment, &outcome)).await?;
    }
    Ok(())
}

/// The hosts of a group whose last finished deployment in it succeeded on them: healthy at the
/// start of the next one.
async fn healthy_hosts(
    tx: &mut Tx,
    app: &str,
    group: &str,
) -> Result<BTreeSet<String>, ServerError> {
    let rows = sqlx::query(
        "SELECT h.host, h.state FROM deployment_hosts h JOIN deployments d ON d.id = h.deployment \
         WHERE d.app = $1 AND d.deployment_group = $2 AND h.state IN ($3, $4) AND d.package IS NULL \
         ORDER BY d.created_at, d.seq, d.id",
    )
    .bind(app)
    .bind(group)
    .bind(HostStatus::Succeeded.as_str())
    .bind(HostStatus::Failed.as_str())
    .fetch_all(&mut **tx)
    .await
    .map_err(backend)?;
    let mut last = BTreeMap::new();
    for row in &rows {
        let host: String = row.try_get("host").map_err(backend)?;
        last.insert(host, parsed::<HostStatus>(row, "state")?);
    }
    Ok(last
        .into_iter()
        .filter(|(_, state)| *state == HostStatus::Succeeded)
        .map(|(host, _)| host)
        .collect())
}

/// The stored plan; one an older server stored (every host by name) is turned into counts, and
/// its order written into the hosts' rows.
async fn read_plan(tx: &mut Tx, id: &str, text: &str) -> Result<Plan, ServerError> {
    let error =
        |e: serde_json::Error| ServerError::Database(format!("deployment {id}: its plan: {e}"));
    match serde_json::from_str::<Plan>(text) {
        Ok(plan) => Ok(plan),
        Err(e) => {
            let Ok(legacy) = serde_json::from_str::<LegacyPlanner>(text) else {
                return Err(error(e));
            };
            for (ord, host) in legacy.order().enumerate() {
                sqlx::query(
                    "UPDATE deployment_hosts SET ord = $1 WHERE deployment = $2 AND host = $3",
                )
                .bind(ord as i64)
                .bind(id)
                .bind(host)
                .execute(&mut **tx)
                .await
                .map_err(backend)?;
            }
            Ok(legacy.plan())
        }
    }
}

fn plan_json(plan: &Plan) -> String {
    serde_json::to_string(plan).expect("a plan serializes")
}
