//! The agent's side of the wire: its endpoints, with davit-api's messages.

use std::time::Duration;

use anyhow::Context;
use davit_api::{AppName, Command, ErrorBody, Poll, Progress, Report};
use reqwest::StatusCode;

use crate::{AgentError, Identity};

/// A connection to the server with the agent's credential.
#[derive(Clone, Debug)]
pub struct Server {
    base: String,
    credential: String,
    client: reqwest::Client,
}

/// Why a poll brought no command.
pub(crate) enum PollError {
    /// The server refuses the credential (401 or 403).
    Refused,
    /// Anything else: unreachable, a 5xx, a command this agent cannot read.
    Other(anyhow::Error),
}

impl Server {
    /// A client for `identity`'s server.
    ///
    /// # Errors
    ///
    /// When no HTTP client can be made.
    pub fn new(identity: &Identity) -> Result<Server, AgentError> {
        let base = identity.server.trim_end_matches('/').to_string();
        Ok(Server {
            client: client(&base)?,
            base,
            credential: identity.credential.clone(),
        })
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.credential)
    }

    /// Waits up to `wait` seconds for a command for an application not in `busy`.
    pub(crate) async fn poll(
        &self,
        wait: u64,
        busy: impl IntoIterator<Item = &AppName>,
    ) -> Result<Option<Command>, PollError> {
        let query = Poll {
            wait: Some(wait),
            busy: Poll::busy_list(busy),
        };
        let response = self
            .client
            .get(format!(
                "{}/v1/agent/command?{}",
                self.base,
                query.to_query()
            ))
            .bearer_auth(&self.credential)
            .send()
            .await
            .context("cannot reach the server")
            .map_err(PollError::Other)?;
        match response.status() {
            StatusCode::OK => response
                .json()
                .await
                .map(Some)
                .context("a command this agent cannot read")
                .map_err(PollError::Other),
            StatusCode::NO_CONTENT => Ok(None),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(PollError::Refused),
            other => Err(PollError::Other(anyhow::anyhow!(
                "the server answered {other}"
            ))),
        }
    }

    /// Tells the server this agent is alive.
    pub(crate) async fn heartbeat(&self) -> reqwest::Result<()> {
        self.post("/v1/agent/heartbeat").send().await.map(drop)
    }

    /// Sends the events finished so far.
    pub(crate) async fn progress(&self, progress: &Progress) -> reqwest::Result<()> {
        self.post("/v1/agent/progress")
            .json(progress)
            .send()
            .await
            .map(drop)
    }

    /// Sends a result until the server answers it: it took it, already had it (409), or will
    /// never take it (another 4xx, said on stderr). Unreachable or a 5xx: again a second later.
    pub(crate) async fn report_until_taken(&self, report: &Report) {
        loop {
            match self.post("/v1/agent/report").json(report).send().await {
                Ok(r) if r.status().is_success() || r.status() == StatusCode::CONFLICT => return,
                Ok(r) if r.status().is_client_error() => {
                    let why = r.json::<ErrorBody>().await.map(|b| b.error);
                    eprintln!(
                        "warning: the server refuses the report of deployment {}: {}",
                        report.deployment,
                        why.unwrap_or_else(|_| "no reason given".into())
                    );
                    return;
                }
                _ => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
    }
}

/// An HTTP client with a timeout above the longest poll.
pub(crate) fn client(server: &str) -> Result<reqwest::Client, AgentError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| AgentError::Server {
            server: server.to_string(),
            source: anyhow::Error::new(e).context("cannot make an HTTP client"),
        })
}
