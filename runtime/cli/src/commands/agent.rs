//! `davit agent`: enrolls with the server once, then long-polls for commands and runs each
//! deployment with the same engine as `davit deploy --local`, under this host's own policy file:
//! nothing the server sends can widen a grant.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use davit_lifecycle::{DeployOptions, Layout, Source, Status};
use davit_sandbox::Sandbox;
use davit_spec::HostPolicy;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Exit;
use crate::render::hint;

#[derive(clap::Args)]
pub struct AgentArgs {
    /// The davit server
    #[arg(long, env = "DAVIT_SERVER")]
    server: String,
    /// A one-time enrollment token (`davit enroll-token create`), needed the first time only
    #[arg(long, env = "DAVIT_ENROLL_TOKEN")]
    enroll_token: Option<String>,
    /// This host's tags, which deployment groups select on: `env=prod,zone=a`
    #[arg(long, value_delimiter = ',')]
    tags: Vec<String>,
    /// This host's name [default: the system's host name]
    #[arg(long)]
    hostname: Option<String>,
    /// Where the agent keeps its credential and what it is doing [default: <deployment-root>/agent]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The host policy [default: /etc/davit/policy.toml if it exists, else deny everything]
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Where davit keeps revisions, its chunk cache and journal [default: as `davit deploy`]
    #[arg(long)]
    deployment_root: Option<PathBuf>,
    /// Install under this directory instead of `/`
    #[arg(long, default_value = "/")]
    target_root: PathBuf,
}

/// How often a busy agent tells the server it is alive (well within the server's timeout).
const HEARTBEAT: Duration = Duration::from_secs(2);

/// What the agent keeps between runs.
#[derive(Serialize, Deserialize)]
struct Identity {
    server: String,
    agent_id: String,
    credential: String,
}

/// A command from the server.
#[derive(Deserialize)]
struct Command {
    deployment: String,
    app: String,
    group: String,
    revision: String,
    store: String,
}

pub async fn run(args: AgentArgs) -> Result<(), Exit> {
    let root = std::path::absolute(
        args.deployment_root
            .clone()
            .unwrap_or_else(super::deploy::default_root),
    )
    .context("resolving `--deployment-root`")?;
    let data_dir = args.data_dir.clone().unwrap_or_else(|| root.join("agent"));
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create `{}`", data_dir.display()))?;
    let policy = match args
        .policy
        .as_deref()
        .or_else(|| Some(Path::new(super::deploy::DEFAULT_POLICY)).filter(|p| p.exists()))
    {
        Some(path) => HostPolicy::load(path).map_err(Exit::invalid)?,
        None => HostPolicy::default(),
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .context("cannot make an HTTP client")?;
    let identity = identity(&args, &data_dir, &client).await?;
    eprintln!(
        "agent {} of {} polling for commands",
        identity.agent_id, identity.server
    );
    let base = identity.server.trim_end_matches('/').to_string();
    let current = data_dir.join("current-deployment");
    // Killed during a deployment last time: say so before anything else.
    if let Ok(deployment) = std::fs::read_to_string(&current) {
        let body = json!({"deployment": deployment.trim(), "succeeded": false, "after_restart": true,
                          "detail": "the agent restarted during the deployment"});
        let _ = client
            .post(format!("{base}/v1/agent/report"))
            .bearer_auth(&identity.credential)
            .json(&body)
            .send()
            .await;
        let _ = std::fs::remove_file(&current);
    }
    let sandbox = Sandbox::new(Some(Layout::new(&root).component_cache()))
        .context("cannot start the sandbox")?;
    loop {
        let response = client
            .get(format!("{base}/v1/agent/command?wait=20"))
            .bearer_auth(&identity.credential)
            .send()
            .await;
        let command: Command = match response {
            Ok(r) if r.status() == reqwest::StatusCode::OK => match r.json().await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("warning: a command the agent cannot read: {e}");
                    continue;
                }
            },
            Ok(r) if r.status() == reqwest::StatusCode::NO_CONTENT => continue,
            Ok(r) if r.status().as_u16() == 401 || r.status().as_u16() == 403 => {
                return Err(Exit::invalid(hint(
                    anyhow::anyhow!("the server refuses this agent's credential"),
                    format!(
                        "remove `{}` and enroll again with a new `--enroll-token`",
                        data_dir.join("identity.json").display()
                    ),
                )));
            }
            Ok(r) => {
                eprintln!("warning: the server answered {}", r.status());
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
            Err(e) => {
                eprintln!("warning: cannot reach the server: {e}");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        std::fs::write(&current, &command.deployment)
            .with_context(|| format!("cannot write `{}`", current.display()))?;
        // Heartbeats while the deployment runs, so a long hook is not taken for a lost agent.
        let beat = {
            let (client, url, credential) = (
                client.clone(),
                format!("{base}/v1/agent/heartbeat"),
                identity.credential.clone(),
            );
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(HEARTBEAT).await;
                    let _ = client.post(&url).bearer_auth(&credential).send().await;
                }
            })
        };
        let (live, sender) = Live::start(
            client.clone(),
            format!("{base}/v1/agent/progress"),
            identity.credential.clone(),
            command.deployment.clone(),
        );
        let (succeeded, detail, events) =
            execute(&sandbox, &command, &policy, &root, &args, live).await;
        beat.abort();
        sender.abort();
        eprintln!(
            "deployment {}: {}",
            command.deployment,
            if succeeded { "succeeded" } else { "failed" }
        );
        let body = json!({"deployment": command.deployment, "succeeded": succeeded,
                          "detail": detail, "events": events});
        // A report must arrive: retry until the server takes it.
        loop {
            let sent = client
                .post(format!("{base}/v1/agent/report"))
                .bearer_auth(&identity.credential)
                .json(&body)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() || r.status().as_u16() == 409 => break,
                _ => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
        let _ = std::fs::remove_file(&current);
    }
}

