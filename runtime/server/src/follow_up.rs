//! What the end of a deployment, or a host joining a group, sets going, always in the
//! transaction that caused it, so that a server dying in between leaves neither half:
//!
//! - a failed (or stopped) deployment is rolled back: the group's last good revision goes to the
//!   hosts it changed, with the failed deployment's configuration and minimum of healthy hosts;
//! - a host new to a group gets the group's last good revision by itself, as its own deployment
//!   (`auto: host joined`), unless the group's `auto_deploy_new_hosts` is off.
//!
//! Group membership is evaluated when a deployment starts: a host that joins while one of the
//! group's deployments runs is not added to it. It gets the last good revision when the group
//! has no deployment running any more: when that deployment succeeded, its revision; when it
//! failed, the revision its rollback restores. A host is new to a group until a deployment of
//! the group has run on it (a host named by the group whose agent never enrolled is still new).

use std::collections::{BTreeMap, BTreeSet};

use davit_api::{DeploymentStatus, HostStatus};
use davit_fleet::{Amount, DeploymentConfig, Outcome};
use sqlx::Row;

use crate::ServerError;
use crate::db::{Agent, agents_from, backend, json_column};
use crate::deployments::{NewDeployment, members};
use crate::plan_store::{Stored, Tx, create_in};

/// The cause recorded on deployments made for a host that joined its group.
pub(crate) const HOST_JOINED: &str = "auto: host joined";

/// The cause recorded on rollbacks.
pub(crate) const ROLLBACK: &str = "auto: rollback";

/// After `deployment` ended with `outcome`: its rollback, then the new hosts' catch-up.
pub(crate) async fn ended(
    tx: &mut Tx,
    deployment: &Stored,
    outcome: &Outcome,
) -> Result<(), ServerError> {
    // A rollback is not rolled back, nor is a new host's deployment: both deploy the last good
    // revision itself.
    // A package job is neither rolled back nor caught up: each host's own state machine
    // rolls a failed install back to its previous version.
    if deployment.package.is_some() {
        return Ok(());
    }
    let automatic =
        deployment.rollback_of.is_some() || deployment.cause.as_deref() == Some(HOST_JOINED);
    if matches!(outcome, Outcome::Failed(_)) && !automatic {
        roll_back(tx, deployment).await?;
    }
    catch_up(tx, &deployment.app, &deployment.group, None).await
}

/// Redeploys the group's last good revision to the hosts `failed` changed, as a new deployment
/// linked to it, with its configuration. Nothing when it changed no host, or the group never
/// had a good revision.
async fn roll_back(tx: &mut Tx, failed: &Stored) -> Result<(), ServerError> {
    let Some(good) = last_good(tx, &failed.app, &failed.group, Some(&failed.id)).await? else {
        return Ok(());
    };
    // The hosts it changed or tried to: those that succeeded, and those whose agent failed
    // (not the hosts no agent ever enrolled on: nothing ran there).
    let rows = sqlx::query(
        "SELECT host, agent FROM deployment_hosts WHERE deployment = $1 \
         AND (state = $2 OR (state = $3 AND agent IS NOT NULL))",
    )
    .bind(&failed.id)
    .bind(HostStatus::Succeeded.as_str())
    .bind(HostStatus::Failed.as_str())
    .fetch_all(&mut **tx)
    .await
    .map_err(backend)?;
    let mut hosts = BTreeMap::new();
    for row in &rows {
        hosts.insert(
            row.try_get::<String, _>("host").map_err(backend)?,
            row.try_get::<Option<String>, _>("agent").map_err(backend)?,
        );
    }
    if hosts.is_empty() {
        return Ok(());
    }
    let mut config = match &failed.config {
        Some(text) => serde_json::from_str(text).map_err(|e| {
            ServerError::Database(format!("deployment {}: its configuration: {e}", failed.id))
        })?,
        // Stored before deployments kept their configuration.
        None => DeploymentConfig::all_at_once(),
    };
    // A minimum counted in hosts may be more than the hosts rolled back: keep all but one.
    if let Amount::Hosts(min) = config.min_healthy
        && min >= hosts.len()
    {
        config.min_healthy = Amount::Hosts(hosts.len() - 1);
    }
    let id = format!("{}-rollback", failed.id);
    let what = NewDeployment {
        id: &id,
        app: &failed.app,
        group: &failed.group,
        revision: &good.revision,
        store: &good.store,
        rollback_of: Some(&failed.id),
        package: None,
    };
    create_in(tx, &what, &config, &hosts, Some(ROLLBACK))
        .await?
        .map(drop)
        .map_err(ServerError::Database)
}

/// The group's last good deployment.
struct Good {
    id: String,
    revision: String,
    store: String,
}

