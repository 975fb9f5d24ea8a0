//! The HTTP API. Every route but `/healthz` and the enrollment swap needs a bearer credential:
//! an operator's for the fleet's configuration, an agent's for its own endpoints. The server's
//! own executable (`/v1/dist/davit`, see `dist.rs`) is public too.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use davit_api::{
    AppName, BuildResult, EnrollToken, Enrolled, Enrollment, ErrorBody, EventResult, GroupImage,
    GroupName, Heartbeat, MAX_EVENTS_JSON, NameError, NewApp, NewDeployment, NewEnrollToken,
    NewGroup, NewPipeline, NewRun, PipelineEnabled, PipelineName, Poll, Progress, Report,
    RevokeEnrollToken, Revoked, RunStatus,
};
use serde::de::DeserializeOwned;

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
        .route("/v1/enroll-tokens/revoke", post(revoke_enroll_token))
        .route("/v1/enroll", post(enroll))
        .route("/v1/dist/davit", get(crate::dist::davit))
        .route("/v1/apps/{app}/groups/{group}/image", put(record_image))
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
        .route("/v1/agent/inventory", post(agent_inventory))
        .route("/v1/inventory", get(list_inventory))
        .route(
            "/v1/associations",
            post(create_association).get(list_associations),
        )
        .route(
            "/v1/associations/{name}",
            get(show_association).delete(delete_association),
        )
        .route("/v1/associations/{name}/run", post(run_association))
        .route("/v1/pipelines", post(create_pipeline).get(list_pipelines))
        .route(
            "/v1/pipelines/{name}",
            get(show_pipeline)
                .put(update_pipeline)
                .delete(delete_pipeline),
        )
        .route("/v1/pipelines/{name}/enabled", post(enable_pipeline))
        .route(
            "/v1/pipelines/{name}/runs",
            post(run_pipeline).get(pipeline_runs),
        )
        .route("/v1/agent/build", get(agent_build).post(agent_build_result))
        .with_state(Arc::new(db))
}

/// An error as the API answers it: a status and `{"error": "…"}`.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError(status, message.into())
    }

    fn bad(message: impl std::fmt::Display) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message.to_string())
    }
}

impl From<NameError> for ApiError {
    fn from(e: NameError) -> Self {
        ApiError::bad(e)
    }
}

impl From<crate::ServerError> for ApiError {
    fn from(e: crate::ServerError) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorBody { error: self.1 })).into_response()
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

/// A JSON request body as a davit-api message. A body that is not one is refused with 400 and
/// what serde said, the field first (`revision: \`AB…\` is not a valid revision id: …`).
pub struct Body<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => {
                let text = rejection.body_text();
                let text = text
                    .strip_prefix("Failed to deserialize the JSON body into the target type: ")
                    .unwrap_or(&text);
                // A body that parses as JSON but is not the message is a bad request too.
                let status = match rejection.status() {
                    StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
                    other => other,
                };
                Err(ApiError::new(
                    status,
                    format!("invalid request body: {text}"),
                ))
            }
        }
    }
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

