//! `davit server` and the operator's commands against it: `app`, `group`, `enroll-token`,
//! `agents`. The server URL comes from `--server` or `DAVIT_SERVER`, the operator token from
//! `DAVIT_TOKEN` or the server's `operator-token` file in the default data directory.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use davit_api::{
    Agent, App, AppName, Deployment, DeploymentHost, DeploymentStatus, DeploymentSummary,
    EnrollToken, ErrorBody, EventStatus, Group, GroupName, HostStatus, NewApp, NewDeployment,
    NewEnrollToken, NewGroup, RevokeEnrollToken, Revoked,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Exit;
use crate::output::{self, Format};
use crate::render::hint;

/// Where the server listens by default, and where the CLI looks for it.
pub(crate) const DEFAULT_SERVER: &str = "http://127.0.0.1:7000";

#[derive(clap::Args)]
pub struct ServerArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:7000")]
    listen: SocketAddr,
    /// Where the server keeps its files (the SQLite database, the first operator token)
    /// [default: /var/lib/davit-server as root, else ~/.local/state/davit-server]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The state's database: `sqlite://FILE` or `postgres://USER@HOST/DB` [default: SQLite in
    /// the data directory]
    #[arg(long, env = "DAVIT_DATABASE_URL")]
    database_url: Option<String>,
    /// How long an agent with work may stay silent before its host counts as lost
    #[arg(long, default_value = "30s")]
    agent_timeout: String,
}

#[derive(clap::Args)]
pub struct Connection {
    /// The davit server
    #[arg(long, env = "DAVIT_SERVER", default_value = DEFAULT_SERVER, global = true)]
    pub server: String,
    #[arg(long, value_enum, default_value_t, global = true)]
    pub output: Format,
}

#[derive(Subcommand)]
pub enum DeploymentsCommand {
    /// The latest deployments, newest first
    List,
    /// Show a deployment: its status and every host's
    Show { id: String },
    /// Follow a deployment live: a line per host as its state and events change, the failing
    /// hook's log tail, until it ends (exit 0 if it succeeded, 1 if not)
    Watch { id: String },
    /// Stop a deployment: hosts running finish, no other starts
    Stop { id: String },
}

#[derive(Subcommand)]
pub enum AppCommand {
    /// Create an application
    Create { name: AppName },
    /// List applications
    List,
}

#[derive(Subcommand)]
pub enum GroupCommand {
    /// Create a deployment group: the hosts with all these tags, and these hosts by name
    Create {
        app: AppName,
        group: GroupName,
        /// Tags a host must have: `env=prod,zone=a`
        #[arg(long, value_delimiter = ',')]
        tags: Vec<String>,
        /// Hosts that belong whether or not their agent runs: `web-1,web-2`
        #[arg(long, value_delimiter = ',')]
        hosts: Vec<String>,
        /// How long one host may run one deployment before it fails, heartbeats or not
        #[arg(long, default_value_t = davit_api::DEFAULT_MAX_DEPLOYMENT_MINUTES)]
        max_deployment_minutes: u32,
        /// Hosts that join the group get nothing until the next deployment (by default they
        /// get its last good revision by themselves)
        #[arg(long)]
        no_auto_deploy: bool,
    },
    /// List an application's deployment groups
    List { app: AppName },
}

#[derive(Subcommand)]
pub enum EnrollTokenCommand {
    /// Create a token an agent swaps for its own credential: one-time, or `--reusable`
    Create {
        /// Let every host that presents it enroll (for images that bake the agent in with
        /// the `davit/agent` component)
        #[arg(long)]
        reusable: bool,
        /// Stop enrolling after this long (`30m`, `12h`, `30d`)
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
    },
    /// Revoke an enrollment token: no host enrolls with it any more (those that did keep
    /// their own credentials). `-` reads the token from standard input.
    Revoke { token: String },
}

