//! `davit image build RECIPE [--oci-layout DIR] [--tag T]… [--keep-on-failure]
//! [--distribution CONFIG]`: a recipe becomes an OCI image (davit-image's `build`), and
//! `davit image distribute` sends one to its targets ([`distribute`]).

mod distribute;
mod pipeline;

use std::path::PathBuf;
use std::sync::Arc;

use clap::Subcommand;
use davit_image::build::{self, BuildError, BuildOptions};
use davit_image::component::Progress;
use davit_image::recipe::Recipe;
use davit_image::store::{ComponentStore, StoreError};

use crate::Exit;
use crate::output::{self, Format};
use crate::render::hint;

pub const OUTCOMES: &str = "\
Exit codes:
  0  the image was built, its tests passed on a fresh instance, and it is tagged
  1  a component or a test failed (nothing is tagged)
  2  invalid recipe or component document, or a grant the policy refuses
  3  davit could not do its work (the parent, the layout, the registry, the sandbox)";

#[derive(Subcommand)]
pub enum ImageCommand {
    /// Build a recipe's image: each component one layer, cached; tested on a fresh instance;
    /// written to an OCI layout
    #[command(after_help = OUTCOMES)]
    Build(BuildArgs),
    /// Send a built image to every target of a distribution configuration (registries with
    /// tags, a disk store), each checked by digest, and record it on its deployment groups
    #[command(after_help = DISTRIBUTE_OUTCOMES)]
    Distribute(distribute::DistributeArgs),
    /// Image pipelines on the server: recipes built by builder agents on a schedule
    Pipeline {
        #[command(subcommand)]
        command: pipeline::PipelineCommand,
        #[command(flatten)]
        conn: crate::commands::fleet::Connection,
    },
}

pub const DISTRIBUTE_OUTCOMES: &str = "\
Exit codes:
  0  every target has the image (read back by digest), every group records it
  2  invalid configuration, no such image, or a disk version already stored with other bytes
  3  a registry, the disk store or the server failed (tags are put only once every registry has the blobs)";

#[derive(clap::Args)]
pub struct BuildArgs {
    /// The recipe (YAML)
    recipe: PathBuf,
    /// Write the image to this OCI layout [default: the recipe's `outputs.oci-layout`, else <deployment root>/images/NAME]
    #[arg(long)]
    oci_layout: Option<PathBuf>,
    /// Tag the image so (repeatable) [default: the recipe's tags, else its version]
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// When a component fails, leave the build's root filesystem and say where it is
    #[arg(long)]
    keep_on_failure: bool,
    /// After its tests pass, push the image to the recipe's `outputs.registry` under its tags
    #[arg(long)]
    push: bool,
    /// After its tests pass, distribute the image as this configuration says (see `davit image distribute`)
    #[arg(long, value_name = "CONFIG")]
    distribution: Option<PathBuf>,
    #[command(flatten)]
    server: distribute::ServerArg,
    /// Host policy (TOML) for the components' commands and URLs [default: /etc/davit/policy.toml if it exists, else deny everything]
    #[arg(long, short = 'p')]
    policy: Option<PathBuf>,
    /// davit's state: build roots, the layer cache, Debian bases [default: /var/lib/davit as root, else ~/.local/state/davit]
    #[arg(long)]
    deployment_root: Option<PathBuf>,
    /// The component store for `component: NAME@VERSION` [default: <deployment root>/components]
    #[arg(long, env = "DAVIT_COMPONENT_STORE")]
    store: Option<PathBuf>,
    /// The image's dates and the clamp of every file's time [default: the recipe's `source-date-epoch`, else SOURCE_DATE_EPOCH, else 0]
    #[arg(long)]
    source_date_epoch: Option<u64>,
    /// The action component to run instead of the built-in `toe-actions`
    #[arg(long, value_name = "WASM")]
    actions: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    output: Format,
}

pub async fn run(cmd: ImageCommand) -> Result<(), Exit> {
    match cmd {
        ImageCommand::Build(args) => build_image(args).await,
        ImageCommand::Distribute(args) => distribute::distribute_image(args).await,
        ImageCommand::Pipeline { command, conn } => pipeline::run(command, conn).await,
    }
}

