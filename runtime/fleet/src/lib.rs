//! The fleet's rules, without I/O: how a deployment configuration (`OneAtATime`, `HalfAtATime`,
//! `AllAtOnce`, a minimum of healthy hosts, a ramp of batches) turns into which hosts start when,
//! and when a deployment has succeeded or failed. The server drives a [`Planner`] with agents'
//! reports; `tests/simulation.rs` drives it with random ones.

mod config;
mod planner;

pub use config::{Amount, DeploymentConfig};
pub use planner::{Host, HostFailure, HostState, Outcome, PlanError, Planner, Step};
