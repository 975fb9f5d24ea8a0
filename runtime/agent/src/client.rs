//! The agent's side of the wire: its endpoints, with davit-api's messages.

use std::time::Duration;

use anyhow::Context;
use davit_api::{AppName, BuildJob, BuildResult, Command, ErrorBody, Poll, Progress, Report};
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
        self.long_poll(&format!("/v1/agent/command?{}", query.to_query()))
            .await
    }

    /// Waits up to `wait` seconds for a pipeline's run this builder may build.
    pub(crate) async fn poll_build(&self, wait: u64) -> Result<Option<BuildJob>, PollError> {
        self.long_poll(&format!("/v1/agent/build?wait={wait}"))
            .await
    }

    async fn long_poll<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Option<T>, PollError> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
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

    /// Sends what packages this host has.
    pub(crate) async fn inventory(&self, inventory: &davit_api::Inventory) -> reqwest::Result<()> {
        self.post("/v1/agent/inventory")
            .json(inventory)
            .send()
            .await?
            .error_for_status()
            .map(drop)
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
        let what = format!("the report of deployment {}", report.deployment);
        self.send_until_taken("/v1/agent/report", report, &what)
            .await
    }

    /// [`Self::report_until_taken`] for a pipeline run's result.
    pub(crate) async fn build_result_until_taken(&self, result: &BuildResult) {
        let what = format!("the result of run {}", result.run);
        self.send_until_taken("/v1/agent/build", result, &what)
            .await
    }

    async fn send_until_taken(&self, path: &str, body: &impl serde::Serialize, what: &str) {
        loop {
            match self.post(path).json(body).send().await {
                Ok(r) if r.status().is_success() || r.status() == StatusCode::CONFLICT => return,
                Ok(r) if r.status().is_client_error() => {
                    let why = r.json::<ErrorBody>().await.map(|b| b.error);
                    eprintln!(
                        "warning: the server refuses {what}: {}",
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
