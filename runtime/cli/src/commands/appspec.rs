//! `davit appspec check`: parse and validate an appspec without deploying it.

use std::path::PathBuf;

use clap::Subcommand;
use davit_spec::AppSpec;
use serde::Serialize;

use crate::Exit;
use crate::output::{self, Format};

#[derive(Subcommand)]
pub enum AppspecCommand {
    /// Check an appspec file and print a summary (exit 2 with file:line:column if it is invalid)
    Check {
        /// The appspec file (`appspec.yml`)
        file: PathBuf,
        #[arg(long, value_enum, default_value_t)]
        output: Format,
        /// Also check every hook's grants against this host policy
        #[arg(long)]
        policy: Option<PathBuf>,
    },
}

#[derive(Serialize)]
struct CheckResult {
    file: String,
    valid: bool,
    os: String,
    runnable_here: bool,
    not_runnable_reason: Option<String>,
    /// Values that keep the appspec from running (placeholders, relative paths), located.
    problems: Vec<String>,
    files: usize,
    permissions: usize,
    file_exists_behavior: Option<String>,
    hooks: Vec<HookSummary>,
}

#[derive(Serialize)]
struct HookSummary {
    event: String,
    location: String,
    kind: String,
    timeout_secs: u64,
    grants: Vec<String>,
}

pub fn run(cmd: AppspecCommand) -> Result<(), Exit> {
    let AppspecCommand::Check {
        file,
        output,
        policy,
    } = cmd;
    let spec = AppSpec::load(&file).map_err(Exit::invalid)?;
    if let Some(policy) = policy {
        let policy = davit_spec::HostPolicy::load(&policy).map_err(Exit::invalid)?;
        let refusals = policy.check_appspec(&spec).err().unwrap_or_default();
        let install = policy.check_install(&spec).err().unwrap_or_default();
        if !refusals.is_empty() || !install.is_empty() {
            return Err(Exit::invalid(super::deploy::refused(
                &refusals, &install, None,
            )));
        }
    }
    let runnable = spec.runnable_here();
    let result = CheckResult {
        file: file.display().to_string(),
        valid: true,
        os: spec.os.to_string(),
        runnable_here: runnable.is_ok(),
        not_runnable_reason: runnable.err(),
        problems: spec.problems.iter().map(ToString::to_string).collect(),
        files: spec.files.len(),
        permissions: spec.permissions.len(),
        file_exists_behavior: spec.file_exists_behavior.map(|b| b.to_string()),
        hooks: spec
            .all_hooks()
            .map(|h| HookSummary {
                event: h.id.event.name().to_string(),
                location: h.location.as_str().to_string(),
                kind: format!("{:?}", h.kind).to_lowercase(),
                timeout_secs: h.timeout().as_secs(),
                grants: describe(&h.grants),
            })
            .collect(),
    };
    match output {
        Format::Json => output::json(&result)?,
        Format::Text => print_text(&result),
    }
    Ok(())
}

fn print_text(r: &CheckResult) {
    println!("{}: valid appspec (os: {})", r.file, r.os);
    match &r.not_runnable_reason {
        None => println!("  runnable here: yes"),
        Some(reason) => println!("  runnable here: no, {reason}"),
    }
    for problem in &r.problems {
        println!("  problem: {problem}");
    }
    println!(
        "  files: {} mapping(s), permissions: {}",
        r.files, r.permissions
    );
    if let Some(b) = &r.file_exists_behavior {
        println!("  file_exists_behavior: {b}");
    }
    if r.hooks.is_empty() {
        println!("  hooks: none");
    }
    for h in &r.hooks {
        println!(
            "  {:<18} {} ({}, timeout {}s)",
            h.event, h.location, h.kind, h.timeout_secs
        );
        for g in &h.grants {
            println!("  {:<18}   grant: {g}", "");
        }
    }
}

/// One line per requested grant, in the words errors use.
fn describe(request: &davit_spec::GrantRequest) -> Vec<String> {
    use davit_spec::Grant;
    let mut out: Vec<String> = Vec::new();
    out.extend(
        request
            .directories
            .iter()
            .map(|d| Grant::Directory(d.value.clone()).to_string()),
    );
    out.extend(
        request
            .tcp
            .iter()
            .map(|t| Grant::Tcp(t.value.clone()).to_string()),
    );
    out.extend(
        request
            .urls
            .iter()
            .map(|u| Grant::Url(u.value.clone()).to_string()),
    );
    out.extend(
        request
            .commands
            .iter()
            .map(|c| Grant::Command(c.value.clone()).to_string()),
    );
    out.extend(
        request
            .env
            .iter()
            .map(|e| Grant::Env(e.value.name.clone()).to_string()),
    );
    if let Some(m) = &request.limits.memory {
        out.push(Grant::Memory(m.value).to_string());
    }
    if let Some(o) = &request.limits.output {
        out.push(Grant::Output(o.value).to_string());
    }
    out
}
