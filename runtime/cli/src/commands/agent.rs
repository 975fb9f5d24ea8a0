//! `davit agent`: the clap front end of davit-agent. It reads this host's policy file and
//! turns the agent's errors into davit's messages; the agent itself is `davit_agent::run`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use davit_agent::AgentError;
use davit_spec::HostPolicy;

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
    #[arg(long, value_delimiter = ',', env = "DAVIT_TAGS")]
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
    /// What a hook's reboot request does, once no deployment runs: reboot the host, or start
    /// the agent again in place (for tests and containers)
    #[arg(long, value_enum, default_value_t = RebootWith::Host)]
    reboot: RebootWith,
    /// Reboots one deployment may ask for; one more fails the event that asked
    #[arg(long, default_value_t = davit_lifecycle::MAX_REBOOTS)]
    max_reboots: u32,
    /// Also build image pipelines' runs (those whose builder tags this host has), with the
    /// component store under the deployment root and this host's policy
    #[arg(long)]
    builder: bool,
}

/// How the agent carries out a reboot a hook asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum RebootWith {
    /// `systemctl reboot` where systemd runs, else `/sbin/reboot`
    Host,
    /// The agent replaces itself with a fresh `davit agent` of the same arguments
    Agent,
}

pub async fn run(args: AgentArgs) -> Result<(), Exit> {
    let root = std::path::absolute(
        args.deployment_root
            .clone()
            .unwrap_or_else(super::deploy::default_root),
    )
    .context("resolving `--deployment-root`")?;
    let policy = match args
        .policy
        .as_deref()
        .or_else(|| Some(Path::new(super::deploy::DEFAULT_POLICY)).filter(|p| p.exists()))
    {
        Some(path) => HostPolicy::load(path).map_err(Exit::invalid)?,
        None => HostPolicy::default(),
    };
    let tags = super::fleet::parse_tags("--tags", &args.tags)?;
    let hostname = match &args.hostname {
        Some(h) => h.clone(),
        None => std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into()),
    };
    let config = davit_agent::Config {
        server: args.server,
        enroll_token: args.enroll_token,
        tags,
        hostname,
        data_dir: args.data_dir.unwrap_or_else(|| root.join("agent")),
        policy,
        deployment_root: root,
        target_root: args.target_root,
        max_reboots: args.max_reboots,
        builder: args.builder,
    };
    let due = davit_agent::run(config).await.map_err(|e| match e {
        AgentError::NotEnrolled => Exit::invalid(hint(
            e,
            "pass `--enroll-token` with a token from `davit enroll-token create`",
        )),
        AgentError::CredentialRefused { ref identity } => {
            let fix = format!(
                "remove `{}` and enroll again with a new `--enroll-token`",
                identity.display()
            );
            Exit::invalid(hint(e, fix))
        }
        AgentError::EnrollmentRefused(_) => Exit::invalid(e),
        other => Exit::from(anyhow::Error::new(other)),
    })?;
    for why in &due.why {
        eprintln!("{why}");
    }
    Err(reboot(args.reboot))
}

/// Reboots the host, or replaces this process with a fresh agent; returns only on failure.
fn reboot(with: RebootWith) -> Exit {
    use std::os::unix::process::CommandExt;

    let error = match with {
        RebootWith::Agent => {
            eprintln!("starting the agent again in place of a reboot");
            let exe = match std::env::current_exe() {
                Ok(exe) => exe,
                Err(e) => return Exit::from(anyhow::Error::new(e).context("cannot find davit")),
            };
            std::process::Command::new(exe)
                .args(std::env::args_os().skip(1))
                .exec()
        }
        RebootWith::Host => {
            eprintln!("rebooting the host");
            let mut command = if Path::new("/run/systemd/system").is_dir() {
                let mut c = std::process::Command::new("systemctl");
                c.arg("reboot");
                c
            } else {
                std::process::Command::new("/sbin/reboot")
            };
            match command.status() {
                // The system goes down and takes the agent with it; until then, nothing to do.
                Ok(status) if status.success() => loop {
                    std::thread::sleep(std::time::Duration::from_secs(3600));
                },
                Ok(status) => std::io::Error::other(format!("the reboot command {status}")),
                Err(e) => e,
            }
        }
    };
    Exit::from(anyhow::Error::new(error).context("cannot reboot for the deployment"))
}
