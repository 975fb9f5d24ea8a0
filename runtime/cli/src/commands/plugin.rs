//! `davit plugin list`: the plugins built into this binary.

use clap::Subcommand;
use serde::Serialize;

use crate::Exit;
use crate::output::{self, Format};

#[derive(Subcommand)]
pub enum PluginCommand {
    /// List the built-in plugins an appspec can name as `location: builtin:NAME`
    List {
        #[arg(long, value_enum, default_value_t)]
        output: Format,
    },
}

#[derive(Serialize)]
struct Listed {
    location: String,
    world: &'static str,
    size_bytes: usize,
    summary: &'static str,
}

pub fn run(cmd: PluginCommand) -> Result<(), Exit> {
    let PluginCommand::List { output } = cmd;
    let listed: Vec<Listed> = davit_plugins::ALL
        .iter()
        .map(|b| Listed {
            location: format!("{}{}", davit_plugins::PREFIX, b.name),
            world: b.world.name(),
            size_bytes: b.wasm.len(),
            summary: b.summary,
        })
        .collect();
    match output {
        Format::Json => output::json(&listed)?,
        Format::Text => {
            for l in &listed {
                println!(
                    "{:<20} {:<13} {:>4} KiB  {}",
                    l.location,
                    l.world,
                    l.size_bytes.div_ceil(1024),
                    l.summary
                );
            }
        }
    }
    Ok(())
}