async fn create_app(
    _: Operator,
    State(db): State<Shared>,
    Body(app): Body<NewApp>,
) -> Result<impl IntoResponse, ApiError> {
    if db.create_app(app.name.as_str()).await? {
        Ok((StatusCode::CREATED, Json(crate::App { name: app.name })))
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

/// The longest ceiling a group may set on one host's deployment: a week.
const MAX_DEPLOYMENT_MINUTES: u32 = 7 * 24 * 60;

async fn create_group(
    _: Operator,
    State(db): State<Shared>,
    Path(app): Path<String>,
    Body(new): Body<NewGroup>,
) -> Result<impl IntoResponse, ApiError> {
    let app = AppName::try_from(app)?;
    if new.tags.is_empty() && new.hosts.is_empty() {
        return Err(ApiError::bad(
            "a deployment group needs tags, hosts, or both",
        ));
    }
    if !(1..=MAX_DEPLOYMENT_MINUTES).contains(&new.max_deployment_minutes) {
        return Err(ApiError::bad(format!(
            "max_deployment_minutes: {} is not between 1 and {MAX_DEPLOYMENT_MINUTES}",
            new.max_deployment_minutes
        )));
    }
    let group = Group {
        app: app.clone(),
        name: new.name,
        tags: new.tags,
        hosts: new.hosts,
        max_deployment_minutes: new.max_deployment_minutes,
        auto_deploy_new_hosts: new.auto_deploy_new_hosts,
        image: None,
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
    let app = AppName::try_from(app)?;
    Ok(Json(db.groups(app.as_str()).await?))
}

/// A distribution records the image the group's hosts should use; answers the group.
async fn record_image(
    _: Operator,
    State(db): State<Shared>,
    Path((app, group)): Path<(String, String)>,
    Body(mut image): Body<GroupImage>,
) -> Result<impl IntoResponse, ApiError> {
    let app = AppName::try_from(app)?;
    let group = GroupName::try_from(group)?;
    check_image(&image.digest, &image.reference, &image.name, &image.version)?;
    image.recorded_at = now();
    match db
        .record_image(app.as_str(), group.as_str(), &image)
        .await?
    {
        Some(g) => Ok(Json(g)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no deployment group `{group}` of `{app}`"),
        )),
    }
}

/// What a group is told of an image: a manifest digest, a `docker://` reference, a name and a
/// version of bounded sizes.
fn check_image(digest: &str, reference: &str, name: &str, version: &str) -> Result<(), ApiError> {
    let hex = digest.strip_prefix("sha256:").unwrap_or("");
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(ApiError::bad(format!(
            "digest: `{digest}` is not sha256: and 64 lowercase hex digits"
        )));
    }
    if !reference.starts_with("docker://") || reference.len() > 512 {
        return Err(ApiError::bad(format!(
            "reference: `{reference}` is not docker://HOST[:PORT]/REPOSITORY:TAG"
        )));
    }
    if name.is_empty() || name.len() > 128 || version.len() > 64 {
        return Err(ApiError::bad(
            "name and version: 1 to 128 and at most 64 characters",
        ));
    }
    Ok(())
}

async fn create_enroll_token(
    _: Operator,
    State(db): State<Shared>,
    Body(request): Body<NewEnrollToken>,
) -> Result<impl IntoResponse, ApiError> {
    let secret = token::new("dve")?;
    let expires_at = match request.expires_in {
        None => None,
        Some(s) if (1..=10 * 366 * 86_400).contains(&s) => Some(now() + s as i64),
        Some(s) => {
            return Err(ApiError::bad(format!(
                "expires_in: {s} is not 1 second to 10 years"
            )));
        }
    };
    db.add_token(
        &token::hash(&secret),
        TokenKind::Enroll,
        None,
        request.reusable,
        expires_at,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(EnrollToken {
            token: secret,
            expires_at,
        }),
    ))
}

async fn revoke_enroll_token(
    _: Operator,
    State(db): State<Shared>,
    Body(request): Body<RevokeEnrollToken>,
) -> Result<impl IntoResponse, ApiError> {
    if db.revoke_enroll_token(&token::hash(&request.token)).await? {
        Ok(Json(Revoked { revoked: true }))
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no such enrollment token",
        ))
    }
}

async fn enroll(
    State(db): State<Shared>,
    Body(request): Body<Enrollment>,
) -> Result<impl IntoResponse, ApiError> {
    check_host_name(&request.hostname)?;
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
    db.seen(&agent)?;
    Ok(Json(Heartbeat { agent_id: agent }))
}

/// Host names are labels in listings: letters, digits, `-`, `_`, `.`, 1 to 128 of them.
fn check_host_name(name: &str) -> Result<(), ApiError> {
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
            format!("`{name}` cannot name a host (letters, digits, `-`, `_`, `.`)"),
        ))
    }
}

