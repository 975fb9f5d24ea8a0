//! The validated component document: [`Document`], [`Phase`], [`Step`], and how a raw document
//! becomes one.

use std::path::Path;

use davit_spec::Location;

use crate::actions::{self, Action, Platform};
use crate::condition::{self, If};
use crate::error::ToeError;
use crate::fields::{FromNode, Visit};
use crate::loops::{self, Loop};
use crate::names::{self, STANDARD_PHASES};
use crate::node::Node;
use crate::raw::{RawDocument, RawPhase, RawStep, S};
use crate::refs;
use crate::source::Source;
use crate::template::Template;
use crate::value::Value;

/// The default `timeoutSeconds` of a step.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 7200;

/// An AWSTOE component document (`schemaVersion: 1.0`), validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// The document's `name`, if given.
    pub name: Option<String>,
    /// Its `description`.
    pub description: Option<String>,
    /// `parameters`, in document order.
    pub parameters: Vec<Parameter>,
    /// `constants`, in document order.
    pub constants: Vec<Constant>,
    /// `phases`, in document order (the order they run in).
    pub phases: Vec<Phase>,
    /// The file name the document was parsed as.
    pub file: String,
}

/// A parameter: set with `--parameters name=value`, else its `default`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parameter {
    /// The name.
    pub name: String,
    /// The value when none is given; without one, a value must be given.
    pub default: Option<String>,
    /// Its `description`.
    pub description: Option<String>,
    /// Where the name is.
    pub at: Location,
}

/// A constant: a value no `--parameters` can change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Constant {
    /// The name.
    pub name: String,
    /// The value.
    pub value: String,
    /// Where the name is.
    pub at: Location,
}

/// A phase and its steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phase {
    /// `build`, `validate`, `test` or another name.
    pub name: String,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Where the phase is.
    pub at: Location,
}

/// What a failed step does to its phase and document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// Fail the phase and the document (the default).
    #[default]
    Abort,
    /// Fail the step, run the next one.
    Continue,
    /// Count the step as a success.
    Ignore,
}

/// How long one attempt of a step may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeout {
    /// At most this many seconds (default 7200).
    Seconds(u64),
    /// No limit (`timeoutSeconds: -1`).
    Unlimited,
}

/// A step: one action with its inputs, run once or once per loop iteration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The name, unique in its phase.
    pub name: String,
    /// The action and its typed inputs.
    pub action: Action,
    /// `timeoutSeconds`.
    pub timeout: Timeout,
    /// `onFailure`.
    pub on_failure: OnFailure,
    /// `maxAttempts` (default 1).
    pub max_attempts: u32,
    /// `loop`.
    pub looping: Option<Loop>,
    /// `if`.
    pub condition: Option<If>,
    /// Where the step is.
    pub at: Location,
}

/// Whether a document can run on Linux.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Runnable {
    /// Every action runs on Linux.
    Yes,
    /// These steps use Windows-only actions: `(phase, step, action)`.
    NotOnLinux(Vec<(String, String, &'static str)>),
}

impl Document {
    /// Parses and validates the document `text`, naming it `file` in errors.
    ///
    /// # Errors
    ///
    /// The first YAML or shape error, or every validation error at once
    /// ([`ToeError::Several`]), each with its `file:line:column`.
    pub fn parse(file: &str, text: &str) -> Result<Self, ToeError> {
        let src = Source::new(file, text);
        let raw: RawDocument = crate::parse::yaml(src)?;
        let mut doc = build(raw, src)?;
        refs::check(&mut doc)?;
        Ok(doc)
    }

    /// Reads and validates the document at `path`.
    ///
    /// # Errors
    ///
    /// [`ToeError::Read`] if the file cannot be read, else as [`Document::parse`].
    pub fn load(path: &Path) -> Result<Self, ToeError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ToeError::Read {
            file: file.clone(),
            error,
        })?;
        Self::parse(&file, &text)
    }

    /// Whether a Linux runner can run every step, or which steps it cannot.
    pub fn runnable_on_linux(&self) -> Runnable {
        let windows: Vec<_> = self
            .phases
            .iter()
            .flat_map(|p| p.steps.iter().map(move |s| (p, s)))
            .filter(|(_, s)| s.action.platform() == Platform::Windows)
            .map(|(p, s)| (p.name.clone(), s.name.clone(), s.action.name()))
            .collect();
        if windows.is_empty() {
            Runnable::Yes
        } else {
            Runnable::NotOnLinux(windows)
        }
    }

    /// The phase named `name`.
    pub fn phase(&self, name: &str) -> Option<&Phase> {
        self.phases.iter().find(|p| p.name == name)
    }
}

