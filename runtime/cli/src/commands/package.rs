//! `davit package push|versions|prune|install|update|uninstall|status`: Distributor packages,
//! pushed to a store and installed on this host with SSM's state machine made safe.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use davit_bundle::Store;
use davit_lifecycle::{Line, Progress, Status};
use davit_package::{Outcome, PackageError, PackageProgress, Report, Request, StepReport};
use davit_sandbox::Sandbox;

use crate::Exit;
use crate::output::{self, Format};
use crate::render::hint;

const OUTCOMES: &str = "\
Exit codes:
  0  done (installed, already installed, updated, uninstalled, not installed)
  1  a script failed: the result says whether the previous version was rolled back to
  2  invalid input: a malformed manifest or davit.yml, no file for this platform, a checksum
     mismatch, a missing or doubled script, a grant the policy refuses (nothing was changed)
  3  davit could not do its work: the store, I/O, the package busy past --lock-timeout
  4  a script asked for a reboot: reboot, then run the same command again to go on";

#[derive(Subcommand)]
pub enum PackageCommand {
    /// Check a package directory (manifest.json, its zips, davit.yml) and push it to a store
    /// as NAME; only what the store lacks is sent, and a version never changes once pushed
    #[command(after_help = OUTCOMES)]
    Push(PushArgs),
    /// The versions of a package in a store, oldest first
    Versions(VersionsArgs),
    /// Keep only the newest versions of a package in a store (a retention policy, where SSM
    /// caps a package at 25 versions)
    Prune(PruneArgs),
    /// Install NAME[@VERSION] on this host (the newest version without one)
    #[command(after_help = OUTCOMES)]
    Install(InstallArgs),
    /// Update NAME to VERSION (the newest without one): uninstall and reinstall, or with
    /// `--in-place` the new version's `update` script
    #[command(after_help = OUTCOMES)]
    Update(UpdateArgs),
    /// Uninstall NAME from this host
    #[command(after_help = OUTCOMES)]
    Uninstall(UninstallArgs),
    /// The packages on this host: version, state, time, last result
    Status(StatusArgs),
    /// Install (or uninstall) a package on a deployment group's hosts through the server, at
    /// most `--concurrency` at once, stopping past `--max-errors` failures (`davit deploy
    /// watch ID` follows it)
    Send(SendArgs),
    /// Keep a package at a version (or the newest) on a group's hosts, on a schedule (State
    /// Manager's associations), and see each host's compliance
    Association {
        #[command(subcommand)]
        command: AssociationCommand,
        #[command(flatten)]
        conn: super::fleet::Connection,
    },
}

#[derive(clap::Args)]
pub struct CreateAssociation {
    name: String,
    /// NAME or NAME@VERSION (without one: the newest in the store at each run)
    #[arg(long)]
    package: String,
    #[arg(long, short = 'a')]
    app: String,
    #[arg(long, short = 'g')]
    group: String,
    #[arg(long)]
    store: String,
    /// `rate(30 minutes)` or `cron(0 3 * * ? *)`
    #[arg(long)]
    schedule: String,
    /// The IANA zone a cron schedule is read in
    #[arg(long, default_value = "UTC")]
    timezone: String,
    #[arg(long, value_name = "JSON")]
    args: Option<String>,
    /// Hosts at once, `10` or `50%` [default: 50]
    #[arg(long)]
    concurrency: Option<String>,
    /// Failures past which a run stops [default: 0]
    #[arg(long)]
    max_errors: Option<String>,
}

#[derive(Subcommand)]
pub enum AssociationCommand {
    /// Create it; it runs at once, then on its schedule, and picks up hosts that join the group
    Create(Box<CreateAssociation>),
    /// Every association with its hosts' compliance
    List,
    /// One association: its last run and each host's compliance
    Show { name: String },
    /// Run it now
    Run { name: String },
    /// Delete it (its runs stay in the deployments' history)
    Delete { name: String },
}

