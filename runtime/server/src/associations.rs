//! State Manager's associations: a package kept at a version (or the newest in the store) on a
//! deployment group's hosts. Each run is a package job (cause `association: NAME`) through the
//! same plan store as every deployment. An association runs at once when it is created, then
//! when its schedule says (the scheduler moves `next_run_at` with a compare-and-set, so across
//! servers one run starts per tick), and as soon as the group has a host the last run did not
//! have; never while its last run is going. A host's compliance is how the latest run that
//! ended on it ended.

use std::collections::{BTreeMap, BTreeSet};

use davit_api::{
    Association, Compliance, ComplianceStatus, DeploymentStatus, HostStatus, NewAssociation,
    PackageJob, PackageOperation,
};
use davit_fleet::DeploymentConfig;
use sqlx::Row;

use crate::ServerError;
use crate::db::{Db, backend, json_column, now, parsed};
use crate::deployments::{NewDeployment, members};
use crate::plan_store::create_in;

/// The cause of an association's jobs.
fn cause(name: &str) -> String {
    format!("association: {name}")
}

/// Checks an association before it is stored; its first scheduled run.
///
/// # Errors
///
/// A line naming the field at fault.
pub fn check(a: &NewAssociation) -> Result<Option<i64>, String> {
    if !davit_api::is_safe_name(&a.name) {
        return Err(format!("`name`: `{}` is not a name", a.name));
    }
    if !davit_api::is_safe_name(&a.package) {
        return Err(format!("`package`: `{}` is not a package name", a.package));
    }
    if a.version.as_deref().is_some_and(str::is_empty) {
        return Err("`version`: empty".into());
    }
    rate(a)?;
    davit_schedule::next_run(&a.schedule, &a.timezone, now(), now())
        .map_err(|e| format!("`schedule`: {e}"))
}

/// The rate controls of an association's jobs: 50 hosts at once and no error allowed unless
/// it says otherwise, as State Manager.
fn rate(a: &NewAssociation) -> Result<DeploymentConfig, String> {
    let amount = |text: &Option<String>, default: &str, key: &str| {
        text.as_deref()
            .unwrap_or(default)
            .parse()
            .map_err(|e| format!("`{key}`: {e}"))
    };
    Ok(DeploymentConfig::rate(
        amount(&a.concurrency, "50", "concurrency")?,
        amount(&a.max_errors, "0", "max_errors")?,
    ))
}

/// The columns every read of an association takes (a constant: no input in the SQL).
const COLUMNS: &str = "name, app, deployment_group, package, version, arguments, store, schedule, \
    timezone, concurrency, max_errors, next_run_at, last_error";

fn spec_of(row: &sqlx::any::AnyRow) -> Result<NewAssociation, ServerError> {
    Ok(NewAssociation {
        name: row.try_get("name").map_err(backend)?,
        app: parsed(row, "app")?,
        group: parsed(row, "deployment_group")?,
        package: row.try_get("package").map_err(backend)?,
        version: row.try_get("version").map_err(backend)?,
        arguments: json_column(row, "arguments")?,
        store: row.try_get("store").map_err(backend)?,
        schedule: row.try_get("schedule").map_err(backend)?,
        timezone: row.try_get("timezone").map_err(backend)?,
        concurrency: row.try_get("concurrency").map_err(backend)?,
        max_errors: row.try_get("max_errors").map_err(backend)?,
    })
}

