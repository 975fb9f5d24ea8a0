//! The server's state in SQLite (the embedded default) or PostgreSQL, through sqlx's `Any`
//! driver and one set of portable migrations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};

use crate::ServerError;

/// Migrations, embedded in the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A connection pool to the state.
#[derive(Clone, Debug)]
pub struct Db {
    pub(crate) pool: AnyPool,
    /// What this process remembers to spare the database a query per agent request.
    pub(crate) memo: Arc<Memo>,
    /// Agents' reports, applied in batches (see `reports`).
    pub(crate) reports: crate::reports::Queue,
}

/// Facts that never change once read, and writes that would change nothing: each agent
/// request would otherwise cost more round trips to the database. A feature that revokes
/// an agent's credential would have to forget it here too.
#[derive(Debug, Default)]
pub(crate) struct Memo {
    /// Agent credentials (by hash) and their agent. An agent's credential is never used up,
    /// changed or revoked, so once valid it stays so; operator and enrollment tokens (which
    /// are revoked and used up) are always read from the database.
    agents: Mutex<HashMap<String, String>>,
    /// The second each agent was last recorded as seen by this process.
    seen: Mutex<HashMap<String, i64>>,
    /// Each deployment's command, the same for all its hosts and fixed when it is created.
    pub(crate) commands: Mutex<HashMap<String, davit_api::Command>>,
}

/// The most entries any memo holds; past it, it starts over (a fleet that large only pays
/// the queries again).
const MEMO_ENTRIES: usize = 200_000;

impl Memo {
    pub(crate) fn put<V>(map: &Mutex<HashMap<String, V>>, key: &str, value: V) {
        let mut map = map.lock().expect("memo");
        if map.len() >= MEMO_ENTRIES {
            map.clear();
        }
        map.insert(key.to_owned(), value);
    }
}

pub use davit_api::{Agent, App, Group};

/// What a credential is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// An operator's: everything but agents' own endpoints.
    Operator,
    /// A one-time token an agent swaps for its credential.
    Enroll,
    /// An agent's own credential.
    Agent,
}

impl TokenKind {
    const ALL: [TokenKind; 3] = [TokenKind::Operator, TokenKind::Enroll, TokenKind::Agent];

    /// Its spelling in the `tokens` table.
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Operator => "operator",
            TokenKind::Enroll => "enroll",
            TokenKind::Agent => "agent",
        }
    }
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(crate) fn backend(e: sqlx::Error) -> ServerError {
    ServerError::Database(e.to_string())
}

