//! The davit server: applications, deployment groups, agents and deployments kept in SQLite or
//! PostgreSQL, served over HTTP. Every request and response is a davit-api message; statuses
//! are stored as davit-api spells them. Operators hold operator tokens; agents swap a one-time
//! enrollment token for their own credential; only `/healthz` answers anyone.

mod api;
mod associations;
mod db;
mod deployments;
mod dist;
mod follow_up;
mod inventory;
mod pipelines;
mod plan_store;
mod reports;
mod token;

use std::path::{Path, PathBuf};

pub use api::router;
pub use db::{Agent, App, Db, Group, now};
pub use deployments::{Command, Deployment, DeploymentHost};

/// Why the server cannot do its work.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The database.
    #[error("database: {0}")]
    Database(String),
    /// Local files.
    #[error("{action} `{}`", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The SQLite database in `data_dir`, the embedded default.
pub fn default_database_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("davit.db").display())
}

/// Opens the state, and on the very first start creates the operator token and writes it to
/// `data_dir/operator-token` (mode 0600). Returns the database and that file when it was
/// written now.
///
/// # Errors
///
/// When the database cannot be opened or the token file written.
pub async fn open(
    database_url: &str,
    data_dir: &Path,
) -> Result<(Db, Option<PathBuf>), ServerError> {
    std::fs::create_dir_all(data_dir).map_err(|source| ServerError::Io {
        action: "creating the data directory",
        path: data_dir.to_path_buf(),
        source,
    })?;
    let db = Db::open(database_url).await?;
    if db.has_operator().await? {
        return Ok((db, None));
    }
    let secret = token::new("dvo")?;
    let path = data_dir.join("operator-token");
    write_secret(&path, &secret)?;
    db.add_token(
        &token::hash(&secret),
        db::TokenKind::Operator,
        None,
        false,
        None,
    )
    .await?;
    Ok((db, Some(path)))
}

fn write_secret(path: &Path, secret: &str) -> Result<(), ServerError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| ServerError::Io {
        action: "writing the operator token to",
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    writeln!(file, "{secret}").map_err(io)
}

/// Starts the task that reports hosts of silent agents as lost (see
/// [`Db::reap_silent_agents`]), checking every `timeout / 4`.
pub fn spawn_reaper(db: Db, timeout: std::time::Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = (timeout / 4).max(std::time::Duration::from_millis(250));
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = db.reap_silent_agents(timeout).await {
                eprintln!("warning: checking for silent agents: {e}");
            }
            let cutoff = db::now() - timeout.as_secs() as i64;
            if let Err(e) = db.reap_silent_builders(cutoff).await {
                eprintln!("warning: checking for silent builders: {e}");
            }
        }
    })
}

/// Starts the task that starts the image pipelines' scheduled runs (see
/// [`Db::start_due_pipelines`]) and the associations' runs (see
/// [`Db::run_due_associations`]), every second.
pub fn spawn_scheduler(db: Db) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            if let Err(e) = db.start_due_pipelines(db::now()).await {
                eprintln!("warning: starting scheduled pipeline runs: {e}");
            }
            if let Err(e) = db.run_due_associations(db::now()).await {
                eprintln!("warning: starting association runs: {e}");
            }
        }
    })
}

/// Serves `router` on `listener` until the process ends.
///
/// # Errors
///
/// When the listener fails.
pub async fn serve(listener: tokio::net::TcpListener, router: axum::Router) -> std::io::Result<()> {
    axum::serve(listener, router).await
}
