//! A raw document validated into a [`Document`]: names, uniqueness, phases, and each step's
//! action, settings, loop and condition. Errors of different steps are all collected; within
//! one step, the first one is reported.

use davit_spec::Location;

use crate::actions;
use crate::condition;
use crate::document::{
    Constant, DEFAULT_TIMEOUT_SECONDS, Document, OnFailure, Parameter, Phase, Step, Timeout,
};
use crate::error::ToeError;
use crate::fields::FromNode;
use crate::loops;
use crate::names::{self, STANDARD_PHASES};
use crate::node::Node;
use crate::raw::{RawDocument, RawPhase, RawStep, S};
use crate::source::Source;
use crate::template::Template;
use crate::value::Value;

pub(crate) fn build(raw: RawDocument, src: Source<'_>) -> Result<Document, ToeError> {
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
    let nested = matches!(action, actions::Action::ExecuteDocument(_));
    let timeout = match &raw.timeout_seconds {
        None if nested => Timeout::Unlimited,
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
    if let (true, Some(node), Timeout::Seconds(n)) = (nested, &raw.timeout_seconds, timeout) {
        return Err(ToeError::invalid(
            &src.yaml(&node.loc),
            "timeoutSeconds",
            format!(
                "must be -1 or absent for `ExecuteDocument`, which AWSTOE runs without a timeout, not `{n}`"
            ),
        ));
    }
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
    if let (true, Some(node), 2..) = (nested, &raw.max_attempts, max_attempts) {
        return Err(ToeError::invalid(
            &src.yaml(&node.loc),
            "maxAttempts",
            format!(
                "must be 1 or absent for `ExecuteDocument`, which AWSTOE runs once, not `{max_attempts}`"
            ),
        ));
    }
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

#[cfg(test)]
mod tests {
    use crate::{Action, Document, OnFailure, Timeout};

    #[test]
    fn step_settings_default_as_in_awstoe() {
        let doc = Document::parse(
            "c.yml",
            "schemaVersion: '1.0'\nphases:\n  - name: build\n    steps:\n      - name: a\n        action: Reboot\n      - name: b\n        action: UpdateOS\n        timeoutSeconds: -1\n        onFailure: Ignore\n        maxAttempts: 3\n",
        )
        .unwrap();
        let [a, b] = &doc.phases[0].steps[..] else {
            panic!()
        };
        assert_eq!(a.timeout, Timeout::Seconds(7200));
        assert_eq!((a.on_failure, a.max_attempts), (OnFailure::Abort, 1));
        assert!(matches!(a.action, Action::Reboot(ref r) if r.delay_seconds.literal() == Some(&0)));
        assert_eq!(b.timeout, Timeout::Unlimited);
        assert_eq!((b.on_failure, b.max_attempts), (OnFailure::Ignore, 3));
    }

    #[test]
    fn references_inside_plain_scalars_are_fine_at_the_start_they_are_not() {
        let ok = "schemaVersion: 1.0\nconstants:\n  - Dir:\n      type: string\n      value: /d\nphases:\n  - name: build\n    steps:\n      - name: a\n        action: ExecuteBash\n        inputs:\n          commands:\n            - cd {{ Dir }}\n";
        Document::parse("c.yml", ok).unwrap();
        let bad = ok.replace("cd {{ Dir }}", "{{ Dir }}");
        let err = Document::parse("c.yml", &bad).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("c.yml:13:15: `{{ … }}` must be inside"),
            "{err}"
        );
    }

    #[test]
    fn a_test_component_may_define_only_test() {
        let text = "schemaVersion: 1.0\nphases:\n  - name: test\n    steps:\n      - name: a\n        action: Reboot\n";
        assert_eq!(
            Document::parse("c.yml", text).unwrap().phases[0].name,
            "test"
        );
    }
}
