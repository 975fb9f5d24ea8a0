//! The agent's identity: enrolled once, kept in `<data-dir>/identity.json` (mode 0600).

use std::path::{Path, PathBuf};

use davit_api::{Enrolled, Enrollment};
use serde::{Deserialize, Serialize};

use crate::{AgentError, Config};

/// What the agent keeps between runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Identity {
    /// The server it enrolled with.
    pub server: String,
    /// Its id there.
    pub agent_id: String,
    /// Its bearer credential.
    pub credential: String,
}

/// Where the identity is kept.
pub(crate) fn file(data_dir: &Path) -> PathBuf {
    data_dir.join("identity.json")
}

/// The saved identity, or a new one from enrolling with the token.
pub(crate) async fn load_or_enroll(config: &Config) -> Result<Identity, AgentError> {
    let file = file(&config.data_dir);
    let io = |action, source| AgentError::Io {
        action,
        path: file.clone(),
        source,
    };
    if let Ok(text) = std::fs::read_to_string(&file) {
        return serde_json::from_str(&text).map_err(|e| io("reading the identity in", e.into()));
    }
    let Some(token) = &config.enroll_token else {
        return Err(AgentError::NotEnrolled);
    };
    let base = config.server.trim_end_matches('/');
    let server_error = |source: anyhow::Error| AgentError::Server {
        server: base.to_string(),
        source,
    };
    let request = Enrollment {
        token: token.clone(),
        hostname: config.hostname.clone(),
        tags: config.tags.clone(),
    };
    let response = crate::client::client(base)?
        .post(format!("{base}/v1/enroll"))
        .json(&request)
        .send()
        .await
        .map_err(|e| server_error(anyhow::Error::new(e).context("cannot reach it")))?;
    if !response.status().is_success() {
        let body = response.json::<davit_api::ErrorBody>().await;
        return Err(AgentError::EnrollmentRefused(
            body.map_or_else(|_| "no reason given".into(), |b| b.error),
        ));
    }
    let enrolled: Enrolled = response.json().await.map_err(|e| {
        server_error(anyhow::Error::new(e).context("a malformed enrollment answer"))
    })?;
    let identity = Identity {
        server: base.to_string(),
        agent_id: enrolled.agent_id,
        credential: enrolled.credential,
    };
    write_private(
        &file,
        &serde_json::to_vec_pretty(&identity).expect("an identity serializes"),
    )
    .map_err(|e| io("writing the identity to", e))?;
    Ok(identity)
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(data)
}