async fn create_deployment(
    _: Operator,
    State(db): State<Shared>,
    Path((app, group)): Path<(String, String)>,
    Body(new): Body<NewDeployment>,
) -> Result<impl IntoResponse, ApiError> {
    let (app, group) = (AppName::try_from(app)?, GroupName::try_from(group)?);
    let bad = |e: String| ApiError::bad(e);
    let config = match &new.package {
        Some(job) => {
            if new.config.is_some() || new.min_healthy.is_some() || new.batches.is_some() {
                return Err(bad(
                    "a package job rolls out by `concurrency` and `max_errors`, not `config`, `min_healthy` or `batches`".into(),
                ));
            }
            if !davit_api::is_safe_name(&job.name) || job.version.is_empty() {
                return Err(bad(format!(
                    "`package`: `{}` {} is not a package name and version",
                    job.name, job.version
                )));
            }
            let amount = |text: &Option<String>, default: &str, key: &str| {
                text.as_deref()
                    .unwrap_or(default)
                    .parse()
                    .map_err(|e| bad(format!("`{key}`: {e}")))
            };
            DeploymentConfig::rate(
                amount(&new.concurrency, "50", "concurrency")?,
                amount(&new.max_errors, "0", "max_errors")?,
            )
        }
        None => {
            if new.concurrency.is_some() || new.max_errors.is_some() {
                return Err(bad(
                    "`concurrency` and `max_errors` are a package job's".into()
                ));
            }
            let mut config = DeploymentConfig::named(new.config.as_deref().unwrap_or("OneAtATime"))
                .map_err(bad)?;
            if let Some(min) = &new.min_healthy {
                config.min_healthy = min.parse().map_err(bad)?;
            }
            if let Some(batches) = &new.batches {
                config.batches = DeploymentConfig::ramp(batches).map_err(bad)?;
            }
            config
        }
    };
    let package = new
        .package
        .as_ref()
        .map(|job| serde_json::to_string(job).expect("a package job serializes"));
    let found = db.groups(app.as_str()).await?;
    let Some(found) = found.into_iter().find(|g| g.name == group) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("deployment group `{group}` of `{app}` does not exist"),
        ));
    };
    let members = crate::deployments::members(&found.tags, &found.hosts, &db.agents().await?);
    let id = format!("d-{}", &token::new("x")?[2..14].to_uppercase());
    let what = crate::deployments::NewDeployment {
        id: &id,
        app: app.as_str(),
        group: group.as_str(),
        revision: new.revision.as_str(),
        store: &new.store,
        rollback_of: None,
        package: package.as_deref(),
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

async fn agent_command(
    AgentId(agent): AgentId,
    State(db): State<Shared>,
    poll: Result<axum::extract::Query<Poll>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let axum::extract::Query(poll) = poll.map_err(|e| ApiError::bad(e.body_text()))?;
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_secs(poll.wait.unwrap_or(0).min(25));
    let busy = poll.busy();
    let mut seen = None;
    loop {
        // An agent waiting here is alive: seen at least every second, so that a host started
        // during a long poll is not taken for one whose agent went silent.
        if seen.is_none_or(|at: std::time::Instant| at.elapsed().as_secs() >= 1) {
            db.seen(&agent)?;
            seen = Some(std::time::Instant::now());
        }
        if let Some(command) = db.claim_command(&agent, &busy).await? {
            return Ok(Json(command).into_response());
        }
        if std::time::Instant::now() >= deadline {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Whether these events fit in what the API stores per host.
fn fits(events: &[EventResult]) -> bool {
    serde_json::to_string(events).is_ok_and(|e| e.len() <= MAX_EVENTS_JSON)
}

async fn agent_report(
    AgentId(agent): AgentId,
    State(db): State<Shared>,
    Body(report): Body<Report>,
) -> Result<impl IntoResponse, ApiError> {
    db.seen(&agent)?;
    let result = match (report.succeeded, report.after_restart) {
        (true, _) => Ok(report.detail),
        (false, true) => Err(HostFailure::FailedAfterRestart(report.detail)),
        (false, false) => Err(HostFailure::Event(report.detail)),
    };
    let events = report.events.filter(|e| fits(e));
    if db
        .report(&agent, &report.deployment, result, events.as_deref())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_host(&report.deployment))
    }
}

async fn create_association(
    _: Operator,
    State(db): State<Shared>,
    Body(new): Body<davit_api::NewAssociation>,
) -> Result<impl IntoResponse, ApiError> {
    let next = crate::associations::check(&new).map_err(ApiError::bad)?;
    let groups = db.groups(new.app.as_str()).await?;
    if !groups.iter().any(|g| g.name == new.group) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "deployment group `{}` of `{}` does not exist",
                new.group, new.app
            ),
        ));
    }
    if !db.create_association(&new, next).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("association `{}` exists", new.name),
        ));
    }
    // It applies at once; a store that cannot be read now is kept as its `last_error` (and
    // the schedule tries again).
    let _first_run = db.run_association(&new.name).await?;
    let shown = db.association(&new.name).await?.expect("just created");
    Ok((StatusCode::CREATED, Json(shown)))
}

