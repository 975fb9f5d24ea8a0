//! `davit deploy --local`: deploy a revision on this host, as `codedeploy-local` does.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::ValueEnum;
use davit_lifecycle::{
    DeployError, DeployOptions, DeploymentReport, EventReport, HookReport, Layout, Line, Progress,
    Quiet, Source, Status,
};
use davit_sandbox::Sandbox;
use davit_spec::{Event, FileExistsBehavior, HostPolicy};
use indicatif::{ProgressBar, ProgressStyle};

use crate::Exit;
use crate::output::{self, Format};
use crate::render::hint;

/// Where the host policy lives when `--policy` is not given.
pub const DEFAULT_POLICY: &str = "/etc/davit/policy.toml";

#[derive(clap::Args)]
pub struct Args {
    /// Fleet deployment: the application (with GROUP, `--revision` and `--store`); or `watch`
    /// or `stop` followed by a deployment id
    #[arg(conflicts_with = "local", requires = "group")]
    app: Option<String>,
    /// Fleet deployment: the deployment group (or the deployment id after `watch`/`stop`)
    group: Option<String>,
    /// Fleet deployment: the revision id to deploy (as `davit bundle push` printed)
    #[arg(long, requires = "store")]
    revision: Option<String>,
    /// Fleet deployment: `OneAtATime` (default), `HalfAtATime` or `AllAtOnce`
    #[arg(long)]
    config: Option<String>,
    /// Fleet deployment: hosts to keep healthy, `3` or `75%`, instead of the configuration's
    #[arg(long)]
    min_healthy: Option<String>,
    /// Fleet deployment: batch sizes, `1,5,20%`
    #[arg(long)]
    batches: Option<String>,
    #[command(flatten)]
    connection: super::fleet::Connection,
    /// Deploy on this host from a bundle directory or a .zip, .tar, .tgz archive, or (with
    /// `--store`) a revision id
    #[arg(long, value_name = "BUNDLE")]
    local: Option<PathBuf>,
    /// Pull the revision `--local` names from this store (a directory, http://HOST:PORT or
    /// s3://BUCKET/PREFIX), downloading only the chunks this host lacks
    #[arg(long)]
    store: Option<String>,
    /// Application name [default: the bundle's file name]
    #[arg(long, short = 'a')]
    application_name: Option<String>,
    /// Deployment group name
    #[arg(long, short = 'g', default_value = "default-local-deployment-group")]
    deployment_group: String,
    /// Lifecycle events to run, comma separated (DownloadBundle and Install always run)
    #[arg(long, short = 'e', value_delimiter = ',')]
    events: Vec<String>,
    /// What to do with a file that exists at a destination and was not installed by davit
    #[arg(long, short = 'b', value_enum)]
    file_exists_behavior: Option<Behavior>,
    /// Name of the appspec at the bundle's root
    #[arg(long, short = 'c', default_value = "appspec.yml")]
    appspec_filename: String,
    /// Host policy (TOML) that says what hooks may be granted [default: /etc/davit/policy.toml if it exists, else deny everything]
    #[arg(long, short = 'p')]
    policy: Option<PathBuf>,
    /// Where davit keeps revisions, cleanup records, reports and its journal [default: /var/lib/davit as root, else ~/.local/state/davit]
    #[arg(long)]
    deployment_root: Option<PathBuf>,
    /// Install every absolute destination and granted path under this directory
    #[arg(long, default_value = "/")]
    target_root: PathBuf,
    /// Staged revisions to keep per deployment group (the current and last good one are always kept)
    #[arg(long, default_value_t = 5)]
    keep_revisions: usize,
    /// Reboots one deployment may ask for; one more fails the event that asked
    #[arg(long, default_value_t = davit_lifecycle::MAX_REBOOTS)]
    max_reboots: u32,
}

#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "UPPER")]
enum Behavior {
    Disallow,
    Overwrite,
    Retain,
}

