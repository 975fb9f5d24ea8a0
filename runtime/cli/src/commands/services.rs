//! `davit services list|stop`: the services hooks started with `spawn`, per deployment group.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use davit_lifecycle::Layout;
use davit_lifecycle::services::{self, ServiceList, ServiceRecord, Stopped};
use serde::Serialize;

use crate::Exit;
use crate::output::{self, Format};

#[derive(Subcommand)]
pub enum ServicesCommand {
    /// List the services hooks started, with their deployment group and whether they still run
    List {
        /// Only this application's
        #[arg(long, short = 'a')]
        application_name: Option<String>,
        /// Only this deployment group's
        #[arg(long, short = 'g')]
        deployment_group: Option<String>,
        /// Where davit keeps its state [default: as `davit deploy`]
        #[arg(long)]
        deployment_root: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t)]
        output: Format,
    },
    /// Stop the services of one deployment group (all of them, or one pid): SIGTERM to the
    /// service's process group, SIGKILL after `--grace`
    Stop {
        #[arg(long, short = 'a')]
        application_name: String,
        #[arg(long, short = 'g', default_value = "default")]
        deployment_group: String,
        /// Only the service with this pid
        #[arg(long)]
        pid: Option<u32>,
        /// Seconds between SIGTERM and SIGKILL
        #[arg(long, default_value_t = services::STOP_GRACE.as_secs())]
        grace: u64,
        #[arg(long)]
        deployment_root: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t)]
        output: Format,
    },
}

#[derive(Serialize)]
struct Listed<'a> {
    application: &'a str,
    deployment_group: &'a str,
    running: bool,
    #[serde(flatten)]
    service: &'a ServiceRecord,
}

#[derive(Serialize)]
struct StoppedOne<'a> {
    result: Stopped,
    #[serde(flatten)]
    service: &'a ServiceRecord,
}

fn layout(root: Option<PathBuf>) -> anyhow::Result<Layout> {
    let root = root.unwrap_or_else(super::deploy::default_root);
    Ok(Layout::new(
        std::path::absolute(root).context("resolving `--deployment-root`")?,
    ))
}

pub async fn run(cmd: ServicesCommand) -> Result<(), Exit> {
    match cmd {
        ServicesCommand::List {
            application_name,
            deployment_group,
            deployment_root,
            output,
        } => {
            let layout = layout(deployment_root)?;
            let mut lists = Vec::new();
            for (app, group, path) in services::groups_with_services(&layout)? {
                let keep = application_name.as_ref().is_none_or(|a| *a == app)
                    && deployment_group.as_ref().is_none_or(|g| *g == group);
                if keep {
                    lists.push((app, group, ServiceList::load(&path)?));
                }
            }
            let listed: Vec<Listed<'_>> = lists
                .iter()
                .flat_map(|(app, group, list)| {
                    list.services.iter().map(move |service| Listed {
                        application: app,
                        deployment_group: group,
                        running: service.running(),
                        service,
                    })
                })
                .collect();
            match output {
                Format::Json => output::json(&listed)?,
                Format::Text if listed.is_empty() => println!("no services recorded"),
                Format::Text => {
                    for l in &listed {
                        println!(
                            "{}/{}  pid {:<7} {:<8} {} {}  ({} of {}, {})",
                            l.application,
                            l.deployment_group,
                            l.service.pid,
                            if l.running { "running" } else { "ended" },
                            l.service.program,
                            l.service.args.join(" "),
                            l.service.event,
                            l.service.revision.get(..12).unwrap_or(&l.service.revision),
                            l.service.started_at,
                        );
                    }
                }
            }
            Ok(())
        }
        ServicesCommand::Stop {
            application_name,
            deployment_group,
            pid,
            grace,
            deployment_root,
            output,
        } => {
            let layout = layout(deployment_root)?;
            let group = layout.group(&application_name, &deployment_group);
            let only = |s: &ServiceRecord| pid.is_none_or(|p| p == s.pid);
            let grace = std::time::Duration::from_secs(grace);
            let stopped = services::stop_group(&group, only, grace).await?;
            if stopped.is_empty() {
                let what = match pid {
                    Some(pid) => format!("no service with pid {pid} is recorded"),
                    None => "no services are recorded".to_string(),
                };
                return Err(Exit::invalid(crate::render::hint(
                    anyhow::anyhow!("{what} for `{application_name}/{deployment_group}`"),
                    "`davit services list` shows the services recorded under this deployment root",
                )));
            }
            match output {
                Format::Json => output::json(
                    &stopped
                        .iter()
                        .map(|(service, result)| StoppedOne {
                            result: *result,
                            service,
                        })
                        .collect::<Vec<_>>(),
                )?,
                Format::Text => {
                    for (service, how) in &stopped {
                        println!("{}", services::describe(service, *how));
                    }
                }
            }
            Ok(())
        }
    }
}