async fn last_good(
    tx: &mut Tx,
    app: &str,
    group: &str,
    except: Option<&str>,
) -> Result<Option<Good>, ServerError> {
    let row = sqlx::query(
        "SELECT id, revision, store FROM deployments WHERE app = $1 AND deployment_group = $2 \
         AND status = $3 AND id <> $4 AND package IS NULL ORDER BY created_at DESC, seq DESC, id DESC LIMIT 1",
    )
    .bind(app)
    .bind(group)
    .bind(DeploymentStatus::Succeeded.as_str())
    .bind(except.unwrap_or(""))
    .fetch_optional(&mut **tx)
    .await
    .map_err(backend)?;
    row.map(|r| {
        Ok(Good {
            id: r.try_get("id").map_err(backend)?,
            revision: r.try_get("revision").map_err(backend)?,
            store: r.try_get("store").map_err(backend)?,
        })
    })
    .transpose()
}

/// Gives the group's last good revision to each of its hosts that is new to it (or only to
/// `joined`, the agent that just enrolled), one deployment per host, when the group wants it
/// and none of its deployments is running.
async fn catch_up(
    tx: &mut Tx,
    app: &str,
    group: &str,
    joined: Option<&Agent>,
) -> Result<(), ServerError> {
    let row = sqlx::query(
        "SELECT tags, hosts, auto_deploy_new_hosts FROM deployment_groups WHERE app = $1 AND name = $2",
    )
    .bind(app)
    .bind(group)
    .fetch_optional(&mut **tx)
    .await
    .map_err(backend)?;
    let Some(row) = row else { return Ok(()) };
    if row
        .try_get::<i64, _>("auto_deploy_new_hosts")
        .map_err(backend)?
        == 0
    {
        return Ok(());
    }
    let tags: BTreeMap<String, String> = json_column(&row, "tags")?;
    let named: Vec<String> = json_column(&row, "hosts")?;
    let agents = match joined {
        Some(agent) => vec![agent.clone()],
        None => agents_from(&mut **tx).await?,
    };
    let candidates: Vec<(String, String)> = members(&tags, &named, &agents)
        .into_iter()
        .filter_map(|(host, agent)| agent.map(|a| (host, a)))
        .collect();
    if candidates.is_empty() {
        return Ok(());
    }
    let running = sqlx::query(
        "SELECT id FROM deployments WHERE app = $1 AND deployment_group = $2 AND status = $3 \
         AND package IS NULL LIMIT 1",
    )
    .bind(app)
    .bind(group)
    .bind(DeploymentStatus::InProgress.as_str())
    .fetch_optional(&mut **tx)
    .await
    .map_err(backend)?;
    if running.is_some() {
        return Ok(());
    }
    let Some(good) = last_good(tx, app, group, None).await? else {
        return Ok(());
    };
    let known: BTreeSet<String> = sqlx::query(
        "SELECT DISTINCT h.host FROM deployment_hosts h JOIN deployments d ON d.id = h.deployment \
         WHERE d.app = $1 AND d.deployment_group = $2 AND h.agent IS NOT NULL AND d.package IS NULL",
    )
    .bind(app)
    .bind(group)
    .fetch_all(&mut **tx)
    .await
    .map_err(backend)?
    .iter()
    .map(|r| r.try_get("host"))
    .collect::<Result<_, _>>()
    .map_err(backend)?;
    for (host, agent) in candidates {
        if known.contains(&host) {
            continue;
        }
        // Named after the good deployment and the host: two servers seeing the same join make
        // one deployment.
        let id = format!("{}-join-{host}", good.id);
        let what = NewDeployment {
            id: &id,
            app,
            group,
            revision: &good.revision,
            store: &good.store,
            rollback_of: None,
            package: None,
        };
        let one = BTreeMap::from([(host, Some(agent))]);
        create_in(
            tx,
            &what,
            &DeploymentConfig::all_at_once(),
            &one,
            Some(HOST_JOINED),
        )
        .await?
        .map(drop)
        .map_err(ServerError::Database)?;
    }
    Ok(())
}

/// After `agent` enrolled (in the enrollment's transaction): the catch-up of every group it
/// belongs to.
pub(crate) async fn host_joined(tx: &mut Tx, agent: &Agent) -> Result<(), ServerError> {
    let rows =
        sqlx::query("SELECT app, name FROM deployment_groups WHERE auto_deploy_new_hosts <> 0")
            .fetch_all(&mut **tx)
            .await
            .map_err(backend)?;
    for row in rows {
        let app: String = row.try_get("app").map_err(backend)?;
        let group: String = row.try_get("name").map_err(backend)?;
        catch_up(tx, &app, &group, Some(agent)).await?;
    }
    Ok(())
}
