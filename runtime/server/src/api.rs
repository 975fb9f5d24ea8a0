//! The HTTP API. Every route but `/healthz` and the enrollment swap needs a bearer credential:
//! an operator's for the fleet's configuration, an agent's for its own endpoints.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use davit_fleet::{DeploymentConfig, HostFailure};

use crate::db::{Agent, Db, Group, TokenKind, now};
use crate::token;

type Shared = Arc<Db>;

/// The API's routes over `db`.
pub fn router(db: Db) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/apps", post(create_app).get(list_apps))
        .route("/v1/apps/{app}/groups", post(create_group).get(list_groups))
        .route("/v1/enroll-tokens", post(create_enroll_token))
        .route("/v1/enroll", post(enroll))
        .route("/v1/agents", get(list_agents))
        .route("/v1/agent/heartbeat", post(heartbeat))
        .route(
            "/v1/apps/{app}/groups/{group}/deployments",
            post(create_deployment),
        )
        .route("/v1/deployments", get(list_deployments))
        .route("/v1/deployments/{id}", get(show_deployment))
        .route("/v1/deployments/{id}/stop", post(stop_deployment))
        .route("/v1/agent/command", get(agent_command))
        .route("/v1/agent/report", post(agent_report))
        .route("/v1/agent/progress", post(agent_progress))
        .with_state(Arc::new(db))
}

/// An error as the API answers it: a status and `{"error": "…"}`.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError(status, message.into())
    }
}

impl From<crate::ServerError> for ApiError {
    fn from(e: crate::ServerError) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

/// The credential a request presents, checked against the database.
async fn credential(parts: &Parts, db: &Db) -> Result<(TokenKind, Option<String>), ApiError> {
    let unauthorized = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this needs `Authorization: Bearer <token>` with a valid token",
        )
    };
    let secret = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(unauthorized)?;
    db.token(&token::hash(secret))
        .await?
        .ok_or_else(unauthorized)
}

/// A request made with an operator's token.
pub struct Operator;

impl FromRequestParts<Shared> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, db: &Shared) -> Result<Self, ApiError> {
        match credential(parts, db).await? {
            (TokenKind::Operator, _) => Ok(Operator),
            _ => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "this needs an operator's token",
            )),
        }
    }
}

/// A request made with an agent's credential: the agent's id.
pub struct AgentId(String);

impl FromRequestParts<Shared> for AgentId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, db: &Shared) -> Result<Self, ApiError> {
        match credential(parts, db).await? {
            (TokenKind::Agent, Some(agent)) => Ok(AgentId(agent)),
            _ => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "this needs an agent's credential",
            )),
        }
    }
}

#[derive(Deserialize)]
struct NewApp {
    name: String,
}

async fn create_app(
    _: Operator,
    State(db): State<Shared>,
    Json(app): Json<NewApp>,
) -> Result<impl IntoResponse, ApiError> {
    check_name("application", &app.name)?;
    if db.create_app(&app.name).await? {
        Ok((
            StatusCode::CREATED,
            Json(serde_json::json!({ "name": app.name })),
        ))
    } else {
        Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("application `{}` exists", app.name),
        ))
    }
}

async fn list_apps(_: Operator, State(db): State<Shared>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(db.apps().await?))
}

#[derive(Deserialize)]
struct NewGroup {
    name: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    hosts: Vec<String>,
}

async fn create_group(
    _: Operator,
    State(db): State<Shared>,
    Path(app): Path<String>,
    Json(new): Json<NewGroup>,
) -> Result<impl IntoResponse, ApiError> {
    check_name("deployment group", &new.name)?;
    if new.tags.is_empty() && new.hosts.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "a deployment group needs tags, hosts, or both",
        ));
    }
    let group = Group {
        app: app.clone(),
        name: new.name,
        tags: new.tags,
        hosts: new.hosts,
    };
    match db.create_group(&group).await? {
        Some(true) => Ok((StatusCode::CREATED, Json(group))),
        Some(false) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("deployment group `{}` of `{app}` exists", group.name),
        )),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("application `{app}` does not exist"),
        )),
    }
}

async fn list_groups(
    _: Operator,
    State(db): State<Shared>,
    Path(app): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(db.groups(&app).await?))
}

#[derive(Serialize)]
struct Issued {
    token: String,
}

async fn create_enroll_token(
    _: Operator,
    State(db): State<Shared>,
) -> Result<impl IntoResponse, ApiError> {
    let secret = token::new("dve")?;
    db.add_token(&token::hash(&secret), TokenKind::Enroll, None)
        .await?;
    Ok((StatusCode::CREATED, Json(Issued { token: secret })))
}

#[derive(Deserialize)]
struct Enrollment {
    token: String,
    hostname: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Enrolled {
    agent_id: String,
    credential: String,
}

async fn enroll(
    State(db): State<Shared>,
    Json(request): Json<Enrollment>,
) -> Result<impl IntoResponse, ApiError> {
    check_name("host name", &request.hostname)?;
    let agent = Agent {
        id: token::new("agent")?,
        hostname: request.hostname,
        tags: request.tags,
        last_seen: now(),
    };
    let credential = token::new("dva")?;
    if db
        .enroll(
            &token::hash(&request.token),
            &agent,
            &token::hash(&credential),
        )
        .await?
    {
        Ok((
            StatusCode::CREATED,
            Json(Enrolled {
                agent_id: agent.id,
                credential,
            }),
        ))
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "the enrollment token is unknown or was already used",
        ))
    }
}

async fn list_agents(_: Operator, State(db): State<Shared>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(db.agents().await?))
}

