//! What is checked before any step runs: every grant of every step that does not wait for a
//! chained value, against the policy, all refusals at once; and the [`StepRef`] a step is
//! checked (and refused) as.

use std::time::Duration;

use davit_spec::StepRef;
use davit_toe::{Action, Chain, Document, PlannedStep, Timeout};

use super::RunError;
use super::grants;
use super::inputs::to_json;
use super::run::RunOptions;
use super::target::Target;

/// Answers every chaining reference with nothing: the grants known before the run.
struct Unknown;
impl Chain for Unknown {
    fn output(&self, _: &str, _: &str, _: &str) -> Option<String> {
        None
    }
    fn input(&self, _: &str, _: &str, _: Option<usize>, _: &str) -> Option<String> {
        None
    }
}

pub(super) fn step_ref(
    document: &Document,
    phase: &str,
    planned: &PlannedStep<'_>,
    target: &Target,
) -> StepRef {
    let runs_commands = matches!(
        planned.step.action.name(),
        "ExecuteBash" | "ExecuteBinary" | "UpdateOS"
    );
    StepRef {
        native: runs_commands && *target == Target::Host,
        document: document.file.clone(),
        phase: phase.to_owned(),
        step: planned.step.name.clone(),
        action: planned.step.action.name().to_owned(),
        timeout: match planned.step.timeout {
            Timeout::Seconds(s) => Some(Duration::from_secs(s)),
            Timeout::Unlimited => None,
        },
        at: planned.step.at.clone(),
    }
}

/// Checks, before any step runs, every grant that does not wait for a chained value.
/// TODO(davit-image): steps whose paths, URLs or programs come from chaining are checked when
/// they run; a refusal there fails that step.
pub(super) fn precheck(
    plan: &davit_toe::Plan<'_>,
    document: &Document,
    options: &RunOptions,
) -> Result<(), RunError> {
    let mut refusals = Vec::new();
    let mut invalid = Vec::new();
    for phase in selected(plan, options.phases.as_deref()) {
        for planned in &phase.steps {
            if matches!(planned.step.action, Action::ExecuteDocument(_)) {
                continue;
            }
            let Ok(iterations) = planned.iterations() else {
                continue;
            };
            let step = step_ref(document, &phase.phase.name, planned, &options.target);
            for run in iterations.flatten() {
                let Ok(inputs) = to_json(&run.action, &Unknown) else {
                    continue;
                };
                match grants::request(
                    &options.target,
                    &options.s3,
                    step.action.as_str(),
                    &inputs,
                    &step.at,
                ) {
                    Ok(req) => {
                        if let Err(r) = grants::check(&options.policy, &step, &req) {
                            refusals.extend(r);
                        }
                    }
                    Err(e) => invalid.push(format!("{}: {step}: {e}", step.at)),
                }
            }
        }
    }
    refusals.dedup();
    invalid.dedup();
    if refusals.is_empty() && invalid.is_empty() {
        Ok(())
    } else {
        Err(RunError::Refused { refusals, invalid })
    }
}

pub(super) fn selected<'p, 'd>(
    plan: &'p davit_toe::Plan<'d>,
    phases: Option<&'p [String]>,
) -> impl Iterator<Item = &'p davit_toe::PlannedPhase<'d>> {
    plan.phases
        .iter()
        .filter(move |p| phases.is_none_or(|names| names.contains(&p.phase.name)))
}