/// Runs one deployment; returns whether it succeeded, a line on what happened, and per event
/// its status, time, detail and the last lines of its hooks' logs.
async fn execute(
    sandbox: &Sandbox,
    command: &Command,
    policy: &HostPolicy,
    root: &Path,
    args: &AgentArgs,
    live: Arc<dyn davit_lifecycle::Progress>,
) -> (bool, String, serde_json::Value) {
    let none = serde_json::Value::Array(Vec::new());
    let revision = match command.revision.parse::<davit_bundle::Digest>() {
        Ok(r) => r,
        Err(e) => return (false, e.to_string(), none),
    };
    let store = match davit_bundle::Store::open(&command.store) {
        Ok(s) => s,
        Err(e) => return (false, e.to_string(), none),
    };
    let opts = DeployOptions {
        application: command.app.clone(),
        deployment_group: command.group.clone(),
        events: None,
        file_exists_behavior: None,
        appspec_filename: "appspec.yml".into(),
        layout: Layout::new(root),
        target_root: args.target_root.clone(),
        policy: policy.clone(),
        keep_revisions: 5,
    };
    let source = Source::Store {
        store: &store,
        revision,
    };
    match davit_lifecycle::deploy(sandbox, source, &opts, live).await {
        Ok(report) if report.status == Status::Succeeded => (
            true,
            format!("revision {} deployed", revision.short()),
            events(&report),
        ),
        Ok(report) => (
            false,
            report
                .failed_event()
                .map(|e| format!("{}: {}", e.event, e.detail.as_deref().unwrap_or("failed")))
                .unwrap_or_else(|| "the deployment failed".into()),
            events(&report),
        ),
        Err(e) => (false, format!("{:#}", anyhow::Error::new(e)), none),
    }
}

/// Sends the server each event as it ends, so `davit deploy watch` shows the deployment live.
/// The lifecycle calls [`davit_lifecycle::Progress`] synchronously; the events go through a
/// channel to a task that posts them (the latest list wins; a lost one is sent with the next).
struct Live {
    events: std::sync::Mutex<Vec<serde_json::Value>>,
    tx: tokio::sync::mpsc::UnboundedSender<serde_json::Value>,
}

