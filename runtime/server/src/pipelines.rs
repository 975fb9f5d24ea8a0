//! Image pipelines: a recipe that builder agents build when its schedule says or when asked,
//! and the history of its runs.
//!
//! - The scheduler ([`Db::start_due_pipelines`], every second) moves a due pipeline's
//!   `next_run_at` on with a compare-and-set, so that of several servers sharing the database
//!   exactly one starts the run; a run of a pipeline whose last run is still going is not
//!   started (the tick moves on).
//! - A builder (an agent started with `--builder` whose tags hold the pipeline's
//!   `builder_tags`) claims a pending run with a compare-and-set on its status. A scheduled
//!   run of a "changed" pipeline carries the last good build's inputs digest: the builder
//!   compares it with what it would build now and reports `Skipped` when they are equal.
//! - Its result ends the run and, in the same transaction, moves the pipeline's count of
//!   failures in a row (disabling it when `max_failures` is reached) and records a
//!   distributed image on the pipeline's groups.
//! - The reaper fails runs whose builder went silent.

use std::collections::BTreeMap;

use davit_api::{
    BuildJob, BuildResult, GroupImage, GroupRef, MAX_RUN_LOG, NewPipeline, Pipeline, PipelineName,
    PipelineRun, RunStatus, StartCondition,
};
use sqlx::Row;

use crate::ServerError;
use crate::db::{Db, backend, json_column, now, parsed};

/// The most a recipe or a distribution configuration may hold.
const MAX_DOCUMENT: usize = 256 << 10;

/// Why a new pipeline is refused (the API answers 400 with it).
pub fn check(p: &NewPipeline) -> Result<Option<i64>, String> {
    if p.recipe.trim().is_empty() || p.recipe.len() > MAX_DOCUMENT {
        return Err(format!(
            "recipe: 1 byte to {} KiB of YAML",
            MAX_DOCUMENT >> 10
        ));
    }
    if p.distribution
        .as_ref()
        .is_some_and(|d| d.len() > MAX_DOCUMENT)
    {
        return Err(format!("distribution: at most {} KiB", MAX_DOCUMENT >> 10));
    }
    if p.distribution.is_some() != p.distribution_file.is_some() {
        return Err("distribution and distribution_file come together".into());
    }
    if !p.groups.is_empty() && p.distribution.is_none() {
        return Err("groups: an image is recorded on groups only when it is distributed".into());
    }
    davit_schedule::zone(&p.timezone).map_err(|e| format!("timezone: {e}"))?;
    match &p.schedule {
        None => Ok(None),
        Some(s) => davit_schedule::next_run(s, &p.timezone, now(), now())
            .map_err(|e| format!("schedule: {e}")),
    }
}

fn bool_column(row: &sqlx::any::AnyRow, column: &str) -> Result<bool, ServerError> {
    Ok(row.try_get::<i64, _>(column).map_err(backend)? != 0)
}

fn pipeline_from(row: &sqlx::any::AnyRow) -> Result<Pipeline, ServerError> {
    let condition: String = row.try_get("start_condition").map_err(backend)?;
    Ok(Pipeline {
        name: parsed(row, "name")?,
        recipe_file: row.try_get("recipe_file").map_err(backend)?,
        distribution_file: row.try_get("distribution_file").map_err(backend)?,
        groups: json_column(row, "groups_json")?,
        schedule: row.try_get("schedule").map_err(backend)?,
        timezone: row.try_get("timezone").map_err(backend)?,
        condition: condition.parse().map_err(ServerError::Database)?,
        enabled: bool_column(row, "enabled")?,
        max_failures: row.try_get::<i64, _>("max_failures").map_err(backend)? as u32,
        failures: row.try_get::<i64, _>("failures").map_err(backend)? as u32,
        builder_tags: json_column(row, "builder_tags")?,
        next_run_at: row.try_get("next_run_at").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        disabled_because: row.try_get("disabled_because").map_err(backend)?,
    })
}

