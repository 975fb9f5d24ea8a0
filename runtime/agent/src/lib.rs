//! The davit agent. It enrolls with the server once (a one-time token swapped for its own
//! credential, kept in its data directory), then long-polls `/v1/agent/command` and runs each
//! deployment with the same engine as `davit deploy --local`, under this host's own policy:
//! nothing the server sends can widen a grant. It runs one deployment per application at a
//! time and deployments of different applications side by side, heartbeats while any runs (a
//! hook may outlast the server's agent timeout), sends each event as it ends, and reports every
//! result until the server takes it. A deployment it was running when it was killed is
//! reported `FailedAfterRestart` when it starts again. When a hook asks for a reboot, the agent
//! tells the server, takes no new command, lets the other deployments end, and returns
//! [`RebootDue`]; started again after the reboot, it resumes that deployment at its next event.
//!
//! ```no_run
//! # async fn run() -> Result<(), davit_agent::AgentError> {
//! let config = davit_agent::Config {
//!     server: "http://127.0.0.1:7000".into(),
//!     enroll_token: Some("dve_…".into()),
//!     tags: [("env".to_string(), "prod".to_string())].into(),
//!     hostname: "web-1".into(),
//!     data_dir: "/var/lib/davit/agent".into(),
//!     policy: davit_spec::HostPolicy::default(),
//!     deployment_root: "/var/lib/davit".into(),
//!     target_root: "/".into(),
//!     max_reboots: davit_lifecycle::MAX_REBOOTS,
//!     builder: false,
//! };
//! let due = davit_agent::run(config).await?;
//! eprintln!("rebooting: {}", due.why.join("; "));
//! # Ok(())
//! # }
//! ```

mod builder;
mod client;
mod confine;
mod execute;
mod identity;
mod package;
mod running;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use davit_api::{AppName, Report};
use davit_lifecycle::Layout;
use davit_sandbox::Sandbox;
use davit_spec::HostPolicy;

pub use client::Server;
pub use identity::Identity;

/// How often a busy agent tells the server it is alive (well within the server's timeout).
const HEARTBEAT: Duration = Duration::from_secs(2);

/// How long a poll waits for a command when the agent is idle, and when it runs deployments
/// (short, so a command queued behind a running one of the same application starts soon).
const POLL_IDLE: u64 = 20;
const POLL_BUSY: u64 = 2;

/// What the agent is and where it works.
#[derive(Clone, Debug)]
pub struct Config {
    /// The server's URL.
    pub server: String,
    /// A one-time enrollment token, needed the first time only.
    pub enroll_token: Option<String>,
    /// This host's tags, which deployment groups select on.
    pub tags: BTreeMap<String, String>,
    /// This host's name.
    pub hostname: String,
    /// Where the agent keeps its identity and the deployments it runs.
    pub data_dir: PathBuf,
    /// The host's policy: the most any hook is granted.
    pub policy: HostPolicy,
    /// Where davit keeps revisions, its chunk cache and journal.
    pub deployment_root: PathBuf,
    /// Where files are installed (`/` on a live host).
    pub target_root: PathBuf,
    /// Reboots one deployment may ask for (see [`davit_lifecycle::MAX_REBOOTS`]).
    pub max_reboots: u32,
    /// Also build the image pipelines' runs whose builder tags this host has ([`builder`]).
    pub builder: bool,
}

/// The agent stopped because a hook asked for a reboot and no deployment runs any more: the
/// caller reboots the host (or, in tests, starts the agent again), and the agent resumes the
/// deployments that asked at their next event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebootDue {
    /// One line per deployment that asked.
    pub why: Vec<String>,
}

/// Why the agent stops.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// No identity saved and no token to enroll with.
    #[error("this agent has not enrolled yet")]
    NotEnrolled,
    /// The server refused the enrollment token.
    #[error("enrollment refused: {0}")]
    EnrollmentRefused(String),
    /// The server refuses the saved credential.
    #[error("the server refuses this agent's credential")]
    CredentialRefused {
        /// The identity file to remove before enrolling again.
        identity: PathBuf,
    },
    /// The server could not be reached or answered nonsense.
    #[error("the davit server at {server}")]
    Server {
        /// Its URL.
        server: String,
        /// Why.
        source: anyhow::Error,
    },
    /// A local file.
    #[error("{action} `{}`", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The Wasm sandbox could not start.
    #[error("cannot start the sandbox")]
    Sandbox(#[source] anyhow::Error),
}

