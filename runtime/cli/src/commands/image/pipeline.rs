//! `davit image pipeline create|list|show|run|history|enable|disable`: image pipelines on
//! the server. The recipe (and distribution) are read and checked here, then sent as text;
//! builder agents (`davit agent --builder`) build the runs.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use davit_api::{
    GroupRef, NewPipeline, Pipeline, PipelineEnabled, PipelineName, PipelineRun, StartCondition,
};
use davit_image::distribute::Distribution;
use davit_image::recipe::Recipe;

use crate::Exit;
use crate::commands::fleet::{Api, Connection, parse_tags, show};
use crate::render::hint;

#[derive(Subcommand)]
pub enum PipelineCommand {
    /// Create a pipeline: a recipe built by a builder agent on a schedule or when asked
    Create(CreateArgs),
    /// Replace a pipeline's recipe, distribution, schedule and settings (its history stays)
    Update(CreateArgs),
    /// Delete a pipeline and its history (refused while a run is pending or running)
    Delete { name: PipelineName },
    /// List the pipelines
    List,
    /// Show a pipeline
    Show { name: PipelineName },
    /// Start a run now (it builds whatever the start condition says)
    Run {
        name: PipelineName,
        /// Wait for the run to end; exit 0 if it succeeded or was skipped, 1 if it failed
        #[arg(long)]
        wait: bool,
        /// Apply the start condition as a scheduled run does: skip when nothing changed
        #[arg(long)]
        if_changed: bool,
    },
    /// The pipeline's runs, newest first: status, digests, and with `--logs` their logs
    History {
        name: PipelineName,
        #[arg(long)]
        logs: bool,
    },
    /// Enable a pipeline (its failures in a row are forgotten)
    Enable { name: PipelineName },
    /// Disable a pipeline: its schedule starts no run
    Disable { name: PipelineName },
}

#[derive(clap::Args)]
pub struct CreateArgs {
    name: PipelineName,
    /// The recipe (YAML). Its components come from the builder's store (`component: NAME@1.x.x`),
    /// its parent is `debian:SUITE` or a registry's image
    #[arg(long)]
    recipe: PathBuf,
    /// A distribution configuration (YAML); its `groups` are recorded by the server
    #[arg(long)]
    distribution: Option<PathBuf>,
    /// `cron(MIN HOUR DOM MONTH DOW YEAR)` or `rate(N unit)`, as AWS writes them [default: runs only when asked]
    #[arg(long)]
    schedule: Option<String>,
    /// The IANA time zone of a cron schedule
    #[arg(long, default_value = "UTC")]
    timezone: String,
    /// `changed`: a scheduled run builds only when the parent, a component or the package lock changed; `always`: every time
    #[arg(long, default_value = "changed")]
    condition: StartCondition,
    /// Disable the pipeline after this many failed runs in a row (0: never)
    #[arg(long, default_value_t = 0)]
    max_failures: u32,
    /// Tags a builder agent must have (`key=value`, repeatable or comma-separated)
    #[arg(long = "builder-tags", value_delimiter = ',')]
    builder_tags: Vec<String>,
    /// Create it disabled
    #[arg(long)]
    disabled: bool,
}

