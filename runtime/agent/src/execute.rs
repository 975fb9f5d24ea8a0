//! One deployment on this host: pull the revision from the store named in the command, run it
//! with davit-lifecycle under the host's policy, send events as they end, report the result.

use std::collections::BTreeMap;
use std::sync::Arc;

use davit_api::{AppName, Command, EventResult, EventStatus, Progress, Report};
use davit_lifecycle::{DeployOptions, Layout, Source, Status};
use davit_sandbox::Sandbox;

use crate::Config;
use crate::client::Server;
use crate::running::Running;

/// What every deployment task shares.
pub(crate) struct Agent {
    pub(crate) sandbox: Sandbox,
    pub(crate) config: Config,
    pub(crate) server: Server,
    pub(crate) running: Running,
    /// One lock per application: its deployments run one after the other.
    pub(crate) apps: std::sync::Mutex<BTreeMap<AppName, Arc<tokio::sync::Mutex<()>>>>,
}

impl Agent {
    /// Runs `command` and reports its result until the server takes it; or, when a hook asked
    /// for a reboot, tells the server so and returns [`Ended::Reboot`] (the record stays, so the
    /// agent resumes the deployment when it is back). A deployment of an application that
    /// another task is deploying waits for it to end.
    pub(crate) async fn deploy(&self, command: Command) -> Ended {
        let app = self
            .apps
            .lock()
            .expect("apps")
            .entry(command.app.clone())
            .or_default()
            .clone();
        let _one_at_a_time = app.lock().await;
        if let Err(e) = self.running.start(&command) {
            eprintln!("warning: {}", anyhow::Error::new(e));
        }
        let (live, sender) = Live::start(self.server.clone(), command.deployment.clone());
        let report = match self.execute(&command, live).await {
            Executed::Done(report) => report,
            Executed::Reboot { events, why } => {
                sender.abort();
                eprintln!(
                    "deployment {} of {}: {why}",
                    command.deployment, command.app
                );
                let progress = Progress {
                    deployment: command.deployment.clone(),
                    events,
                    rebooting: Some(why.clone()),
                };
                // Said before the host goes down, if the server can be reached soon.
                for _ in 0..5 {
                    if self.server.progress(&progress).await.is_ok() {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                return Ended::Reboot(why);
            }
        };
        sender.abort();
        eprintln!(
            "deployment {} of {}: {}",
            command.deployment,
            command.app,
            if report.succeeded {
                "succeeded"
            } else {
                "failed"
            }
        );
        // A report must arrive: retried until the server answers it.
        self.server.report_until_taken(&report).await;
        self.running.finish(&command.deployment);
        Ended::Reported
    }

    /// Runs one deployment; a report of whether it succeeded, a line on what happened, and
    /// per event its status, time, detail and the last lines of its hooks' logs.
    async fn execute(
        &self,
        command: &Command,
        live: Arc<dyn davit_lifecycle::Progress>,
    ) -> Executed {
        let failed = |detail: String| Executed::failed(command, detail);
        if let Some(job) = &command.package {
            return self.execute_package(command, job).await;
        }
        let revision = match command.revision.as_str().parse::<davit_bundle::Digest>() {
            Ok(r) => r,
            Err(e) => return failed(e.to_string()),
        };
        let store = match davit_bundle::Store::open(&command.store) {
            Ok(s) => s,
            Err(e) => return failed(e.to_string()),
        };
        let opts = DeployOptions {
            application: command.app.to_string(),
            deployment_group: command.group.to_string(),
            events: None,
            file_exists_behavior: None,
            appspec_filename: "appspec.yml".into(),
            layout: Layout::new(&self.config.deployment_root),
            target_root: self.config.target_root.clone(),
            policy: self.config.policy.clone(),
            keep_revisions: 5,
            max_reboots: self.config.max_reboots,
        };
        let source = Source::Store {
            store: &store,
            revision,
        };
        match davit_lifecycle::deploy(&self.sandbox, source, &opts, live).await {
            Ok(report) if report.status == Status::Rebooting => Executed::Reboot {
                events: report.events.iter().map(event_result).collect(),
                why: rebooting(report.reboot.as_ref()),
            },
            Ok(report) => Executed::Done(Report {
                deployment: command.deployment.clone(),
                succeeded: report.status == Status::Succeeded,
                detail: if report.status == Status::Succeeded {
                    format!("revision {} deployed", revision.short())
                } else {
                    report
                        .failed_event()
                        .map(|e| {
                            format!("{}: {}", e.event, e.detail.as_deref().unwrap_or("failed"))
                        })
                        .unwrap_or_else(|| "the deployment failed".into())
                },
                after_restart: false,
                events: Some(report.events.iter().map(event_result).collect()),
            }),
            Err(e) => failed(format!("{:#}", anyhow::Error::new(e))),
        }
    }
}

/// How a deployment task ended.
pub(crate) enum Ended {
    /// Its result reached the server.
    Reported,
    /// It stopped for a reboot, for this reason; the host is to reboot once no other
    /// deployment runs.
    Reboot(String),
}

/// What running a command came to.
pub(crate) enum Executed {
    Done(Report),
    Reboot {
        events: Vec<EventResult>,
        why: String,
    },
}

impl Executed {
    /// `command` failed before any event ran, for this reason.
    pub(crate) fn failed(command: &Command, detail: String) -> Executed {
        Executed::Done(Report {
            deployment: command.deployment.clone(),
            succeeded: false,
            detail,
            after_restart: false,
            events: Some(Vec::new()),
        })
    }
}

/// One line on a reboot a deployment asked for.
fn rebooting(request: Option<&davit_lifecycle::RebootRequest>) -> String {
    let Some(request) = request else {
        return "rebooting".to_owned();
    };
    let then = match &request.resumes_at {
        Some(event) => format!("resumes at {event}"),
        None => "ends".to_owned(),
    };
    format!(
        "rebooting after {} (asked by `{}`, reboot {} of this deployment); the deployment {then} once the agent is back",
        request.after,
        request.asked_by.join("`, `"),
        request.count
    )
}

/// Sends the server each event as it ends, so `davit deploy watch` shows the deployment live.
/// The lifecycle calls [`davit_lifecycle::Progress`] synchronously; the events go through a
/// channel to a task that posts them (the latest list wins; a lost one is sent with the next).
struct Live {
    events: std::sync::Mutex<Vec<EventResult>>,
    tx: tokio::sync::mpsc::UnboundedSender<Vec<EventResult>>,
}

impl Live {
    fn start(
        server: Server,
        deployment: String,
    ) -> (
        Arc<dyn davit_lifecycle::Progress>,
        tokio::task::JoinHandle<()>,
    ) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<EventResult>>();
        let sender = tokio::spawn(async move {
            while let Some(events) = rx.recv().await {
                let progress = Progress {
                    deployment: deployment.clone(),
                    events,
                    rebooting: None,
                };
                let _ = server.progress(&progress).await;
            }
        });
        let live = Live {
            events: std::sync::Mutex::new(Vec::new()),
            tx,
        };
        (Arc::new(live), sender)
    }
}

impl davit_lifecycle::Progress for Live {
    fn event_finished(&self, event: &davit_lifecycle::EventReport) {
        let mut events = self.events.lock().expect("events");
        events.push(event_result(event));
        let _ = self.tx.send(events.clone());
    }
}

/// Lines of hook output kept per event in a report to the server.
pub(crate) const LOG_TAIL: usize = 20;

/// One event for the server: status, time, detail and its hooks' last lines.
fn event_result(e: &davit_lifecycle::EventReport) -> EventResult {
    let lines: Vec<String> = e
        .hooks
        .iter()
        .flat_map(|h| h.logs.iter().map(|l| format!("[{}] {}", l.stream, l.text)))
        .collect();
    let tail = &lines[lines.len().saturating_sub(LOG_TAIL)..];
    EventResult {
        event: e.event.clone(),
        status: match e.status {
            Status::Succeeded => EventStatus::Succeeded,
            Status::Failed => EventStatus::Failed,
            Status::Skipped => EventStatus::Skipped,
            Status::FailedAfterRestart => EventStatus::FailedAfterRestart,
            // A deployment's status, never an event's.
            Status::Rebooting => EventStatus::Succeeded,
        },
        elapsed_ms: e.elapsed_ms,
        detail: e.detail.clone(),
        log_tail: tail.to_vec(),
        recorded: Vec::new(),
    }
}