#[derive(clap::Args)]
pub struct SendArgs {
    /// NAME or NAME@VERSION (the newest in the store without one)
    package: String,
    #[arg(long, short = 'a')]
    app: String,
    #[arg(long, short = 'g')]
    group: String,
    /// Where the hosts' agents pull it from
    #[arg(long)]
    store: String,
    /// The package's `SSM_*` arguments, a JSON object
    #[arg(long, value_name = "JSON")]
    args: Option<String>,
    /// Hosts at once, `10` or `50%` [default: 50]
    #[arg(long)]
    concurrency: Option<String>,
    /// Failures past which no host starts, `0` or `10%` [default: 0]
    #[arg(long)]
    max_errors: Option<String>,
    /// Uninstall the package instead
    #[arg(long)]
    uninstall: bool,
    /// Update in place with the new version's `update` script
    #[arg(long)]
    in_place: bool,
    /// Let versions asking for more grants than the installed one run
    #[arg(long)]
    approve_grants: bool,
    /// Each host runs the scripts on copies and reports what they would create, change,
    /// run and connect to; nothing changes
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    connection: super::fleet::Connection,
}

#[derive(clap::Args)]
pub struct PushArgs {
    /// The package's directory: manifest.json beside its zips (and davit.yml)
    dir: PathBuf,
    #[arg(long)]
    name: String,
    /// A directory or s3://BUCKET/PREFIX
    #[arg(long)]
    store: String,
    /// Sign the version's revision with this key (`davit key generate`), for hosts whose
    /// policy requires signatures
    #[arg(long, value_name = "KEY")]
    sign: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    output: Format,
}

#[derive(clap::Args)]
pub struct VersionsArgs {
    name: String,
    #[arg(long)]
    store: String,
    #[arg(long, value_enum, default_value_t)]
    output: Format,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    name: String,
    #[arg(long)]
    store: String,
    /// How many of the newest versions to keep
    #[arg(long)]
    keep: usize,
}

/// What every command on this host takes, as `deploy` has it.
#[derive(clap::Args)]
pub struct HostArgs {
    /// Host policy (TOML) that says what scripts may be granted [default: /etc/davit/policy.toml if it exists, else deny everything]
    #[arg(long, short = 'p')]
    policy: Option<PathBuf>,
    /// Where davit keeps its state [default: /var/lib/davit as root, else ~/.local/state/davit]
    #[arg(long)]
    deployment_root: Option<PathBuf>,
    /// The root the scripts' absolute paths are meant under
    #[arg(long, default_value = "/")]
    target_root: PathBuf,
    /// Reboots one operation may ask for; one more fails the script that asked
    #[arg(long, default_value_t = davit_lifecycle::MAX_REBOOTS)]
    max_reboots: u32,
    /// Seconds to wait while another action holds the package
    #[arg(long, default_value_t = 600)]
    lock_timeout: u64,
    /// Run the scripts on copies of their directories and say what they would create, change,
    /// run and connect to (native scripts do not run); nothing changes
    #[arg(long)]
    dry_run: bool,
    #[arg(long, value_enum, default_value_t)]
    output: Format,
}

#[derive(clap::Args)]
pub struct InstallArgs {
    /// NAME or NAME@VERSION
    package: String,
    /// Where the package is
    #[arg(long)]
    store: String,
    /// The package's arguments: a JSON object whose keys start with `SSM_` (SSM's
    /// additionalArguments); other arguments than the installed ones reinstall
    #[arg(long, value_name = "JSON")]
    args: Option<String>,
    /// Run a version whose scripts ask for more than the installed version's were granted
    /// (otherwise it is held, exit 2)
    #[arg(long)]
    approve_grants: bool,
    #[command(flatten)]
    host: HostArgs,
}

#[derive(clap::Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    install: InstallArgs,
    /// Run the new version's `update` script instead of uninstalling and reinstalling
    #[arg(long)]
    in_place: bool,
}

#[derive(clap::Args)]
pub struct UninstallArgs {
    name: String,
    #[command(flatten)]
    host: HostArgs,
}

#[derive(clap::Args)]
pub struct StatusArgs {
    name: Option<String>,
    #[arg(long)]
    deployment_root: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    output: Format,
}

pub async fn run(cmd: PackageCommand) -> Result<(), Exit> {
    match cmd {
        PackageCommand::Push(args) => push(args).await,
        PackageCommand::Versions(args) => versions(args).await,
        PackageCommand::Prune(args) => prune(args).await,
        PackageCommand::Install(args) => install(args, false, false).await,
        PackageCommand::Update(args) => install(args.install, true, args.in_place).await,
        PackageCommand::Uninstall(args) => {
            let request = Request::Uninstall { name: args.name };
            apply(None, request, &args.host, false).await
        }
        PackageCommand::Status(args) => status(args),
        PackageCommand::Send(args) => send(args).await,
        PackageCommand::Association { command, conn } => association(command, conn).await,
    }
}

