//! The server's API against a real database: SQLite always, PostgreSQL when `DAVIT_TEST_POSTGRES`
//! names one (`scripts/services start` sets it). Each test starts a real server on a free port.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::{Value, json};

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
        let (_, issued) = call(
            Method::POST,
            format!("{url}/v1/enroll-tokens"),
            Some(&operator),
            None,
        )
        .await;
        let enroll = issued["token"].as_str().unwrap().to_string();
        let request =
            json!({"token": enroll, "hostname": "web-1", "tags": {"env": "prod", "zone": "a"}});
        let (status, enrolled) = call(
            Method::POST,
            format!("{url}/v1/enroll"),
            None,
            Some(request.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{enrolled}");
        let credential = enrolled["credential"].as_str().unwrap().to_string();
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
        let (status, body) = call(
            Method::POST,
            format!("{url}/v1/agent/heartbeat"),
            Some(&credential),
            None,
        )
        .await;
        assert_eq!(
            (status, &body["agent_id"]),
            (StatusCode::OK, &enrolled["agent_id"])
        );
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
        let (_, apps) = call(Method::GET, format!("{url}/v1/apps"), Some(&operator), None).await;
        assert_eq!(apps, json!([{"name": "shop"}]));
        let (_, groups) = call(
            Method::GET,
            format!("{url}/v1/apps/shop/groups"),
            Some(&operator),
            None,
        )
        .await;
        assert_eq!(groups[0]["hosts"], json!(["web-1", "web-2"]));
        assert_eq!(groups[0]["tags"], json!({"env": "prod"}));
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
