//! `--output text|json`, shared by every command that reports.

use clap::ValueEnum;

/// How a command prints its result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: progress while running, a summary at the end
    #[default]
    Text,
    /// One JSON document on stdout, no progress
    Json,
}

/// Prints `value` as pretty JSON on stdout.
pub fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
