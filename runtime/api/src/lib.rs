//! The one wire protocol of davit: every request and response that the server, its agents, the
//! CLI and the tests exchange over HTTP, the status enums they carry, and the names parsed once
//! (application, deployment group, revision id). serde only, no I/O, so every side depends on
//! it without pulling a server or a client.
//!
//! ```
//! use davit_api::{HostStatus, NewDeployment};
//!
//! let body = r#"{"revision": "ABC", "store": "/srv/store"}"#;
//! let refused = serde_json::from_str::<NewDeployment>(body).unwrap_err();
//! assert!(refused.to_string().contains("is not a valid revision id"));
//! assert_eq!(HostStatus::Claimed.as_str(), "Claimed");
//! assert_eq!("Claimed".parse(), Ok(HostStatus::Claimed));
//! ```

mod messages;
mod names;
mod packages;
mod pipelines;
mod status;

pub use messages::*;
pub use names::{
    AppName, GroupName, MAX_NAME_LEN, NameError, PipelineName, RevisionId, is_safe_name,
};
pub use packages::*;
pub use pipelines::*;
pub use status::{DeploymentStatus, EventStatus, HostStatus, RunStatus, UnknownStatus};