fn build(raw: RawDocument, src: Source<'_>) -> Result<Document, ToeError> {
    let mut errors = Vec::new();
    let version = crate::fields::scalar_text(&raw.schema_version, src, "schemaVersion");
    match version {
        Ok(v) if v.trim() == "1.0" => {}
        Ok(v) => errors.push(ToeError::invalid(
            &src.yaml(&raw.schema_version.loc),
            "schemaVersion",
            format!("must be `1.0`, not `{v}`"),
        )),
        Err(e) => errors.push(e),
    }
    let mut seen: Vec<(String, Location)> = Vec::new();
    let mut unique = |name: &str, at: &Location, what, errors: &mut Vec<ToeError>| {
        if let Some((_, first)) = seen.iter().find(|(n, _)| n == name) {
            errors.push(ToeError::Duplicate {
                at: at.clone(),
                what,
                name: name.to_owned(),
                first: first.clone(),
            });
        } else {
            seen.push((name.to_owned(), at.clone()));
        }
    };
    let mut parameters = Vec::new();
    for p in raw.parameters.into_iter().flatten() {
        let one = p.value;
        let at = src.yaml(&one.name.referenced);
        let result = variable_name(&one.name, &at, "parameter").and_then(|name| {
            string_type(&one.value.kind, src)?;
            let default = one
                .value
                .default
                .as_ref()
                .map(|n| text(n, src, "default"))
                .transpose()?;
            Ok(Parameter {
                name,
                default,
                description: one.value.description,
                at: at.clone(),
            })
        });
        match result {
            Ok(p) => {
                unique(&p.name, &at, "parameter or constant", &mut errors);
                parameters.push(p);
            }
            Err(e) => errors.push(e),
        }
    }
    let mut constants = Vec::new();
    for c in raw.constants.into_iter().flatten() {
        let one = c.value;
        let at = src.yaml(&one.name.referenced);
        let result = variable_name(&one.name, &at, "constant").and_then(|name| {
            string_type(&one.value.kind, src)?;
            let value = text(&one.value.value, src, "value")?;
            Ok(Constant {
                name,
                value,
                at: at.clone(),
            })
        });
        match result {
            Ok(c) => {
                unique(&c.name, &at, "parameter or constant", &mut errors);
                constants.push(c);
            }
            Err(e) => errors.push(e),
        }
    }
    let phases_at = src.yaml(&raw.phases.referenced);
    let mut phases: Vec<Phase> = Vec::new();
    for phase in raw.phases.value {
        let at = src.yaml(&phase.referenced);
        match build_phase(phase.value, at, src, &mut errors) {
            Ok(p) => {
                if let Some(first) = phases.iter().find(|q| q.name == p.name) {
                    errors.push(ToeError::Duplicate {
                        at: p.at.clone(),
                        what: "phase",
                        name: p.name.clone(),
                        first: first.at.clone(),
                    });
                }
                phases.push(p);
            }
            Err(e) => errors.push(e),
        }
    }
    if !phases
        .iter()
        .any(|p| STANDARD_PHASES.contains(&p.name.as_str()))
        && errors.is_empty()
    {
        errors.push(ToeError::invalid(
            &phases_at,
            "phases",
            "must include at least one of `build`, `validate` or `test`",
        ));
    }
    ToeError::check(errors)?;
    Ok(Document {
        name: raw.name.map(|n| n.value),
        description: raw.description.map(|d| d.value),
        parameters,
        constants,
        phases,
        file: src.file.to_owned(),
    })
}

fn variable_name(name: &S<String>, at: &Location, what: &str) -> Result<String, ToeError> {
    names::variable(&Template::parse(&name.value, at.clone())?, what)
}

fn string_type(kind: &S<String>, src: Source<'_>) -> Result<(), ToeError> {
    if kind.value == "string" {
        Ok(())
    } else {
        Err(ToeError::invalid(
            &src.yaml(&kind.referenced),
            "type",
            format!("must be `string`, not `{}`", kind.value),
        ))
    }
}