/// The exit of a package error: 2 for the input's fault, 3 for the machine's or the store's.
fn refused(error: PackageError) -> Exit {
    let invalid = error.is_invalid_input();
    let error = match &error {
        PackageError::VersionExists { .. } => hint(error, "push the new content as a new version"),
        PackageError::Busy { .. } => hint(error, "wait for it, or give a longer `--lock-timeout`"),
        _ => anyhow::Error::new(error),
    };
    if invalid {
        Exit::invalid(error)
    } else {
        Exit::from(error)
    }
}

fn open_store(url: &str) -> Result<Store, Exit> {
    Store::open(url).map_err(|e| Exit::invalid(anyhow::Error::new(e)))
}

async fn push(args: PushArgs) -> Result<(), Exit> {
    let key = match &args.sign {
        Some(path) => Some(davit_bundle::sign::SecretKey::load(path).map_err(Exit::invalid)?),
        None => None,
    };
    let store = open_store(&args.store)?;
    let pushed = davit_package::store::push(&args.dir, &args.name, &store)
        .await
        .map_err(refused)?;
    if let Some(key) = key {
        let revision: davit_bundle::Digest =
            pushed.revision.parse().context("the pushed revision")?;
        let record = serde_json::to_vec(&key.sign(&revision))?;
        store
            .put_signature(&revision, &key.public().id(), record.into())
            .await
            .context("cannot store the signature")?;
    }
    match args.output {
        Format::Json => output::json(&pushed)?,
        Format::Text => println!(
            "{} `{}` {} as revision {} ({} new chunks, {} bytes sent)",
            if pushed.created {
                "pushed"
            } else {
                "already pushed:"
            },
            pushed.name,
            pushed.version,
            pushed.revision,
            pushed.new_chunks,
            pushed.new_bytes
        ),
    }
    Ok(())
}

async fn versions(args: VersionsArgs) -> Result<(), Exit> {
    let store = open_store(&args.store)?;
    let all = davit_package::store::versions(&store, &args.name)
        .await
        .map_err(refused)?;
    match args.output {
        Format::Json => output::json(&all)?,
        Format::Text => {
            for v in &all {
                println!("{}  revision {}", v.version, v.revision);
            }
        }
    }
    Ok(())
}

async fn prune(args: PruneArgs) -> Result<(), Exit> {
    let store = open_store(&args.store)?;
    let removed = davit_package::store::prune(&store, &args.name, args.keep)
        .await
        .map_err(refused)?;
    println!(
        "removed {} version(s): {}",
        removed.len(),
        removed.join(", ")
    );
    Ok(())
}

/// `NAME` or `NAME@VERSION`.
fn name_and_version(package: &str) -> (String, Option<String>) {
    match package.split_once('@') {
        Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
        None => (package.to_owned(), None),
    }
}

/// `--args JSON`, checked as SSM's `additionalArguments` (exit 2 naming the key at fault).
fn arguments(text: Option<&str>) -> Result<std::collections::BTreeMap<String, String>, Exit> {
    match text {
        Some(text) => davit_package::parse_arguments(text)
            .map_err(|e| Exit::invalid(anyhow::anyhow!("`--args`: {e}"))),
        None => Ok(Default::default()),
    }
}

async fn install(args: InstallArgs, update: bool, in_place: bool) -> Result<(), Exit> {
    let (name, version) = name_and_version(&args.package);
    let arguments = arguments(args.args.as_deref())?;
    let store = open_store(&args.store)?;
    let request = Request::Install {
        name,
        version,
        arguments,
        in_place,
        update,
    };
    apply(Some(&store), request, &args.host, args.approve_grants).await
}

async fn apply(
    store: Option<&Store>,
    request: Request,
    host: &HostArgs,
    approve_grants: bool,
) -> Result<(), Exit> {
    let (_, policy) = super::component::load_policy(host.policy.as_deref())?;
    let deployment_root = std::path::absolute(
        host.deployment_root
            .clone()
            .unwrap_or_else(super::deploy::default_root),
    )
    .context("cannot resolve the deployment root")?;
    let target_root =
        std::path::absolute(&host.target_root).context("cannot resolve the target root")?;
    let layout = davit_lifecycle::Layout::new(&deployment_root);
    let sandbox =
        Sandbox::new(Some(layout.component_cache())).context("cannot start the sandbox")?;
    let progress: Arc<dyn PackageProgress> = match host.output {
        Format::Json => Arc::new(davit_package::Silent),
        Format::Text => Arc::new(Text),
    };
    let opts = davit_package::Options {
        sandbox: &sandbox,
        policy: &policy,
        deployment_root: &deployment_root,
        target_root: &target_root,
        max_reboots: host.max_reboots,
        lock_timeout: Duration::from_secs(host.lock_timeout),
        progress,
        dry_run: host.dry_run,
        approve_grants,
    };
    let report = davit_package::apply(store, request, &opts)
        .await
        .map_err(refused)?;
    match host.output {
        Format::Json => output::json(&report)?,
        Format::Text => summary(&report),
    }
    match report.outcome {
        Outcome::Rebooting => Err(Exit::reboot()),
        Outcome::Held => Err(Exit {
            code: crate::exit::INVALID,
            error: None,
        }),
        o if o.succeeded() => Ok(()),
        _ => Err(Exit::failed()),
    }
}

