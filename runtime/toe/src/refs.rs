//! Every `{{ … }}` of a document checked against what it may refer to at its place:
//! parameters and constants anywhere; loop variables only in the inputs of a step with that
//! loop; chaining references (`phase.step.outputs.var`) in inputs and `if`, only to earlier
//! steps of the same stage (Image Builder runs `build` and `validate` on the build instance,
//! `test` on a new instance of the snapshot, so nothing chains from build into test), and only
//! to an output the referenced step's action produces ([`crate::Action::outputs`]).

use crate::document::Document;
use crate::error::ToeError;
use crate::fields::{Visit, Visitor};
use crate::template::{Reference, Template};

/// Which part of a step a template is in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Inputs,
    If,
    Loop,
}

/// The machine a phase runs on in Image Builder: `build` and `validate` on the build instance,
/// `test` (and `container-host-test`) on a fresh one; any other phase is its own.
pub(crate) fn stage(phase: &str) -> &str {
    match phase {
        "build" | "validate" => "build",
        "test" | "container-host-test" => "test",
        other => other,
    }
}

struct Checker<'a> {
    variables: &'a [String],
    /// `Some(name)` when the step has a loop (`name` is the loop's optional name).
    looping: Option<Option<&'a str>>,
    place: Place,
    phase: &'a str,
    /// `(phase, step)` of every step before this one, in document order.
    earlier: &'a [(String, String)],
    /// `(phase, step)` of every step.
    all: &'a [(String, String)],
    /// [`crate::Action::input_count`] of every step, in the order of `all`.
    counts: &'a [Option<usize>],
    /// The action name and [`crate::Action::outputs`] of every step, in the order of `all`.
    outputs: &'a [(&'static str, &'static [&'static str])],
    errors: Vec<ToeError>,
}

impl Visitor for Checker<'_> {
    fn template(&mut self, template: &mut Template) {
        for r in template.references() {
            if let Err(e) = self.check(r, template) {
                self.errors.push(e);
            }
        }
    }
    fn error(&mut self, error: ToeError) {
        self.errors.push(error);
    }
}

impl Checker<'_> {
    fn check(&self, r: &Reference, template: &Template) -> Result<(), ToeError> {
        let at = template.location().clone();
        match r {
            Reference::Variable(name) if self.variables.contains(name) => Ok(()),
            Reference::Variable(name) => Err(ToeError::Undefined {
                at,
                name: name.clone(),
                known: self.variables.to_vec(),
            }),
            Reference::Loop { name, .. } => {
                let reason = match (self.place, self.looping, name) {
                    (Place::Inputs, Some(_), None) => return Ok(()),
                    (Place::Inputs, Some(Some(own)), Some(n)) if own == n => return Ok(()),
                    (Place::If, _, _) => {
                        "is a loop variable, which `if` cannot use: it is evaluated once per step"
                    }
                    (Place::Loop, _, _) => "is a loop variable, which the loop itself cannot use",
                    (Place::Inputs, None, _) => "is a loop variable, but this step has no `loop`",
                    (Place::Inputs, Some(_), Some(_)) => "names no loop of this step",
                };
                Err(ToeError::LoopVariable {
                    at,
                    reference: r.to_string(),
                    reason,
                })
            }
            Reference::Output { phase, step, .. } | Reference::Input { phase, step, .. } => {
                let fail = |reason: String| ToeError::Chaining {
                    at: at.clone(),
                    reference: r.to_string(),
                    reason,
                };
                if self.place == Place::Loop {
                    return Err(fail(
                        "chains to another step, which `loop` cannot".to_owned(),
                    ));
                }
                let key = (phase.clone(), step.clone());
                if !self.all.contains(&key) {
                    return Err(fail(format!(
                        "names no step: there is no step `{step}` in a phase `{phase}`"
                    )));
                }
                if !self.earlier.contains(&key) {
                    return Err(fail(
                        "chains to this step or a later one, only earlier steps have run"
                            .to_owned(),
                    ));
                }
                let i = self.all.iter().position(|k| *k == key).unwrap_or(0);
                if let Reference::Output { var, .. } = r
                    && let Some((action, outputs)) = self.outputs.get(i)
                    && !outputs.contains(&var.as_str())
                {
                    let produces = match outputs {
                        [] => "none".to_owned(),
                        [one] => format!("only `{one}`"),
                        many => {
                            let names: Vec<String> =
                                many.iter().map(|o| format!("`{o}`")).collect();
                            format!("only {}", names.join(", "))
                        }
                    };
                    return Err(fail(format!(
                        "names no output of `{step}`: its action `{action}` produces {produces}"
                    )));
                }
                if let Reference::Input {
                    index: Some(index),
                    var,
                    ..
                } = r
                {
                    match self.counts.get(i).copied().flatten() {
                        None => {
                            return Err(fail(format!(
                                "indexes the inputs of `{step}`, which are one mapping, not a list: write `{phase}.{step}.inputs.{var}`"
                            )));
                        }
                        Some(n) if *index >= n => {
                            return Err(fail(format!(
                                "indexes input {index} of `{step}`, which has only {n} (inputs count from 0)"
                            )));
                        }
                        Some(_) => {}
                    }
                }
                if stage(phase) != stage(self.phase) {
                    return Err(fail(format!(
                        "reaches from `{}` into `{phase}`, whose steps run on another instance",
                        self.phase
                    )));
                }
                Ok(())
            }
        }
    }
}

