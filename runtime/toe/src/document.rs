//! The validated component document: [`Document`], [`Phase`], [`Step`], and how a raw document
//! becomes one.

use std::path::Path;

use davit_spec::Location;

use crate::actions::{Action, Platform};
use crate::condition::If;
use crate::error::ToeError;
use crate::fields::Visit;
use crate::loops::Loop;
use crate::raw::RawDocument;
use crate::refs;
use crate::source::Source;

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
        let mut doc = crate::validate::build(raw, src)?;
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

impl Visit for Step {
    fn visit(&mut self, visitor: &mut dyn crate::fields::Visitor) {
        self.action.visit(visitor);
    }
}
