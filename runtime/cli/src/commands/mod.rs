//! One file per subcommand.

pub mod agent;
pub mod appspec;
pub mod bundle;
pub mod component;
pub mod deploy;
pub mod fleet;
pub mod hook;
pub mod image;
pub mod package;
pub mod plugin;
pub mod policy;
pub mod services;
