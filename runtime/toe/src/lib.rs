//! AWSTOE component documents (`schemaVersion: 1.0`), parsed and validated into typed values
//! before anything runs, and expanded for a runner.
//!
//! - [`Document::parse`]: the document with its [`Parameter`]s, [`Constant`]s, [`Phase`]s and
//!   [`Step`]s; every [`Action`] with its inputs typed, [`Loop`]s that terminate, [`If`]
//!   conditions at most 4 deep, and every `{{ … }}` [`Reference`] checked at its place. Every
//!   error is a [`ToeError`] naming `file:line:column`.
//! - [`Document::runnable_on_linux`]: Windows-only actions are valid, and reported as
//!   [`Runnable::NotOnLinux`].
//! - [`parse_parameters`] and [`Document::bind`]: `--parameters K=V,K2=V2` checked against the
//!   document.
//! - [`Document::expand`]: the [`Plan`] a runner walks: per phase its steps, per step its
//!   iterations with inputs resolved, chaining references left for [`Template::resolve`] with
//!   the runner's [`Chain`], and `if` decided through its [`Probe`].
//!
//! ```
//! use davit_toe::{Action, Document, Runnable, parse_parameters};
//!
//! let doc = Document::parse("hello.yml", r#"
//! name: Hello
//! schemaVersion: 1.0
//! parameters:
//!   - Who:
//!       type: string
//!       default: world
//! phases:
//!   - name: build
//!     steps:
//!       - name: Greet
//!         action: ExecuteBash
//!         loop:
//!           forEach: [a, b]
//!         inputs:
//!           commands:
//!             - echo "hello {{ Who }} {{ loop.value }}"
//! "#)?;
//! assert_eq!(doc.runnable_on_linux(), Runnable::Yes);
//!
//! let bound = doc.bind(&parse_parameters("Who=davit")?)?;
//! let plan = doc.expand(&bound)?;
//! let step = &plan.phases[0].steps[0];
//! let runs: Vec<_> = step.iterations()?.collect::<Result<_, _>>()?;
//! let Action::ExecuteBash(bash) = &runs[1].action else { unreachable!() };
//! assert_eq!(bash.commands[0].as_literal().unwrap(), "echo \"hello davit b\"");
//! # Ok::<(), davit_toe::ToeError>(())
//! ```

mod actions;
mod condition;
mod document;
mod error;
mod evaluate;
mod expand;
mod fields;
mod loops;
mod names;
mod node;
mod params;
mod parse;
mod raw;
mod refs;
mod source;
mod template;
mod validate;
mod value;

pub use actions::*;
pub use condition::{Comparison, Condition, If, MAX_DEPTH, Operator, StepAction};
pub use davit_spec::Location;
pub use document::{
    Constant, DEFAULT_TIMEOUT_SECONDS, Document, OnFailure, Parameter, Phase, Runnable, Step,
    Timeout,
};
pub use error::ToeError;
pub use evaluate::Probe;
pub use expand::{Plan, PlannedPhase, PlannedStep, Run};
pub use loops::{Delimited, ForRange, Iteration, Loop, Over};
pub use names::STANDARD_PHASES;
pub use params::{Bindings, parse_parameters};
pub use template::{Chain, LoopField, Reference, Segment, Template};
pub use value::{FromText, Mode, Value};