impl Db {
    /// Stores association `a` (checked with [`check`]); `false` when one of that name exists.
    pub(crate) async fn create_association(
        &self,
        a: &NewAssociation,
        next_run_at: Option<i64>,
    ) -> Result<bool, ServerError> {
        let done = sqlx::query(
            "INSERT INTO associations (name, app, deployment_group, package, version, arguments, store, \
             schedule, timezone, concurrency, max_errors, next_run_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&a.name)
        .bind(a.app.as_str())
        .bind(a.group.as_str())
        .bind(&a.package)
        .bind(a.version.as_deref())
        .bind(serde_json::to_string(&a.arguments).expect("arguments serialize"))
        .bind(&a.store)
        .bind(&a.schedule)
        .bind(&a.timezone)
        .bind(a.concurrency.as_deref())
        .bind(a.max_errors.as_deref())
        .bind(next_run_at)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes an association (its jobs stay in the history); `false` when there is none.
    pub(crate) async fn delete_association(&self, name: &str) -> Result<bool, ServerError> {
        let done = sqlx::query("DELETE FROM associations WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    /// Every association, with compliance.
    pub(crate) async fn associations(&self) -> Result<Vec<Association>, ServerError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM associations ORDER BY name"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let mut out = Vec::new();
        for row in &rows {
            out.push(self.with_compliance(row).await?);
        }
        Ok(out)
    }

    /// One association, with compliance.
    pub(crate) async fn association(&self, name: &str) -> Result<Option<Association>, ServerError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM associations WHERE name = $1"
        )))
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        match row {
            Some(row) => Ok(Some(self.with_compliance(&row).await?)),
            None => Ok(None),
        }
    }

    async fn with_compliance(&self, row: &sqlx::any::AnyRow) -> Result<Association, ServerError> {
        let spec = spec_of(row)?;
        let last = self.last_job(&spec.name).await?;
        let mut compliance = Vec::new();
        let mut seen = BTreeSet::new();
        // Each host's latest finished result among the association's runs: a host stays
        // compliant while the next run goes.
        let hosts = sqlx::query(
            "SELECT h.host, h.state, h.detail FROM deployment_hosts h \
             JOIN deployments d ON d.id = h.deployment \
             WHERE d.cause = $1 ORDER BY d.seq DESC, h.host",
        )
        .bind(cause(&spec.name))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        for h in &hosts {
            let host: String = h.try_get("host").map_err(backend)?;
            let status = match parsed::<HostStatus>(h, "state")? {
                HostStatus::Succeeded => ComplianceStatus::Compliant,
                HostStatus::Failed => ComplianceStatus::NonCompliant,
                _ => continue,
            };
            if seen.insert(host.clone()) {
                compliance.push(Compliance {
                    host,
                    status,
                    detail: h.try_get("detail").map_err(backend)?,
                });
            }
        }
        for host in self.targets(&spec).await?.into_keys() {
            if !seen.contains(&host) {
                compliance.push(Compliance {
                    host,
                    status: ComplianceStatus::Pending,
                    detail: Some("no run has ended on it yet".into()),
                });
            }
        }
        compliance.sort_by(|a, b| a.host.cmp(&b.host));
        Ok(Association {
            next_run_at: row.try_get("next_run_at").map_err(backend)?,
            last_error: row.try_get("last_error").map_err(backend)?,
            last_job: last.map(|(id, _)| id),
            compliance,
            spec,
        })
    }

    /// The association's last job and whether it is still going.
    async fn last_job(&self, name: &str) -> Result<Option<(String, bool)>, ServerError> {
        let row = sqlx::query(
            "SELECT id, status FROM deployments WHERE cause = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(cause(name))
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.map(|r| {
            let status: DeploymentStatus = parsed(&r, "status")?;
            Ok((
                r.try_get("id").map_err(backend)?,
                status == DeploymentStatus::InProgress,
            ))
        })
        .transpose()
    }

    /// The group's hosts now (host, agent).
    async fn targets(
        &self,
        a: &NewAssociation,
    ) -> Result<BTreeMap<String, Option<String>>, ServerError> {
        let groups = self.groups(a.app.as_str()).await?;
        let Some(group) = groups.into_iter().find(|g| g.name == a.group) else {
            return Ok(BTreeMap::new());
        };
        Ok(members(&group.tags, &group.hosts, &self.agents().await?))
    }

    /// Runs association `name` now: the version it names (or the newest in its store) as a
    /// package job on its group's hosts. `Ok(Err(why))` when no job could be made (the store,
    /// an empty group); that is kept as its `last_error`.
    pub(crate) async fn run_association(
        &self,
        name: &str,
    ) -> Result<Result<String, String>, ServerError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM associations WHERE name = $1"
        )))
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        let Some(row) = row else {
            return Ok(Err(format!("no association `{name}`")));
        };
        let a = spec_of(&row)?;
        let made = self.make_job(&a).await?;
        sqlx::query("UPDATE associations SET last_error = $1 WHERE name = $2")
            .bind(made.as_ref().err())
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(made)
    }

    async fn make_job(&self, a: &NewAssociation) -> Result<Result<String, String>, ServerError> {
        let release = match davit_bundle::Store::open(&a.store) {
            Ok(store) => store.find_release(&a.package, a.version.as_deref()).await,
            Err(e) => Err(e),
        };
        let release = match release {
            Ok(Some(r)) => r,
            Ok(None) => {
                return Ok(Err(format!(
                    "package `{}`{} is not in the store `{}`",
                    a.package,
                    a.version
                        .as_deref()
                        .map(|v| format!(" {v}"))
                        .unwrap_or_default(),
                    a.store
                )));
            }
            Err(e) => return Ok(Err(e.to_string())),
        };
        let targets = self.targets(a).await?;
        let config = rate(a).map_err(ServerError::Database)?;
        let job = PackageJob {
            name: a.package.clone(),
            version: release.version.clone(),
            operation: PackageOperation::Install,
            arguments: a.arguments.clone(),
            in_place: false,
            approve_grants: false,
            dry_run: false,
        };
        let package = serde_json::to_string(&job).expect("a package job serializes");
        let id = format!("d-{}", &crate::token::new("x")?[2..14].to_uppercase());
        let what = NewDeployment {
            id: &id,
            app: a.app.as_str(),
            group: a.group.as_str(),
            revision: &release.revision,
            store: &a.store,
            rollback_of: None,
            package: Some(&package),
        };
        let mut tx = self.pool.begin().await.map_err(backend)?;
        match create_in(&mut tx, &what, &config, &targets, Some(&cause(&a.name))).await? {
            Ok(_) => {
                tx.commit().await.map_err(backend)?;
                Ok(Ok(id))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    /// Starts the runs that are due: scheduled ones (the schedule moved on with a
    /// compare-and-set), and those of associations whose group has a host the last run did not
    /// have. None while the association's last run is going. Returns how many started.
    pub async fn run_due_associations(&self, at: i64) -> Result<usize, ServerError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS}, created_at FROM associations"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let mut started = 0;
        for row in &rows {
            let a = spec_of(row)?;
            let due: Option<i64> = row.try_get("next_run_at").map_err(backend)?;
            let last = self.last_job(&a.name).await?;
            if last.as_ref().is_some_and(|(_, going)| *going) {
                continue;
            }
            let mut run = false;
            if let Some(due) = due.filter(|d| *d <= at) {
                let created: i64 = row.try_get("created_at").map_err(backend)?;
                let next = davit_schedule::next_run(&a.schedule, &a.timezone, at, created)
                    .map_err(|e| ServerError::Database(format!("association `{}`: {e}", a.name)))?;
                let moved = sqlx::query(
                    "UPDATE associations SET next_run_at = $1 WHERE name = $2 AND next_run_at = $3",
                )
                .bind(next)
                .bind(&a.name)
                .bind(due)
                .execute(&self.pool)
                .await
                .map_err(backend)?;
                run = moved.rows_affected() == 1;
            } else if let Some((id, _)) = &last {
                run = self.has_new_hosts(&a, id).await?;
            }
            if run && self.run_association(&a.name).await?.is_ok() {
                started += 1;
            }
        }
        Ok(started)
    }

    /// Whether the group has a host with an agent that job `id` did not have.
    async fn has_new_hosts(&self, a: &NewAssociation, id: &str) -> Result<bool, ServerError> {
        let had: BTreeSet<String> = sqlx::query(
            "SELECT host FROM deployment_hosts WHERE deployment = $1 AND agent IS NOT NULL",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?
        .iter()
        .map(|r| r.try_get("host"))
        .collect::<Result<_, _>>()
        .map_err(backend)?;
        Ok(self
            .targets(a)
            .await?
            .into_iter()
            .any(|(host, agent)| agent.is_some() && !had.contains(&host)))
    }
}