pub async fn run(cmd: PipelineCommand, conn: Connection) -> Result<(), Exit> {
    let api = Api::connect(&conn.server)?;
    match cmd {
        PipelineCommand::Create(args) => {
            let body = new_pipeline(args)?;
            let created: Pipeline = api.post("/v1/pipelines", &body).await?;
            show(&conn, &created, || describe(&created))
        }
        PipelineCommand::Update(args) => {
            let body = new_pipeline(args)?;
            let updated: Pipeline = api
                .put(&format!("/v1/pipelines/{}", body.name), &body)
                .await?;
            show(&conn, &updated, || describe(&updated))
        }
        PipelineCommand::Delete { name } => {
            let deleted: Pipeline = api.delete(&format!("/v1/pipelines/{name}")).await?;
            show(&conn, &deleted, || {
                format!("deleted pipeline {}", deleted.name)
            })
        }
        PipelineCommand::List => {
            let all: Vec<Pipeline> = api.get("/v1/pipelines").await?;
            show(&conn, &all, || {
                all.iter().map(describe).collect::<Vec<_>>().join("\n")
            })
        }
        PipelineCommand::Show { name } => {
            let p: Pipeline = api.get(&format!("/v1/pipelines/{name}")).await?;
            show(&conn, &p, || describe(&p))
        }
        PipelineCommand::Enable { name } => enable(&api, &conn, &name, true).await,
        PipelineCommand::Disable { name } => enable(&api, &conn, &name, false).await,
        PipelineCommand::Run {
            name,
            wait,
            if_changed,
        } => {
            let run: PipelineRun = api
                .post(
                    &format!("/v1/pipelines/{name}/runs"),
                    &davit_api::NewRun { if_changed },
                )
                .await?;
            if !wait {
                return show(&conn, &run, || {
                    format!("run {} of {name} started ({})", run.seq, run.id)
                });
            }
            let ended = wait_for(&api, &name, &run.id).await?;
            show(&conn, &ended, || run_line(&ended, true))?;
            match ended.status {
                davit_api::RunStatus::Failed => Err(Exit::failed()),
                _ => Ok(()),
            }
        }
        PipelineCommand::History { name, logs } => {
            let runs: Vec<PipelineRun> = api.get(&format!("/v1/pipelines/{name}/runs")).await?;
            show(&conn, &runs, || {
                runs.iter()
                    .map(|r| run_line(r, logs))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
    }
}

async fn enable(
    api: &Api,
    conn: &Connection,
    name: &PipelineName,
    enabled: bool,
) -> Result<(), Exit> {
    let p: Pipeline = api
        .post(
            &format!("/v1/pipelines/{name}/enabled"),
            &PipelineEnabled { enabled },
        )
        .await?;
    show(conn, &p, || describe(&p))
}

/// Polls the run until it ends.
async fn wait_for(api: &Api, name: &PipelineName, id: &str) -> Result<PipelineRun, Exit> {
    loop {
        let runs: Vec<PipelineRun> = api.get(&format!("/v1/pipelines/{name}/runs")).await?;
        if let Some(run) = runs.into_iter().find(|r| r.id == id)
            && run.status.is_finished()
        {
            return Ok(run);
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// Reads and checks the recipe and distribution, and makes the request.
fn new_pipeline(args: CreateArgs) -> Result<NewPipeline, Exit> {
    let (recipe_file, recipe) = read(&args.recipe)?;
    Recipe::parse(&recipe_file, &recipe)
        .map_err(Exit::invalid)?
        .check_for_pipeline()
        .map_err(|e| {
            Exit::invalid(hint(
                anyhow::anyhow!(e),
                "push the component to the builder's store (`davit component push DOC --name N --version V`) and name it `component: N@1.x.x`",
            ))
        })?;
    let (distribution_file, distribution, groups) = match &args.distribution {
        None => (None, None, Vec::new()),
        Some(path) => {
            let (file, text) = read(path)?;
            let d = Distribution::parse(&file, &text).map_err(Exit::invalid)?;
            let groups = d
                .groups
                .iter()
                .map(|(app, group)| GroupRef {
                    app: app.clone(),
                    group: group.clone(),
                })
                .collect();
            (Some(file), Some(text), groups)
        }
    };
    Ok(NewPipeline {
        name: args.name,
        recipe_file,
        recipe,
        distribution_file,
        distribution,
        groups,
        schedule: args.schedule,
        timezone: args.timezone,
        condition: args.condition,
        enabled: !args.disabled,
        max_failures: args.max_failures,
        builder_tags: parse_tags("--builder-tags", &args.builder_tags)?,
    })
}

/// A file's absolute name and its text.
fn read(path: &Path) -> Result<(String, String), Exit> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Exit::invalid(anyhow::Error::new(e).context(format!("cannot read `{}`", path.display())))
    })?;
    let file = std::path::absolute(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string();
    Ok((file, text))
}

fn when(at: i64) -> String {
    davit_image::oci::layout::rfc3339(u64::try_from(at).unwrap_or(0))
}

fn describe(p: &Pipeline) -> String {
    let state = match (p.enabled, &p.disabled_because) {
        (true, _) => "enabled".to_owned(),
        (false, Some(why)) => format!("disabled: {why}"),
        (false, None) => "disabled".to_owned(),
    };
    let next = p
        .next_run_at
        .map(|t| format!("next run {}", when(t)))
        .unwrap_or_else(|| "no scheduled run".to_owned());
    format!(
        "{}  {}  {} ({})  when {}  {state}  {next}  failures {}/{}",
        p.name,
        p.recipe_file,
        p.schedule.as_deref().unwrap_or("manual"),
        p.timezone,
        p.condition.as_str(),
        p.failures,
        p.max_failures
    )
}

fn run_line(r: &PipelineRun, logs: bool) -> String {
    let mut line = format!(
        "#{} {} {} {}  {}{}",
        r.seq,
        r.status,
        r.cause,
        when(r.created_at),
        r.digest.as_deref().unwrap_or("-"),
        if r.detail.is_empty() {
            String::new()
        } else {
            format!("  {}", r.detail)
        }
    );
    if logs && !r.log.is_empty() {
        for l in r.log.lines() {
            line.push_str("\n    ");
            line.push_str(l);
        }
    }
    line
}
