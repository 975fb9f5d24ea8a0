//! The fleet's rules, without I/O: how a deployment configuration (`OneAtATime`, `HalfAtATime`,
//! `AllAtOnce`, a minimum of healthy hosts, a ramp of batches) turns into which hosts start when,
//! and when a deployment has succeeded or failed. Every decision is made on counts of hosts (a
//! [`Plan`]), which the server stores beside one row per host and drives with agents' reports;
//! a [`Planner`] is the same plan with every host by name, which `tests/simulation.rs` drives
//! with random reports, checking the counts against the hosts after every step.

mod config;
mod plan;
mod planner;

pub use config::{Amount, DeploymentConfig};
pub use plan::{LegacyPlanner, PLAN_SCHEMA, Plan};
pub use planner::{Host, HostFailure, HostState, Outcome, PlanError, Planner, Step};