async fn build_image(args: BuildArgs) -> Result<(), Exit> {
    let recipe = Recipe::load(&args.recipe).map_err(Exit::invalid)?;
    let distribution = match &args.distribution {
        Some(path) => Some(distribute::load(path, &args.server.server)?),
        None => None,
    };
    let (_, policy) = super::component::load_policy(args.policy.as_deref())?;
    let deployment_root = args
        .deployment_root
        .clone()
        .unwrap_or_else(super::deploy::default_root);
    let epoch = match (args.source_date_epoch, recipe.source_date_epoch) {
        (Some(e), _) | (None, Some(e)) => e,
        (None, None) => match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) => v.trim().parse().map_err(|_| {
                Exit::invalid(anyhow::anyhow!(
                    "SOURCE_DATE_EPOCH `{v}` is not a number of seconds"
                ))
            })?,
            Err(_) => 0,
        },
    };
    let s3 = super::component::s3_from_env()?;
    let cache_dir = davit_lifecycle::Layout::new(&deployment_root).component_cache();
    let (sandbox, plugin) = super::component::action_sandbox(cache_dir, args.actions.as_deref())?;
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
                eprintln!("  {phase}.{step} ({action}) ...")
            }
            Progress::Line { .. } => {}
            Progress::StepEnded {
                phase,
                step,
                failure,
                ..
            } if !failure.is_empty() => eprintln!("  {phase}.{step}: {failure}"),
            Progress::StepEnded { .. } => {}
        }
    });
    let options = BuildOptions {
        oci_layout: args.oci_layout.clone(),
        tags: args.tags.clone(),
        keep_on_failure: args.keep_on_failure,
        push: args.push,
        policy,
        s3,
        store: ComponentStore::at(
            &args
                .store
                .clone()
                .unwrap_or_else(|| super::component::store_dir(&deployment_root)),
        ),
        deployment_root,
        epoch,
        progress: Some(progress),
    };
    if !quiet {
        eprintln!("building {} {}", recipe.name, recipe.version);
    }
    let report = match build::build(&sandbox, &plugin, &recipe, &options).await {
        Ok(r) => r,
        Err(e) => return Err(build_error(e)),
    };
    let distributed = match &distribution {
        None => None,
        Some((config, api)) => Some(distribute_built(&report, config, api.as_ref()).await?),
    };
    match args.output {
        Format::Json => output::json(&Built {
            report: &report,
            distribution: distributed.as_ref(),
        })?,
        Format::Text => {
            if let Some(d) = &distributed {
                distribute::print(d);
            }
            for l in &report.layers {
                println!(
                    "  layer {} {:>10} bytes  {}{}",
                    &l.digest[..19],
                    l.size,
                    l.source,
                    if l.cached { " (cached)" } else { "" }
                );
            }
            for t in &report.tests {
                println!("  test {t}: passed on a fresh instance");
            }
            if let Some(p) = &report.pushed {
                println!(
                    "  pushed to {}: {} blob(s), {} bytes sent, {} already there",
                    p.repository, p.sent.blobs_sent, p.sent.bytes_sent, p.sent.blobs_present
                );
            }
            println!(
                "{} {}: {} in {} as {}",
                report.name,
                report.version,
                report.digest,
                report.layout,
                report.tags.join(", ")
            );
        }
    }
    Ok(())
}

/// `image build --output json`: the build's report, and its distribution's.
#[derive(serde::Serialize)]
struct Built<'a> {
    #[serde(flatten)]
    report: &'a build::BuildReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    distribution: Option<&'a distribute::Distributed>,
}

/// Distributes the image a build just made.
async fn distribute_built(
    report: &build::BuildReport,
    config: &davit_image::distribute::Distribution,
    api: Option<&crate::commands::fleet::Api>,
) -> Result<distribute::Distributed, Exit> {
    let built = davit_image::distribute::Built::of(report)
        .map_err(|e| Exit::from(anyhow::Error::new(e).context("reading the built image")))?;
    distribute::run(config, api, &built.artifact()).await
}

fn build_error(e: BuildError) -> Exit {
    match e {
        BuildError::ComponentFailed { ref log, .. } | BuildError::TestFailed { ref log, .. } => {
            let log = log.clone();
            Exit {
                code: crate::exit::FAILED,
                error: Some(hint(
                    anyhow::Error::new(e),
                    format!("the run's logs are in {log}"),
                )),
            }
        }
        // A store it cannot read is trouble (3); a missing component or version is the
        // recipe's (2).
        BuildError::Store { ref source, .. } if matches!(**source, StoreError::Io { .. }) => {
            Exit::from(anyhow::Error::new(e))
        }
        BuildError::Run { .. }
        | BuildError::Document { .. }
        | BuildError::Unsupported(_)
        | BuildError::Store { .. } => Exit::invalid(anyhow::Error::new(e)),
        other => Exit::from(anyhow::Error::new(other)),
    }
}
