//! Status enums. Each variant's name is its spelling on the wire, in the database and in the
//! CLI's output: [`as_str`](DeploymentStatus::as_str), `Display`, `FromStr` and serde all come
//! from it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A string that is no variant of a status enum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownStatus {
    /// The enum: `deployment status`, `host status`, `event status`.
    pub what: &'static str,
    /// The string.
    pub value: String,
}

impl fmt::Display for UnknownStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a {}", self.value, self.what)
    }
}

impl std::error::Error for UnknownStatus {}

macro_rules! status {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every variant.
            pub const ALL: &[$name] = &[$($name::$variant),+];

            /// Its spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($variant)),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownStatus;
            fn from_str(value: &str) -> Result<Self, UnknownStatus> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|s| s.as_str() == value)
                    .ok_or_else(|| UnknownStatus { what: $what, value: value.to_owned() })
            }
        }
    };
}

status!(
    /// A fleet deployment's status.
    DeploymentStatus, "deployment status" {
        /// Hosts are still running or waiting.
        InProgress,
        /// Enough hosts succeeded.
        Succeeded,
        /// Too many hosts failed, or an operator stopped it.
        Failed,
    }
);

status!(
    /// An image pipeline's run.
    RunStatus, "run status" {
        /// Waiting for a builder.
        Pending,
        /// A builder has it.
        Running,
        /// Built, tested and distributed.
        Succeeded,
        /// A step failed, or its builder was lost.
        Failed,
        /// "Only when dependencies changed", and nothing had.
        Skipped,
    }
);

impl RunStatus {
    /// Whether the run has ended.
    pub fn is_finished(self) -> bool {
        !matches!(self, RunStatus::Pending | RunStatus::Running)
    }
}

impl DeploymentStatus {
    /// Whether the deployment has ended.
    pub fn is_finished(self) -> bool {
        self != DeploymentStatus::InProgress
    }
}

status!(
    /// One host's state in a deployment.
    HostStatus, "host status" {
        /// Its turn has not come.
        Pending,
        /// Started: its agent may claim it.
        Running,
        /// Its agent took the command and runs it.
        Claimed,
        /// Deployed.
        Succeeded,
        /// Failed (the detail says how).
        Failed,
        /// Not run: the deployment ended first.
        Skipped,
    }
);

impl HostStatus {
    /// Whether the host is done with this deployment.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            HostStatus::Succeeded | HostStatus::Failed | HostStatus::Skipped
        )
    }
}

status!(
    /// One lifecycle event's result, as an agent reports it.
    EventStatus, "event status" {
        /// It ran and succeeded.
        Succeeded,
        /// It failed.
        Failed,
        /// Not run: an earlier event failed, or it was left out.
        Skipped,
        /// The process running it was killed; found by the next run (CodeDeploy's name).
        FailedAfterRestart,
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_spelling_for_serde_display_and_parsing() {
        for s in HostStatus::ALL {
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(s.as_str().parse::<HostStatus>(), Ok(*s));
        }
        assert_eq!(DeploymentStatus::InProgress.as_str(), "InProgress");
        let err = "Running".parse::<DeploymentStatus>().unwrap_err();
        assert_eq!(err.to_string(), "`Running` is not a deployment status");
    }
}
