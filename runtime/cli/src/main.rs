//! `davit`: deploy application revisions whose hooks run as sandboxed WebAssembly components.

mod commands;
mod output;
mod render;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes, documented in `davit --help` and the README.
pub mod exit {
    /// Everything succeeded.
    pub const OK: u8 = 0;
    /// The deployment ran and an event failed (or a hook/health check failed).
    pub const FAILED: u8 = 1;
    /// Bad input: usage, malformed appspec or policy, a grant the policy refuses.
    pub const INVALID: u8 = 2;
    /// davit could not do its work: I/O, a busy deployment root, the sandbox.
    pub const ERROR: u8 = 3;
    /// A hook (or a component's step) asked for a reboot: the run stopped, to resume once the
    /// host rebooted.
    pub const REBOOT: u8 = 4;
}

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the deployment (or hook) ran and failed
  2  invalid input: usage, malformed appspec or policy, a grant the policy refuses
  3  davit could not do its work (I/O, busy deployment root, sandbox)
  4  a hook or a step asked for a reboot: reboot, then run the same command again to resume";

#[derive(Parser)]
#[command(name = "davit", version, about, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Deploy a revision on this host (like `codedeploy-local`)
    Deploy(commands::deploy::Args),
    /// Push and pull revisions as chunks in a store
    #[command(subcommand)]
    Bundle(commands::bundle::BundleCommand),
    /// Run a bundle store
    #[command(subcommand)]
    Store(commands::bundle::StoreCommand),
    /// Signing keys for revisions
    #[command(subcommand)]
    Key(commands::bundle::KeyCommand),
    /// The host's chunk cache
    #[command(subcommand)]
    Cache(commands::bundle::CacheCommand),
    /// Run the davit server (SQLite by default, or PostgreSQL)
    Server(commands::fleet::ServerArgs),
    /// Applications on the server
    App {
        #[command(subcommand)]
        command: commands::fleet::AppCommand,
        #[command(flatten)]
        conn: commands::fleet::Connection,
    },
    /// Deployment groups on the server
    Group {
        #[command(subcommand)]
        command: commands::fleet::GroupCommand,
        #[command(flatten)]
        conn: commands::fleet::Connection,
    },
    /// One-time tokens that agents swap for their own credentials
    EnrollToken {
        #[command(subcommand)]
        command: commands::fleet::EnrollTokenCommand,
        #[command(flatten)]
        conn: commands::fleet::Connection,
    },
    /// Fleet deployments on the server
    Deployments {
        #[command(subcommand)]
        command: commands::fleet::DeploymentsCommand,
        #[command(flatten)]
        conn: commands::fleet::Connection,
    },
    /// Run this host's agent: enroll once, then run the server's deployments
    Agent(commands::agent::AgentArgs),
    /// The agents enrolled with the server
    Agents {
        #[command(flatten)]
        conn: commands::fleet::Connection,
    },
    /// Work with hooks
    #[command(subcommand)]
    Hook(commands::hook::HookCommand),
    /// Work with appspec files
    #[command(subcommand)]
    Appspec(commands::appspec::AppspecCommand),
    /// Validate and run AWSTOE component documents (as `awstoe validate` and `awstoe run`)
    #[command(subcommand)]
    Component(commands::component::ComponentCommand),
    /// Build images from recipes (as EC2 Image Builder): OCI layouts, one cached layer per
    /// component, tested on a fresh instance
    #[command(subcommand)]
    Image(commands::image::ImageCommand),
    /// Distributor packages: push them to a store, install, update and uninstall them on this
    /// host (as SSM Distributor), each script native or sandboxed
    #[command(subcommand)]
    Package(commands::package::PackageCommand),
    /// The packages every host's agent reports (name, version, state, time)
    Inventory {
        /// Only this host's
        #[arg(long)]
        host: Option<String>,
        #[command(flatten)]
        conn: commands::fleet::Connection,
    },
    /// The plugins built into davit
    #[command(subcommand)]
    Plugin(commands::plugin::PluginCommand),
    /// The services hooks started, per deployment group; stop them
    #[command(subcommand)]
    Services(commands::services::ServicesCommand),
    /// Work with host policies
    #[command(subcommand)]
    Policy(commands::policy::PolicyCommand),
}

/// A failure with the exit code it maps to.
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub error: Option<anyhow::Error>,
}

impl Exit {
    pub fn invalid(error: impl Into<anyhow::Error>) -> Self {
        Exit {
            code: exit::INVALID,
            error: Some(error.into()),
        }
    }
    pub fn failed() -> Self {
        Exit {
            code: exit::FAILED,
            error: None,
        }
    }
    pub fn reboot() -> Self {
        Exit {
            code: exit::REBOOT,
            error: None,
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for Exit {
    fn from(error: E) -> Self {
        Exit {
            code: exit::ERROR,
            error: Some(error.into()),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            render::error(&anyhow::Error::new(e).context("cannot start the async runtime"));
            return ExitCode::from(exit::ERROR);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Deploy(args) => commands::deploy::run(args).await,
            Command::Hook(cmd) => commands::hook::run(cmd).await,
            Command::Bundle(cmd) => commands::bundle::run(cmd).await,
            Command::Store(cmd) => commands::bundle::serve(cmd).await,
            Command::Key(cmd) => commands::bundle::key(cmd),
            Command::Cache(cmd) => commands::bundle::cache(cmd),
            Command::Server(args) => commands::fleet::server(args).await,
            Command::App { command, conn } => commands::fleet::app(command, conn).await,
            Command::Group { command, conn } => commands::fleet::group(command, conn).await,
            Command::EnrollToken { command, conn } => {
                commands::fleet::enroll_token(command, conn).await
            }
            Command::Agents { conn } => commands::fleet::agents(conn).await,
            Command::Deployments { command, conn } => {
                commands::fleet::deployments(command, conn).await
            }
            Command::Agent(args) => commands::agent::run(args).await,
            Command::Appspec(cmd) => commands::appspec::run(cmd),
            Command::Component(cmd) => commands::component::run(cmd).await,
            Command::Image(cmd) => commands::image::run(cmd).await,
            Command::Package(cmd) => commands::package::run(cmd).await,
            Command::Inventory { host, conn } => commands::package::inventory(host, conn).await,
            Command::Plugin(cmd) => commands::plugin::run(cmd),
            Command::Services(cmd) => commands::services::run(cmd).await,
            Command::Policy(cmd) => commands::policy::run(cmd),
        }
    });
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(Exit { code, error }) => {
            if let Some(error) = error {
                render::error(&error);
            }
            ExitCode::from(code)
        }
    }
}
