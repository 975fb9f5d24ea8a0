//! `davit component validate DOC [--parameters K=V,…]`.

use std::path::PathBuf;

use davit_toe::{Document, Runnable, ToeError};
use serde::Serialize;

use crate::Exit;
use crate::output::{self, Format};

pub const OUTCOMES: &str = "\
Outcomes (`outcome` in `--output json`):
  valid                     exit 0: valid, and every action runs on Linux
  valid-not-runnable-linux  exit 0: valid, but some steps use Windows-only actions
                            (ExecutePowerShell, InstallMSI, UninstallMSI, SetRegistry)
  invalid                   exit 2: every error, each at file:line:column";

#[derive(clap::Args)]
pub struct ValidateArgs {
    /// The component document (YAML)
    file: PathBuf,
    /// Values for the document's parameters, `K=V,K2=V2`, checked as `run` would use them
    #[arg(long)]
    parameters: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    output: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Outcome {
    Valid,
    ValidNotRunnableLinux,
    Invalid,
}

#[derive(Serialize)]
struct Validated {
    file: String,
    outcome: Outcome,
    name: Option<String>,
    phases: Vec<PhaseSummary>,
    /// `phase.step (Action)` of each Windows-only step.
    not_runnable_on_linux: Vec<String>,
    errors: Vec<ErrorReport>,
}

#[derive(Serialize)]
struct PhaseSummary {
    name: String,
    steps: Vec<String>,
}

#[derive(Serialize)]
struct ErrorReport {
    message: String,
    file: Option<String>,
    line: Option<u32>,
    column: Option<u32>,
}

fn check(args: &ValidateArgs) -> Result<Document, ToeError> {
    let doc = Document::load(&args.file)?;
    super::bind(&doc, args.parameters.as_deref())?;
    Ok(doc)
}

pub fn run(args: ValidateArgs) -> Result<(), Exit> {
    let shown = args.file.display().to_string();
    let doc = match check(&args) {
        Ok(doc) => doc,
        Err(error) => {
            let exit = super::invalid(&shown, &error);
            if args.output == Format::Json {
                let errors = error
                    .errors()
                    .iter()
                    .map(|e| ErrorReport {
                        message: e.to_string(),
                        file: e.location().map(|l| l.file.clone()),
                        line: e.location().map(|l| l.line),
                        column: e.location().map(|l| l.column),
                    })
                    .collect();
                output::json(&Validated {
                    file: shown,
                    outcome: Outcome::Invalid,
                    name: None,
                    phases: Vec::new(),
                    not_runnable_on_linux: Vec::new(),
                    errors,
                })?;
            }
            return Err(exit);
        }
    };
    let windows = match doc.runnable_on_linux() {
        Runnable::Yes => Vec::new(),
        Runnable::NotOnLinux(steps) => steps
            .iter()
            .map(|(p, s, a)| format!("{p}.{s} ({a})"))
            .collect(),
    };
    let result = Validated {
        file: shown,
        outcome: if windows.is_empty() {
            Outcome::Valid
        } else {
            Outcome::ValidNotRunnableLinux
        },
        name: doc.name.clone(),
        phases: doc
            .phases
            .iter()
            .map(|p| PhaseSummary {
                name: p.name.clone(),
                steps: p
                    .steps
                    .iter()
                    .map(|s| format!("{} ({})", s.name, s.action.name()))
                    .collect(),
            })
            .collect(),
        not_runnable_on_linux: windows,
        errors: Vec::new(),
    };
    match args.output {
        Format::Json => output::json(&result)?,
        Format::Text => {
            let name = result.name.as_deref().unwrap_or("(no name)");
            match result.outcome {
                Outcome::ValidNotRunnableLinux => {
                    println!(
                        "{}: valid component document `{name}`, but not runnable on Linux",
                        result.file
                    );
                    for s in &result.not_runnable_on_linux {
                        println!("  Windows only: {s}");
                    }
                }
                _ => println!("{}: valid component document `{name}`", result.file),
            }
            for p in &result.phases {
                println!("  phase {}: {} step(s)", p.name, p.steps.len());
                for s in &p.steps {
                    println!("    {s}");
                }
            }
        }
    }
    Ok(())
}