/// Checks every reference of `doc`; all errors at once.
pub(crate) fn check(doc: &mut Document) -> Result<(), ToeError> {
    let variables: Vec<String> = doc
        .parameters
        .iter()
        .map(|p| p.name.clone())
        .chain(doc.constants.iter().map(|c| c.name.clone()))
        .collect();
    let all: Vec<(String, String)> = doc
        .phases
        .iter()
        .flat_map(|p| p.steps.iter().map(|s| (p.name.clone(), s.name.clone())))
        .collect();
    let counts: Vec<Option<usize>> = doc
        .phases
        .iter()
        .flat_map(|p| p.steps.iter().map(|s| s.action.input_count()))
        .collect();
    let outputs: Vec<(&'static str, &'static [&'static str])> = doc
        .phases
        .iter()
        .flat_map(|p| {
            p.steps
                .iter()
                .map(|s| (s.action.name(), s.action.outputs()))
        })
        .collect();
    let mut errors = Vec::new();
    let mut done = 0;
    for phase in &mut doc.phases {
        for step in &mut phase.steps {
            let loop_name = step.looping.as_ref().map(|l| l.name.clone());
            let mut checker = Checker {
                variables: &variables,
                looping: loop_name.as_ref().map(Option::as_deref),
                place: Place::Inputs,
                phase: &phase.name,
                earlier: &all[..done],
                all: &all,
                counts: &counts,
                outputs: &outputs,
                errors: Vec::new(),
            };
            step.action.visit(&mut checker);
            checker.place = Place::If;
            step.condition.visit(&mut checker);
            checker.place = Place::Loop;
            step.looping.visit(&mut checker);
            errors.append(&mut checker.errors);
            done += 1;
        }
    }
    ToeError::check(errors)
}

#[cfg(test)]
mod tests {
    use crate::Document;

    const STEP: &str = "        action: ExecuteBash\n        inputs:\n          commands:";

    fn doc(body: &str) -> Result<Document, crate::ToeError> {
        Document::parse("c.yml", &format!("schemaVersion: 1.0\nphases:\n{body}"))
    }

    #[test]
    fn validate_chains_to_build_and_test_to_test() {
        let body = format!(
            "  - name: build\n    steps:\n      - name: a\n{STEP} [echo]\n\
             \x20 - name: validate\n    steps:\n      - name: b\n{STEP} ['{{{{ build.a.outputs.stdout }}}}']\n\
             \x20 - name: test\n    steps:\n      - name: c\n{STEP} [echo]\n      - name: d\n{STEP} ['{{{{ test.c.outputs.stdout }}}}']\n"
        );
        doc(&body).unwrap();
    }

    #[test]
    fn every_reference_error_is_reported_at_once() {
        let body = format!(
            "  - name: build\n    steps:\n      - name: a\n{STEP} ['{{{{ X1x }}}} {{{{ loop.index }}}} {{{{ build.a.outputs.stdout }}}}']\n"
        );
        let err = doc(&body).unwrap_err();
        assert_eq!(err.errors().len(), 3, "{err}");
    }

    #[test]
    fn named_loops_resolve_by_name_or_as_loop() {
        let body = format!(
            "  - name: build\n    steps:\n      - name: a\n        loop:\n          name: hosts\n          forEach: [x]\n{STEP} ['{{{{ hosts.index }}}} {{{{ loop.value }}}}']\n"
        );
        doc(&body).unwrap();
    }
}
