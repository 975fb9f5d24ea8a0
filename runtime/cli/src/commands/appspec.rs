//! `davit appspec check`: parse and validate an appspec without deploying it.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use davit_spec::{AppSpec, Os, SpecError};
use serde::Serialize;

use crate::Exit;
use crate::output::{self, Format};
use crate::render;

/// The outcomes of `appspec check` and their exit codes, as `--help` shows them.
const CHECK_OUTCOMES: &str = "\
Outcomes (`outcome` in `--output json`):
  valid                 exit 0: the appspec is valid and can be deployed on this host
  valid-for-another-os  exit 0: valid, but for another `os` (a `windows` appspec on Linux):
                        checked here, deployable only on a host of that OS
  invalid               exit 2: every error, each at file:line:column (also a host policy
                        that refuses a grant or an install, with `--policy`)";

#[derive(Subcommand)]
pub enum AppspecCommand {
    /// Check an appspec file as the CodeDeploy agent would, and print a summary (exit 2 with
    /// every error at file:line:column if it is invalid)
    ///
    /// The appspec's directory is read as the bundle it belongs to, for the rules that depend on
    /// what the bundle installs (a `permissions` `pattern` on a file).
    #[command(after_help = CHECK_OUTCOMES)]
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

/// What `appspec check` concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Outcome {
    /// Valid, and runnable on this host.
    Valid,
    /// Valid, but its `os` is not this host's.
    ValidForAnotherOs,
    /// At least one error.
    Invalid,
}

#[derive(Serialize)]
struct CheckResult {
    file: String,
    outcome: Outcome,
    valid: bool,
    /// Set when the appspec parsed as far as its `os`.
    os: Option<String>,
    runnable_here: bool,
    not_runnable_reason: Option<String>,
    /// Every error, in document order; empty unless `outcome` is `invalid`.
    errors: Vec<ErrorReport>,
    files: usize,
    permissions: usize,
    file_exists_behavior: Option<String>,
    hooks: Vec<HookSummary>,
}

/// One error, as `--output json` carries it.
#[derive(Serialize)]
struct ErrorReport {
    /// The whole message, with its `file:line:column`.
    message: String,
    file: Option<String>,
    line: Option<u32>,
    column: Option<u32>,
    hint: Option<String>,
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
    let shown = file.display().to_string();
    let spec = match check(&file, policy.as_deref()) {
        Ok(spec) => spec,
        Err(Failure::Spec(error)) => return Err(invalid(&shown, output, error.errors())),
        Err(Failure::Other(error)) => {
            if output == Format::Json {
                output::json(&invalid_result(&shown, vec![report(&error, None)]))?;
            }
            return Err(Exit::invalid(error));
        }
    };
    let runnable = spec.runnable_here();
    let result = CheckResult {
        file: shown,
        outcome: if runnable.is_ok() {
            Outcome::Valid
        } else {
            Outcome::ValidForAnotherOs
        },
        valid: true,
        os: Some(spec.os.to_string()),
        runnable_here: runnable.is_ok(),
        not_runnable_reason: runnable.err(),
        errors: Vec::new(),
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

/// Why a check failed: the appspec (every error of it), or anything else (the policy).
enum Failure {
    Spec(SpecError),
    Other(anyhow::Error),
}

/// Parses the appspec, checks it against the bundle around it and, if given, the policy.
fn check(file: &Path, policy: Option<&Path>) -> Result<AppSpec, Failure> {
    let spec = AppSpec::load(file).map_err(Failure::Spec)?;
    let bundle = file.parent().unwrap_or(Path::new("."));
    spec.check_bundle(bundle).map_err(Failure::Spec)?;
    if let Some(policy) = policy {
        let policy = davit_spec::HostPolicy::load(policy)
            .map_err(|e| Failure::Other(anyhow::Error::new(e)))?;
        let refusals = policy.check_appspec(&spec).err().unwrap_or_default();
        let install = policy.check_install(&spec).err().unwrap_or_default();
        if !refusals.is_empty() || !install.is_empty() {
            return Err(Failure::Other(super::deploy::refused(
                &refusals, &install, None,
            )));
        }
    }
    Ok(spec)
}

/// Reports every error (on stderr, and as JSON on stdout with `--output json`): exit 2.
fn invalid(file: &str, output: Format, errors: &[SpecError]) -> Exit {
    let mut reports = Vec::new();
    for e in errors {
        let error = match e.hint() {
            Some(h) => render::hint(e.clone(), h),
            None => anyhow::Error::new(e.clone()),
        };
        render::error(&error);
        reports.push(report(&error, e.location()));
    }
    if errors.len() > 1 {
        render::error(&anyhow::anyhow!(
            "`{file}` is not a valid appspec: {} errors",
            errors.len()
        ));
    }
    if output == Format::Json
        && let Err(e) = output::json(&invalid_result(file, reports))
    {
        return Exit::from(e);
    }
    Exit {
        code: crate::exit::INVALID,
        error: None,
    }
}

fn report(error: &anyhow::Error, at: Option<&davit_spec::Location>) -> ErrorReport {
    let hint = error
        .chain()
        .find_map(|c| c.downcast_ref::<render::Hinted>())
        .map(|h| h.hint.clone());
    ErrorReport {
        message: error.to_string(),
        file: at.map(|a| a.file.clone()),
        line: at.map(|a| a.line),
        column: at.map(|a| a.column),
        hint,
    }
}

fn invalid_result(file: &str, errors: Vec<ErrorReport>) -> CheckResult {
    CheckResult {
        file: file.to_owned(),
        outcome: Outcome::Invalid,
        valid: false,
        os: None,
        runnable_here: false,
        not_runnable_reason: None,
        errors,
        files: 0,
        permissions: 0,
        file_exists_behavior: None,
        hooks: Vec::new(),
    }
}

fn print_text(r: &CheckResult) {
    match r.outcome {
        Outcome::ValidForAnotherOs => {
            let here = Os::here();
            let os = r.os.as_deref().unwrap_or_default();
            println!("{}: valid appspec for another OS (os: {os})", r.file);
            println!(
                "  runnable here: no, this host runs {here}: checked here, deployable only on a {os} host"
            );
        }
        _ => {
            println!(
                "{}: valid appspec (os: {})",
                r.file,
                r.os.as_deref().unwrap_or_default()
            );
            println!("  runnable here: yes");
        }
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