fn summary(report: &Report) {
    let resumed = if report.resumed { " (resumed)" } else { "" };
    println!("package `{}`: {}{resumed}", report.name, report.message);
    if report.outcome != Outcome::DryRun {
        return;
    }
    for r in &report.reach {
        let how = if r.native {
            format!(
                "native, as {}, unsandboxed",
                r.runas.as_deref().unwrap_or("root")
            )
        } else {
            "sandboxed".to_owned()
        };
        println!(
            "  {} {} ({}, {how}, timeout {}s)",
            r.action.name(),
            r.version,
            r.file,
            r.timeout_s
        );
        let lists = [
            ("directory", &r.directories),
            ("command", &r.commands),
            ("url", &r.urls),
            ("tcp", &r.tcp),
            ("env", &r.env),
        ];
        for (kind, items) in lists {
            for item in items {
                println!("    {kind} {item}");
            }
        }
        if !r.native
            && r.directories.is_empty()
            && r.commands.is_empty()
            && r.urls.is_empty()
            && r.tcp.is_empty()
        {
            println!("    nothing outside its own files");
        }
    }
    for w in &report.widened {
        println!("  more than installed: {w}");
    }
    for step in &report.steps {
        let Some(recorded) = &step.recorded else {
            continue;
        };
        println!("  {} would:", step.step);
        for line in recorded.lines() {
            println!("    {line}");
        }
        match &step.detail {
            Some(detail) => println!("    ({detail})"),
            None if recorded.files.is_empty() && recorded.effects.is_empty() => {
                println!("    change nothing")
            }
            None => {}
        }
    }
}

/// Progress on stderr: each step as it starts and ends, and its scripts' lines.
struct Text;

impl Progress for Text {
    fn line(&self, step: &str, _location: &str, line: &Line) {
        eprintln!("  {step} | {}", line.text);
    }
}

impl PackageProgress for Text {
    fn waiting(&self, holder: &str) {
        eprintln!("waiting for the package's lock: {holder}");
    }
    fn step_started(&self, step: &str) {
        eprintln!("{step} ...");
    }
    fn step_finished(&self, report: &StepReport) {
        let status = match report.status {
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            _ => "skipped",
        };
        match &report.detail {
            Some(detail) => eprintln!("{} {status}: {detail}", report.step),
            None => eprintln!("{} {status}", report.step),
        }
    }
}

fn status(args: StatusArgs) -> Result<(), Exit> {
    let root = args
        .deployment_root
        .clone()
        .unwrap_or_else(super::deploy::default_root);
    let mut all = davit_package::state::all(&root).map_err(refused)?;
    if let Some(name) = &args.name {
        all.retain(|s| &s.name == name);
        if all.is_empty() {
            return Err(Exit::invalid(anyhow::anyhow!(
                "package `{name}` was never installed on this host"
            )));
        }
    }
    match args.output {
        Format::Json => output::json(&all)?,
        Format::Text => {
            for s in &all {
                let version = s.installed.as_ref().map_or("-", |v| v.version.as_str());
                println!(
                    "{}  {version}  {:?}  {}  {}",
                    s.name,
                    s.state,
                    s.time,
                    s.last_result.as_deref().unwrap_or("")
                );
            }
        }
    }
    Ok(())
}

