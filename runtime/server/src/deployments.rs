//! Fleet deployments: creating them, agents' commands and reports, the reaper, and what the
//! API shows. Each change of a plan runs in one transaction of `plan_store` (one row per host,
//! the plan's counts beside them), and what a deployment's end sets going (its rollback, the
//! catch-up of hosts that joined) in that same transaction (`follow_up`). Agents find the
//! hosts a plan started by polling; a host with no agent fails as `NeverEnrolled` when its
//! turn comes.

use std::collections::BTreeMap;

use davit_api::{AppName, DeploymentSummary, EventResult, HostStatus};
use davit_fleet::{DeploymentConfig, HostFailure, Plan};
use sqlx::Row;

use crate::ServerError;
use crate::db::{Agent, Db, backend, now, parsed};
use crate::plan_store::{HostChange, Who, apply_in, create_in};

pub use davit_api::{Command, Deployment, DeploymentHost};

/// What a new deployment installs where.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NewDeployment<'a> {
    /// Its id.
    pub id: &'a str,
    /// The application.
    pub app: &'a str,
    /// The deployment group.
    pub group: &'a str,
    /// The revision id.
    pub revision: &'a str,
    /// The store agents pull it from.
    pub store: &'a str,
    /// The failed deployment this one rolls back, if it is a rollback.
    pub rollback_of: Option<&'a str>,
    /// A package job's package (davit-api's `PackageJob` as JSON).
    pub package: Option<&'a str>,
}

/// The hosts of a group: agents whose tags include all the group's tags, and the hosts it
/// names (with their agent when one enrolled under that name).
pub(crate) fn members(
    tags: &BTreeMap<String, String>,
    hosts: &[String],
    agents: &[Agent],
) -> BTreeMap<String, Option<String>> {
    let mut members: BTreeMap<String, Option<String>> = BTreeMap::new();
    let matches =
        |a: &Agent| !tags.is_empty() && tags.iter().all(|(k, v)| a.tags.get(k) == Some(v));
    // The most recently seen agent of a host name stands for it.
    let mut by_host: BTreeMap<&str, &Agent> = BTreeMap::new();
    for agent in agents {
        let newer = by_host
            .get(agent.hostname.as_str())
            .is_none_or(|seen| seen.last_seen <= agent.last_seen);
        if newer {
            by_host.insert(&agent.hostname, agent);
        }
    }
    for (host, agent) in &by_host {
        if matches(agent) {
            members.insert((*host).to_owned(), Some(agent.id.clone()));
        }
    }
    for host in hosts {
        let agent = by_host.get(host.as_str()).map(|a| a.id.clone());
        members.insert(host.clone(), agent);
    }
    members
}