pub async fn run(args: Args) -> Result<(), Exit> {
    use super::fleet::DeploymentsCommand;
    match (args.app.as_deref(), args.group.clone(), &args.revision) {
        (Some("watch"), Some(id), None) => {
            return super::fleet::deployments(DeploymentsCommand::Watch { id }, args.connection)
                .await;
        }
        (Some("stop"), Some(id), None) => {
            return super::fleet::deployments(DeploymentsCommand::Stop { id }, args.connection)
                .await;
        }
        (Some(_), Some(_), None) => {
            return Err(Exit::invalid(hint(
                anyhow::anyhow!("a fleet deployment needs `--revision` and `--store`"),
                "`davit deploy APP GROUP --revision ID --store URL`, or `davit deploy watch|stop DEPLOYMENT`",
            )));
        }
        _ => {}
    }
    if let (Some(app), Some(group), Some(revision), Some(store)) =
        (&args.app, &args.group, &args.revision, &args.store)
    {
        let body = davit_api::NewDeployment {
            revision: revision
                .parse()
                .map_err(|e| Exit::invalid(anyhow::anyhow!("`--revision`: {e}")))?,
            store: store.clone(),
            config: args.config.clone(),
            min_healthy: args.min_healthy.clone(),
            batches: args.batches.clone(),
            package: None,
            concurrency: None,
            max_errors: None,
        };
        return super::fleet::create_deployment(app, group, &body, &args.connection).await;
    }
    let Some(bundle) = args.local.clone() else {
        return Err(Exit::invalid(hint(
            anyhow::anyhow!("say what to deploy"),
            "deploy on this host with `davit deploy --local <bundle>`, or to a fleet with `davit deploy APP GROUP --revision ID --store URL`",
        )));
    };
    let from_store = match &args.store {
        Some(_) if args.application_name.is_none() => {
            return Err(Exit::invalid(hint(
                anyhow::anyhow!("a revision from a store needs `--application-name`"),
                "name the application, so this deployment follows its last good revision",
            )));
        }
        Some(store) => Some((
            super::bundle::open(store)?,
            super::bundle::revision_id(&bundle.to_string_lossy())?,
        )),
        None if !bundle.exists() => {
            return Err(Exit::invalid(anyhow::anyhow!(
                "bundle `{}` does not exist",
                bundle.display()
            )));
        }
        None => None,
    };
    let opts = options(&args, &bundle)?;
    std::fs::create_dir_all(opts.layout.root()).with_context(|| {
        format!(
            "cannot create deployment root `{}`",
            opts.layout.root().display()
        )
    })?;
    std::fs::create_dir_all(&opts.target_root)
        .with_context(|| format!("cannot create target root `{}`", opts.target_root.display()))?;
    let source = match &from_store {
        Some((store, revision)) => Source::Store {
            store,
            revision: *revision,
        },
        None => Source::Local(&bundle),
    };
    let sandbox =
        Sandbox::new(Some(opts.layout.component_cache())).context("cannot start the sandbox")?;
    let progress: Arc<dyn Progress> = match args.connection.output {
        Format::Json => Arc::new(Quiet),
        Format::Text => Arc::new(Live::default()),
    };
    let report = davit_lifecycle::deploy(&sandbox, source, &opts, progress)
        .await
        .map_err(|e| match e {
            DeployError::Refused { refusals, install } => Exit::invalid(refused(
                &refusals,
                &install,
                policy_file(&args).is_none().then_some(&bundle),
            )),
            e => deploy_error(e),
        })?;
    match args.connection.output {
        Format::Json => output::json(&report)?,
        Format::Text => print_summary(&report),
    }
    match report.status {
        Status::Succeeded => Ok(()),
        Status::Rebooting => Err(Exit::reboot()),
        _ => Err(Exit::failed()),
    }
}

