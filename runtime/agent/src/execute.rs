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
    /// Runs `command` and reports its result until the server takes it. A deployment of an
    /// application that another task is deploying waits for it to end.
    pub(crate) async fn deploy(&self, command: Command) {
        let app = self
            .apps
            .lock()
            .expect("apps")
            .entry(command.app.clone())
            .or_default()
            .clone();
        let _one_at_a_time = app.lock().await;
        if let Err(e) = self.running.start(&command.deployment) {
            eprintln!("warning: {}", anyhow::Error::new(e));
        }
        let (live, sender) = Live::start(self.server.clone(), command.deployment.clone());
        let report = self.execute(&command, live).await;
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
    }

    /// Runs one deployment; a report of whether it succeeded, a line on what happened, and
    /// per event its status, time, detail and the last lines of its hooks' logs.
    async fn execute(&self, command: &Command, live: Arc<dyn davit_lifecycle::Progress>) -> Report {
        let failed = |detail: String| Report {
            deployment: command.deployment.clone(),
            succeeded: false,
            detail,
            after_restart: false,
            events: Some(Vec::new()),
        };
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
        };
        let source = Source::Store {
            store: &store,
            revision,
        };
        match davit_lifecycle::deploy(&self.sandbox, source, &opts, live).await {
            Ok(report) => Report {
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
            },
            Err(e) => failed(format!("{:#}", anyhow::Error::new(e))),
        }
    }
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
const LOG_TAIL: usize = 20;

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
        },
        elapsed_ms: e.elapsed_ms,
        detail: e.detail.clone(),
        log_tail: tail.to_vec(),
    }
}
