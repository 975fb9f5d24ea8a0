//! Fleet deployments: the plan is davit-fleet's [`Planner`], stored as JSON next to one row per
//! host, and every change (a new deployment, an agent's report, a stop) loads it, applies the
//! change, takes the planner's next steps and stores it back in one transaction guarded by a
//! version number, so two servers sharing a database never apply a plan twice. Agents find the
//! hosts the planner started by polling; a host with no agent fails as `NeverEnrolled` when its
//! turn comes.

use std::collections::BTreeMap;

use davit_api::{AppName, DeploymentStatus, DeploymentSummary, EventResult, HostStatus};
use davit_fleet::{DeploymentConfig, HostFailure, HostState, Outcome, Planner, Step};
use sqlx::Row;

use crate::ServerError;
use crate::db::{Agent, Db, backend, now, parsed};

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
    /// Creates a deployment of `revision` to the members of a group and takes its first steps
    /// (which may end it, and roll it back).
    /// Hosts are healthy at the start when their last deployment in this group succeeded.
    pub(crate) async fn create_deployment(
        &self,
        what: &NewDeployment<'_>,
        config: &DeploymentConfig,
        members: &BTreeMap<String, Option<String>>,
    ) -> Result<Result<(), String>, ServerError> {
        let NewDeployment {
            id,
            app,
            group,
            revision,
            store,
            rollback_of,
        } = *what;
        let mut hosts = Vec::new();
        for host in members.keys() {
            hosts.push((host.clone(), self.last_succeeded(app, group, host).await?));
        }
        let planner = match Planner::new(hosts, config) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "INSERT INTO deployments (id, app, deployment_group, revision, store, status, planner, version, created_at, rollback_of) \
             VALUES ($1, $2, $3, $4, $5, $9, $6, 0, $7, $8)",
        )
        .bind(id)
        .bind(app)
        .bind(group)
        .bind(revision)
        .bind(store)
        .bind(serde_json::to_string(&planner).expect("a planner serializes"))
        .bind(now())
        .bind(rollback_of)
        .bind(DeploymentStatus::InProgress.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        for (host, agent) in members {
            sqlx::query(
                "INSERT INTO deployment_hosts (deployment, host, agent, state, updated_at) VALUES ($1, $2, $3, $5, $4)",
            )
            .bind(id)
            .bind(host)
            .bind(agent.as_deref())
            .bind(now())
            .bind(HostStatus::Pending.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        self.advance(id, |_| {}).await?;
        Ok(Ok(()))
    }

    /// Whether `host`'s last finished deployment in this group succeeded on it.
    async fn last_succeeded(
        &self,
        app: &str,
        group: &str,
        host: &str,
    ) -> Result<bool, ServerError> {
        let row = sqlx::query(
            "SELECT h.state FROM deployment_hosts h JOIN deployments d ON d.id = h.deployment \
             WHERE d.app = $1 AND d.deployment_group = $2 AND h.host = $3 AND h.state IN ($4, $5) \
             ORDER BY d.created_at DESC, d.id DESC LIMIT 1",
        )
        .bind(app)
        .bind(group)
        .bind(host)
        .bind(HostStatus::Succeeded.as_str())
        .bind(HostStatus::Failed.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(match row {
            Some(r) => parsed::<HostStatus>(&r, "state")? == HostStatus::Succeeded,
            None => false,
        })
    }

    /// Applies `change` to deployment `id`'s planner, then takes its steps until it waits or
    /// ends, storing the result; retried if another server changed the plan meanwhile.
    pub(crate) async fn advance(
        &self,
        id: &str,
        change: impl Fn(&mut Planner),
    ) -> Result<(), ServerError> {
        loop {
            let mut tx = self.pool.begin().await.map_err(backend)?;
            let row = sqlx::query("SELECT planner, version, status FROM deployments WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
            if parsed::<DeploymentStatus>(&row, "status")? != DeploymentStatus::InProgress {
                return Ok(());
            }
            let version: i64 = row.try_get("version").map_err(backend)?;
            let text: String = row.try_get("planner").map_err(backend)?;
            let mut planner: Planner = serde_json::from_str(&text)
                .map_err(|e| ServerError::Database(format!("deployment {id}: {e}")))?;
            let agents: BTreeMap<String, Option<String>> =
                sqlx::query("SELECT host, agent FROM deployment_hosts WHERE deployment = $1")
                    .bind(id)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(backend)?
                    .iter()
                    .map(|r| Ok((r.try_get("host")?, r.try_get("agent")?)))
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(backend)?;
            let before: Vec<HostState> = planner.hosts().iter().map(|h| h.state.clone()).collect();
            change(&mut planner);
            let mut started = Vec::new();
            let outcome = loop {
                match planner.step() {
                    Step::Dispatch(hosts) => {
                        for host in hosts {
                            match agents.get(&host) {
                                Some(Some(_)) => started.push(host),
                                _ => planner.report(&host, Err(HostFailure::NeverEnrolled)),
                            }
                        }
                    }
                    Step::Wait => break None,
                    Step::Done(outcome) => break Some(outcome),
                }
            };
            let (status, reason) = match &outcome {
                None => (DeploymentStatus::InProgress, None),
                Some(Outcome::Succeeded) => (DeploymentStatus::Succeeded, None),
                Some(Outcome::Failed(reason)) => (DeploymentStatus::Failed, Some(reason.clone())),
            };
            let stored = sqlx::query(
                "UPDATE deployments SET planner = $1, version = $2, status = $3, reason = $4, finished_at = $5 \
                 WHERE id = $6 AND version = $7",
            )
            .bind(serde_json::to_string(&planner).expect("a planner serializes"))
            .bind(version + 1)
            .bind(status.as_str())
            .bind(reason)
            .bind(outcome.as_ref().map(|_| now()))
            .bind(id)
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            if stored.rows_affected() != 1 {
                // Another server moved the plan first: start again from its state.
                continue;
            }
            // Only the hosts this change moved: a report from one of a thousand hosts writes
            // a row or two, not a thousand.
            for (host, was) in planner.hosts().iter().zip(&before) {
                if host.state == *was {
                    continue;
                }
                let (state, detail) = match &host.state {
                    HostState::Pending => (HostStatus::Pending, None),
                    HostState::Running if started.contains(&host.id) => (HostStatus::Running, None),
                    HostState::Running => continue,
                    HostState::Succeeded => (HostStatus::Succeeded, None),
                    HostState::Failed(f) => (HostStatus::Failed, Some(describe(f))),
                    HostState::Skipped => (HostStatus::Skipped, None),
                };
                sqlx::query(
                    "UPDATE deployment_hosts SET state = $1, detail = COALESCE($2, detail), updated_at = $3 \
                     WHERE deployment = $4 AND host = $5 AND state <> $1",
                )
                .bind(state.as_str())
                .bind(detail)
                .bind(now())
                .bind(id)
                .bind(&host.id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            }
            tx.commit().await.map_err(backend)?;
            if matches!(outcome, Some(Outcome::Failed(_))) {
                Box::pin(self.roll_back(id, &planner, &agents)).await?;
            }
            return Ok(());
        }
    }

    /// After deployment `id` failed (or was stopped): redeploys the group's last good revision
    /// to the hosts it changed, as a new deployment linked to it. Nothing when it is itself a
    /// rollback, changed no host, or the group never had a good revision.
    async fn roll_back(
        &self,
        id: &str,
        planner: &Planner,
        agents: &BTreeMap<String, Option<String>>,
    ) -> Result<(), ServerError> {
        let row = sqlx::query(
            "SELECT app, deployment_group, rollback_of, created_at FROM deployments WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        if row
            .try_get::<Option<String>, _>("rollback_of")
            .map_err(backend)?
            .is_some()
        {
            return Ok(());
        }
        let app: String = row.try_get("app").map_err(backend)?;
        let group: String = row.try_get("deployment_group").map_err(backend)?;
        let good = sqlx::query(
            "SELECT revision, store FROM deployments WHERE app = $1 AND deployment_group = $2 \
             AND status = $4 AND id <> $3 ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(&app)
        .bind(&group)
        .bind(id)
        .bind(DeploymentStatus::Succeeded.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        let Some(good) = good else { return Ok(()) };
        let members: BTreeMap<String, Option<String>> = planner
            .changed_hosts()
            .into_iter()
            .filter_map(|h| agents.get(h).map(|a| (h.to_owned(), a.clone())))
            .collect();
        if members.is_empty() {
            return Ok(());
        }
        let revision: String = good.try_get("revision").map_err(backend)?;
        let store: String = good.try_get("store").map_err(backend)?;
        let rollback_id = format!("{id}-rollback");
        let what = NewDeployment {
            id: &rollback_id,
            app: &app,
            group: &group,
            revision: &revision,
            store: &store,
            rollback_of: Some(id),
        };
        // Back to the last good revision everywhere at once: these hosts are down already.
        self.create_deployment(&what, &DeploymentConfig::all_at_once(), &members)
            .await?
            .map_err(ServerError::Database)
    }

    /// The next command for `agent`, claiming it so it is handed out once. None for an
    /// application in `busy` (the agent is deploying it already): that one waits its turn.
    pub(crate) async fn claim_command(
        &self,
        agent: &str,
        busy: &[AppName],
    ) -> Result<Option<Command>, ServerError> {
        let rows = sqlx::query(
            "SELECT d.id, d.app, d.deployment_group, d.revision, d.store, h.host, g.max_deployment_minutes \
             FROM deployment_hosts h JOIN deployments d ON d.id = h.deployment \
             LEFT JOIN deployment_groups g ON g.app = d.app AND g.name = d.deployment_group \
             WHERE h.agent = $1 AND h.state = $2 ORDER BY d.created_at, d.id",
        )
        .bind(agent)
        .bind(HostStatus::Running.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        for row in rows {
            let app: AppName = parsed(&row, "app")?;
            if busy.contains(&app) {
                continue;
            }
            let max_minutes: Option<i64> =
                row.try_get("max_deployment_minutes").map_err(backend)?;
            let command = Command {
                deployment: row.try_get("id").map_err(backend)?,
                app,
                group: parsed(&row, "deployment_group")?,
                revision: parsed(&row, "revision")?,
                store: row.try_get("store").map_err(backend)?,
                max_deployment_minutes: max_minutes
                    .map_or(davit_api::DEFAULT_MAX_DEPLOYMENT_MINUTES, |m| {
                        u32::try_from(m).unwrap_or(u32::MAX)
                    }),
            };
            let host: String = row.try_get("host").map_err(backend)?;
            let claimed = sqlx::query(
                "UPDATE deployment_hosts SET state = $1, updated_at = $2, claimed_at = $2 \
                 WHERE deployment = $3 AND host = $4 AND state = $5",
            )
            .bind(HostStatus::Claimed.as_str())
            .bind(now())
            .bind(&command.deployment)
            .bind(&host)
            .bind(HostStatus::Running.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
            return Ok((claimed.rows_affected() == 1).then_some(command));
        }
        Ok(None)
    }

    /// Records an agent's result for its host in a deployment. `false` if the agent has no
    /// running host there (a report it may not make, or one made twice).
    pub(crate) async fn report(
        &self,
        agent: &str,
        deployment: &str,
        result: Result<String, HostFailure>,
        events: Option<&[EventResult]>,
    ) -> Result<bool, ServerError> {
        let row = sqlx::query(
            "SELECT host FROM deployment_hosts WHERE deployment = $1 AND agent = $2 AND state IN ($3, $4)",
        )
        .bind(deployment)
        .bind(agent)
        .bind(HostStatus::Running.as_str())
        .bind(HostStatus::Claimed.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        let Some(row) = row else { return Ok(false) };
        let host: String = row.try_get("host").map_err(backend)?;
        let detail = match &result {
            Ok(detail) => Some(detail.clone()),
            Err(_) => None,
        };
        let outcome = result.map(drop);
        self.advance(deployment, |planner| {
            let running = planner
                .hosts()
                .iter()
                .any(|h| h.id == host && h.state == HostState::Running);
            if running {
                planner.report(&host, outcome.clone());
            }
        })
        .await?;
        sqlx::query(
            "UPDATE deployment_hosts SET detail = COALESCE($1, detail), events = $2 WHERE deployment = $3 AND host = $4",
        )
        .bind(detail)
        .bind(events.map(|e| serde_json::to_string(e).expect("events serialize")))
        .bind(deployment)
        .bind(&host)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(true)
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
                    "the deployment ran past its group's ceiling of {} minutes",
                    row.try_get::<i64, _>("minutes").map_err(backend)?
                )),
            };
            self.advance(&deployment, |planner| {
                let running = planner
                    .hosts()
                    .iter()
                    .any(|h| h.id == host && h.state == HostState::Running);
                if running {
                    planner.report(&host, Err(failure.clone()));
                }
            })
            .await?;
            reaped += 1;
        }
        Ok(reaped)
    }

    /// The latest deployments, newest first: id, app, group, revision, status.
    pub(crate) async fn list_deployments(
        &self,
        limit: i64,
    ) -> Result<Vec<DeploymentSummary>, ServerError> {
        let rows = sqlx::query(
            "SELECT id, app, deployment_group, revision, status, rollback_of, created_at FROM deployments \
             ORDER BY created_at DESC, id DESC LIMIT $1",
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
                    created_at: r.try_get("created_at").map_err(backend)?,
                })
            })
            .collect()
    }

    /// Stores the events an agent has finished so far for its host in a deployment (live
    /// progress; the state changes only with its report). `false` if it runs no host there.
    pub(crate) async fn progress(
        &self,
        agent: &str,
        deployment: &str,
        events: &[EventResult],
    ) -> Result<bool, ServerError> {
        let done = sqlx::query(
            "UPDATE deployment_hosts SET events = $1, updated_at = $2 \
             WHERE deployment = $3 AND agent = $4 AND state = $5",
        )
        .bind(serde_json::to_string(events).expect("events serialize"))
        .bind(now())
        .bind(deployment)
        .bind(agent)
        .bind(HostStatus::Claimed.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    /// A deployment and its hosts.
    pub(crate) async fn deployment(&self, id: &str) -> Result<Option<Deployment>, ServerError> {
        let row = sqlx::query(
            "SELECT id, app, deployment_group, revision, store, status, reason, rollback_of, \
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
            hosts,
        }))
    }
}

/// How a host failure is shown.
fn describe(failure: &HostFailure) -> String {
    match failure {
        HostFailure::Event(detail) => detail.clone(),
        HostFailure::Lost => "the agent stopped answering during the deployment".into(),
        HostFailure::NeverEnrolled => "no agent ever enrolled on this host".into(),
        HostFailure::FailedAfterRestart => "the agent restarted during the deployment".into(),
    }
}