async fn list_associations(
    _: Operator,
    State(db): State<Shared>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(db.associations().await?))
}

fn no_association(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("association `{name}` does not exist"),
    )
}

async fn show_association(
    _: Operator,
    State(db): State<Shared>,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    match db.association(&name).await? {
        Some(a) => Ok(Json(a)),
        None => Err(no_association(&name)),
    }
}

async fn delete_association(
    _: Operator,
    State(db): State<Shared>,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let Some(shown) = db.association(&name).await? else {
        return Err(no_association(&name));
    };
    if !db.delete_association(&name).await? {
        return Err(no_association(&name));
    }
    Ok(Json(shown))
}

async fn run_association(
    _: Operator,
    State(db): State<Shared>,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    if db.association(&name).await?.is_none() {
        return Err(no_association(&name));
    }
    match db.run_association(&name).await? {
        Ok(id) => Ok(Json(db.deployment(&id).await?.expect("just created"))),
        Err(why) => Err(ApiError::new(StatusCode::CONFLICT, why)),
    }
}

async fn agent_inventory(
    AgentId(agent): AgentId,
    State(db): State<Shared>,
    Body(inventory): Body<davit_api::Inventory>,
) -> Result<impl IntoResponse, ApiError> {
    db.seen(&agent)?;
    db.put_inventory(&agent, &inventory.packages).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize)]
struct InventoryQuery {
    host: Option<String>,
}

async fn list_inventory(
    _: Operator,
    State(db): State<Shared>,
    axum::extract::Query(query): axum::extract::Query<InventoryQuery>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(db.inventory(query.host.as_deref()).await?))
}

async fn agent_progress(
    AgentId(agent): AgentId,
    State(db): State<Shared>,
    Body(progress): Body<Progress>,
) -> Result<impl IntoResponse, ApiError> {
    db.seen(&agent)?;
    if !fits(&progress.events) {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too many events",
        ));
    }
    if db
        .progress(
            &agent,
            &progress.deployment,
            &progress.events,
            progress.rebooting.as_deref(),
        )
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

/// Checks a pipeline's request, its groups among them; its first scheduled run.
async fn checked(db: &Db, new: &NewPipeline) -> Result<Option<i64>, ApiError> {
    let next = crate::pipelines::check(new).map_err(ApiError::bad)?;
    for g in &new.groups {
        let known = db.groups(g.app.as_str()).await?;
        if !known.iter().any(|k| k.name == g.group) {
            return Err(ApiError::bad(format!(
                "groups: no deployment group `{}` of `{}`",
                g.group, g.app
            )));
        }
    }
    Ok(next)
}

async fn create_pipeline(
    _: Operator,
    State(db): State<Shared>,
    Body(new): Body<NewPipeline>,
) -> Result<impl IntoResponse, ApiError> {
    let next = checked(&db, &new).await?;
    if !db.create_pipeline(&new, next).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("a pipeline named `{}` exists", new.name),
        ));
    }
    let created = db.pipeline(new.name.as_str()).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn list_pipelines(
    _: Operator,
    State(db): State<Shared>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(db.pipelines().await?))
}

fn no_pipeline(name: &PipelineName) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no pipeline `{name}`"))
}

