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
