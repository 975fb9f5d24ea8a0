//! Benchmark: a fleet deployment to simulated agents (AllAtOnce, no-op hooks: each agent claims
//! its command and reports success), against a real server on SQLite and on PostgreSQL, side by
//! side; prints the wall time, the server's requests per second and the ratio to the target
//! (1,000 agents in 5 s, 10,000 in 60 s), then a real idle `davit agent`'s resident memory.
//! Then, beside those figures, packages on a real `davit server` process (SQLite): a package
//! job to 1,000 simulated agents, all at once (goal: 10 s), and an association run where every
//! host is compliant already (each agent validates and reports; goal: 1 s of the server's CPU
//! time, read from `/proc`). Asserts nothing about time.
//!
//! Run: `cargo bench -p davit-cli --bench fleet`. `DAVIT_BENCH_AGENTS` sets the numbers of agents
//! (default `1000,10000`); PostgreSQL is the server `DAVIT_TEST_POSTGRES` names
//! (`eval "$(scripts/services start)"` sets it), where each run creates its own database with
//! `psql`; without it only SQLite runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

/// A server on its own threads, as it would run in its own process.
fn start_server(url: String, data_dir: std::path::PathBuf) -> (String, String) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("server runtime");
        runtime.block_on(async move {
            let (db, token) = davit_server::open(&url, &data_dir).await.expect("state");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let token = std::fs::read_to_string(token.expect("a new operator token")).unwrap();
            tx.send((listener.local_addr().unwrap(), token.trim().to_string()))
                .unwrap();
            davit_server::serve(listener, davit_server::router(db)).await
        })
    });
    let (addr, operator) = rx.recv().expect("the server starts");
    (format!("http://{addr}"), operator)
}

/// Calls the API, counting requests, at most [`IN_FLIGHT`] at a time (10,000 agents' sockets,
/// and the server's ends of them, would not fit in one process's descriptors).
#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
    requests: Arc<AtomicUsize>,
    in_flight: Arc<tokio::sync::Semaphore>,
}

/// Requests in flight at once, over as many connections.
const IN_FLIGHT: usize = 512;

impl Api {
    fn new(base: String) -> Api {
        Api {
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(IN_FLIGHT)
                .build()
                .expect("an HTTP client"),
            base,
            requests: Arc::new(AtomicUsize::new(0)),
            in_flight: Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT)),
        }
    }
}

impl Api {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (reqwest::StatusCode, Value) {
        let _permit = self
            .in_flight
            .acquire()
            .await
            .expect("the semaphore is open");
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
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

/// One run's figures.
struct Run {
    status: String,
    setup: Duration,
    wall: Duration,
    requests: usize,
}

/// Enrolls `agents` agents, then deploys to all of them at once and waits for the end.
fn run(runtime: &tokio::runtime::Runtime, base: String, operator: String, agents: usize) -> Run {
    let api = Api::new(base);
    let started = Instant::now();
    let credentials: Vec<String> = runtime.block_on(async {
        let app = json!({"name": "bench"});
        api.call(Method::POST, "/v1/apps", &operator, Some(app))
            .await;
        let group = json!({"name": "all", "tags": {"fleet": "bench"}});
        api.call(
            Method::POST,
            "/v1/apps/bench/groups",
            &operator,
            Some(group),
        )
        .await;
        enroll_all(&api, &operator, agents).await
    });
    let setup = started.elapsed();

    // The deployment: every agent claims its command and reports success at once.
    api.requests.store(0, Ordering::Relaxed);
    let started = Instant::now();
    let status = runtime.block_on(async {
        let body = json!({"revision": "ab".repeat(32), "store": "bench", "config": "AllAtOnce"});
        let (_, created) = api
            .call(
                Method::POST,
                "/v1/apps/bench/groups/all/deployments",
                &operator,
                Some(body),
            )
            .await;
        let id = created["id"].as_str().expect("created").to_string();
        agents_run(&api, &credentials, &id, "no-op").await;
        status_of(&api, &operator, &id).await
    });
    Run {
        status,
        setup,
        wall: started.elapsed(),
        requests: api.requests.load(Ordering::Relaxed),
    }
}

/// Every agent claims its command of job `id` (polling until it has one) and reports success
/// with `detail`, all at once.
async fn agents_run(api: &Api, credentials: &[String], id: &str, detail: &'static str) {
    let mut tasks = Vec::with_capacity(credentials.len());
    for credential in credentials {
        let (api, id, credential) = (api.clone(), id.to_owned(), credential.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let (status, command) = api
                    .call(Method::GET, "/v1/agent/command?wait=0", &credential, None)
                    .await;
                if status == reqwest::StatusCode::OK {
                    assert_eq!(command["deployment"], id.as_str());
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let report = json!({"deployment": id, "succeeded": true, "detail": detail});
            let (status, _) = api
                .call(Method::POST, "/v1/agent/report", &credential, Some(report))
                .await;
            assert!(status.is_success(), "{status}");
        }));
    }
    for task in tasks {
        task.await.expect("agent task");
    }
}

async fn status_of(api: &Api, operator: &str, id: &str) -> String {
    let (_, done) = api
        .call(
            Method::GET,
            &format!("/v1/deployments/{id}"),
            operator,
            None,
        )
        .await;
    done["status"].as_str().unwrap_or("").to_string()
}

/// Enrolls `agents` simulated agents tagged `fleet=bench`, 16 at a time, as agents starting
/// together would; their credentials.
async fn enroll_all(api: &Api, operator: &str, agents: usize) -> Vec<String> {
    let workers = 16;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (api, operator) = (api.clone(), operator.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut enrolled = Vec::new();
            for i in (w..agents).step_by(workers) {
                let (_, issued) = api
                    .call(Method::POST, "/v1/enroll-tokens", &operator, Some(json!({})))
                    .await;
                let body = json!({"token": issued["token"], "hostname": format!("host-{i:05}"), "tags": {"fleet": "bench"}});
                let (_, agent) = api.call(Method::POST, "/v1/enroll", "", Some(body)).await;
                let credential = agent["credential"].as_str();
                enrolled.push(credential.unwrap_or_else(|| panic!("enrolling: {agent} ({issued})")).to_string());
            }
            enrolled
        }));
    }
    let mut all = Vec::with_capacity(agents);
    for task in tasks {
        all.extend(task.await.expect("enrolling"));
    }
    all
}