async fn show_pipeline(
    _: Operator,
    State(db): State<Shared>,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let name = PipelineName::try_from(name)?;
    db.pipeline(name.as_str())
        .await?
        .map(Json)
        .ok_or_else(|| no_pipeline(&name))
}

async fn update_pipeline(
    _: Operator,
    State(db): State<Shared>,
    Path(name): Path<String>,
    Body(new): Body<NewPipeline>,
) -> Result<impl IntoResponse, ApiError> {
    let name = PipelineName::try_from(name)?;
    if new.name != name {
        return Err(ApiError::bad(format!(
            "name: `{}` is not the pipeline `{name}` of the path",
            new.name
        )));
    }
    let next = checked(&db, &new).await?;
    if !db.update_pipeline(&new, next).await? {
        return Err(no_pipeline(&name));
    }
    db.pipeline(name.as_str())
        .await?
        .map(Json)
        .ok_or_else(|| no_pipeline(&name))
}

async fn delete_pipeline(
    _: Operator,
    State(db): State<Shared>,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let name = PipelineName::try_from(name)?;
    // What is deleted is what the answer shows.
    let shown = db.pipeline(name.as_str()).await?;
    match (db.delete_pipeline(name.as_str()).await?, shown) {
        (Some(true), Some(p)) => Ok(Json(p)),
        (Some(false), _) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("a run of `{name}` is pending or running: let it end first"),
        )),
        _ => Err(no_pipeline(&name)),
    }
}

async fn enable_pipeline(
    _: Operator,
    State(db): State<Shared>,
    Path(name): Path<String>,
    Body(enabled): Body<PipelineEnabled>,
) -> Result<impl IntoResponse, ApiError> {
    let name = PipelineName::try_from(name)?;
    db.set_pipeline_enabled(name.as_str(), enabled.enabled)
        .await?
        .map(Json)
        .ok_or_else(|| no_pipeline(&name))
}

async fn run_pipeline(
    _: Operator,
    State(db): State<Shared>,
    Path(name): Path<String>,
    Body(asked): Body<NewRun>,
) -> Result<impl IntoResponse, ApiError> {
    let name = PipelineName::try_from(name)?;
    match db
        .start_run(name.as_str(), "manual", asked.if_changed)
        .await?
    {
        Some(run) => Ok((StatusCode::CREATED, Json(run))),
        None => Err(no_pipeline(&name)),
    }
}

async fn pipeline_runs(
    _: Operator,
    State(db): State<Shared>,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let name = PipelineName::try_from(name)?;
    if db.pipeline(name.as_str()).await?.is_none() {
        return Err(no_pipeline(&name));
    }
    Ok(Json(db.runs(name.as_str(), 100).await?))
}

/// A builder's long poll for a run (`?wait=SECONDS`, at most 25).
async fn agent_build(
    AgentId(agent): AgentId,
    State(db): State<Shared>,
    poll: Result<axum::extract::Query<Poll>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let axum::extract::Query(poll) = poll.map_err(|e| ApiError::bad(e.body_text()))?;
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_secs(poll.wait.unwrap_or(0).min(25));
    loop {
        db.seen(&agent)?;
        if let Some(job) = db.claim_build(&agent).await? {
            return Ok(Json(job).into_response());
        }
        if std::time::Instant::now() >= deadline {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        // A builder waiting here is seen each second (as a polling agent is).
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

async fn agent_build_result(
    AgentId(agent): AgentId,
    State(db): State<Shared>,
    Body(result): Body<BuildResult>,
) -> Result<impl IntoResponse, ApiError> {
    db.seen(&agent)?;
    if !result.status.is_finished() {
        return Err(ApiError::bad(format!(
            "status: a run ends Succeeded, Failed or Skipped, not {}",
            result.status
        )));
    }
    if let (RunStatus::Succeeded, Some(digest), Some(reference)) =
        (result.status, &result.digest, &result.reference)
    {
        check_image(digest, reference, &result.name, &result.version)?;
    }
    if db.finish_run(Some(&agent), &result).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("this agent holds no running run `{}`", result.run),
        ))
    }
}