fn text(node: &Node, src: Source<'_>, key: &str) -> Result<String, ToeError> {
    crate::fields::scalar_text(node, src, key)
}

fn build_phase(
    raw: RawPhase,
    at: Location,
    src: Source<'_>,
    errors: &mut Vec<ToeError>,
) -> Result<Phase, ToeError> {
    let name_at = src.yaml(&raw.name.referenced);
    names::step(&raw.name.value, "name", &name_at)?;
    let mut steps: Vec<Step> = Vec::new();
    for step in raw.steps {
        let step_at = src.yaml(&step.referenced);
        match build_step(step.value, step_at, src) {
            Ok(s) => {
                if let Some(first) = steps.iter().find(|t| t.name == s.name) {
                    errors.push(ToeError::Duplicate {
                        at: s.at.clone(),
                        what: "step",
                        name: s.name.clone(),
                        first: first.at.clone(),
                    });
                }
                steps.push(s);
            }
            Err(e) => errors.push(e),
        }
    }
    Ok(Phase {
        name: raw.name.value,
        steps,
        at,
    })
}

fn build_step(raw: RawStep, at: Location, src: Source<'_>) -> Result<Step, ToeError> {
    let name_at = src.yaml(&raw.name.referenced);
    names::step(&raw.name.value, "name", &name_at)?;
    let action_at = src.yaml(&raw.action.referenced);
    let action = actions::parse(&raw.action.value, &action_at, raw.inputs.as_ref(), &at, src)?;
    let timeout = match &raw.timeout_seconds {
        None => Timeout::Seconds(DEFAULT_TIMEOUT_SECONDS),
        Some(node) => match number::<i64>(node, src, "timeoutSeconds")? {
            -1 => Timeout::Unlimited,
            n if n >= 1 => Timeout::Seconds(n.unsigned_abs()),
            n => {
                return Err(ToeError::invalid(
                    &src.yaml(&node.loc),
                    "timeoutSeconds",
                    format!("must be a number of seconds from 1, or -1 for none, not `{n}`"),
                ));
            }
        },
    };
    let on_failure = match raw.on_failure.as_ref().map(|s| s.value.as_str()) {
        None | Some("Abort") => OnFailure::Abort,
        Some("Continue") => OnFailure::Continue,
        Some("Ignore") => OnFailure::Ignore,
        Some(other) => {
            let at = src.yaml(
                &raw.on_failure
                    .as_ref()
                    .map_or(raw.name.referenced, |s| s.referenced),
            );
            return Err(ToeError::invalid(
                &at,
                "onFailure",
                format!("must be `Abort`, `Continue` or `Ignore`, not `{other}`"),
            ));
        }
    };
    let max_attempts = match &raw.max_attempts {
        None => 1,
        Some(node) => match number::<u64>(node, src, "maxAttempts")? {
            n @ 1.. => u32::try_from(n).unwrap_or(u32::MAX),
            n => {
                return Err(ToeError::invalid(
                    &src.yaml(&node.loc),
                    "maxAttempts",
                    format!("must be at least 1, not `{n}`"),
                ));
            }
        },
    };
    let looping = raw
        .looping
        .as_ref()
        .map(|n| loops::parse(n, src))
        .transpose()?;
    let condition = raw
        .condition
        .as_ref()
        .map(|n| condition::parse_if(n, src))
        .transpose()?;
    Ok(Step {
        name: raw.name.value,
        action,
        timeout,
        on_failure,
        max_attempts,
        looping,
        condition,
        at,
    })
}

/// A whole number written for a step setting (references are not resolved in step settings).
fn number<T: crate::value::FromText>(
    node: &Node,
    src: Source<'_>,
    key: &'static str,
) -> Result<T, ToeError> {
    match Value::<T>::from_node(node, src, key)? {
        Value::Literal(n) => Ok(n),
        Value::Deferred { template, .. } => Err(ToeError::invalid(
            template.location(),
            key,
            "must be written as a number, references are not resolved here",
        )),
    }
}

impl Visit for Step {
    fn visit(&mut self, visitor: &mut dyn crate::fields::Visitor) {
        self.action.visit(visitor);
    }
}