impl Db {
    /// Connects to `url` (`sqlite://path`, created if missing, or `postgres://…`) and brings
    /// the schema up to date.
    ///
    /// # Errors
    ///
    /// When the database cannot be reached or migrated.
    pub async fn open(url: &str) -> Result<Db, ServerError> {
        install_default_drivers();
        let url = if url.starts_with("sqlite:") && !url.contains('?') {
            format!("{url}?mode=rwc")
        } else {
            url.to_owned()
        };
        let sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 1 } else { 8 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // A write-ahead log, synced at checkpoints: a commit costs no fsync, and a
                        // crash of the server (not of the machine) loses no committed change.
                        // Another process sharing the file waits for the lock instead of failing.
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = NORMAL",
                            "PRAGMA busy_timeout = 10000",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(|e| ServerError::Database(format!("cannot open `{url}`: {e}")))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| ServerError::Database(format!("cannot migrate `{url}`: {e}")))?;
        let (reports, queue) = tokio::sync::mpsc::unbounded_channel();
        let db = Db {
            pool,
            memo: Arc::default(),
            reports,
        };
        tokio::spawn(crate::reports::run(db.pool.clone(), queue));
        Ok(db)
    }

    /// Stores a token's hash.
    pub(crate) async fn add_token(
        &self,
        hash: &str,
        kind: TokenKind,
        agent: Option<&str>,
        reusable: bool,
        expires_at: Option<i64>,
    ) -> Result<(), ServerError> {
        sqlx::query(
            "INSERT INTO tokens (hash, kind, agent, used, created_at, reusable, expires_at) VALUES ($1, $2, $3, 0, $4, $5, $6)",
        )
        .bind(hash)
        .bind(kind.as_str())
        .bind(agent)
        .bind(now())
        .bind(i64::from(reusable))
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(backend)
    }

    /// Whether any operator token exists.
    pub(crate) async fn has_operator(&self) -> Result<bool, ServerError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM tokens WHERE kind = $1")
            .bind(TokenKind::Operator.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        Ok(row.try_get::<i64, _>("n").map_err(backend)? > 0)
    }

    /// The kind (and agent) of the token with this hash, if it is valid and unused.
    pub(crate) async fn token(
        &self,
        hash: &str,
    ) -> Result<Option<(TokenKind, Option<String>)>, ServerError> {
        if let Some(agent) = self.memo.agents.lock().expect("memo").get(hash) {
            return Ok(Some((TokenKind::Agent, Some(agent.clone()))));
        }
        let row = sqlx::query("SELECT kind, agent FROM tokens WHERE hash = $1 AND used = 0")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        let Some(row) = row else { return Ok(None) };
        let kind: String = row.try_get("kind").map_err(backend)?;
        let Some(kind) = TokenKind::ALL.into_iter().find(|k| k.as_str() == kind) else {
            return Ok(None);
        };
        let agent: Option<String> = row.try_get("agent").map_err(backend)?;
        if let (TokenKind::Agent, Some(id)) = (kind, &agent) {
            Memo::put(&self.memo.agents, hash, id.clone());
        }
        Ok(Some((kind, agent)))
    }

    /// Swaps a one-time enrollment token for an agent's credential, atomically: of two agents
    /// presenting the same token, one enrolls.
    pub(crate) async fn enroll(
        &self,
        enroll_hash: &str,
        agent: &Agent,
        credential_hash: &str,
    ) -> Result<bool, ServerError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let used = sqlx::query(
            "UPDATE tokens SET used = 1 - reusable WHERE hash = $1 AND kind = $2 AND used = 0 \
             AND (expires_at IS NULL OR expires_at > $3)",
        )
        .bind(enroll_hash)
        .bind(TokenKind::Enroll.as_str())
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if used.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("INSERT INTO agents (id, hostname, tags, enrolled_at, last_seen) VALUES ($1, $2, $3, $4, $4)")
            .bind(&agent.id)
            .bind(&agent.hostname)
            .bind(serde_json::to_string(&agent.tags).expect("tags serialize"))
            .bind(agent.last_seen)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query(
            "INSERT INTO tokens (hash, kind, agent, used, created_at) VALUES ($1, $2, $3, 0, $4)",
        )
        .bind(credential_hash)
        .bind(TokenKind::Agent.as_str())
        .bind(&agent.id)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        // A host new to a group gets its last good revision, decided with the enrollment.
        crate::follow_up::host_joined(&mut tx, agent).await?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    /// Removes the enrollment token of `hash`; whether there was one. The agents it enrolled
    /// keep their own credentials.
    pub(crate) async fn revoke_enroll_token(&self, hash: &str) -> Result<bool, ServerError> {
        let done = sqlx::query("DELETE FROM tokens WHERE hash = $1 AND kind = $2")
            .bind(hash)
            .bind(TokenKind::Enroll.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    /// Records that an agent was heard from, with the others seen (see `reports`): once a
    /// second at most, so that an agent polling fast does not rewrite its row each time.
    pub(crate) fn seen(&self, agent: &str) -> Result<(), ServerError> {
        let second = now();
        if self.memo.seen.lock().expect("memo").get(agent) == Some(&second) {
            return Ok(());
        }
        Memo::put(&self.memo.seen, agent, second);
        self.reports
            .send(crate::reports::Pending::Seen {
                agent: agent.to_owned(),
                second,
            })
            .map_err(|_| ServerError::Database("the server is stopping".into()))
    }

    /// Every agent.
    pub async fn agents(&self) -> Result<Vec<Agent>, ServerError> {
        agents_from(&self.pool).await
    }

    /// Creates an application; `false` if it exists.
    pub async fn create_app(&self, name: &str) -> Result<bool, ServerError> {
        let done = sqlx::query(
            "INSERT INTO apps (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    /// Every application.
    pub async fn apps(&self) -> Result<Vec<App>, ServerError> {
        let rows = sqlx::query("SELECT name FROM apps ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|r| {
                Ok(App {
                    name: parsed(r, "name")?,
                })
            })
            .collect()
    }

    /// Creates a deployment group; `None` if the application does not exist, `Some(false)` if
    /// the group does.
    pub async fn create_group(&self, group: &Group) -> Result<Option<bool>, ServerError> {
        let app = sqlx::query("SELECT name FROM apps WHERE name = $1")
            .bind(group.app.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        if app.is_none() {
            return Ok(None);
        }
        let done = sqlx::query(
            "INSERT INTO deployment_groups (app, name, tags, hosts, created_at, max_deployment_minutes, auto_deploy_new_hosts) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (app, name) DO NOTHING",
        )
        .bind(group.app.as_str())
        .bind(group.name.as_str())
        .bind(serde_json::to_string(&group.tags).expect("tags serialize"))
        .bind(serde_json::to_string(&group.hosts).expect("hosts serialize"))
        .bind(now())
        .bind(i64::from(group.max_deployment_minutes))
        .bind(i64::from(group.auto_deploy_new_hosts))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(Some(done.rows_affected() == 1))
    }

    /// An application's groups.
    pub async fn groups(&self, app: &str) -> Result<Vec<Group>, ServerError> {
        let rows = sqlx::query(
            "SELECT app, name, tags, hosts, max_deployment_minutes, auto_deploy_new_hosts, image FROM deployment_groups \
             WHERE app = $1 ORDER BY name",
        )
        .bind(app)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|r| {
                Ok(Group {
                    app: parsed(r, "app")?,
                    name: parsed(r, "name")?,
                    tags: json_column(r, "tags")?,
                    hosts: json_column(r, "hosts")?,
                    max_deployment_minutes: r
                        .try_get::<i64, _>("max_deployment_minutes")
                        .map_err(backend)?
                        .try_into()
                        .map_err(|_| ServerError::Database("max_deployment_minutes".into()))?,
                    auto_deploy_new_hosts: r
                        .try_get::<i64, _>("auto_deploy_new_hosts")
                        .map_err(backend)?
                        != 0,
                    image: match r.try_get::<Option<String>, _>("image").map_err(backend)? {
                        Some(text) => Some(
                            serde_json::from_str(&text)
                                .map_err(|_| ServerError::Database("image".into()))?,
                        ),
                        None => None,
                    },
                })
            })
            .collect()
    }

    /// Records the image a group's hosts should use; the group after it, or `None` when
    /// there is no such group.
    pub(crate) async fn record_image(
        &self,
        app: &str,
        group: &str,
        image: &davit_api::GroupImage,
    ) -> Result<Option<Group>, ServerError> {
        if !set_group_image(&self.pool, app, group, image).await? {
            return Ok(None);
        }
        Ok(self
            .groups(app)
            .await?
            .into_iter()
            .find(|g| g.name.as_str() == group))
    }
}

/// Records `image` on the group `group` of `app` through `executor` (the pool, or the
/// transaction of a pipeline run's end); whether there is such a group.
pub(crate) async fn set_group_image<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    app: &str,
    group: &str,
    image: &davit_api::GroupImage,
) -> Result<bool, ServerError> {
    let json = serde_json::to_string(image).expect("an image serializes");
    let done = sqlx::query("UPDATE deployment_groups SET image = $1 WHERE app = $2 AND name = $3")
        .bind(json)
        .bind(app)
        .bind(group)
        .execute(executor)
        .await
        .map_err(backend)?;
    Ok(done.rows_affected() == 1)
}

/// A column parsed into its type (a name, a revision id, a status), through the one parser
/// of that type in davit-api.
pub(crate) fn parsed<T>(row: &sqlx::any::AnyRow, column: &str) -> Result<T, ServerError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let text: String = row.try_get(column).map_err(backend)?;
    text.parse()
        .map_err(|e| ServerError::Database(format!("column `{column}`: {e}")))
}

/// Every agent, read through `executor` (the pool, or a transaction).
pub(crate) async fn agents_from<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
) -> Result<Vec<Agent>, ServerError> {
    let rows =
        sqlx::query("SELECT id, hostname, tags, last_seen FROM agents ORDER BY hostname, id")
            .fetch_all(executor)
            .await
            .map_err(backend)?;
    rows.iter()
        .map(|r| {
            Ok(Agent {
                id: r.try_get("id").map_err(backend)?,
                hostname: r.try_get("hostname").map_err(backend)?,
                tags: json_column(r, "tags")?,
                last_seen: r.try_get("last_seen").map_err(backend)?,
            })
        })
        .collect()
}

pub(crate) fn json_column<T: serde::de::DeserializeOwned>(
    row: &sqlx::any::AnyRow,
    column: &str,
) -> Result<T, ServerError> {
    let text: String = row.try_get(column).map_err(backend)?;
    serde_json::from_str(&text)
        .map_err(|e| ServerError::Database(format!("column `{column}`: {e}")))
}