fn options(args: &Args, bundle: &Path) -> Result<DeployOptions, Exit> {
    let events = args
        .events
        .iter()
        .map(|name| {
            Event::parse(name).map_err(|e| Exit::invalid(anyhow::anyhow!("`--events`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let policy = match policy_file(args) {
        Some(path) => HostPolicy::load(path).map_err(Exit::invalid)?,
        None => HostPolicy::default(),
    };
    let application = match &args.application_name {
        Some(name) => name.clone(),
        None => default_application(bundle),
    };
    Ok(DeployOptions {
        application,
        deployment_group: args.deployment_group.clone(),
        events: (!events.is_empty()).then_some(events),
        file_exists_behavior: args.file_exists_behavior.map(|b| match b {
            Behavior::Disallow => FileExistsBehavior::Disallow,
            Behavior::Overwrite => FileExistsBehavior::Overwrite,
            Behavior::Retain => FileExistsBehavior::Retain,
        }),
        appspec_filename: args.appspec_filename.clone(),
        layout: Layout::new(
            std::path::absolute(args.deployment_root.clone().unwrap_or_else(default_root))
                .context("resolving `--deployment-root`")?,
        ),
        target_root: std::path::absolute(&args.target_root).context("resolving `--target-root`")?,
        policy,
        keep_revisions: args.keep_revisions,
        max_reboots: args.max_reboots,
    })
}

/// The policy file in force: `--policy`, else /etc/davit/policy.toml if it exists.
fn policy_file(args: &Args) -> Option<&Path> {
    match &args.policy {
        Some(path) => Some(path),
        None => Some(Path::new(DEFAULT_POLICY)).filter(|p| p.exists()),
    }
}

/// The bundle's file name without archive extensions, made a safe name.
fn default_application(bundle: &Path) -> String {
    let absolute = std::path::absolute(bundle).unwrap_or_else(|_| bundle.to_path_buf());
    let name = absolute
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let stem = [".tar.gz", ".tgz", ".tar", ".zip"]
        .iter()
        .find_map(|ext| name.strip_suffix(ext))
        .unwrap_or(&name);
    let safe: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if safe.is_empty() || safe == "." || safe == ".." {
        "application".into()
    } else {
        safe
    }
}

pub fn default_root() -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/lib/davit");
    }
    if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()) {
        return PathBuf::from(state).join("davit");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".local/state/davit")
}

pub fn deploy_error(error: DeployError) -> Exit {
    match error {
        e @ (DeployError::Refused { .. }
        | DeployError::Appspec(_)
        | DeployError::NotRunnable { .. }
        | DeployError::BadName { .. }
        | DeployError::Load { .. }
        | DeployError::HookFile { .. }
        | DeployError::Stage { .. }) => Exit::invalid(e),
        DeployError::Install(e) => {
            use davit_lifecycle::install::InstallError;
            let fix = match *e {
                InstallError::FilesExist { .. } => Some(
                    "set `file_exists_behavior: OVERWRITE` (or `RETAIN`) in the appspec, or remove them in a BeforeInstall hook granted read-write access to them",
                ),
                InstallError::AclsUnsupported { .. } => Some(
                    "install on a filesystem with POSIX ACLs, or let the host policy say `acls = \"skip\"` in `[install]`",
                ),
                InstallError::SelinuxDisabled { .. } => Some(
                    "install on a host with SELinux enabled, or let the host policy say `selinux_contexts = \"skip\"` in `[install]`",
                ),
                _ => None,
            };
            match fix {
                Some(fix) => Exit::invalid(hint(DeployError::Install(e), fix)),
                None => Exit::invalid(DeployError::Install(e)),
            }
        }
        e @ DeployError::Unsigned { .. } => Exit::invalid(hint(
            e,
            "sign it with `davit bundle push --sign KEY --store URL` using a key the policy trusts, and deploy it with `--store URL`",
        )),
        e @ DeployError::Pull(
            davit_bundle::BundleError::Store(_) | davit_bundle::BundleError::Io { .. },
        ) => Exit::from(e),
        e @ (DeployError::Pull(_) | DeployError::RevisionMismatch { .. }) => Exit::invalid(e),
        e @ DeployError::NoAppspec { .. } => Exit::invalid(hint(
            e,
            "a bundle has its appspec at its root; name another file with `--appspec-filename`",
        )),
        e @ DeployError::Lock(_) => Exit::from(hint(
            e,
            "wait for it to finish, or use another `--deployment-root`",
        )),
        e => Exit::from(e),
    }
}

/// The error for grants and install requests the policy refuses: one line per refusal (grants,
/// then what `files` and `permissions` install), then a hint. `unpoliced` is the bundle when no
/// policy file is in force (nothing can be granted), so the hint can say how to write one.
pub fn refused(
    refusals: &[davit_spec::Refusal],
    install: &[davit_spec::InstallRefusal],
    unpoliced: Option<&Path>,
) -> anyhow::Error {
    let mut message = format!(
        "{} (no hook has run):",
        davit_lifecycle::refused_summary(refusals.len(), install.len())
    );
    for r in refusals {
        message.push_str(&format!("\n  {r}"));
    }
    for r in install {
        message.push_str(&format!("\n  {r}"));
    }
    let advice = match unpoliced {
        Some(bundle) => format!(
            "no host policy is installed ({DEFAULT_POLICY} does not exist), so nothing can be granted: \
             review the policy this bundle needs with `davit policy suggest {}`, then install it there \
             or pass it with `--policy FILE`",
            bundle.display()
        ),
        None if refusals.is_empty() => "ask the host's administrator to allow it in the policy's `[install]` table, or change the appspec or the bundle".into(),
        None => "ask the host's administrator to allow it in the policy, or remove the grant from the appspec".into(),
    };
    hint(anyhow::Error::msg(message), advice)
}

/// Live progress on stderr: a spinner per event where stderr is a terminal, plain lines elsewhere.
#[derive(Default)]
struct Live {
    bar: Mutex<Option<ProgressBar>>,
}

impl Live {
    fn say(&self, text: String) {
        match &*self.bar.lock().expect("bar") {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }
}

impl Progress for Live {
    fn event_started(&self, event: &str) {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner().with_message(event.to_string());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("template"),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            *self.bar.lock().expect("bar") = Some(bar);
        } else {
            eprintln!("{event}: started");
        }
    }
    fn line(&self, event: &str, location: &str, line: &Line) {
        self.say(format!(
            "  {event} {location} [{}] {}",
            line.stream, line.text
        ));
    }
    fn hook_finished(&self, event: &str, hook: &HookReport) {
        if let Some(error) = &hook.error {
            self.say(format!("  {event} {}: {error}", hook.location));
        }
    }
    fn event_finished(&self, event: &EventReport) {
        if let Some(bar) = self.bar.lock().expect("bar").take() {
            bar.finish_and_clear();
        }
        eprintln!(
            "{}: {} ({:.2}s)",
            event.event,
            event.status,
            event.elapsed_ms as f64 / 1000.0
        );
        for warning in &event.warnings {
            eprintln!("  warning: {warning}");
        }
    }
}

fn print_summary(report: &DeploymentReport) {
    if let Some(i) = &report.interrupted {
        println!(
            "warning: deployment {} of {}/{} was interrupted{} and is recorded as FailedAfterRestart",
            i.deployment_id,
            i.application,
            i.deployment_group,
            i.event
                .as_deref()
                .map(|e| format!(" during {e}"))
                .unwrap_or_default()
        );
        if let Some(recovery) = &i.recovery {
            println!("  {recovery}");
        }
    }
    for event in &report.events {
        let what = match (&event.detail, event.hooks.len()) {
            (Some(detail), _) => detail.clone(),
            (None, 0) => String::new(),
            (None, n) => format!("{n} hook{}", if n == 1 { "" } else { "s" }),
        };
        println!(
            "{:<18} {:<10} {:>7.2}s  {what}",
            event.event,
            event.status.to_string(),
            event.elapsed_ms as f64 / 1000.0
        );
    }
    let short = &report.revision[..report.revision.len().min(12)];
    println!(
        "deployment {} {}: revision {short} of {}/{} ({:.2}s)",
        report.deployment_id,
        report.status,
        report.application,
        report.deployment_group,
        report.elapsed_ms as f64 / 1000.0
    );
    if let Some(reboot) = &report.reboot {
        let then = match &reboot.resumes_at {
            Some(event) => format!("it resumes at {event}"),
            None => "it ends".to_owned(),
        };
        println!(
            "hint: reboot this host, then deploy the same revision again with the same options: {then}"
        );
    }
}
