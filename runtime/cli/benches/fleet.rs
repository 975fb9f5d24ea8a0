//! Benchmark: a fleet deployment to 1,000 simulated agents (AllAtOnce, no-op hooks: each agent
//! claims its command and reports success), against a real server on SQLite; prints the wall
//! time and the server's requests per second, and a real idle `davit agent`'s resident memory.
//! Asserts nothing about time.
//!
//! Run: `cargo bench -p davit-cli --bench fleet`. `DAVIT_BENCH_AGENTS` sets the number of agents.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn main() {
    let agents: usize = std::env::var("DAVIT_BENCH_AGENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let data = tempfile::tempdir().expect("scratch");
    let data_dir = data.path().to_path_buf();

    // The server on its own threads, as it would run in its own process.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("server runtime");
        runtime.block_on(async move {
            let url = davit_server::default_database_url(&data_dir);
            let (db, token) = davit_server::open(&url, &data_dir).await.expect("state");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let token = std::fs::read_to_string(token.expect("a new operator token")).unwrap();
            tx.send((listener.local_addr().unwrap(), token.trim().to_string()))
                .unwrap();
            davit_server::serve(listener, davit_server::router(db)).await
        })
    });
    let (addr, operator) = rx.recv().expect("the server starts");
    let base = format!("http://{addr}");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");
    let client = reqwest::Client::new();
    let requests = Arc::new(AtomicUsize::new(0));
    let call = {
        let (client, requests, base) = (client.clone(), requests.clone(), base.clone());
        move |method: reqwest::Method, path: String, token: String, body: Option<Value>| {
            let (client, requests, base) = (client.clone(), requests.clone(), base.clone());
            async move {
                requests.fetch_add(1, Ordering::Relaxed);
                let mut request = client
                    .request(method, format!("{base}{path}"))
                    .bearer_auth(token);
                if let Some(body) = body {
                    request = request.json(&body);
                }
                let response = request.send().await.expect("request");
                let status = response.status();
                (
                    status,
                    response.json::<Value>().await.unwrap_or(Value::Null),
                )
            }
        }
    };
    use reqwest::Method;

    // Set-up: an application, a group selecting `fleet=bench`, and the agents enrolled.
    let started = Instant::now();
    let credentials: Vec<String> = runtime.block_on(async {
        call(Method::POST, "/v1/apps".into(), operator.clone(), Some(json!({"name": "bench"}))).await;
        let group = json!({"name": "all", "tags": {"fleet": "bench"}});
        call(Method::POST, "/v1/apps/bench/groups".into(), operator.clone(), Some(group)).await;
        let mut enrolled = Vec::with_capacity(agents);
        for i in 0..agents {
            let (_, issued) = call(Method::POST, "/v1/enroll-tokens".into(), operator.clone(), None).await;
            let body = json!({"token": issued["token"], "hostname": format!("host-{i:04}"), "tags": {"fleet": "bench"}});
            let (_, agent) = call(Method::POST, "/v1/enroll".into(), String::new(), Some(body)).await;
            enrolled.push(agent["credential"].as_str().expect("enrolled").to_string());
        }
        enrolled
    });
    println!(
        "set-up: {agents} agents enrolled in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    // The deployment: every agent claims its command and reports success at once.
    requests.store(0, Ordering::Relaxed);
    let started = Instant::now();
    let status = runtime.block_on(async {
        let body = json!({"revision": "ab".repeat(32), "store": "bench", "config": "AllAtOnce"});
        let (_, created) = call(
            Method::POST,
            "/v1/apps/bench/groups/all/deployments".into(),
            operator.clone(),
            Some(body),
        )
        .await;
        let id = created["id"].as_str().expect("created").to_string();
        let mut tasks = Vec::with_capacity(agents);
        for credential in &credentials {
            let (call, credential, id) = (call.clone(), credential.clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let (status, command) = call(
                        Method::GET,
                        "/v1/agent/command?wait=0".into(),
                        credential.clone(),
                        None,
                    )
                    .await;
                    if status == reqwest::StatusCode::OK {
                        assert_eq!(command["deployment"], id.as_str());
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let report = json!({"deployment": id, "succeeded": true, "detail": "no-op"});
                let (status, _) = call(
                    Method::POST,
                    "/v1/agent/report".into(),
                    credential,
                    Some(report),
                )
                .await;
                assert!(status.is_success(), "{status}");
            }));
        }
        for task in tasks {
            task.await.expect("agent task");
        }
        let (_, done) = call(
            Method::GET,
            format!("/v1/deployments/{id}"),
            operator.clone(),
            None,
        )
        .await;
        done["status"].as_str().unwrap_or("").to_string()
    });
    let wall = started.elapsed();
    let count = requests.load(Ordering::Relaxed);
    println!(
        "deployment to {agents} agents, AllAtOnce, no-op hooks: {status} in {:.2} s (goal <= 10 s: {})",
        wall.as_secs_f64(),
        if wall <= Duration::from_secs(10) {
            "met"
        } else {
            "not met"
        }
    );
    println!(
        "server: {count} requests, {:.0} requests/s",
        count as f64 / wall.as_secs_f64()
    );

    // A real agent, enrolled and idle (long-polling), measured after it settles.
    let (_, issued) = runtime.block_on(call(
        Method::POST,
        "/v1/enroll-tokens".into(),
        operator.clone(),
        None,
    ));
    let root = tempfile::tempdir().expect("agent root");
    let mut agent = std::process::Command::new(env!("CARGO_BIN_EXE_davit"))
        .args([
            "agent",
            "--server",
            &base,
            "--tags",
            "fleet=idle",
            "--hostname",
            "idle",
        ])
        .args(["--enroll-token", issued["token"].as_str().unwrap()])
        .arg("--deployment-root")
        .arg(root.path())
        .arg("--target-root")
        .arg(root.path().join("target"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("davit agent starts");
    std::thread::sleep(Duration::from_secs(3));
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", agent.id())).unwrap_or_default();
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let _ = agent.kill();
    let _ = agent.wait();
    println!(
        "idle agent resident memory: {:.1} MB (goal <= 20 MB: {})",
        rss_kib as f64 / 1024.0,
        if rss_kib <= 20 * 1024 {
            "met"
        } else {
            "not met"
        }
    );
}