async fn heartbeat(
    AgentId(agent): AgentId,
    State(db): State<Shared>,
) -> Result<impl IntoResponse, ApiError> {
    db.seen(&agent).await?;
    Ok(Json(serde_json::json!({ "agent_id": agent })))
}

/// Names are path segments and labels: letters, digits, `-`, `_`, `.`, 1 to 128 of them.
fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("`{name}` cannot name a {what} (letters, digits, `-`, `_`, `.`)"),
        ))
    }
}

#[derive(Deserialize)]
struct NewDeployment {
    revision: String,
    store: String,
    /// `OneAtATime`, `HalfAtATime` or `AllAtOnce` (default `OneAtATime`, as CodeDeploy).
    config: Option<String>,
    /// A minimum of healthy hosts, `3` or `75%`, instead of the configuration's.
    min_healthy: Option<String>,
    /// A ramp of batches, `1,5,20%`.
    batches: Option<String>,
}

async fn create_deployment(
    _: Operator,
    State(db): State<Shared>,
    Path((app, group)): Path<(String, String)>,
    Json(new): Json<NewDeployment>,
) -> Result<impl IntoResponse, ApiError> {
    let bad = |e: String| ApiError::new(StatusCode::BAD_REQUEST, e);
    let mut config =
        DeploymentConfig::named(new.config.as_deref().unwrap_or("OneAtATime")).map_err(bad)?;
    if let Some(min) = &new.min_healthy {
        config.min_healthy = min.parse().map_err(bad)?;
    }
    if let Some(batches) = &new.batches {
        config.batches = DeploymentConfig::ramp(batches).map_err(bad)?;
    }
    if new.revision.len() != 64 || !new.revision.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad(format!("`{}` is not a revision id", new.revision)));
    }
    let Some(found) = db.groups(&app).await?.into_iter().find(|g| g.name == group) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("deployment group `{group}` of `{app}` does not exist"),
        ));
    };
    let members = crate::deployments::members(&found.tags, &found.hosts, &db.agents().await?);
    let id = format!("d-{}", &token::new("x")?[2..14].to_uppercase());
    let what = crate::deployments::NewDeployment {
        id: &id,
        app: &app,
        group: &group,
        revision: &new.revision,
        store: &new.store,
        rollback_of: None,
    };
    db.create_deployment(&what, &config, &members)
        .await?
        .map_err(bad)?;
    let deployment = db.deployment(&id).await?.expect("just created");
    Ok((StatusCode::CREATED, Json(deployment)))
}

async fn list_deployments(
    _: Operator,
    State(db): State<Shared>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(db.list_deployments(100).await?))
}

async fn show_deployment(
    _: Operator,
    State(db): State<Shared>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    match db.deployment(&id).await? {
        Some(d) => Ok(Json(d)),
        None => Err(no_deployment(&id)),
    }
}

async fn stop_deployment(
    _: Operator,
    State(db): State<Shared>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    if db.deployment(&id).await?.is_none() {
        return Err(no_deployment(&id));
    }
    db.advance(&id, |planner| planner.stop("stopped by an operator"))
        .await?;
    Ok(Json(db.deployment(&id).await?))
}

#[derive(Deserialize)]
struct Poll {
    /// Seconds to wait for a command (long poll), at most 25.
    wait: Option<u64>,
}

async fn agent_command(
    AgentId(agent): AgentId,
    State(db): State<Shared>,
    axum::extract::Query(poll): axum::extract::Query<Poll>,
) -> Result<Response, ApiError> {
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_secs(poll.wait.unwrap_or(0).min(25));
    db.seen(&agent).await?;
    loop {
        if let Some(command) = db.claim_command(&agent).await? {
            return Ok(Json(command).into_response());
        }
        if std::time::Instant::now() >= deadline {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[derive(Deserialize)]
struct Report {
    deployment: String,
    succeeded: bool,
    /// What happened: the failing event and hook, or a summary.
    #[serde(default)]
    detail: String,
    /// The agent restarted during the deployment (its journal said so).
    #[serde(default)]
    after_restart: bool,
    /// Per lifecycle event: name, status, time, detail and a log tail (at most 64 KiB in all).
    events: Option<Value>,
}

/// The most an agent's per-event report may weigh.
const MAX_EVENTS_JSON: usize = 64 << 10;

async fn agent_report(
    AgentId(agent): AgentId,
    State(db): State<Shared>,
    Json(report): Json<Report>,
) -> Result<impl IntoResponse, ApiError> {
    db.seen(&agent).await?;
    let result = match (report.succeeded, report.after_restart) {
        (true, _) => Ok(report.detail),
        (false, true) => Err(HostFailure::FailedAfterRestart),
        (false, false) => Err(HostFailure::Event(report.detail)),
    };
    let events = report
        .events
        .filter(|e| e.to_string().len() <= MAX_EVENTS_JSON);
    if db
        .report(&agent, &report.deployment, result, events.as_ref())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_host(&report.deployment))
    }
}

#[derive(Deserialize)]
struct Progress {
    deployment: String,
    /// The events finished so far, as in a report.
    events: Value,
}

async fn agent_progress(
    AgentId(agent): AgentId,
    State(db): State<Shared>,
    Json(progress): Json<Progress>,
) -> Result<impl IntoResponse, ApiError> {
    db.seen(&agent).await?;
    if progress.events.to_string().len() > MAX_EVENTS_JSON {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too many events",
        ));
    }
    if db
        .progress(&agent, &progress.deployment, &progress.events)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_host(&progress.deployment))
    }
}

fn no_deployment(id: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no deployment `{id}`"))
}

fn no_host(deployment: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        format!("this agent has no host running in deployment `{deployment}`"),
    )
}