fn run_from(row: &sqlx::any::AnyRow) -> Result<PipelineRun, ServerError> {
    Ok(PipelineRun {
        id: row.try_get("id").map_err(backend)?,
        pipeline: parsed(row, "pipeline")?,
        seq: row.try_get("seq").map_err(backend)?,
        cause: row.try_get("cause").map_err(backend)?,
        status: parsed(row, "status")?,
        agent: row.try_get("agent").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        started_at: row.try_get("started_at").map_err(backend)?,
        ended_at: row.try_get("ended_at").map_err(backend)?,
        inputs: row.try_get("inputs").map_err(backend)?,
        digest: row.try_get("digest").map_err(backend)?,
        reference: row.try_get("reference").map_err(backend)?,
        detail: row.try_get("detail").map_err(backend)?,
        log: row.try_get("log").map_err(backend)?,
    })
}

/// The last `max` bytes of `log`, cut at a character boundary.
fn tail(log: &str, max: usize) -> String {
    if log.len() <= max {
        return log.to_owned();
    }
    let mut start = log.len() - max;
    while !log.is_char_boundary(start) {
        start += 1;
    }
    format!("[…]{}", &log[start..])
}

/// Binds `$1`…`$13` of a pipeline's row as creating and updating it both number them: the
/// name, then what it builds and when.
fn bind_pipeline<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    p: &'q NewPipeline,
    next_run_at: Option<i64>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    query
        .bind(p.name.as_str())
        .bind(&p.recipe_file)
        .bind(&p.recipe)
        .bind(&p.distribution_file)
        .bind(&p.distribution)
        .bind(serde_json::to_string(&p.groups).expect("groups serialize"))
        .bind(&p.schedule)
        .bind(&p.timezone)
        .bind(p.condition.as_str())
        .bind(i64::from(p.enabled))
        .bind(i64::from(p.max_failures))
        .bind(serde_json::to_string(&p.builder_tags).expect("tags serialize"))
        .bind(next_run_at.filter(|_| p.enabled))
}

/// Whether a run of the pipeline `name` is pending or running, read through `executor`.
async fn runs_going<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    name: &str,
) -> Result<bool, ServerError> {
    let n: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM pipeline_runs WHERE pipeline = $1 AND status IN ($2, $3)",
    )
    .bind(name)
    .bind(RunStatus::Pending.as_str())
    .bind(RunStatus::Running.as_str())
    .fetch_one(executor)
    .await
    .map_err(backend)?
    .try_get("n")
    .map_err(backend)?;
    Ok(n > 0)
}

const PIPELINE_COLUMNS: &str = "name, recipe_file, distribution_file, groups_json, schedule, \
    timezone, start_condition, enabled, max_failures, failures, builder_tags, next_run_at, \
    created_at, disabled_because";

const RUN_COLUMNS: &str = "id, pipeline, seq, cause, status, agent, created_at, started_at, \
    ended_at, inputs, digest, reference, detail, log";