impl Db {
    /// Creates a deployment of `revision` to the members of a group (an operator's) and takes
    /// its first steps (which may end it, and roll it back), in one transaction.
    /// Hosts are healthy at the start when their last deployment in this group succeeded.
    pub(crate) async fn create_deployment(
        &self,
        what: &NewDeployment<'_>,
        config: &DeploymentConfig,
        members: &BTreeMap<String, Option<String>>,
    ) -> Result<Result<(), String>, ServerError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        match create_in(&mut tx, what, config, members, None).await? {
            Ok(_) => {
                tx.commit().await.map_err(backend)?;
                Ok(Ok(()))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    /// Applies `change` to deployment `id`'s plan (a stop), then takes its steps until it
    /// waits or ends, in one transaction.
    pub(crate) async fn advance(
        &self,
        id: &str,
        change: impl FnOnce(&mut Plan),
    ) -> Result<(), ServerError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        apply_in(&mut tx, id, &[], change).await?;
        tx.commit().await.map_err(backend)
    }

    /// The next command for `agent`, claiming it so it is handed out once: one statement
    /// claims the agent's host in its oldest running deployment of an application not in
    /// `busy` (one the agent is deploying already: that one waits its turn).
    pub(crate) async fn claim_command(
        &self,
        agent: &str,
        busy: &[AppName],
    ) -> Result<Option<Command>, ServerError> {
        let mut sql = String::from(
            "UPDATE deployment_hosts SET state = $1, updated_at = $2, claimed_at = $2 \
             WHERE state = $4 AND (deployment, host) = (\
             SELECT h.deployment, h.host FROM deployment_hosts h JOIN deployments d ON d.id = h.deployment \
             WHERE h.agent = $3 AND h.state = $4",
        );
        for i in 0..busy.len() {
            sql.push_str(&format!(" AND d.app <> ${}", i + 5));
        }
        // By primary key, the host found by the `(agent, state)` index.
        sql.push_str(" ORDER BY d.created_at, d.seq, d.id LIMIT 1) RETURNING deployment");
        // The statement is built of placeholders only.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(HostStatus::Claimed.as_str())
            .bind(now())
            .bind(agent)
            .bind(HostStatus::Running.as_str());
        for app in busy {
            query = query.bind(app.as_str());
        }
        let claimed = query.fetch_all(&self.pool).await.map_err(backend)?;
        let Some(row) = claimed.first() else {
            return Ok(None);
        };
        let id: String = row.try_get("deployment").map_err(backend)?;
        self.command(&id).await.map(Some)
    }

    /// Deployment `id`'s command, remembered: what it says is fixed when it is created.
    async fn command(&self, id: &str) -> Result<Command, ServerError> {
        if let Some(command) = self.memo.commands.lock().expect("memo").get(id) {
            return Ok(command.clone());
        }
        let row = sqlx::query(
            "SELECT d.app, d.deployment_group, d.revision, d.store, d.package, g.max_deployment_minutes \
             FROM deployments d \
             LEFT JOIN deployment_groups g ON g.app = d.app AND g.name = d.deployment_group \
             WHERE d.id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        let max_minutes: Option<i64> = row.try_get("max_deployment_minutes").map_err(backend)?;
        let command = Command {
            deployment: id.to_owned(),
            app: parsed(&row, "app")?,
            group: parsed(&row, "deployment_group")?,
            revision: parsed(&row, "revision")?,
            store: row.try_get("store").map_err(backend)?,
            max_deployment_minutes: max_minutes
                .map_or(davit_api::DEFAULT_MAX_DEPLOYMENT_MINUTES, |m| {
                    u32::try_from(m).unwrap_or(u32::MAX)
                }),
            package: package_of(&row)?,
        };
        crate::db::Memo::put(&self.memo.commands, id, command.clone());
        Ok(command)
    }

    /// Records an agent's result for its host in a deployment. `false` if the agent has no
    /// running host there (a report it may not make, or one made twice). Reports are queued
    /// and applied in batches (see `reports`): this returns once its batch is committed.
    pub(crate) async fn report(
        &self,
        agent: &str,
        deployment: &str,
        result: Result<String, HostFailure>,
        events: Option<&[EventResult]>,
    ) -> Result<bool, ServerError> {
        let (done, applied) = tokio::sync::oneshot::channel();
        let stopped = || ServerError::Database("the server is stopping".into());
        self.reports
            .send(crate::reports::Pending::Report {
                agent: agent.to_owned(),
                deployment: deployment.to_owned(),
                result,
                events: events.map(|e| serde_json::to_string(e).expect("events serialize")),
                done,
            })
            .map_err(|_| stopped())?;
        applied.await.map_err(|_| stopped())?
    }

    /// Reports as `Lost` every host whose agent has been silent for `timeout` while it had a
    /// command (started or claimed), so a killed agent fails its host instead of hanging the
    /// deployment; an agent that heartbeats is not silent, however long its hooks run. Fails
    /// too every host claimed longer ago than its group's `max_deployment_minutes`, heartbeats
    /// or not. Returns how many hosts it reported.
    pub async fn reap_silent_agents(
        &self,
        timeout: std::time::Duration,
    ) -> Result<usize, ServerError> {
        let cutoff = now() - timeout.as_secs() as i64;
        let rows = sqlx::query(
            "SELECT h.deployment, h.host FROM deployment_hosts h JOIN agents a ON a.id = h.agent \
             WHERE h.state IN ($2, $3) AND a.last_seen < $1",
        )
        .bind(cutoff)
        .bind(HostStatus::Running.as_str())
        .bind(HostStatus::Claimed.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let overdue = sqlx::query(
            "SELECT h.deployment, h.host, COALESCE(g.max_deployment_minutes, $3) AS minutes \
             FROM deployment_hosts h JOIN deployments d ON d.id = h.deployment \
             LEFT JOIN deployment_groups g ON g.app = d.app AND g.name = d.deployment_group \
             WHERE h.state = $1 AND h.claimed_at IS NOT NULL \
             AND h.claimed_at + COALESCE(g.max_deployment_minutes, $3) * 60 < $2",
        )
        .bind(HostStatus::Claimed.as_str())
        .bind(now())
        .bind(i64::from(davit_api::DEFAULT_MAX_DEPLOYMENT_MINUTES))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let mut reaped = 0;
        let silent = rows.iter().map(|r| (r, false));
        let late = overdue.iter().map(|r| (r, true));
        for (row, late) in silent.chain(late) {
            let deployment: String = row.try_get("deployment").map_err(backend)?;
            let host: String = row.try_get("host").map_err(backend)?;
            let failure = match late {
                false => HostFailure::Lost,
                true => HostFailure::Event(format!(
                    "the deployment ran longer than its group's `max_deployment_minutes` ({})",
                    row.try_get::<i64, _>("minutes").map_err(backend)?
                )),
            };
            let lost = HostChange {
                who: Who::Host(&host),
                result: Err(failure),
                events: None,
            };
            let mut tx = self.pool.begin().await.map_err(backend)?;
            if apply_in(&mut tx, &deployment, &[lost], |_| {}).await?[0] {
                tx.commit().await.map_err(backend)?;
                reaped += 1;
            }
        }
        Ok(reaped)
    }

    /// The latest deployments, newest first: id, app, group, revision, status.
    pub(crate) async fn list_deployments(
        &self,
        limit: i64,
    ) -> Result<Vec<DeploymentSummary>, ServerError> {
        let rows = sqlx::query(
            "SELECT id, app, deployment_group, revision, status, rollback_of, cause, created_at, package FROM deployments \
             ORDER BY created_at DESC, seq DESC, id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|r| {
                Ok(DeploymentSummary {
                    id: r.try_get("id").map_err(backend)?,
                    app: parsed(r, "app")?,
                    group: parsed(r, "deployment_group")?,
                    revision: parsed(r, "revision")?,
                    status: parsed(r, "status")?,
                    rollback_of: r.try_get("rollback_of").map_err(backend)?,
                    cause: r.try_get("cause").map_err(backend)?,
                    created_at: r.try_get("created_at").map_err(backend)?,
                    package: package_of(r)?,
                })
            })
            .collect()
    }

    /// Stores the events an agent has finished so far for its host in a deployment (live
    /// progress; the state changes only with its report), and why the host reboots if it
    /// does. `false` if it runs no host there.
    pub(crate) async fn progress(
        &self,
        agent: &str,
        deployment: &str,
        events: &[EventResult],
        rebooting: Option<&str>,
    ) -> Result<bool, ServerError> {
        // The agent's last word, while the host reboots; kept otherwise.
        let done = sqlx::query(
            "UPDATE deployment_hosts SET events = $1, updated_at = $2, detail = COALESCE($6, detail) \
             WHERE deployment = $3 AND agent = $4 AND state = $5",
        )
        .bind(serde_json::to_string(events).expect("events serialize"))
        .bind(now())
        .bind(deployment)
        .bind(agent)
        .bind(HostStatus::Claimed.as_str())
        .bind(rebooting)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    /// A deployment and its hosts.
    pub(crate) async fn deployment(&self, id: &str) -> Result<Option<Deployment>, ServerError> {
        let row = sqlx::query(
            "SELECT id, app, deployment_group, revision, store, status, reason, rollback_of, cause, package, \
             (SELECT r.id FROM deployments r WHERE r.rollback_of = d.id) AS rolled_back_by \
             FROM deployments d WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        let Some(row) = row else { return Ok(None) };
        let hosts = sqlx::query(
            "SELECT host, agent, state, detail, events FROM deployment_hosts WHERE deployment = $1 ORDER BY host",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?
        .iter()
        .map(|r| {
            Ok(DeploymentHost {
                host: r.try_get("host").map_err(backend)?,
                agent: r.try_get("agent").map_err(backend)?,
                state: parsed(r, "state")?,
                detail: r.try_get("detail").map_err(backend)?,
                events: r
                    .try_get::<Option<String>, _>("events")
                    .map_err(backend)?
                    .and_then(|e| serde_json::from_str(&e).ok()),
            })
        })
        .collect::<Result<_, ServerError>>()?;
        Ok(Some(Deployment {
            id: row.try_get("id").map_err(backend)?,
            app: parsed(&row, "app")?,
            group: parsed(&row, "deployment_group")?,
            revision: parsed(&row, "revision")?,
            store: row.try_get("store").map_err(backend)?,
            status: parsed(&row, "status")?,
            reason: row.try_get("reason").map_err(backend)?,
            rollback_of: row.try_get("rollback_of").map_err(backend)?,
            rolled_back_by: row.try_get("rolled_back_by").map_err(backend)?,
            cause: row.try_get("cause").map_err(backend)?,
            package: package_of(&row)?,
            hosts,
        }))
    }
}

/// A deployment row's package part, if it is a package job.
fn package_of(row: &sqlx::any::AnyRow) -> Result<Option<davit_api::PackageJob>, ServerError> {
    let text: Option<String> = row.try_get("package").map_err(backend)?;
    text.map(|t| {
        serde_json::from_str(&t)
            .map_err(|e| ServerError::Database(format!("a stored package job: {e}")))
    })
    .transpose()
}

/// How a host failure is shown.
pub(crate) fn describe(failure: &HostFailure) -> String {
    match failure {
        HostFailure::Event(detail) => detail.clone(),
        HostFailure::Lost => "the agent stopped answering during the deployment".into(),
        HostFailure::NeverEnrolled => "no agent ever enrolled on this host".into(),
        HostFailure::FailedAfterRestart(detail) => detail.clone(),
    }
}