impl Live {
    fn start(
        client: reqwest::Client,
        url: String,
        credential: String,
        deployment: String,
    ) -> (
        Arc<dyn davit_lifecycle::Progress>,
        tokio::task::JoinHandle<()>,
    ) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
        let sender = tokio::spawn(async move {
            while let Some(events) = rx.recv().await {
                let body = json!({"deployment": deployment, "events": events});
                let _ = client
                    .post(&url)
                    .bearer_auth(&credential)
                    .json(&body)
                    .send()
                    .await;
            }
        });
        let live = Live {
            events: std::sync::Mutex::new(Vec::new()),
            tx,
        };
        (Arc::new(live), sender)
    }
}

impl davit_lifecycle::Progress for Live {
    fn event_finished(&self, event: &davit_lifecycle::EventReport) {
        let mut events = self.events.lock().expect("events");
        events.push(event_json(event));
        let _ = self.tx.send(serde_json::Value::Array(events.clone()));
    }
}

/// Lines of hook output kept per event in a report to the server.
const LOG_TAIL: usize = 20;

/// The per-event summary sent to the server, each event with the last lines of its hooks.
fn events(report: &davit_lifecycle::DeploymentReport) -> serde_json::Value {
    report.events.iter().map(event_json).collect()
}

/// One event for the server: status, time, detail and its hooks' last lines.
fn event_json(e: &davit_lifecycle::EventReport) -> serde_json::Value {
    let lines: Vec<String> = e
        .hooks
        .iter()
        .flat_map(|h| h.logs.iter().map(|l| format!("[{}] {}", l.stream, l.text)))
        .collect();
    let tail = &lines[lines.len().saturating_sub(LOG_TAIL)..];
    json!({
        "event": e.event, "status": e.status.to_string(), "elapsed_ms": e.elapsed_ms,
        "detail": e.detail, "log_tail": tail,
    })
}

/// The saved identity, or a new one from enrolling with the token.
async fn identity(
    args: &AgentArgs,
    data_dir: &Path,
    client: &reqwest::Client,
) -> Result<Identity, Exit> {
    let file = data_dir.join("identity.json");
    if let Ok(text) = std::fs::read_to_string(&file) {
        return serde_json::from_str(&text)
            .with_context(|| format!("`{}` is not an agent identity", file.display()))
            .map_err(Exit::from);
    }
    let Some(token) = &args.enroll_token else {
        return Err(Exit::invalid(hint(
            anyhow::anyhow!("this agent has not enrolled yet"),
            "pass `--enroll-token` with a token from `davit enroll-token create`",
        )));
    };
    let tags = args
        .tags
        .iter()
        .map(|t| {
            t.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| Exit::invalid(anyhow::anyhow!("`--tags {t}`: expected `key=value`")))
        })
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    let hostname = match &args.hostname {
        Some(h) => h.clone(),
        None => std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into()),
    };
    let base = args.server.trim_end_matches('/');
    let response = client
        .post(format!("{base}/v1/enroll"))
        .json(&json!({"token": token, "hostname": hostname, "tags": tags}))
        .send()
        .await
        .with_context(|| format!("cannot reach the davit server at {base}"))?;
    if !response.status().is_success() {
        return Err(Exit::invalid(anyhow::anyhow!(
            "enrollment refused: {}",
            response.text().await.unwrap_or_default()
        )));
    }
    #[derive(Deserialize)]
    struct Enrolled {
        agent_id: String,
        credential: String,
    }
    let enrolled: Enrolled = response
        .json()
        .await
        .context("a malformed enrollment answer")?;
    let identity = Identity {
        server: base.to_string(),
        agent_id: enrolled.agent_id,
        credential: enrolled.credential,
    };
    write_private(
        &file,
        &serde_json::to_vec_pretty(&identity).expect("serializes"),
    )
    .with_context(|| format!("cannot write `{}`", file.display()))?;
    Ok(identity)
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(data)
}
