//! The expansion a runner walks: [`Document::expand`] resolves parameters and constants
//! everywhere, and [`PlannedStep::iterations`] the loop variables of each iteration. Chaining
//! references stay in the [`Template`]s until run time, when [`Template::resolve`] and
//! [`crate::Value::resolve`] answer them with the runner's [`Chain`]. Pure: no I/O.

use crate::actions::Action;
use crate::condition::{If, StepAction};
use crate::document::{Document, Phase, Step};
use crate::error::ToeError;
use crate::evaluate::Probe;
use crate::fields::{Visit, Visitor};
use crate::loops::{Iteration, Loop};
use crate::params::Bindings;
use crate::template::{Chain, LoopField, Reference, Template};

/// A document with its parameters bound: what runs, in order.
#[derive(Clone, Debug)]
pub struct Plan<'d> {
    /// The phases, in document order.
    pub phases: Vec<PlannedPhase<'d>>,
}

/// A phase of a [`Plan`].
#[derive(Clone, Debug)]
pub struct PlannedPhase<'d> {
    /// The phase as validated.
    pub phase: &'d Phase,
    /// Its steps, in order.
    pub steps: Vec<PlannedStep<'d>>,
}

/// A step of a [`Plan`]: parameters and constants resolved in its inputs, `loop` and `if`.
#[derive(Clone, Debug)]
pub struct PlannedStep<'d> {
    /// The step as validated (name, timeout, `onFailure`, `maxAttempts`).
    pub step: &'d Step,
    /// Its `if`, resolved but for chaining references.
    pub condition: Option<If>,
    looping: Option<Loop>,
    action: Action,
}

/// One run of a step's action: the iteration (if the step loops) and the inputs for it.
#[derive(Clone, Debug)]
pub struct Run {
    /// The iteration, `None` for a step without a loop.
    pub iteration: Option<Iteration>,
    /// The action with every reference but chaining ones resolved.
    pub action: Action,
}

struct Substitute<'a> {
    value: &'a mut dyn FnMut(&Reference) -> Option<String>,
    errors: Vec<ToeError>,
}

impl Visitor for Substitute<'_> {
    fn template(&mut self, template: &mut Template) {
        template.substitute(self.value);
    }
    fn error(&mut self, error: ToeError) {
        self.errors.push(error);
    }
}

fn substitute<T: Visit>(
    value: &mut T,
    f: &mut dyn FnMut(&Reference) -> Option<String>,
) -> Result<(), ToeError> {
    let mut visitor = Substitute {
        value: f,
        errors: Vec::new(),
    };
    value.visit(&mut visitor);
    ToeError::check(visitor.errors)
}

impl Document {
    /// The plan for `bindings` (from [`Document::bind`]).
    ///
    /// # Errors
    ///
    /// Every input that is invalid once its parameters are resolved (a `permissions` of
    /// `{{ Mode }}` bound to `rwx`, a `for` whose bounds never meet), each located where the
    /// input is written.
    pub fn expand<'d>(&'d self, bindings: &Bindings) -> Result<Plan<'d>, ToeError> {
        let mut errors = Vec::new();
        let mut variables = |r: &Reference| match r {
            Reference::Variable(name) => bindings.get(name).map(str::to_owned),
            _ => None,
        };
        let mut phases = Vec::new();
        for phase in &self.phases {
            let mut steps = Vec::new();
            for step in &phase.steps {
                let mut action = step.action.clone();
                let mut condition = step.condition.clone();
                let mut looping = step.looping.clone();
                for result in [
                    substitute(&mut action, &mut variables),
                    substitute(&mut condition, &mut variables),
                    substitute(&mut looping, &mut variables),
                ] {
                    match result {
                        Ok(()) => {}
                        Err(ToeError::Several { errors: several }) => errors.extend(several),
                        Err(one) => errors.push(one),
                    }
                }
                steps.push(PlannedStep {
                    step,
                    condition,
                    looping,
                    action,
                });
            }
            phases.push(PlannedPhase { phase, steps });
        }
        ToeError::check(errors)?;
        Ok(Plan { phases })
    }
}

impl PlannedStep<'_> {
    /// What to do with the step before its first iteration: `Execute` without an `if`, else the
    /// `if`'s decision. AWSTOE evaluates it once, even across a reboot.
    ///
    /// # Errors
    ///
    /// As [`crate::Condition::evaluate`].
    pub fn decide(&self, chain: &dyn Chain, probe: &dyn Probe) -> Result<StepAction, ToeError> {
        match &self.condition {
            Some(c) => c.decide(chain, probe),
            None => Ok(StepAction::Execute),
        }
    }

    /// The step's loop, resolved.
    pub fn looping(&self) -> Option<&Loop> {
        self.looping.as_ref()
    }

    /// The runs of the step, one per loop iteration (one if it has no loop), produced as the
    /// runner asks for them, so a long `for` costs nothing up front.
    ///
    /// # Errors
    ///
    /// The outer error if the loop cannot iterate; an item's error if its inputs are invalid
    /// once the loop variables are resolved.
    pub fn iterations(
        &self,
    ) -> Result<Box<dyn Iterator<Item = Result<Run, ToeError>> + Send + '_>, ToeError> {
        let Some(looping) = &self.looping else {
            let run = Run {
                iteration: None,
                action: self.action.clone(),
            };
            return Ok(Box::new(std::iter::once(Ok(run))));
        };
        let iterations = looping.iterations()?;
        Ok(Box::new(iterations.map(move |iteration| {
            let mut action = self.action.clone();
            let mut loop_vars = |r: &Reference| match r {
                Reference::Loop { field, .. } => Some(match field {
                    LoopField::Index => iteration.index.to_string(),
                    LoopField::Value => iteration.value.clone(),
                }),
                _ => None,
            };
            substitute(&mut action, &mut loop_vars)?;
            Ok(Run {
                iteration: Some(iteration),
                action,
            })
        })))
    }
}
