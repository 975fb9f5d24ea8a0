//! `davit component run DOC [--phases build,validate] [--parameters K=V,…] [--target-root DIR]
//! [--policy FILE]`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use davit_image::component::{self, Progress, RunError, RunOptions, Status, Target};
use davit_sandbox::{Plugin, S3Access, Sandbox};
use davit_spec::HostPolicy;
use davit_toe::Document;

use crate::Exit;
use crate::output::{self, Format};
use crate::render::hint;

pub const OUTCOMES: &str = "\
Exit codes:
  0  every phase succeeded (skipped and ignored steps count as successes)
  1  a step failed (see detailedoutput.json in the run's log directory)
  2  invalid document or parameters, a Windows-only action, or a grant the policy refuses
     (nothing has run)
  3  davit could not do its work (the sandbox, the log directory)
  4  a step asked this host to reboot: the run stopped there";

#[derive(clap::Args)]
pub struct RunArgs {
    /// The component document (YAML)
    file: PathBuf,
    /// Phases to run, comma separated, in document order [default: all]
    #[arg(long, value_delimiter = ',')]
    phases: Vec<String>,
    /// Values for the document's parameters, `K=V,K2=V2`
    #[arg(long)]
    parameters: Option<String>,
    /// Run against this image root filesystem (mounted at the actions' `/`) instead of this host
    #[arg(long)]
    target_root: Option<PathBuf>,
    /// Host policy (TOML) for commands, URLs and (on this host) directories [default: /etc/davit/policy.toml if it exists, else deny everything]
    #[arg(long, short = 'p')]
    policy: Option<PathBuf>,
    /// Where `TOE_<date>_<runId>/` is written [default: <deployment root>/component-runs]
    #[arg(long)]
    log_directory: Option<PathBuf>,
    /// The deployment root whose `component-runs/` holds the logs [default: /var/lib/davit as root, else ~/.local/state/davit]
    #[arg(long)]
    deployment_root: Option<PathBuf>,
    /// When the run fails against a root, leave the root as it is and say where it is
    #[arg(long)]
    keep_on_failure: bool,
    /// Reboots one run on this host may ask for; one more fails the step that asked
    #[arg(long, default_value_t = davit_lifecycle::MAX_REBOOTS)]
    max_reboots: u32,
    /// The action component to run instead of the built-in `toe-actions`
    #[arg(long, value_name = "WASM")]
    actions: Option<PathBuf>,
    /// Where compiled components are cached [default: the deployment root's cache, as for deployments]
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    output: Format,
}

/// The policy file given, else the default one if it exists (else deny everything): its path
/// and the policy.
pub(crate) fn load_policy(given: Option<&Path>) -> Result<(Option<PathBuf>, HostPolicy), Exit> {
    let file = match given {
        Some(p) => Some(p.to_path_buf()),
        None => Some(PathBuf::from(super::super::deploy::DEFAULT_POLICY)).filter(|p| p.exists()),
    };
    let policy = match &file {
        Some(p) => HostPolicy::load(p).map_err(Exit::invalid)?,
        None => HostPolicy::default(),
    };
    Ok((file, policy))
}

/// The sandbox, its compiled components cached in `cache_dir`, and the action component:
/// `--actions FILE`, else the built-in `toe-actions`.
pub(crate) fn action_sandbox(
    cache_dir: PathBuf,
    given: Option<&Path>,
) -> Result<(Sandbox, Plugin), Exit> {
    let wasm = match given {
        Some(path) => std::fs::read(path)
            .with_context(|| format!("cannot read `{}`", path.display()))
            .map_err(Exit::invalid)?,
        None => match davit_plugins::find("toe-actions") {
            Some(b) => b.wasm.to_vec(),
            None => {
                return Err(Exit::invalid(hint(
                    anyhow::anyhow!("this davit has no built-in `toe-actions` component"),
                    "pass an action component with `--actions FILE.wasm`",
                )));
            }
        },
    };
    let sandbox = Sandbox::new(Some(cache_dir)).context("cannot start the sandbox")?;
    let plugin = sandbox.load(&wasm).map_err(Exit::invalid)?;
    Ok((sandbox, plugin))
}

/// The host's S3 endpoint and credentials, as the AWS tools read them; they sign S3 requests
/// on the host and never enter the sandbox.
pub(crate) fn s3_from_env() -> Result<S3Access, Exit> {
    S3Access::from_vars(|k| std::env::var(k).ok())
        .map_err(|e| Exit::invalid(anyhow::anyhow!(e).context("cannot read the S3 settings")))
}

pub async fn run(args: RunArgs) -> Result<(), Exit> {
    let shown = args.file.display().to_string();
    let doc = Document::load(&args.file).map_err(|e| super::invalid(&shown, &e))?;
    let (parameters, _) =
        super::bind(&doc, args.parameters.as_deref()).map_err(|e| super::invalid(&shown, &e))?;
    // `/` is the live host, as AWSTOE's default: not a root filesystem to build.
    let target = match args.target_root.as_deref().filter(|d| *d != Path::new("/")) {
        Some(dir) => {
            let dir = std::path::absolute(dir).context("resolving `--target-root`")?;
            if !dir.is_dir() {
                return Err(Exit::invalid(anyhow::anyhow!(
                    "`--target-root` `{}` is not a directory",
                    dir.display()
                )));
            }
            Target::Root(dir)
        }
        None => Target::Host,
    };
    let (policy_file, policy) = load_policy(args.policy.as_deref())?;
    let deployment_root = args
        .deployment_root
        .clone()
        .unwrap_or_else(super::super::deploy::default_root);
    let log_root = match &args.log_directory {
        Some(d) => d.clone(),
        None => deployment_root.join("component-runs"),
    };
    // The action component is compiled once, then loaded from this cache.
    let cache_dir = args
        .cache_dir
        .clone()
        .unwrap_or_else(|| davit_lifecycle::Layout::new(&deployment_root).component_cache());
    let (sandbox, plugin) = action_sandbox(cache_dir, args.actions.as_deref())?;
    let quiet = args.output == Format::Json;
    let progress: Arc<dyn Fn(&Progress<'_>) + Send + Sync> = Arc::new(move |p: &Progress<'_>| {
        if quiet {
            return;
        }
        match p {
            Progress::StepStarted {
                phase,
                step,
                action,
            } => {
                eprintln!("{phase}.{step} ({action}) ...")
            }
            Progress::Line { phase, step, text } => eprintln!("  {phase}.{step} | {text}"),
            Progress::StepEnded {
                phase,
                step,
                status,
                failure,
            } => {
                let status = serde_json::to_value(status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                if failure.is_empty() {
                    eprintln!("{phase}.{step}: {status}");
                } else {
                    eprintln!("{phase}.{step}: {status}: {failure}");
                }
            }
        }
    });
    let s3 = s3_from_env()?;
    let options = RunOptions {
        max_reboots: args.max_reboots,
        target: target.clone(),
        s3,
        policy,
        phases: (!args.phases.is_empty()).then(|| args.phases.clone()),
        parameters,
        log_root,
        deployment_root,
        run_id: None,
        progress: Some(progress),
    };
    let report = match component::run(&sandbox, &plugin, &doc, options).await {
        Ok(r) => r,
        Err(e) => return Err(run_error(e, policy_file.as_deref())),
    };
    match args.output {
        Format::Json => output::json(&report)?,
        Format::Text => {
            println!(
                "{}: {} ({} step(s) run, {} failed, {} ignored)",
                shown,
                serde_json::to_value(report.status)?
                    .as_str()
                    .unwrap_or_default(),
                report.executed_step_count,
                report.failed_step_count,
                report.ignored_failed_step_count
            );
            println!("  logs: {}", report.log_url);
        }
    }
    match report.status {
        s if s.is_success() => Ok(()),
        Status::Rebooting => {
            let resumes = report
                .reboot
                .as_ref()
                .and_then(|r| Some((r.resumes_at.as_ref()?, r.rerun)));
            let then = match resumes {
                Some((at, true)) => format!("it runs `{at}` again"),
                Some((at, false)) => format!("it resumes at `{at}`"),
                None => "it ends there".to_owned(),
            };
            eprintln!("hint: reboot this host, then run the same command again: {then}");
            Err(Exit::reboot())
        }
        _ => {
            if let Target::Root(dir) = &target
                && args.keep_on_failure
            {
                eprintln!(
                    "the failed run's root is kept at {} (a root you gave with `--target-root` is yours: davit never removes it)",
                    dir.display()
                );
            }
            Err(Exit::failed())
        }
    }
}

fn run_error(error: RunError, policy: Option<&Path>) -> Exit {
    match error {
        RunError::Document(e) => super::invalid(&e.to_string(), &e),
        RunError::Refused { refusals, invalid } => {
            let mut message = format!(
                "{} refused (no step has run):",
                error_count(refusals.len() + invalid.len())
            );
            for r in &refusals {
                message.push_str(&format!("\n  {r}"));
            }
            for i in &invalid {
                message.push_str(&format!("\n  {i}"));
            }
            let advice = match policy {
                None => format!(
                    "no host policy is installed ({} does not exist), so no command or URL can be granted: \
                     install one there or pass it with `--policy FILE`",
                    super::super::deploy::DEFAULT_POLICY
                ),
                Some(_) => {
                    "ask the host's administrator to allow it in the policy, or change the document"
                        .into()
                }
            };
            Exit::invalid(hint(anyhow::Error::msg(message), advice))
        }
        e @ (RunError::NotOnLinux { .. } | RunError::UnknownPhase { .. }) => Exit::invalid(e),
        e => Exit::from(e),
    }
}

fn error_count(n: usize) -> String {
    if n == 1 {
        "1 grant".into()
    } else {
        format!("{n} grants")
    }
}
