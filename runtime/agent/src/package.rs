//! A package job on this host: the server's command names the package, version and operation,
//! and davit-package installs or uninstalls it from the command's store under the host's own
//! policy, as `davit package install` would. The result goes back as a report whose events
//! are the operation's steps; the host's inventory follows every job.

use std::time::Duration;

use davit_api::{
    Command, EventResult, EventStatus, Inventory, InventoryItem, PackageJob, PackageOperation,
    Report,
};
use davit_lifecycle::Status;
use davit_package::{Outcome, Request, StepReport};

use crate::client::Server;
use crate::execute::{Agent, Executed};

/// How long a package job waits for another action on the same package.
const LOCK_TIMEOUT: Duration = Duration::from_secs(600);

impl Agent {
    pub(crate) async fn execute_package(&self, command: &Command, job: &PackageJob) -> Executed {
        let failed = |detail: String| Executed::failed(command, detail);
        let store = match davit_bundle::Store::open(&command.store) {
            Ok(s) => s,
            Err(e) => return failed(e.to_string()),
        };
        let request = match job.operation {
            PackageOperation::Install => Request::Install {
                name: job.name.clone(),
                version: Some(job.version.clone()),
                arguments: job.arguments.clone(),
                in_place: job.in_place,
                update: false,
            },
            PackageOperation::Uninstall => Request::Uninstall {
                name: job.name.clone(),
            },
        };
        let opts = davit_package::Options {
            sandbox: &self.sandbox,
            policy: &self.config.policy,
            deployment_root: &self.config.deployment_root,
            target_root: &self.config.target_root,
            max_reboots: self.config.max_reboots,
            lock_timeout: LOCK_TIMEOUT,
            progress: std::sync::Arc::new(davit_package::Silent),
            dry_run: job.dry_run,
            approve_grants: job.approve_grants,
        };
        let ran = davit_package::apply(Some(&store), request, &opts).await;
        let executed = match ran {
            Err(e) => failed(format!(
                "package `{}` {}: {:#}",
                job.name,
                job.version,
                anyhow::Error::new(e)
            )),
            Ok(report) => {
                let events: Vec<EventResult> = report
                    .steps
                    .iter()
                    .chain(&report.rollback)
                    .map(step_result)
                    .collect();
                if report.outcome == Outcome::Rebooting {
                    Executed::Reboot {
                        events,
                        why: format!(
                            "package `{}` {}: {}; it goes on once the agent is back",
                            job.name, job.version, report.message
                        ),
                    }
                } else {
                    Executed::Done(Report {
                        deployment: command.deployment.clone(),
                        succeeded: report.outcome.succeeded(),
                        detail: format!("package `{}`: {}", job.name, report.message),
                        after_restart: false,
                        events: Some(events),
                    })
                }
            }
        };
        send_inventory(&self.server, &self.config.deployment_root).await;
        executed
    }
}

/// Whether a package job left behind by a killed or rebooted agent is to run again: always.
/// davit-package goes on with an operation a reboot suspended, and rolls back one a kill left
/// half done, before it does what the job asks.
pub(crate) fn resumes(command: &Command) -> bool {
    command.package.is_some()
}

/// Tells the server every package this host has (best effort: the next job sends it again).
pub(crate) async fn send_inventory(server: &Server, deployment_root: &std::path::Path) {
    let packages = match davit_package::state::all(deployment_root) {
        Ok(all) => all
            .into_iter()
            .map(|s| InventoryItem {
                version: s.installed.as_ref().map(|v| v.version.clone()),
                state: format!("{:?}", s.state),
                time: s.time,
                name: s.name,
            })
            .collect(),
        Err(e) => {
            eprintln!("warning: the inventory cannot be read: {e}");
            return;
        }
    };
    if let Err(e) = server.inventory(&Inventory { packages }).await {
        eprintln!("warning: the inventory was not sent: {e}");
    }
}

fn step_result(step: &StepReport) -> EventResult {
    let lines: Vec<String> = step
        .script
        .iter()
        .flat_map(|s| s.logs.iter().map(|l| format!("[{}] {}", l.stream, l.text)))
        .collect();
    let tail = &lines[lines.len().saturating_sub(crate::execute::LOG_TAIL)..];
    EventResult {
        event: step.step.clone(),
        status: match step.status {
            Status::Succeeded => EventStatus::Succeeded,
            Status::Skipped => EventStatus::Skipped,
            _ => EventStatus::Failed,
        },
        elapsed_ms: step.script.as_ref().map_or(0, |s| s.elapsed_ms),
        detail: step.detail.clone(),
        log_tail: tail.to_vec(),
        recorded: step.recorded.iter().flat_map(|r| r.lines()).collect(),
    }
}