impl Db {
    /// Creates the pipeline `p` (checked with [`check`]), its first run due at `next_run_at`;
    /// `false` when one has its name.
    pub async fn create_pipeline(
        &self,
        p: &NewPipeline,
        next_run_at: Option<i64>,
    ) -> Result<bool, ServerError> {
        let insert = sqlx::query(
            "INSERT INTO pipelines (name, recipe_file, recipe, distribution_file, distribution, \
             groups_json, schedule, timezone, start_condition, enabled, max_failures, failures, \
             builder_tags, next_run_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, $12, $13, $14) \
             ON CONFLICT (name) DO NOTHING",
        );
        let done = bind_pipeline(insert, p, next_run_at)
            .bind(now())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces what the pipeline `p.name` builds and when (its history, its count of runs
    /// and its last good inputs stay; its failures in a row are forgotten); `false` when
    /// there is none.
    pub async fn update_pipeline(
        &self,
        p: &NewPipeline,
        next_run_at: Option<i64>,
    ) -> Result<bool, ServerError> {
        let update = sqlx::query(
            "UPDATE pipelines SET recipe_file = $2, recipe = $3, distribution_file = $4, \
             distribution = $5, groups_json = $6, schedule = $7, timezone = $8, \
             start_condition = $9, enabled = $10, max_failures = $11, failures = 0, \
             builder_tags = $12, next_run_at = $13, disabled_because = NULL WHERE name = $1",
        );
        let done = bind_pipeline(update, p, next_run_at)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes the pipeline `name` and its history, unless a run of it is pending or
    /// running: `None` when there is no such pipeline, `Some(false)` when a run is going.
    pub async fn delete_pipeline(&self, name: &str) -> Result<Option<bool>, ServerError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Taking the pipeline's row first orders this against a run being started.
        let found = sqlx::query("UPDATE pipelines SET runs = runs WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if found.rows_affected() == 0 {
            return Ok(None);
        }
        if runs_going(&mut *tx, name).await? {
            return Ok(Some(false));
        }
        for statement in [
            "DELETE FROM pipeline_runs WHERE pipeline = $1",
            "DELETE FROM pipelines WHERE name = $1",
        ] {
            sqlx::query(statement)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(Some(true))
    }

    /// Every pipeline, by name.
    pub async fn pipelines(&self) -> Result<Vec<Pipeline>, ServerError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PIPELINE_COLUMNS} FROM pipelines ORDER BY name"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(pipeline_from).collect()
    }

    pub async fn pipeline(&self, name: &str) -> Result<Option<Pipeline>, ServerError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PIPELINE_COLUMNS} FROM pipelines WHERE name = $1"
        )))
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(pipeline_from).transpose()
    }

    /// Enables (its schedule counted again from now, its failures forgotten) or disables a
    /// pipeline; `None` when there is none.
    pub async fn set_pipeline_enabled(
        &self,
        name: &str,
        enabled: bool,
    ) -> Result<Option<Pipeline>, ServerError> {
        let Some(p) = self.pipeline(name).await? else {
            return Ok(None);
        };
        let next = match (&p.schedule, enabled) {
            (Some(s), true) => davit_schedule::next_run(s, &p.timezone, now(), p.created_at)
                .map_err(|e| ServerError::Database(format!("pipeline `{name}`: {e}")))?,
            _ => None,
        };
        sqlx::query(
            "UPDATE pipelines SET enabled = $1, next_run_at = $2, failures = 0, \
             disabled_because = NULL WHERE name = $3",
        )
        .bind(i64::from(enabled))
        .bind(next)
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        self.pipeline(name).await
    }

    /// Starts a run of `name` now (`cause` `manual` or `schedule`); `None` when there is no
    /// such pipeline. A manual run always builds.
    pub async fn start_run(
        &self,
        name: &str,
        cause: &str,
        if_changed: bool,
    ) -> Result<Option<PipelineRun>, ServerError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let Some(row) =
            sqlx::query("UPDATE pipelines SET runs = runs + 1 WHERE name = $1 RETURNING runs")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?
        else {
            return Ok(None);
        };
        let seq: i64 = row.try_get("runs").map_err(backend)?;
        let id = format!("r-{}", &crate::token::new("x")?[2..18]);
        sqlx::query(
            "INSERT INTO pipeline_runs (id, pipeline, seq, cause, status, if_changed, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(name)
        .bind(seq)
        .bind(cause)
        .bind(RunStatus::Pending.as_str())
        .bind(i64::from(if_changed))
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        self.run(&id).await
    }

    pub async fn run(&self, id: &str) -> Result<Option<PipelineRun>, ServerError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(run_from).transpose()
    }

    /// The runs of `name`, newest first (at most `limit`).
    pub async fn runs(&self, name: &str, limit: i64) -> Result<Vec<PipelineRun>, ServerError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE pipeline = $1 ORDER BY seq DESC LIMIT $2"
        )))
        .bind(name)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(run_from).collect()
    }

    /// Starts a run of every enabled pipeline whose schedule is due at `at`, and moves its
    /// next run on; the number of runs started.
    pub async fn start_due_pipelines(&self, at: i64) -> Result<usize, ServerError> {
        let rows = sqlx::query(
            "SELECT name, schedule, timezone, start_condition, next_run_at, created_at \
             FROM pipelines WHERE enabled = 1 AND next_run_at IS NOT NULL AND next_run_at <= $1",
        )
        .bind(at)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let mut started = 0;
        for row in &rows {
            let name: String = row.try_get("name").map_err(backend)?;
            let schedule: Option<String> = row.try_get("schedule").map_err(backend)?;
            let timezone: String = row.try_get("timezone").map_err(backend)?;
            let due: i64 = row.try_get("next_run_at").map_err(backend)?;
            let created: i64 = row.try_get("created_at").map_err(backend)?;
            let condition: String = row.try_get("start_condition").map_err(backend)?;
            let next = schedule
                .as_deref()
                .map(|s| davit_schedule::next_run(s, &timezone, at, created))
                .transpose()
                .map_err(|e| ServerError::Database(format!("pipeline `{name}`: {e}")))?
                .flatten();
            let moved = sqlx::query(
                "UPDATE pipelines SET next_run_at = $1 WHERE name = $2 AND next_run_at = $3",
            )
            .bind(next)
            .bind(&name)
            .bind(due)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
            if moved.rows_affected() == 0 {
                continue; // another server took this tick
            }
            if runs_going(&self.pool, &name).await? {
                continue;
            }
            let if_changed = condition == StartCondition::Changed.as_str();
            if self
                .start_run(&name, "schedule", if_changed)
                .await?
                .is_some()
            {
                started += 1;
            }
        }
        Ok(started)
    }

    /// Hands `agent` (a builder) the oldest pending run it may build.
    pub async fn claim_build(&self, agent: &str) -> Result<Option<BuildJob>, ServerError> {
        let tags: BTreeMap<String, String> =
            match sqlx::query("SELECT tags FROM agents WHERE id = $1")
                .bind(agent)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?
            {
                Some(row) => json_column(&row, "tags")?,
                None => return Ok(None),
            };
        let rows = sqlx::query(
            "SELECT r.id, r.pipeline, r.if_changed, p.recipe_file, p.recipe, p.distribution_file, \
             p.distribution, p.builder_tags, p.last_good_inputs \
             FROM pipeline_runs r JOIN pipelines p ON p.name = r.pipeline \
             WHERE r.status = $1 ORDER BY r.created_at, r.seq",
        )
        .bind(RunStatus::Pending.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        for row in &rows {
            let wanted: BTreeMap<String, String> = json_column(row, "builder_tags")?;
            if !wanted.iter().all(|(k, v)| tags.get(k) == Some(v)) {
                continue;
            }
            let id: String = row.try_get("id").map_err(backend)?;
            let claimed = sqlx::query(
                "UPDATE pipeline_runs SET status = $1, agent = $2, started_at = $3 \
                 WHERE id = $4 AND status = $5",
            )
            .bind(RunStatus::Running.as_str())
            .bind(agent)
            .bind(now())
            .bind(&id)
            .bind(RunStatus::Pending.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
            if claimed.rows_affected() == 0 {
                continue; // another builder was first
            }
            let pipeline: PipelineName = parsed(row, "pipeline")?;
            return Ok(Some(BuildJob {
                run: id,
                pipeline,
                recipe_file: row.try_get("recipe_file").map_err(backend)?,
                recipe: row.try_get("recipe").map_err(backend)?,
                distribution_file: row.try_get("distribution_file").map_err(backend)?,
                distribution: row.try_get("distribution").map_err(backend)?,
                unless_inputs: match bool_column(row, "if_changed")? {
                    true => row.try_get("last_good_inputs").map_err(backend)?,
                    false => None,
                },
            }));
        }
        Ok(None)
    }

    /// Ends the run `result.run` that `agent` holds (`agent` `None`: the server's reaper), and
    /// what follows from it in the same transaction; `false` when it holds no such run.
    pub async fn finish_run(
        &self,
        agent: Option<&str>,
        result: &BuildResult,
    ) -> Result<bool, ServerError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let ended = sqlx::query(
            "UPDATE pipeline_runs SET status = $1, ended_at = $2, inputs = $3, digest = $4, \
             reference = $5, detail = $6, log = $7 \
             WHERE id = $8 AND status = $9 AND ($10 = '' OR agent = $10) RETURNING pipeline, seq",
        )
        .bind(result.status.as_str())
        .bind(now())
        .bind(&result.inputs)
        .bind(&result.digest)
        .bind(&result.reference)
        .bind(tail(&result.detail, 4096))
        .bind(tail(&result.log, MAX_RUN_LOG))
        .bind(&result.run)
        .bind(RunStatus::Running.as_str())
        .bind(agent.unwrap_or(""))
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some(row) = ended else {
            return Ok(false);
        };
        let pipeline: String = row.try_get("pipeline").map_err(backend)?;
        let seq: i64 = row.try_get("seq").map_err(backend)?;
        match result.status {
            RunStatus::Failed => {
                let counted = sqlx::query(
                    "UPDATE pipelines SET failures = failures + 1 WHERE name = $1 \
                     RETURNING failures, max_failures",
                )
                .bind(&pipeline)
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
                let failures: i64 = counted.try_get("failures").map_err(backend)?;
                let max: i64 = counted.try_get("max_failures").map_err(backend)?;
                if max > 0 && failures >= max {
                    sqlx::query(
                        "UPDATE pipelines SET enabled = 0, next_run_at = NULL, \
                         disabled_because = $1 WHERE name = $2",
                    )
                    .bind(format!(
                        "{failures} failed runs in a row (max_failures {max}), the last run {seq}"
                    ))
                    .bind(&pipeline)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                }
            }
            RunStatus::Succeeded => {
                sqlx::query(
                    "UPDATE pipelines SET failures = 0, last_good_inputs = $1 WHERE name = $2",
                )
                .bind(&result.inputs)
                .bind(&pipeline)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                if let (Some(digest), Some(reference)) = (&result.digest, &result.reference) {
                    let groups: Vec<GroupRef> = json_column(
                        &sqlx::query("SELECT groups_json FROM pipelines WHERE name = $1")
                            .bind(&pipeline)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(backend)?,
                        "groups_json",
                    )?;
                    let image = GroupImage {
                        reference: reference.clone(),
                        digest: digest.clone(),
                        name: result.name.clone(),
                        version: result.version.clone(),
                        recorded_at: now(),
                    };
                    for g in &groups {
                        crate::db::set_group_image(
                            &mut *tx,
                            g.app.as_str(),
                            g.group.as_str(),
                            &image,
                        )
                        .await?;
                    }
                }
            }
            _ => {
                sqlx::query("UPDATE pipelines SET failures = 0 WHERE name = $1")
                    .bind(&pipeline)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            }
        }
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    /// Fails the runs whose builder has not been seen since `cutoff`.
    pub async fn reap_silent_builders(&self, cutoff: i64) -> Result<usize, ServerError> {
        let rows = sqlx::query(
            "SELECT r.id FROM pipeline_runs r JOIN agents a ON a.id = r.agent \
             WHERE r.status = $1 AND a.last_seen < $2",
        )
        .bind(RunStatus::Running.as_str())
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let mut reaped = 0;
        for row in &rows {
            let result = BuildResult {
                run: row.try_get("id").map_err(backend)?,
                status: RunStatus::Failed,
                inputs: None,
                digest: None,
                reference: None,
                name: String::new(),
                version: String::new(),
                detail: "the builder went silent: its agent stopped answering".into(),
                log: String::new(),
            };
            if self.finish_run(None, &result).await? {
                reaped += 1;
            }
        }
        Ok(reaped)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_log_tail_keeps_the_end_on_a_character_boundary() {
        assert_eq!(super::tail("abc", 5), "abc");
        assert_eq!(super::tail("aéé", 3), "[…]é");
    }
}