/// Enrolls if needed, resumes the deployments that stopped for a reboot, then runs the
/// server's commands until a reboot is due ([`RebootDue`], once every deployment in flight
/// has come to a stop) or the credential is refused.
///
/// # Errors
///
/// When the agent cannot enroll, its data directory cannot be written, the sandbox cannot
/// start, or the server refuses its credential.
pub async fn run(config: Config) -> Result<RebootDue, AgentError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| AgentError::Io {
        action: "creating",
        path: config.data_dir.clone(),
        source,
    })?;
    let identity = identity::load_or_enroll(&config).await?;
    eprintln!(
        "agent {} of {} polling for commands",
        identity.agent_id, identity.server
    );
    let server = Server::new(&identity)?;
    let running = running::Running::new(&config.data_dir)?;
    // Killed during deployments last time: put the host right (an Install left half-done is
    // taken back or finished), then say so, with what the host now holds, before anything else.
    // Deployments that stopped for a reboot are left to resume.
    let (recovered, suspended) =
        match davit_lifecycle::recover(&Layout::new(&config.deployment_root)) {
            Ok(found) => (
                found
                    .interrupted
                    .iter()
                    .filter_map(|i| {
                        let recovery = i.recovery.as_deref()?;
                        Some(format!(
                            "{}/{}: {recovery}",
                            i.application, i.deployment_group
                        ))
                    })
                    .collect::<Vec<_>>(),
                found.suspended,
            ),
            Err(e) => (
                vec![format!("the host could not be recovered: {e}")],
                Vec::new(),
            ),
        };
    let mut detail = String::from("the agent restarted during the deployment");
    for line in &recovered {
        detail.push_str("; ");
        detail.push_str(line);
    }
    let mut resume = Vec::new();
    for (deployment, command) in running.left_behind() {
        if let Some(command) =
            command.filter(|c| waits_for_reboot(c, &suspended) || package::resumes(c))
        {
            eprintln!(
                "deployment {deployment} of {}: resuming after the reboot",
                command.app
            );
            resume.push(command);
            continue;
        }
        let report = Report {
            deployment: deployment.clone(),
            succeeded: false,
            detail: detail.clone(),
            after_restart: true,
            events: None,
        };
        server.report_until_taken(&report).await;
        running.finish(&deployment);
    }
    let sandbox = Sandbox::new(Some(Layout::new(&config.deployment_root).component_cache()))
        .map_err(|e| AgentError::Sandbox(e.into()))?;
    let agent = Arc::new(execute::Agent {
        sandbox,
        config,
        server: server.clone(),
        running,
        apps: Default::default(),
    });
    package::send_inventory(&server, &agent.config.deployment_root).await;
    let busy_count = Arc::new(AtomicUsize::new(0));
    let _heartbeat = heartbeat(server.clone(), busy_count.clone());
    // The builder's runs count as work too: the heartbeat goes on while one builds.
    let build_count = Arc::new(AtomicUsize::new(0));
    let _build_heartbeat = heartbeat(server.clone(), build_count.clone());
    let mut builder = match agent.config.builder {
        true => Some(tokio::spawn(builder::serve(agent.clone(), build_count))),
        false => None,
    };
    let mut tasks = Tasks::default();
    for command in resume {
        tasks.spawn(&agent, command);
    }
    loop {
        if let Some(task) = builder.as_mut().filter(|t| t.is_finished()) {
            match task.await {
                Ok(Err(e)) => return Err(e),
                Ok(Ok(())) => {}
                Err(e) => eprintln!("warning: the builder stopped: {e}"),
            }
            builder = None;
        }
        while let Some(done) = tasks.set.try_join_next_with_id() {
            tasks.finished(done);
        }
        busy_count.store(tasks.busy.len(), Ordering::Relaxed);
        // A reboot is due: no new command; the deployments still running come to a stop first.
        if !tasks.reboot.is_empty() {
            match tasks.set.join_next_with_id().await {
                Some(done) => tasks.finished(done),
                None => return Ok(RebootDue { why: tasks.reboot }),
            }
            continue;
        }
        let busy = &tasks.busy;
        let wait = if busy.is_empty() {
            POLL_IDLE
        } else {
            POLL_BUSY
        };
        let command = match server.poll(wait, busy.keys()).await {
            Ok(Some(command)) => command,
            Ok(None) => continue,
            Err(client::PollError::Refused) => {
                return Err(AgentError::CredentialRefused {
                    identity: identity::file(&agent.config.data_dir),
                });
            }
            Err(client::PollError::Other(e)) => {
                eprintln!("warning: {e:#}");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        // The server hands out no second command for a busy application; if one came (an
        // older server), it waits for the first in its task rather than run beside it.
        tasks.spawn(&agent, command);
        busy_count.store(tasks.busy.len(), Ordering::Relaxed);
    }
}

/// Whether `command`'s deployment is one of those that stopped for a reboot (the lifecycle
/// names deployments its own way: they are matched by what they deploy).
fn waits_for_reboot(
    command: &davit_api::Command,
    suspended: &[davit_lifecycle::Suspended],
) -> bool {
    suspended.iter().any(|s| {
        s.application == command.app.as_str()
            && s.deployment_group == command.group.as_str()
            && s.revision == command.revision.as_str()
    })
}

/// The deployment tasks in flight.
#[derive(Default)]
struct Tasks {
    set: tokio::task::JoinSet<execute::Ended>,
    apps: HashMap<tokio::task::Id, AppName>,
    /// The applications being deployed, and how many of their commands this agent holds.
    busy: BTreeMap<AppName, usize>,
    /// Why the host is to reboot, once no deployment runs.
    reboot: Vec<String>,
}

impl Tasks {
    fn spawn(&mut self, agent: &Arc<execute::Agent>, command: davit_api::Command) {
        *self.busy.entry(command.app.clone()).or_default() += 1;
        let app = command.app.clone();
        let agent = agent.clone();
        let task = self.set.spawn(async move { agent.deploy(command).await });
        self.apps.insert(task.id(), app);
    }

    fn finished(
        &mut self,
        done: Result<(tokio::task::Id, execute::Ended), tokio::task::JoinError>,
    ) {
        // A task that panicked frees its application too.
        let id = match done {
            Ok((id, execute::Ended::Reboot(why))) => {
                self.reboot.push(why);
                id
            }
            Ok((id, execute::Ended::Reported)) => id,
            Err(e) => e.id(),
        };
        if let Some(app) = self.apps.remove(&id)
            && let Some(count) = self.busy.get_mut(&app)
        {
            *count -= 1;
            if *count == 0 {
                self.busy.remove(&app);
            }
        }
    }
}

/// Heartbeats every [`HEARTBEAT`] while `busy` is above zero; ends when dropped.
fn heartbeat(server: Server, busy: Arc<AtomicUsize>) -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(async move {
        loop {
            tokio::time::sleep(HEARTBEAT).await;
            if busy.load(Ordering::Relaxed) > 0 {
                let _ = server.heartbeat().await;
            }
        }
    }))
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