pub async fn server(args: ServerArgs) -> Result<(), Exit> {
    let data_dir = args.data_dir.unwrap_or_else(default_data_dir);
    let database_url = args
        .database_url
        .unwrap_or_else(|| davit_server::default_database_url(&data_dir));
    let (db, token_file) = davit_server::open(&database_url, &data_dir)
        .await
        .context("cannot open the server's state")?;
    if let Some(file) = token_file {
        eprintln!(
            "created the first operator token in {} (use it as DAVIT_TOKEN)",
            file.display()
        );
    }
    let timeout = davit_spec::parse_duration(&args.agent_timeout)
        .map_err(|e| Exit::invalid(anyhow::anyhow!("`--agent-timeout`: {e}")))?;
    davit_server::spawn_reaper(db.clone(), timeout);
    davit_server::spawn_scheduler(db.clone());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    eprintln!(
        "davit server on http://{} (state: {})",
        listener.local_addr()?,
        redact(&database_url)
    );
    davit_server::serve(listener, davit_server::router(db)).await?;
    Ok(())
}

pub async fn app(cmd: AppCommand, conn: Connection) -> Result<(), Exit> {
    let api = Api::new(&conn)?;
    match cmd {
        AppCommand::Create { name } => {
            let created: App = api.post("/v1/apps", &NewApp { name }).await?;
            show(&conn, &created, || {
                format!("created application {}", created.name)
            })
        }
        AppCommand::List => {
            let apps: Vec<App> = api.get("/v1/apps").await?;
            show(&conn, &apps, || {
                apps.iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
    }
}

pub async fn group(cmd: GroupCommand, conn: Connection) -> Result<(), Exit> {
    let api = Api::new(&conn)?;
    match cmd {
        GroupCommand::Create {
            app,
            group,
            tags,
            hosts,
            max_deployment_minutes,
            no_auto_deploy,
        } => {
            let tags = parse_tags("--tags", &tags)?;
            let body = NewGroup {
                name: group,
                tags,
                hosts,
                max_deployment_minutes,
                auto_deploy_new_hosts: !no_auto_deploy,
            };
            let created: Group = api.post(&format!("/v1/apps/{app}/groups"), &body).await?;
            show(&conn, &created, || {
                format!(
                    "created deployment group {} of {}",
                    created.name, created.app
                )
            })
        }
        GroupCommand::List { app } => {
            let groups: Vec<Group> = api.get(&format!("/v1/apps/{app}/groups")).await?;
            show(&conn, &groups, || {
                groups
                    .iter()
                    .map(|g| {
                        let image = match &g.image {
                            Some(i) => format!(
                                "  image {} {} {} ({})",
                                i.name, i.version, i.digest, i.reference
                            ),
                            None => String::new(),
                        };
                        format!(
                            "{}  tags {}  hosts {}  at most {} min{image}",
                            g.name,
                            serde_json::to_string(&g.tags).expect("tags serialize"),
                            serde_json::to_string(&g.hosts).expect("hosts serialize"),
                            g.max_deployment_minutes
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
    }
}

pub async fn enroll_token(cmd: EnrollTokenCommand, conn: Connection) -> Result<(), Exit> {
    let api = Api::new(&conn)?;
    match cmd {
        EnrollTokenCommand::Create {
            reusable,
            expires_in,
        } => {
            let expires_in = expires_in
                .map(|d| {
                    davit_spec::parse_duration(&d)
                        .map(|d| d.as_secs())
                        .map_err(|e| Exit::invalid(anyhow::anyhow!("`--expires-in {d}`: {e}")))
                })
                .transpose()?;
            let issued: EnrollToken = api
                .post(
                    "/v1/enroll-tokens",
                    &NewEnrollToken {
                        reusable,
                        expires_in,
                    },
                )
                .await?;
            show(&conn, &issued, || issued.token.clone())
        }
        EnrollTokenCommand::Revoke { token } => {
            let token = match token.as_str() {
                "-" => {
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .context("reading the token from standard input")?;
                    line.trim().to_owned()
                }
                _ => token,
            };
            let revoked: Revoked = api
                .post("/v1/enroll-tokens/revoke", &RevokeEnrollToken { token })
                .await?;
            show(&conn, &revoked, || "revoked".to_owned())
        }
    }
}

/// Creates a fleet deployment of `app`'s group `group`; names are checked here first, so a
/// bad one is refused before anything is sent.
pub async fn create_deployment(
    app: &str,
    group: &str,
    body: &NewDeployment,
    conn: &Connection,
) -> Result<(), Exit> {
    let app = AppName::try_from(app).map_err(Exit::invalid)?;
    let group = GroupName::try_from(group).map_err(Exit::invalid)?;
    let created: Deployment = Api::new(conn)?
        .post(&format!("/v1/apps/{app}/groups/{group}/deployments"), body)
        .await?;
    show(conn, &created, || summary(&created))
}

pub async fn deployments(cmd: DeploymentsCommand, conn: Connection) -> Result<(), Exit> {
    let api = Api::new(&conn)?;
    let shown = match cmd {
        DeploymentsCommand::List => {
            let list: Vec<DeploymentSummary> = api.get("/v1/deployments").await?;
            return show(&conn, &list, || {
                list.iter()
                    .map(|d| {
                        format!(
                            "{}  {}/{}  {}  {}  {}",
                            d.id,
                            d.app,
                            d.group,
                            d.revision.short(),
                            d.status,
                            d.cause.as_deref().unwrap_or("operator")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        DeploymentsCommand::Watch { id } => return watch(&api, &id, &conn).await,
        DeploymentsCommand::Show { id } => api.get(&format!("/v1/deployments/{id}")).await?,
        DeploymentsCommand::Stop { id } => {
            api.post(
                &format!("/v1/deployments/{id}/stop"),
                &serde_json::json!({}),
            )
            .await?
        }
    };
    show(&conn, &shown, || summary(&shown))
}

/// Follows a deployment until it ends: a bar of hosts done, and a line per host as it changes.
async fn watch(api: &Api, id: &str, conn: &Connection) -> Result<(), Exit> {
    use std::io::IsTerminal;
    let text = conn.output == Format::Text;
    let bar = (text && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} hosts")
                .expect("template"),
        );
        bar
    });
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let deployment = loop {
        let d: Deployment = api.get(&format!("/v1/deployments/{id}")).await?;
        for h in &d.hosts {
            let line = host_line(h);
            if text && seen.get(&h.host) != Some(&line) {
                match &bar {
                    Some(bar) => bar.println(&line),
                    None => eprintln!("{line}"),
                }
            }
            seen.insert(h.host.clone(), line);
        }
        if let Some(bar) = &bar {
            let finished = d.hosts.iter().filter(|h| h.state.is_finished()).count();
            bar.set_length(d.hosts.len() as u64);
            bar.set_position(finished as u64);
            bar.set_message(d.status.to_string());
        }
        if d.status.is_finished() {
            break d;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    show(conn, &deployment, || summary(&deployment))?;
    if deployment.status == DeploymentStatus::Succeeded {
        Ok(())
    } else {
        Err(Exit::failed())
    }
}

/// One host: its state, each event it reported, and on failure the failing event's log tail.
fn host_line(h: &DeploymentHost) -> String {
    let mut line = format!("{:<20} {:<10}", h.host, h.state.as_str());
    let events = h.events.as_deref().unwrap_or_default();
    for e in events {
        let mark = match e.status {
            EventStatus::Succeeded => "ok",
            EventStatus::Failed | EventStatus::FailedAfterRestart => "FAILED",
            EventStatus::Skipped => "-",
        };
        line.push_str(&format!(" {}:{mark}", e.event));
    }
    for e in events.iter().filter(|e| !e.recorded.is_empty()) {
        line.push_str(&format!("\n    {} would:", e.event));
        for r in &e.recorded {
            line.push_str(&format!("\n      {r}"));
        }
    }
    if let Some(detail) = h
        .detail
        .as_deref()
        .filter(|_| h.state == HostStatus::Failed)
    {
        line.push_str(&format!("\n    {detail}"));
        let failed = events.iter().find(|e| e.status == EventStatus::Failed);
        for l in failed.map(|e| e.log_tail.as_slice()).unwrap_or_default() {
            line.push_str(&format!("\n    | {l}"));
        }
    }
    line
}

/// A deployment for people: its status, then each host.
fn summary(d: &Deployment) -> String {
    let mut out = format!(
        "deployment {} of {}/{}: {}{}",
        d.id,
        d.app,
        d.group,
        d.status,
        d.reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
    if let Some(cause) = &d.cause {
        out.push_str(&format!(" [{cause}]"));
    }
    for h in &d.hosts {
        out.push_str("\n  ");
        out.push_str(&host_line(h));
    }
    out
}

pub async fn agents(conn: Connection) -> Result<(), Exit> {
    let agents: Vec<Agent> = Api::new(&conn)?.get("/v1/agents").await?;
    show(&conn, &agents, || {
        agents
            .iter()
            .map(|a| {
                format!(
                    "{}  {}  tags {}",
                    a.hostname,
                    a.id,
                    serde_json::to_string(&a.tags).expect("tags serialize")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

pub(crate) fn show<T: Serialize>(
    conn: &Connection,
    value: &T,
    text: impl FnOnce() -> String,
) -> Result<(), Exit> {
    match conn.output {
        Format::Json => output::json(value)?,
        Format::Text => println!("{}", text()),
    }
    Ok(())
}

/// An operator's connection to the server.
pub(crate) struct Api {
    base: String,
    token: String,
    client: reqwest::Client,
}

impl Api {
    fn new(conn: &Connection) -> Result<Api, Exit> {
        Api::connect(&conn.server)
    }

    /// The server at `server`, with the operator token of DAVIT_TOKEN or the default data
    /// directory's file.
    pub(crate) fn connect(server: &str) -> Result<Api, Exit> {
        let token = match std::env::var("DAVIT_TOKEN") {
            Ok(t) if !t.is_empty() => t,
            _ => {
                let file = default_data_dir().join("operator-token");
                std::fs::read_to_string(&file)
                    .map(|t| t.trim().to_string())
                    .map_err(|_| {
                        Exit::invalid(hint(
                            anyhow::anyhow!("no operator token: DAVIT_TOKEN is not set and `{}` cannot be read", file.display()),
                            "`davit server` writes the first operator token to `<data-dir>/operator-token`; export it as DAVIT_TOKEN",
                        ))
                    })?
            }
        };
        Ok(Api {
            base: server.trim_end_matches('/').to_string(),
            token,
            client: reqwest::Client::new(),
        })
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Exit> {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, Exit> {
        self.send(self.client.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    pub(crate) async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, Exit> {
        self.send(self.client.delete(format!("{}{path}", self.base)))
            .await
    }

    pub(crate) async fn put<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, Exit> {
        self.send(self.client.put(format!("{}{path}", self.base)).json(body))
            .await
    }

    async fn send<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, Exit> {
        let response = request.bearer_auth(&self.token).send().await.map_err(|e| {
            Exit::from(hint(
                anyhow::Error::new(e)
                    .context(format!("cannot reach the davit server at {}", self.base)),
                "start it with `davit server`, or point `--server`/DAVIT_SERVER at it",
            ))
        })?;
        let status = response.status();
        if status.is_success() {
            return response
                .json()
                .await
                .with_context(|| {
                    format!(
                        "the server at {} answered what davit cannot read",
                        self.base
                    )
                })
                .map_err(Exit::from);
        }
        let message = match response.json::<ErrorBody>().await {
            Ok(body) => body.error,
            Err(_) => format!("the server answered {status}"),
        };
        let error = anyhow::anyhow!("{message}");
        Err(match status.as_u16() {
            401 | 403 => Exit::invalid(hint(
                error,
                "check DAVIT_TOKEN: it must be an operator token of this server",
            )),
            400 | 404 | 409 => Exit::invalid(error),
            _ => Exit::from(error),
        })
    }
}

/// `key=value` tags given with `flag`.
pub(crate) fn parse_tags(flag: &str, given: &[String]) -> Result<BTreeMap<String, String>, Exit> {
    given
        .iter()
        .map(|t| {
            t.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| Exit::invalid(anyhow::anyhow!("`{flag} {t}`: expected `key=value`")))
        })
        .collect()
}

/// The server's files when `--data-dir` is not given.
pub fn default_data_dir() -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/lib/davit-server");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".local/state/davit-server")
}

/// A database URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user_end = url[scheme + 3..at].find(':').map_or(at, |i| scheme + 3 + i);
            format!("{}{}", &url[..user_end], &url[at..])
        }
        _ => url.to_string(),
    }
}