/// CPU seconds (user + system) the process `pid` has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz
}

/// Package jobs on a real `davit server` process: a package job to `agents` simulated agents
/// all at once, then an association run where every host is compliant (each agent's
/// validate is its report), with the server's CPU time for it; printed beside the
/// deployment's figures.
fn packages(runtime: &tokio::runtime::Runtime, agents: usize, deployments: &[(usize, &str, Run)]) {
    let scratch = tempfile::tempdir().expect("scratch");
    let data = scratch.path().join("server");
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_davit"))
        .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("davit server starts");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(server.stderr.take().unwrap()));
    let base = loop {
        let line = lines
            .next()
            .expect("the server says where it listens")
            .unwrap();
        if let Some(rest) = line.strip_prefix("davit server on ") {
            break rest.split(' ').next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    let operator = std::fs::read_to_string(data.join("operator-token")).unwrap();
    let operator = operator.trim().to_string();
    // The package's release, in a directory store the server reads for the association.
    let store = scratch.path().join("store");
    let release = davit_bundle::Release::new("bench-pkg", "1.0.0", &"ab".repeat(32));
    runtime
        .block_on(
            davit_bundle::Store::open(store.to_str().unwrap())
                .unwrap()
                .create_release(&release),
        )
        .expect("the release is written");
    let api = Api::new(base);
    let (job, association, server_cpu) = runtime.block_on(async {
        api.call(Method::POST, "/v1/apps", &operator, Some(json!({"name": "bench"}))).await;
        let group = json!({"name": "all", "tags": {"fleet": "bench"}});
        api.call(Method::POST, "/v1/apps/bench/groups", &operator, Some(group)).await;
        let credentials = enroll_all(&api, &operator, agents).await;
        let package = json!({"name": "bench-pkg", "version": "1.0.0", "operation": "install"});

        let started = Instant::now();
        let body = json!({"revision": "ab".repeat(32), "store": store, "package": package, "concurrency": "100%"});
        let (_, created) = api
            .call(Method::POST, "/v1/apps/bench/groups/all/deployments", &operator, Some(body))
            .await;
        let id = created["id"].as_str().expect("created").to_string();
        agents_run(&api, &credentials, &id, "package `bench-pkg`: installed 1.0.0").await;
        let job = (status_of(&api, &operator, &id).await, started.elapsed());

        // Every host is compliant: the association's run validates only.
        let cpu_before = cpu_seconds(server.id());
        let started = Instant::now();
        let body = json!({"name": "keep", "app": "bench", "group": "all", "package": "bench-pkg",
            "store": store, "schedule": "rate(1 day)", "concurrency": "100%"});
        let (_, created) = api.call(Method::POST, "/v1/associations", &operator, Some(body)).await;
        let id = created["last_job"].as_str().expect("the first run").to_string();
        agents_run(&api, &credentials, &id, "package `bench-pkg`: 1.0.0 is installed and validates").await;
        let association = (status_of(&api, &operator, &id).await, started.elapsed());
        (job, association, cpu_seconds(server.id()) - cpu_before)
    });
    let _ = server.kill();
    let _ = server.wait();

    println!();
    println!(
        "{:>7}  {:<36}  {:<9}  {:>8}  {:>12}  {:<6}",
        "agents", "job (SQLite)", "status", "seconds", "goal", ""
    );
    if let Some((_, _, d)) = deployments
        .iter()
        .find(|(n, name, _)| *n == agents && *name == "SQLite")
    {
        println!(
            "{agents:>7}  {:<36}  {:<9}  {:>8.2}  {:>12}",
            "deployment, all at once (above)",
            d.status,
            d.wall.as_secs_f64(),
            "5 s wall"
        );
    }
    let met = |ok: bool| if ok { "met" } else { "not met" };
    println!(
        "{agents:>7}  {:<36}  {:<9}  {:>8.2}  {:>12}  {}",
        "package job, 100% at once",
        job.0,
        job.1.as_secs_f64(),
        "10 s wall",
        met(job.1.as_secs_f64() <= 10.0)
    );
    println!(
        "{agents:>7}  {:<36}  {:<9}  {:>8.2}  {:>12}",
        "association run, all compliant",
        association.0,
        association.1.as_secs_f64(),
        "(wall)"
    );
    println!(
        "{agents:>7}  {:<36}  {:<9}  {:>8.2}  {:>12}  {}",
        "  the server's CPU time for it",
        "",
        server_cpu,
        "1 s CPU",
        met(server_cpu <= 1.0)
    );
}

/// A new, empty database on the PostgreSQL server at `base` (`postgres://…/postgres`).
fn fresh_postgres(base: &str, n: usize) -> String {
    let name = format!("davit_bench_{}_{n}", std::process::id());
    let done = std::process::Command::new("psql")
        .args([base, "-q", "-c", &format!("CREATE DATABASE {name}")])
        .status()
        .expect("psql runs");
    assert!(done.success(), "psql could not create {name}");
    let (prefix, _) = base.rsplit_once('/').expect("a database URL");
    format!("{prefix}/{name}")
}

/// The goal for `agents` agents.
fn target(agents: usize) -> Duration {
    if agents <= 1000 {
        Duration::from_secs(5)
    } else {
        Duration::from_secs(60 * agents.div_ceil(10_000) as u64)
    }
}

fn main() {
    let counts: Vec<usize> = std::env::var("DAVIT_BENCH_AGENTS")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .map(|n| n.trim().parse().expect("DAVIT_BENCH_AGENTS: numbers"))
        .collect();
    let postgres = std::env::var("DAVIT_TEST_POSTGRES").ok();
    if postgres.is_none() {
        println!("SKIPPED: PostgreSQL (DAVIT_TEST_POSTGRES is not set)");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");
    let scratch = tempfile::tempdir().expect("scratch");
    let mut idle_server = None;
    let mut rows = Vec::new();
    for &agents in &counts {
        let data = |name: &str| scratch.path().join(format!("{name}-{agents}"));
        let mut databases = vec![(
            "SQLite",
            davit_server::default_database_url(&data("SQLite")),
        )];
        if let Some(base) = &postgres {
            databases.push(("PostgreSQL", fresh_postgres(base, agents)));
        }
        for (name, url) in databases {
            let (base, operator) = start_server(url, data(name));
            let figures = run(&runtime, base.clone(), operator.clone(), agents);
            println!(
                "{agents} agents on {name}: {} in {:.2} s ({} requests, {:.0}/s), after {:.2} s to enroll",
                figures.status,
                figures.wall.as_secs_f64(),
                figures.requests,
                figures.requests as f64 / figures.wall.as_secs_f64(),
                figures.setup.as_secs_f64(),
            );
            idle_server.get_or_insert((base, operator));
            rows.push((agents, name, figures));
        }
    }

    println!();
    println!(
        "{:>7}  {:<10}  {:<9}  {:>9}  {:>7}  {:>8}  {:>6}  {:>5}",
        "agents", "database", "status", "requests", "req/s", "seconds", "target", "ratio"
    );
    for (agents, name, r) in &rows {
        let goal = target(*agents);
        let ratio = r.wall.as_secs_f64() / goal.as_secs_f64();
        println!(
            "{agents:>7}  {name:<10}  {:<9}  {:>9}  {:>7.0}  {:>8.2}  {:>5}s  {ratio:>5.2}  {}",
            r.status,
            r.requests,
            r.requests as f64 / r.wall.as_secs_f64(),
            r.wall.as_secs_f64(),
            goal.as_secs(),
            if ratio <= 1.0 { "met" } else { "not met" },
        );
    }

    packages(&runtime, counts[0], &rows);

    // A real agent, enrolled and idle (long-polling), measured after it settles.
    let Some((base, operator)) = idle_server else {
        return;
    };
    let api = Api::new(base.clone());
    let (_, issued) = runtime.block_on(api.call(
        Method::POST,
        "/v1/enroll-tokens",
        &operator,
        Some(json!({})),
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
