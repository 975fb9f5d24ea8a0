//! The server's API against a real database: SQLite always, PostgreSQL when `DAVIT_TEST_POSTGRES`
//! names one (`scripts/services start` sets it). Each test starts a real server on a free port.

use std::collections::BTreeMap;
use std::path::Path;

use davit_api::{
    App, Command, Deployment, DeploymentStatus, EnrollToken, Enrolled, Group, Heartbeat,
    HostStatus, NewDeployment, Report, RevisionId,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[path = "api/packages.rs"]
mod packages;
#[path = "api/pipelines.rs"]
mod pipelines;

struct Running {
    url: String,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a server over `database_url`; returns it and the operator token if it made one.
async fn start(database_url: &str, data_dir: &Path) -> (Running, Option<String>) {
    let (db, token_file) = davit_server::open(database_url, data_dir).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(davit_server::serve(listener, davit_server::router(db)));
    let token = token_file.map(|f| std::fs::read_to_string(f).unwrap().trim().to_string());
    (Running { url, task }, token)
}

/// The databases to run against: a fresh SQLite file, and a fresh PostgreSQL schema if given.
async fn databases(dir: &Path) -> Vec<String> {
    let mut urls = vec![davit_server::default_database_url(dir)];
    match std::env::var("DAVIT_TEST_POSTGRES") {
        Ok(base) => urls.push(fresh_postgres(&base).await),
        Err(_) if std::env::var_os("DAVIT_SKIP_POSTGRES").is_some() => {
            eprintln!("SKIPPED: PostgreSQL (DAVIT_SKIP_POSTGRES is set)");
        }
        Err(_) => panic!(
            "DAVIT_TEST_POSTGRES is not set: run `eval \"$(scripts/services start)\"` first (scripts/test does), or set DAVIT_SKIP_POSTGRES=1"
        ),
    }
    urls
}

/// A new, empty database on the PostgreSQL server at `base` (`postgres://…/postgres`).
async fn fresh_postgres(base: &str) -> String {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let name = format!(
        "davit_test_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let mut admin = sqlx::AnyConnection::connect(base).await.unwrap();
    // The name is made here of digits and `davit_test_`, never from input.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let (prefix, _) = base.rsplit_once('/').unwrap();
    format!("{prefix}/{name}")
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn call(
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client().request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

use reqwest::Method;

/// [`call`], its answer read as the davit-api message `T`.
async fn typed<T: serde::de::DeserializeOwned>(
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, T) {
    let (status, body) = call(method, url, token, body).await;
    let parsed = serde_json::from_value(body.clone())
        .unwrap_or_else(|e| panic!("{status}: {body} is not the message: {e}"));
    (status, parsed)
}

#[tokio::test]
async fn operators_configure_agents_enroll_and_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    for (i, database) in databases(dir.path()).await.into_iter().enumerate() {
        let data = dir.path().join(format!("data-{i}"));
        let (server, token) = start(&database, &data).await;
        let operator = token.expect("the first start makes an operator token");
        let url = server.url.clone();

        // Anonymous: only the health endpoint.
        assert_eq!(
            call(Method::GET, format!("{url}/healthz"), None, None)
                .await
                .0,
            StatusCode::OK
        );
        for (method, path) in [
            (Method::GET, "/v1/apps"),
            (Method::POST, "/v1/enroll-tokens"),
            (Method::GET, "/v1/agents"),
        ] {
            let (status, _) = call(method, format!("{url}{path}"), None, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        }
        let (status, _) = call(
            Method::GET,
            format!("{url}/v1/apps"),
            Some("dvo_guess"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // Applications and groups.
        let app = json!({"name": "shop"});
        let (status, _) = call(
            Method::POST,
            format!("{url}/v1/apps"),
            Some(&operator),
            Some(app.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, body) = call(
            Method::POST,
            format!("{url}/v1/apps"),
            Some(&operator),
            Some(app),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        let group = json!({"name": "prod", "tags": {"env": "prod"}, "hosts": ["web-1", "web-2"]});
        let (status, body) = call(
            Method::POST,
            format!("{url}/v1/apps/shop/groups"),
            Some(&operator),
            Some(group),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = call(
            Method::POST,
            format!("{url}/v1/apps/nope/groups"),
            Some(&operator),
            Some(json!({"name": "x", "hosts": ["a"]})),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let (status, body) = call(
            Method::POST,
            format!("{url}/v1/apps"),
            Some(&operator),
            Some(json!({"name": "../etc"})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

        // Enrollment: a one-time token becomes the agent's own credential.
        let (_, issued): (_, EnrollToken) = typed(
            Method::POST,
            format!("{url}/v1/enroll-tokens"),
            Some(&operator),
            Some(json!({})),
        )
        .await;
        let request = json!({"token": issued.token, "hostname": "web-1", "tags": {"env": "prod", "zone": "a"}});
        let (status, enrolled): (_, Enrolled) = typed(
            Method::POST,
            format!("{url}/v1/enroll"),
            None,
            Some(request.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        let credential = enrolled.credential.clone();
        let (status, body) = call(
            Method::POST,
            format!("{url}/v1/enroll"),
            None,
            Some(request),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "a used token enrolls no one: {body}"
        );
        let (status, beat): (_, Heartbeat) = typed(
            Method::POST,
            format!("{url}/v1/agent/heartbeat"),
            Some(&credential),
            None,
        )
        .await;
        assert_eq!((status, beat.agent_id), (StatusCode::OK, enrolled.agent_id));
        // Credentials do not cross: an agent is no operator, an operator no agent, and an
        // enrollment token is neither.
        let (status, _) = call(
            Method::GET,
            format!("{url}/v1/apps"),
            Some(&credential),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = call(
            Method::POST,
            format!("{url}/v1/agent/heartbeat"),
            Some(&operator),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // A restart keeps everything, and makes no second operator token.
        drop(server);
        let (server, token) = start(&database, &data).await;
        assert!(token.is_none());
        let url = server.url.clone();
        let (_, apps): (_, Vec<App>) =
            typed(Method::GET, format!("{url}/v1/apps"), Some(&operator), None).await;
        assert_eq!(
            apps,
            [App {
                name: "shop".parse().unwrap()
            }]
        );
        let (_, groups): (_, Vec<Group>) = typed(
            Method::GET,
            format!("{url}/v1/apps/shop/groups"),
            Some(&operator),
            None,
        )
        .await;
        assert_eq!(groups[0].hosts, ["web-1", "web-2"]);
        assert_eq!(
            groups[0].tags,
            [("env".to_string(), "prod".to_string())].into()
        );
        assert_eq!(groups[0].max_deployment_minutes, 60, "the default ceiling");
        let (_, agents) = call(
            Method::GET,
            format!("{url}/v1/agents"),
            Some(&operator),
            None,
        )
        .await;
        assert_eq!(agents[0]["hostname"], "web-1");
        assert_eq!(agents[0]["tags"]["zone"], "a");
        let (status, _) = call(
            Method::POST,
            format!("{url}/v1/agent/heartbeat"),
            Some(&credential),
            None,
        )
        .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "the agent's credential survives too"
        );
    }
}

/// Enrolls an agent; returns its credential.
async fn enroll(url: &str, operator: &str, hostname: &str, tags: Value) -> String {
    let (_, issued): (_, EnrollToken) = typed(
        Method::POST,
        format!("{url}/v1/enroll-tokens"),
        Some(operator),
        Some(json!({})),
    )
    .await;
    let request = json!({"token": issued.token, "hostname": hostname, "tags": tags});
    let (status, enrolled): (_, Enrolled) = typed(
        Method::POST,
        format!("{url}/v1/enroll"),
        None,
        Some(request),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    enrolled.credential
}

async fn poll(url: &str, agent: &str) -> Option<Command> {
    poll_busy(url, agent, "").await
}

/// A poll from an agent busy with the applications `busy` (comma-separated).
async fn poll_busy(url: &str, agent: &str, busy: &str) -> Option<Command> {
    agent_poll(url, agent, &format!("/v1/agent/command?wait=0&busy={busy}")).await
}

/// An agent's poll of `path` that does not wait: what it is handed, or nothing (204).
async fn agent_poll<T: serde::de::DeserializeOwned>(
    url: &str,
    agent: &str,
    path: &str,
) -> Option<T> {
    let (status, body) = call(Method::GET, format!("{url}{path}"), Some(agent), None).await;
    match status {
        StatusCode::OK => Some(serde_json::from_value(body).unwrap()),
        StatusCode::NO_CONTENT => None,
        other => panic!("{other}: {body}"),
    }
}

async fn report(
    url: &str,
    agent: &str,
    deployment: &str,
    succeeded: bool,
    detail: &str,
) -> StatusCode {
    let body = Report {
        deployment: deployment.to_string(),
        succeeded,
        detail: detail.to_string(),
        after_restart: false,
        events: None,
    };
    call(
        Method::POST,
        format!("{url}/v1/agent/report"),
        Some(agent),
        Some(serde_json::to_value(body).unwrap()),
    )
    .await
    .0
}

/// A deployment as the API shows it.
async fn show(url: &str, operator: &str, id: &str) -> Deployment {
    let (status, deployment) = typed(
        Method::GET,
        format!("{url}/v1/deployments/{id}"),
        Some(operator),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    deployment
}

/// Creates a deployment of `body` to shop/prod.
async fn create(url: &str, operator: &str, body: &NewDeployment) -> Deployment {
    let (status, created) = typed(
        Method::POST,
        format!("{url}/v1/apps/shop/groups/prod/deployments"),
        Some(operator),
        Some(serde_json::to_value(body).unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    created
}

fn state_of(deployment: &Deployment, host: &str) -> HostStatus {
    deployment
        .hosts
        .iter()
        .find(|h| h.host == host)
        .map(|h| h.state)
        .unwrap_or_else(|| panic!("no {host} in {deployment:?}"))
}

#[tokio::test]
async fn deployments_hand_each_host_to_its_agent_once_and_keep_the_minimum() {
    let dir = tempfile::tempdir().unwrap();
    for (i, database) in databases(dir.path()).await.into_iter().enumerate() {
        let (server, token) = start(&database, &dir.path().join(format!("data-{i}"))).await;
        let (url, op) = (server.url.clone(), token.unwrap());
        call(
            Method::POST,
            format!("{url}/v1/apps"),
            Some(&op),
            Some(json!({"name": "shop"})),
        )
        .await;
        // Four agents with the group's tag, one on another environment, and web-5 expected but
        // never enrolled.
        let mut agents = BTreeMap::new();
        for host in ["web-1", "web-2", "web-3", "web-4"] {
            agents.insert(host, enroll(&url, &op, host, json!({"env": "prod"})).await);
        }
        let staging = enroll(&url, &op, "stage-1", json!({"env": "staging"})).await;
        let group = json!({"name": "prod", "tags": {"env": "prod"}, "hosts": ["web-5"]});
        call(
            Method::POST,
            format!("{url}/v1/apps/shop/groups"),
            Some(&op),
            Some(group),
        )
        .await;
        let revision: RevisionId = "ab".repeat(32).parse().unwrap();
        let new = |config: &str| NewDeployment {
            revision: revision.clone(),
            store: "http://store:7878/".into(),
            config: Some(config.into()),
            min_healthy: None,
            batches: None,
            package: None,
            concurrency: None,
            max_errors: None,
        };

        // AllAtOnce: every enrolled host gets the command once; web-5 fails as never enrolled.
        let created = create(&url, &op, &new("AllAtOnce")).await;
        let id = created.id.clone();
        assert_eq!(created.hosts.len(), 5, "{created:?}");
        assert_eq!(state_of(&created, "web-5"), HostStatus::Failed);
        assert!(poll(&url, &staging).await.is_none(), "not in the group");
        for (host, agent) in &agents {
            let command = poll(&url, agent)
                .await
                .unwrap_or_else(|| panic!("{host} got no command"));
            assert_eq!(command.deployment, id);
            assert_eq!(command.revision, revision);
            assert_eq!(command.max_deployment_minutes, 60);
            assert!(poll(&url, agent).await.is_none(), "{host}: handed out once");
        }
        for (host, agent) in &agents {
            let ok = *host != "web-4";
            let detail = if ok {
                "ok"
            } else {
                "AfterInstall: hooks/configure.wasm failed"
            };
            assert_eq!(
                report(&url, agent, &id, ok, detail).await,
                StatusCode::NO_CONTENT
            );
        }
        assert_eq!(
            report(&url, &agents["web-1"], &id, true, "again").await,
            StatusCode::CONFLICT
        );
        assert_eq!(
            report(&url, &staging, &id, true, "not mine").await,
            StatusCode::CONFLICT
        );
        let done = show(&url, &op, &id).await;
        assert_eq!(done.status, DeploymentStatus::Succeeded, "{done:?}");
        assert_eq!(state_of(&done, "web-4"), HostStatus::Failed);
        let web5 = done.hosts.iter().find(|h| h.host == "web-5").unwrap();
        assert_eq!(
            web5.detail.as_deref(),
            Some("no agent ever enrolled on this host")
        );

        // HalfAtATime keeps ceil(50 % of 5) = 3 healthy: web-1..3 are healthy now; the two
        // unhealthy hosts go first, and when web-4 fails again, no healthy host may go.
        let id2 = create(&url, &op, &new("HalfAtATime")).await.id;
        for host in ["web-1", "web-2", "web-3"] {
            assert!(
                poll(&url, &agents[host]).await.is_none(),
                "{host} must stay up"
            );
        }
        assert!(poll(&url, &agents["web-4"]).await.is_some());
        report(&url, &agents["web-4"], &id2, false, "AfterInstall failed").await;
        let ended = show(&url, &op, &id2).await;
        assert_eq!(ended.status, DeploymentStatus::Failed, "{ended:?}");
        assert!(
            ended
                .reason
                .as_deref()
                .unwrap()
                .contains("without going below 3 healthy hosts"),
            "{ended:?}"
        );
        for host in ["web-1", "web-2", "web-3"] {
            assert_eq!(state_of(&ended, host), HostStatus::Skipped);
        }

        // The failure is rolled back: the last good revision goes back to the host it changed
        // (web-4; web-5 never ran anything), as a deployment linked to the failed one.
        let rollback = ended.rolled_back_by.expect("a rollback");
        let back = show(&url, &op, &rollback).await;
        assert_eq!(back.rollback_of.as_deref(), Some(id2.as_str()));
        assert_eq!(back.revision, revision);
        let hosts: Vec<&str> = back.hosts.iter().map(|h| h.host.as_str()).collect();
        assert_eq!(hosts, ["web-4"]);
        let command = poll(&url, &agents["web-4"])
            .await
            .expect("the rollback's command");
        assert_eq!(command.deployment, rollback);
        report(&url, &agents["web-4"], &rollback, true, "ok").await;
        let back = show(&url, &op, &rollback).await;
        assert_eq!(back.status, DeploymentStatus::Succeeded, "{back:?}");
        assert!(
            back.rolled_back_by.is_none(),
            "a rollback is not rolled back"
        );

        // A stop lets the running host finish, then skips the rest.
        let third = create(
            &url,
            &op,
            &NewDeployment {
                store: "s".into(),
                batches: Some("1".into()),
                ..new("AllAtOnce")
            },
        )
        .await;
        let id3 = third.id.clone();
        let running: Vec<&str> = third
            .hosts
            .iter()
            .filter(|h| h.state == HostStatus::Running)
            .map(|h| h.host.as_str())
            .collect();
        assert_eq!(running.len(), 1, "{third:?}");
        let (status, _) = call(
            Method::POST,
            format!("{url}/v1/deployments/{id3}/stop"),
            Some(&op),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let first = running[0].to_string();
        assert!(poll(&url, &agents[first.as_str()]).await.is_some());
        report(&url, &agents[first.as_str()], &id3, true, "ok").await;
        let stopped = show(&url, &op, &id3).await;
        assert_eq!(stopped.status, DeploymentStatus::Failed);
        assert_eq!(stopped.reason.as_deref(), Some("stopped by an operator"));
        assert_eq!(state_of(&stopped, &first), HostStatus::Succeeded);
        drop(server);
    }
}

/// A server on a fresh SQLite file in `dir`, and its operator token.
async fn start_sqlite(dir: &Path) -> (Running, String) {
    let url = davit_server::default_database_url(dir);
    let (server, token) = start(&url, &dir.join("data")).await;
    (server, token.expect("a new state makes an operator token"))
}

/// Issue 9: the server took an uppercase revision id and a 128-character group name, which
/// every agent then refused. Now the server refuses them, naming the field and the rule.
#[tokio::test]
async fn names_and_revision_ids_an_agent_would_refuse_are_refused_with_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let (server, op) = start_sqlite(dir.path()).await;
    let url = server.url.clone();
    let post =
        |path: &str, body: Value| call(Method::POST, format!("{url}{path}"), Some(&op), Some(body));
    assert_eq!(
        post("/v1/apps", json!({"name": "shop"})).await.0,
        StatusCode::CREATED
    );
    // What a 400 says.
    let refused = async |path: &str, body: Value| {
        let (status, body) = post(path, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        body["error"].as_str().unwrap().to_string()
    };
    let long = "g".repeat(128);
    let error = refused(
        "/v1/apps/shop/groups",
        json!({"name": long, "hosts": ["a"]}),
    )
    .await;
    let expected = format!(
        "invalid request body: name: `{long}` is not a valid deployment group name: 1 to 100 letters"
    );
    assert!(error.starts_with(&expected), "{error}");
    let zero = json!({"name": "prod", "hosts": ["a"], "max_deployment_minutes": 0});
    let error = refused("/v1/apps/shop/groups", zero).await;
    assert!(error.starts_with("max_deployment_minutes: 0"), "{error}");
    let (status, group): (_, Group) = typed(
        Method::POST,
        format!("{url}/v1/apps/shop/groups"),
        Some(&op),
        Some(json!({"name": "prod", "hosts": ["a"], "max_deployment_minutes": 240})),
    )
    .await;
    assert_eq!(
        (status, group.max_deployment_minutes),
        (StatusCode::CREATED, 240)
    );

    let upper = "AB".repeat(32);
    let deployments = "/v1/apps/shop/groups/prod/deployments";
    let error = refused(deployments, json!({"revision": upper, "store": "s"})).await;
    let expected = format!(
        "invalid request body: revision: `{upper}` is not a valid revision id: 64 lowercase hexadecimal digits"
    );
    assert!(error.starts_with(&expected), "{error}");
    // A name in the path is checked the same way.
    let path = format!("/v1/apps/shop/groups/{long}/deployments");
    let error = refused(&path, json!({"revision": "ab".repeat(32), "store": "s"})).await;
    assert!(
        error.contains("is not a valid deployment group name"),
        "{error}"
    );
    drop(server);
}

/// An agent deploying one application gets the commands of others, and the next command of
/// the same application only once it says it is no longer busy with it.
#[tokio::test]
async fn an_agent_busy_with_an_application_gets_the_commands_of_others() {
    let dir = tempfile::tempdir().unwrap();
    let (server, op) = start_sqlite(dir.path()).await;
    let url = server.url.clone();
    let agent = enroll(&url, &op, "web-1", json!({"env": "prod"})).await;
    for (app, group) in [("shop", "prod"), ("blog", "prod"), ("shop", "canary")] {
        let post = |path: String, body: Value| call(Method::POST, path, Some(&op), Some(body));
        post(format!("{url}/v1/apps"), json!({"name": app})).await;
        post(
            format!("{url}/v1/apps/{app}/groups"),
            json!({"name": group, "tags": {"env": "prod"}}),
        )
        .await;
        let (status, _) = post(
            format!("{url}/v1/apps/{app}/groups/{group}/deployments"),
            json!({"revision": "cd".repeat(32), "store": "s"}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let shop = poll_busy(&url, &agent, "blog")
        .await
        .expect("one of shop's");
    assert_eq!(shop.app.as_str(), "shop");
    let blog = poll_busy(&url, &agent, "shop")
        .await
        .expect("blog's, beside shop's");
    assert_eq!(blog.app.as_str(), "blog");
    // shop's second deployment waits while shop's first runs.
    assert!(poll_busy(&url, &agent, "shop,blog").await.is_none());
    let (status, body) = call(
        Method::GET,
        format!("{url}/v1/agent/command?wait=soon"),
        Some(&agent),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("wait"), "{body}");
    let second = poll_busy(&url, &agent, "blog")
        .await
        .expect("shop's other one");
    assert_eq!(second.app.as_str(), "shop");
    assert_ne!(second.group, shop.group);
    drop(server);
}

/// A host whose agent heartbeats but whose deployment never ends fails at its group's ceiling,
/// `max_deployment_minutes`, counted from when its agent claimed it.
#[tokio::test]
async fn a_host_claimed_longer_than_its_groups_ceiling_fails() {
    let dir = tempfile::tempdir().unwrap();
    let database = davit_server::default_database_url(dir.path());
    let (db, token) = davit_server::open(&database, &dir.path().join("data"))
        .await
        .unwrap();
    let op = std::fs::read_to_string(token.unwrap())
        .unwrap()
        .trim()
        .to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = Running {
        url: url.clone(),
        task: tokio::spawn(davit_server::serve(
            listener,
            davit_server::router(db.clone()),
        )),
    };
    let agent = enroll(&url, &op, "web-1", json!({"env": "prod"})).await;
    let post =
        |path: &str, body: Value| call(Method::POST, format!("{url}{path}"), Some(&op), Some(body));
    post("/v1/apps", json!({"name": "shop"})).await;
    let group = json!({"name": "prod", "tags": {"env": "prod"}, "max_deployment_minutes": 1});
    post("/v1/apps/shop/groups", group).await;
    let body = json!({"revision": "ef".repeat(32), "store": "s"});
    let (_, created) = post("/v1/apps/shop/groups/prod/deployments", body).await;
    let id = created["id"].as_str().unwrap().to_string();
    let command = poll(&url, &agent).await.expect("the command");
    assert_eq!(command.max_deployment_minutes, 1);
    // Within the minute nothing happens, though the agent is silent for an hour's timeout.
    let an_hour = std::time::Duration::from_secs(3600);
    assert_eq!(db.reap_silent_agents(an_hour).await.unwrap(), 0);
    // Claimed two minutes ago: past the ceiling.
    {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&database).await.unwrap();
        sqlx::query("UPDATE deployment_hosts SET claimed_at = claimed_at - 120")
            .execute(&mut conn)
            .await
            .unwrap();
    }
    assert_eq!(db.reap_silent_agents(an_hour).await.unwrap(), 1);
    let done = show(&url, &op, &id).await;
    assert_eq!(state_of(&done, "web-1"), HostStatus::Failed, "{done:?}");
    assert_eq!(
        done.hosts[0].detail.as_deref(),
        Some("the deployment ran longer than its group's `max_deployment_minutes` (1)")
    );
    assert_eq!(done.status, DeploymentStatus::Failed);
    drop(server);
}

/// Starts a server over `database` with application `shop`, group `prod` (`group` as JSON) and
/// an agent for each of `hosts` tagged `env=prod`; returns the server, the operator token and
/// the agents' credentials by host.
async fn fleet(
    database: &str,
    data: &Path,
    group: Value,
    hosts: &[&str],
) -> (Running, String, BTreeMap<String, String>) {
    let (server, token) = start(database, data).await;
    let (url, op) = (server.url.clone(), token.unwrap());
    let post =
        |path: &str, body: Value| call(Method::POST, format!("{url}{path}"), Some(&op), Some(body));
    assert_eq!(
        post("/v1/apps", json!({"name": "shop"})).await.0,
        StatusCode::CREATED
    );
    let (status, body) = post("/v1/apps/shop/groups", group).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut agents = BTreeMap::new();
    for host in hosts {
        agents.insert(
            host.to_string(),
            enroll(&url, &op, host, json!({"env": "prod"})).await,
        );
    }
    (server, op, agents)
}

/// Deploys `body` (JSON) to shop/prod.
async fn deploy(url: &str, operator: &str, body: Value) -> Deployment {
    let (status, created) = typed(
        Method::POST,
        format!("{url}/v1/apps/shop/groups/prod/deployments"),
        Some(operator),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    created
}

/// Deploys `revision` to shop/prod, all at once.
async fn all_at_once(url: &str, operator: &str, revision: &str) -> Deployment {
    deploy(
        url,
        operator,
        json!({"revision": revision, "store": "s", "config": "AllAtOnce"}),
    )
    .await
}

fn prod() -> Value {
    json!({"env": "prod"})
}

/// Each of `hosts` claims its command of deployment `id` and reports `succeeded`.
async fn run_hosts(
    url: &str,
    agents: &BTreeMap<String, String>,
    hosts: &[&str],
    id: &str,
    succeeded: bool,
) {
    for host in hosts {
        let command = poll(url, &agents[*host])
            .await
            .unwrap_or_else(|| panic!("{host}: no command"));
        assert_eq!(command.deployment, id, "{host}");
        let detail = if succeeded {
            "ok"
        } else {
            "ValidateService failed"
        };
        assert_eq!(
            report(url, &agents[*host], id, succeeded, detail).await,
            StatusCode::NO_CONTENT
        );
    }
}

/// Reports that arrive together are written in batches: each is applied exactly once, on its
/// own deployment, with its own detail; a second report of a host and one from an agent with
/// no host there are refused, whatever else shares their batch.
#[tokio::test]
async fn reports_that_arrive_together_are_each_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let hosts: Vec<String> = (0..24).map(|i| format!("web-{i:02}")).collect();
    let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
    for (i, database) in databases(dir.path()).await.into_iter().enumerate() {
        let data = dir.path().join(format!("data-{i}"));
        let group = json!({"name": "prod", "tags": prod()});
        let (server, op, agents) = fleet(&database, &data, group.clone(), &names).await;
        let url = server.url.clone();
        let post = |path: &str, body: Value| {
            call(Method::POST, format!("{url}{path}"), Some(&op), Some(body))
        };
        assert_eq!(
            post("/v1/apps", json!({"name": "blog"})).await.0,
            StatusCode::CREATED
        );
        assert_eq!(
            post("/v1/apps/blog/groups", group).await.0,
            StatusCode::CREATED
        );
        let body = json!({"revision": "cd".repeat(32), "store": "s", "config": "AllAtOnce"});
        let (status, blog): (_, Deployment) = typed(
            Method::POST,
            format!("{url}/v1/apps/blog/groups/prod/deployments"),
            Some(&op),
            Some(body),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        let shop = all_at_once(&url, &op, &"ab".repeat(32)).await;
        for agent in agents.values() {
            for _ in 0..2 {
                poll(&url, agent)
                    .await
                    .expect("a command of each deployment");
            }
        }
        let stranger = enroll(&url, &op, "stage-1", json!({"env": "staging"})).await;

        // Every host reports on both deployments at once; the first four twice on shop.
        let mut sent = Vec::new();
        for (n, (host, agent)) in agents.iter().enumerate() {
            for _ in 0..if n < 4 { 2 } else { 1 } {
                sent.push((host.clone(), agent.clone(), shop.id.clone()));
            }
            sent.push((host.clone(), agent.clone(), blog.id.clone()));
        }
        sent.push(("stage-1".into(), stranger, shop.id.clone()));
        let tasks: Vec<_> = sent
            .into_iter()
            .map(|(host, agent, id)| {
                let url = url.clone();
                tokio::spawn(async move {
                    let detail = format!("{host} on {id}");
                    let status = report(&url, &agent, &id, true, &detail).await;
                    (host, id, status)
                })
            })
            .collect();
        let mut outcomes: BTreeMap<(String, String), Vec<StatusCode>> = BTreeMap::new();
        for task in tasks {
            let (host, id, status) = task.await.unwrap();
            outcomes.entry((host, id)).or_default().push(status);
        }
        for ((host, id), mut statuses) in outcomes {
            statuses.sort();
            let expected = match (host.as_str(), statuses.len()) {
                ("stage-1", _) => vec![StatusCode::CONFLICT],
                (_, 2) => vec![StatusCode::NO_CONTENT, StatusCode::CONFLICT],
                _ => vec![StatusCode::NO_CONTENT],
            };
            assert_eq!(statuses, expected, "{host} on {id}");
        }
        for id in [&shop.id, &blog.id] {
            let done = show(&url, &op, id).await;
            assert_eq!(done.status, DeploymentStatus::Succeeded, "{done:?}");
            assert_eq!(done.hosts.len(), hosts.len());
            for host in &done.hosts {
                assert_eq!(host.state, HostStatus::Succeeded, "{host:?}");
                let detail = format!("{} on {id}", host.host);
                assert_eq!(host.detail.as_deref(), Some(detail.as_str()));
            }
        }
    }
}

/// Issue 9: a rollback rolled out AllAtOnce whatever the failed deployment's configuration.
/// Now it rolls out with that configuration and minimum of healthy hosts.
#[tokio::test]
async fn a_rollback_rolls_out_with_the_failed_deployments_configuration() {
    let dir = tempfile::tempdir().unwrap();
    for (i, database) in databases(dir.path()).await.into_iter().enumerate() {
        let group = json!({"name": "prod", "tags": {"env": "prod"}});
        let hosts = ["web-1", "web-2", "web-3", "web-4"];
        let (server, op, agents) = fleet(
            &database,
            &dir.path().join(format!("data-{i}")),
            group,
            &hosts,
        )
        .await;
        let url = server.url.clone();
        let good = "aa".repeat(32);
        let first = all_at_once(&url, &op, &good).await;
        run_hosts(&url, &agents, &hosts, &first.id, true).await;
        assert_eq!(
            show(&url, &op, &first.id).await.status,
            DeploymentStatus::Succeeded
        );

        // One host at a time keeping 3 of 4 healthy: web-1 succeeds, web-2 fails, and no host
        // can go next without breaking the minimum.
        let body = json!({"revision": "bb".repeat(32), "store": "s", "config": "AllAtOnce", "min_healthy": "3", "batches": "1"});
        let bad = deploy(&url, &op, body).await;
        run_hosts(&url, &agents, &["web-1"], &bad.id, true).await;
        run_hosts(&url, &agents, &["web-2"], &bad.id, false).await;
        let bad = show(&url, &op, &bad.id).await;
        assert_eq!(bad.status, DeploymentStatus::Failed, "{bad:?}");
        let rollback = bad.rolled_back_by.clone().expect("a rollback");

        // The rollback, one host at a time too: web-2 (unhealthy) first, then web-1.
        let back = show(&url, &op, &rollback).await;
        assert_eq!(back.revision.as_str(), good);
        assert_eq!(back.rollback_of.as_deref(), Some(bad.id.as_str()));
        assert_eq!(state_of(&back, "web-2"), HostStatus::Running, "{back:?}");
        assert_eq!(
            state_of(&back, "web-1"),
            HostStatus::Pending,
            "not all at once: {back:?}"
        );
        assert_eq!(back.hosts.len(), 2, "only the hosts it changed");
        assert!(poll(&url, &agents["web-1"]).await.is_none());
        run_hosts(&url, &agents, &["web-2"], &rollback, true).await;
        run_hosts(&url, &agents, &["web-1"], &rollback, true).await;
        assert_eq!(
            show(&url, &op, &rollback).await.status,
            DeploymentStatus::Succeeded
        );
        drop(server);
    }
}

/// Makes every insert of a rollback fail in `database` (`on`), or no longer (`!on`).
async fn refuse_rollbacks(database: &str, on: bool) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(database).await.unwrap();
    let statements: &[&str] = match (database.starts_with("sqlite:"), on) {
        (true, true) => &[
            "CREATE TRIGGER refuse_rollbacks BEFORE INSERT ON deployments \
             WHEN NEW.rollback_of IS NOT NULL BEGIN SELECT RAISE(ABORT, 'rollbacks refused'); END",
        ],
        (true, false) => &["DROP TRIGGER refuse_rollbacks"],
        (false, true) => &[
            "CREATE FUNCTION refuse_rollbacks() RETURNS trigger AS $$ BEGIN \
             IF NEW.rollback_of IS NOT NULL THEN RAISE EXCEPTION 'rollbacks refused'; END IF; \
             RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_rollbacks BEFORE INSERT ON deployments \
             FOR EACH ROW EXECUTE FUNCTION refuse_rollbacks()",
        ],
        (false, false) => &["DROP TRIGGER refuse_rollbacks ON deployments"],
    };
    for statement in statements {
        sqlx::query(*statement).execute(&mut conn).await.unwrap();
    }
}

/// Issue 9: a deployment was failed in one transaction and rolled back in another, so a server
/// dying in between left a failed deployment with no rollback. Now both are one transaction:
/// when the rollback cannot be written, the failure is not either, and the report can be
/// made again.
#[tokio::test]
async fn a_deployment_fails_and_is_rolled_back_in_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    for (i, database) in databases(dir.path()).await.into_iter().enumerate() {
        let group = json!({"name": "prod", "tags": {"env": "prod"}});
        let hosts = ["web-1", "web-2"];
        let (server, op, agents) = fleet(
            &database,
            &dir.path().join(format!("data-{i}")),
            group,
            &hosts,
        )
        .await;
        let url = server.url.clone();
        let first = all_at_once(&url, &op, &"aa".repeat(32)).await;
        run_hosts(&url, &agents, &hosts, &first.id, true).await;
        let bad = all_at_once(&url, &op, &"bb".repeat(32)).await;
        run_hosts(&url, &agents, &["web-1"], &bad.id, false).await;
        assert!(poll(&url, &agents["web-2"]).await.is_some());

        // The last report fails the deployment, whose rollback the database refuses.
        let last_report = || {
            report(
                &url,
                &agents["web-2"],
                &bad.id,
                false,
                "ValidateService failed",
            )
        };
        refuse_rollbacks(&database, true).await;
        let status = last_report().await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let still = show(&url, &op, &bad.id).await;
        assert_eq!(
            still.status,
            DeploymentStatus::InProgress,
            "failed without its rollback: {still:?}"
        );
        assert_eq!(state_of(&still, "web-2"), HostStatus::Claimed);
        assert!(still.rolled_back_by.is_none());

        refuse_rollbacks(&database, false).await;
        let status = last_report().await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let failed = show(&url, &op, &bad.id).await;
        assert_eq!(failed.status, DeploymentStatus::Failed);
        let rollback = show(
            &url,
            &op,
            failed.rolled_back_by.as_deref().expect("a rollback"),
        )
        .await;
        assert_eq!(rollback.hosts.len(), 2);
        drop(server);
    }
}

/// The deployments whose id says they were made for `host` joining the group.
async fn joins(url: &str, operator: &str, host: &str) -> Vec<Deployment> {
    let (_, list) = call(
        Method::GET,
        format!("{url}/v1/deployments"),
        Some(operator),
        None,
    )
    .await;
    let mut found = Vec::new();
    for summary in list.as_array().unwrap() {
        let id = summary["id"].as_str().unwrap();
        if id.ends_with(&format!("-join-{host}")) {
            found.push(show(url, operator, id).await);
        }
    }
    found
}

/// Issue 9: a host whose agent enrolled into a group after a successful deployment got nothing
/// until the next deployment. Now it gets the group's last good revision by itself, as its own
/// deployment; a host joining during a deployment is not added to it, and gets the last good
/// revision when the deployment (or its rollback) ends.
#[tokio::test]
async fn hosts_that_join_a_group_get_its_last_good_revision() {
    let dir = tempfile::tempdir().unwrap();
    for (i, database) in databases(dir.path()).await.into_iter().enumerate() {
        let group = json!({"name": "prod", "tags": {"env": "prod"}, "hosts": ["named-1"]});
        let (server, op, mut agents) = fleet(
            &database,
            &dir.path().join(format!("data-{i}")),
            group,
            &["web-1"],
        )
        .await;
        let url = server.url.clone();
        let (a, b, c) = ("aa".repeat(32), "bb".repeat(32), "cc".repeat(32));
        let first = all_at_once(&url, &op, &a).await;
        assert!(
            joins(&url, &op, "web-1").await.is_empty(),
            "nothing good yet"
        );
        run_hosts(&url, &agents, &["web-1"], &first.id, true).await;
        assert_eq!(
            show(&url, &op, &first.id).await.status,
            DeploymentStatus::Succeeded
        );

        // An agent with the group's tags, and the named host's agent (no tags): each gets the
        // last good revision as its own deployment. Another environment's agent gets nothing.
        for host in ["web-2", "named-1"] {
            let tags = if host == "web-2" {
                json!({"env": "prod"})
            } else {
                json!({})
            };
            agents.insert(host.into(), enroll(&url, &op, host, tags).await);
            let joined = joins(&url, &op, host).await;
            assert_eq!(joined.len(), 1, "{host}: {joined:?}");
            let joined = &joined[0];
            assert_eq!(joined.revision.as_str(), a);
            assert_eq!(joined.cause.as_deref(), Some("auto: host joined"));
            assert_eq!(joined.hosts.len(), 1);
            assert_eq!(joined.hosts[0].host, host);
            run_hosts(&url, &agents, &[host], &joined.id, true).await;
            assert_eq!(
                show(&url, &op, &joined.id).await.status,
                DeploymentStatus::Succeeded
            );
        }
        let staging = enroll(&url, &op, "stage-1", json!({"env": "staging"})).await;
        assert!(poll(&url, &staging).await.is_none());
        assert!(joins(&url, &op, "stage-1").await.is_empty());

        // Joining during a deployment: not added to it; when it succeeds, its revision.
        let all = ["named-1", "web-1", "web-2"];
        let second = all_at_once(&url, &op, &b).await;
        agents.insert("web-3".into(), enroll(&url, &op, "web-3", prod()).await);
        assert!(
            joins(&url, &op, "web-3").await.is_empty(),
            "not during a deployment"
        );
        assert!(poll(&url, &agents["web-3"]).await.is_none());
        assert_eq!(
            show(&url, &op, &second.id).await.hosts.len(),
            3,
            "membership as it started"
        );
        run_hosts(&url, &agents, &all, &second.id, true).await;
        let joined = joins(&url, &op, "web-3").await;
        assert_eq!(joined.len(), 1, "{joined:?}");
        assert_eq!(
            joined[0].revision.as_str(),
            b,
            "the revision that just succeeded"
        );
        run_hosts(&url, &agents, &["web-3"], &joined[0].id, true).await;

        // Joining during a deployment that fails: the last good revision, once its rollback
        // has ended.
        let third = all_at_once(&url, &op, &c).await;
        agents.insert("web-4".into(), enroll(&url, &op, "web-4", prod()).await);
        let four = ["named-1", "web-1", "web-2", "web-3"];
        run_hosts(&url, &agents, &four, &third.id, false).await;
        let third = show(&url, &op, &third.id).await;
        assert_eq!(third.status, DeploymentStatus::Failed);
        let rollback = third.rolled_back_by.expect("a rollback");
        let cause = show(&url, &op, &rollback).await.cause;
        assert_eq!(cause.as_deref(), Some("auto: rollback"));
        assert!(
            joins(&url, &op, "web-4").await.is_empty(),
            "not while the rollback runs"
        );
        run_hosts(&url, &agents, &four, &rollback, true).await;
        let joined = joins(&url, &op, "web-4").await;
        assert_eq!(joined.len(), 1, "{joined:?}");
        assert_eq!(joined[0].revision.as_str(), b, "the last good revision");
        drop(server);
    }
}

/// A group with `auto_deploy_new_hosts` off: a host that joins it gets nothing by itself.
#[tokio::test]
async fn a_group_can_keep_new_hosts_waiting_for_the_next_deployment() {
    let dir = tempfile::tempdir().unwrap();
    for (i, database) in databases(dir.path()).await.into_iter().enumerate() {
        let group =
            json!({"name": "prod", "tags": {"env": "prod"}, "auto_deploy_new_hosts": false});
        let data = dir.path().join(format!("data-{i}"));
        let (server, op, agents) = fleet(&database, &data, group, &["web-1"]).await;
        let url = server.url.clone();
        let (_, groups) = call(
            Method::GET,
            format!("{url}/v1/apps/shop/groups"),
            Some(&op),
            None,
        )
        .await;
        assert_eq!(groups[0]["auto_deploy_new_hosts"], false, "{groups}");
        let first = all_at_once(&url, &op, &"aa".repeat(32)).await;
        assert_eq!(first.cause, None, "an operator's");
        run_hosts(&url, &agents, &["web-1"], &first.id, true).await;
        let late = enroll(&url, &op, "web-2", prod()).await;
        assert!(poll(&url, &late).await.is_none());
        assert!(joins(&url, &op, "web-2").await.is_empty());
        drop(server);
    }
}

/// A deployment an older server started (its plan stored with every host by name) resumes.
#[tokio::test]
async fn a_deployment_stored_by_an_older_server_resumes() {
    let dir = tempfile::tempdir().unwrap();
    for (i, database) in databases(dir.path()).await.into_iter().enumerate() {
        let group = json!({"name": "prod", "tags": {"env": "prod"}});
        let data = dir.path().join(format!("data-{i}"));
        let hosts = ["web-1", "web-2"];
        let (server, op, agents) = fleet(&database, &data, group, &hosts).await;
        let url = server.url.clone();
        let started = all_at_once(&url, &op, &"aa".repeat(32)).await;
        let host = |id: &str| json!({"id": id, "healthy": false, "state": "Running", "healthy_at_start": false});
        let legacy = json!({"hosts": [host("web-1"), host("web-2")], "min_healthy": 0, "batches": [], "batch": [0, 2], "stopped": null});
        {
            use sqlx::Connection;
            sqlx::any::install_default_drivers();
            let mut conn = sqlx::AnyConnection::connect(&database).await.unwrap();
            sqlx::query("UPDATE deployments SET planner = $1")
                .bind(legacy.to_string())
                .execute(&mut conn)
                .await
                .unwrap();
            sqlx::query("UPDATE deployment_hosts SET ord = 0")
                .execute(&mut conn)
                .await
                .unwrap();
        }
        run_hosts(&url, &agents, &hosts, &started.id, true).await;
        let done = show(&url, &op, &started.id).await;
        assert_eq!(done.status, DeploymentStatus::Succeeded, "{done:?}");
        drop(server);
    }
}

/// The `davit/agent` image component downloads the agent from the server: `/v1/dist/davit`
/// is the server's own executable (here this test binary), whole, without a credential.
#[tokio::test]
async fn the_server_hands_out_its_own_executable() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start_sqlite(dir.path()).await;
    let response = client()
        .get(format!("{}/v1/dist/davit", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let own = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    assert_eq!(
        response.content_length(),
        Some(own.len() as u64),
        "the length is announced"
    );
    let body = response.bytes().await.unwrap();
    assert!(body[..] == own[..], "the bytes are the executable's");
}

/// A reusable token (an image's, `davit/agent`) enrolls every host that presents it, each with
/// its own credential; a one-time token stays one-time.
#[tokio::test]
async fn a_reusable_enrollment_token_enrolls_every_host_that_presents_it() {
    let dir = tempfile::tempdir().unwrap();
    let (server, operator) = start_sqlite(dir.path()).await;
    let url = server.url.clone();
    // A reusable token (an image's) enrolls every host that presents it, each with its
    // own credential.
    let (_, reusable): (_, EnrollToken) = typed(
        Method::POST,
        format!("{url}/v1/enroll-tokens"),
        Some(&operator),
        Some(json!({"reusable": true})),
    )
    .await;
    let mut credentials = Vec::new();
    for host in ["img-1", "img-2", "img-3"] {
        let (status, enrolled): (_, Enrolled) = typed(
            Method::POST,
            format!("{url}/v1/enroll"),
            None,
            Some(json!({"token": reusable.token, "hostname": host, "tags": {}})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        credentials.push(enrolled.credential);
    }
    credentials.dedup();
    assert_eq!(credentials.len(), 3);
    let (status, body) = call(
        Method::POST,
        format!("{url}/v1/enroll-tokens"),
        Some(&operator),
        Some(json!({"reusable": "yes", "forever": true})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let agents = call(
        Method::GET,
        format!("{url}/v1/agents"),
        Some(&operator),
        None,
    )
    .await
    .1;
    assert_eq!(agents.as_array().unwrap().len(), 3, "{agents}");
}

/// A token baked into an image can be read by whoever pulls the image: a reusable token can
/// be revoked (the hosts it enrolled keep working) and made to expire.
#[tokio::test]
async fn enrollment_tokens_can_be_revoked_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let (server, operator) = start_sqlite(dir.path()).await;
    let url = server.url.clone();
    let issue = |body: Value| {
        typed::<EnrollToken>(
            Method::POST,
            format!("{url}/v1/enroll-tokens"),
            Some(&operator),
            Some(body),
        )
    };
    let present = |token: String, host: &'static str| {
        call(
            Method::POST,
            format!("{url}/v1/enroll"),
            None,
            Some(json!({"token": token, "hostname": host, "tags": {}})),
        )
    };
    let revoke = |token: String| {
        call(
            Method::POST,
            format!("{url}/v1/enroll-tokens/revoke"),
            Some(&operator),
            Some(json!({"token": token})),
        )
    };
    let (_, image) = issue(json!({"reusable": true})).await;
    assert_eq!(image.expires_at, None);
    let (status, first) = present(image.token.clone(), "img-1").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let credential = first["credential"].as_str().unwrap().to_owned();
    // Only an operator revokes.
    let (status, _) = call(
        Method::POST,
        format!("{url}/v1/enroll-tokens/revoke"),
        Some(&credential),
        Some(json!({"token": image.token})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = revoke(image.token.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["revoked"], true);
    let (status, _) = present(image.token.clone(), "img-2").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a revoked token enrolls no host"
    );
    let (status, _) = revoke(image.token.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        Method::POST,
        format!("{url}/v1/agent/heartbeat"),
        Some(&credential),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the host it enrolled keeps its credential"
    );

    // One that expires in two seconds (of whole seconds: so at least one): it enrolls now,
    // not after.
    let (status, short) = issue(json!({"reusable": true, "expires_in": 2})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(short.expires_at.unwrap() >= davit_server::now());
    assert_eq!(
        present(short.token.clone(), "img-3").await.0,
        StatusCode::CREATED
    );
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_eq!(
        present(short.token.clone(), "img-4").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = call(
        Method::POST,
        format!("{url}/v1/enroll-tokens"),
        Some(&operator),
        Some(json!({"expires_in": 0})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// Issue 11, point 5: a distribution records on a group the image its hosts should use; the
/// group answers with it, and a bad digest, reference or group is refused.
#[tokio::test]
async fn a_distribution_records_the_image_on_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let (server, operator) = start_sqlite(dir.path()).await;
    let url = server.url.clone();
    let op = Some(operator.as_str());
    call(
        Method::POST,
        format!("{url}/v1/apps"),
        op,
        Some(json!({"name": "shop"})),
    )
    .await;
    let (status, body) = call(
        Method::POST,
        format!("{url}/v1/apps/shop/groups"),
        op,
        Some(json!({"name": "prod", "tags": {"env": "prod"}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let digest = format!("sha256:{}", "ab".repeat(32));
    let image = json!({"reference": "docker://127.0.0.1:5000/web:1.0.0", "digest": digest, "name": "web", "version": "1.0.0"});
    let (status, group): (_, Group) = typed(
        Method::PUT,
        format!("{url}/v1/apps/shop/groups/prod/image"),
        op,
        Some(image.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let recorded = group.image.clone().unwrap();
    assert_eq!(recorded.digest, digest);
    assert!(recorded.recorded_at > 0);
    let (_, groups): (_, Vec<Group>) =
        typed(Method::GET, format!("{url}/v1/apps/shop/groups"), op, None).await;
    assert_eq!(
        groups[0].image.as_ref().unwrap().reference,
        "docker://127.0.0.1:5000/web:1.0.0"
    );

    for (bad, status) in [
        (json!({"digest": "sha256:AB"}), StatusCode::BAD_REQUEST),
        (json!({"reference": "web:1.0.0"}), StatusCode::BAD_REQUEST),
    ] {
        let mut body = image.clone();
        for (k, v) in bad.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (got, answer) = call(
            Method::PUT,
            format!("{url}/v1/apps/shop/groups/prod/image"),
            op,
            Some(body),
        )
        .await;
        assert_eq!(got, status, "{answer}");
    }
    let (got, _) = call(
        Method::PUT,
        format!("{url}/v1/apps/shop/groups/nope/image"),
        op,
        Some(image.clone()),
    )
    .await;
    assert_eq!(got, StatusCode::NOT_FOUND);
    let (got, _) = call(
        Method::PUT,
        format!("{url}/v1/apps/shop/groups/prod/image"),
        None,
        Some(image),
    )
    .await;
    assert_eq!(got, StatusCode::UNAUTHORIZED);
}