/// Resolves the version in the store (so every host installs the same one), then asks the
/// server for a package job on the group.
async fn send(args: SendArgs) -> Result<(), Exit> {
    let (name, version) = name_and_version(&args.package);
    let arguments = arguments(args.args.as_deref())?;
    let store = open_store(&args.store)?;
    let record = davit_package::store::resolve(&store, &name, version.as_deref())
        .await
        .map_err(refused)?;
    let body = davit_api::NewDeployment {
        revision: record
            .revision
            .parse()
            .map_err(|e| Exit::invalid(anyhow::anyhow!("the store's record of `{name}`: {e}")))?,
        store: args.store.clone(),
        config: None,
        min_healthy: None,
        batches: None,
        package: Some(davit_api::PackageJob {
            name,
            version: record.version,
            operation: if args.uninstall {
                davit_api::PackageOperation::Uninstall
            } else {
                davit_api::PackageOperation::Install
            },
            arguments,
            in_place: args.in_place,
            approve_grants: args.approve_grants,
            dry_run: args.dry_run,
        }),
        concurrency: args.concurrency.clone(),
        max_errors: args.max_errors.clone(),
    };
    super::fleet::create_deployment(&args.app, &args.group, &body, &args.connection).await
}

/// `davit inventory`: what every host's agent reports it has installed.
pub async fn inventory(host: Option<String>, conn: super::fleet::Connection) -> Result<(), Exit> {
    let path = match &host {
        Some(h) => format!("/v1/inventory?host={h}"),
        None => "/v1/inventory".to_owned(),
    };
    let all: Vec<davit_api::HostInventory> =
        super::fleet::Api::connect(&conn.server)?.get(&path).await?;
    if let Some(h) = &host
        && all.is_empty()
    {
        return Err(Exit::invalid(anyhow::anyhow!(
            "no agent on `{h}` has reported an inventory"
        )));
    }
    super::fleet::show(&conn, &all, || {
        let mut lines = Vec::new();
        for h in &all {
            for p in &h.packages {
                lines.push(format!(
                    "{}  {}  {}  {}  {}",
                    h.host,
                    p.name,
                    p.version.as_deref().unwrap_or("-"),
                    p.state,
                    p.time
                ));
            }
        }
        lines.join("\n")
    })
}

async fn association(cmd: AssociationCommand, conn: super::fleet::Connection) -> Result<(), Exit> {
    let api = super::fleet::Api::connect(&conn.server)?;
    let shown: davit_api::Association = match cmd {
        AssociationCommand::Create(create) => {
            let CreateAssociation {
                name,
                package,
                app,
                group,
                store,
                schedule,
                timezone,
                args,
                concurrency,
                max_errors,
            } = *create;
            let (package, version) = name_and_version(&package);
            let arguments = arguments(args.as_deref())?;
            let body = davit_api::NewAssociation {
                name,
                app: app.parse().map_err(Exit::invalid)?,
                group: group.parse().map_err(Exit::invalid)?,
                package,
                version,
                arguments,
                store,
                schedule,
                timezone,
                concurrency,
                max_errors,
            };
            api.post("/v1/associations", &body).await?
        }
        AssociationCommand::List => {
            let all: Vec<davit_api::Association> = api.get("/v1/associations").await?;
            return super::fleet::show(&conn, &all, || {
                all.iter().map(describe).collect::<Vec<_>>().join("\n")
            });
        }
        AssociationCommand::Show { name } => api.get(&format!("/v1/associations/{name}")).await?,
        AssociationCommand::Delete { name } => {
            api.delete(&format!("/v1/associations/{name}")).await?
        }
        AssociationCommand::Run { name } => {
            let job: davit_api::Deployment = api
                .post(&format!("/v1/associations/{name}/run"), &())
                .await?;
            return super::fleet::show(&conn, &job, || {
                format!("association `{name}`: job {} started", job.id)
            });
        }
    };
    super::fleet::show(&conn, &shown, || describe(&shown))
}

/// An association in a few lines: what it keeps where, its last run, each host.
fn describe(a: &davit_api::Association) -> String {
    let s = &a.spec;
    let mut out = format!(
        "{}: `{}` {} on {}/{}, {} ({}), last job {}",
        s.name,
        s.package,
        s.version.as_deref().unwrap_or("(newest)"),
        s.app,
        s.group,
        s.schedule,
        s.timezone,
        a.last_job.as_deref().unwrap_or("none")
    );
    if let Some(e) = &a.last_error {
        out.push_str(&format!("\n  last error: {e}"));
    }
    for c in &a.compliance {
        let status = match c.status {
            davit_api::ComplianceStatus::Compliant => "compliant",
            davit_api::ComplianceStatus::NonCompliant => "non-compliant",
            davit_api::ComplianceStatus::Pending => "pending",
        };
        out.push_str(&format!(
            "\n  {}  {status}  {}",
            c.host,
            c.detail.as_deref().unwrap_or("")
        ));
    }
    out
}
