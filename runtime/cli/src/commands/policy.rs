//! `davit policy suggest`: the host policy that allows exactly what a bundle's appspec asks for.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use davit_spec::{AppSpec, HostPolicy};

use crate::Exit;

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Print (TOML) the host policy that allows exactly what an appspec asks for, to review and
    /// install as /etc/davit/policy.toml
    Suggest {
        /// A bundle directory (its `appspec.yml`) or an appspec file
        appspec: PathBuf,
    },
}

pub fn run(cmd: PolicyCommand) -> Result<(), Exit> {
    let PolicyCommand::Suggest { appspec } = cmd;
    let spec = AppSpec::load(&appspec_file(&appspec)).map_err(Exit::invalid)?;
    print!("{}", HostPolicy::suggest(&spec));
    Ok(())
}

/// `path` itself, or the appspec in it when it is a bundle directory.
fn appspec_file(path: &Path) -> PathBuf {
    if !path.is_dir() {
        return path.to_path_buf();
    }
    let yml = path.join("appspec.yml");
    let yaml = path.join("appspec.yaml");
    if !yml.exists() && yaml.exists() {
        yaml
    } else {
        yml
    }
}
