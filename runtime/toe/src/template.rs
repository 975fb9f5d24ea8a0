//! Strings with `{{ … }}` references: [`Template`], [`Reference`], and the [`Chain`] a runner
//! implements to answer chaining references with earlier steps' inputs and outputs.

use std::fmt;

use davit_spec::Location;

use crate::error::ToeError;

/// A string value of a document, split into literal text and [`Reference`]s.
///
/// Text between `{{` and `}}` is a reference when it is made only of name characters, dots and
/// brackets (`{{ build.fetch.outputs.stdout }}`); anything else (`{{ .State }}`, `{{json .}}`,
/// as Go templates in a shell command have) stays literal text, as AWSTOE leaves it.
///
/// ```
/// use davit_toe::{Reference, Template};
///
/// let t = Template::parse("ping -c 4 {{ loop.value }}", davit_toe::Location::new("c.yml", 9, 15))?;
/// assert_eq!(t.references().count(), 1);
/// assert!(matches!(t.references().next(), Some(Reference::Loop { name: None, .. })));
/// assert_eq!(t.to_string(), "ping -c 4 {{ loop.value }}");
/// # Ok::<(), davit_toe::ToeError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
    at: Location,
}

/// A part of a [`Template`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Literal text.
    Text(String),
    /// A `{{ … }}` reference.
    Ref(Reference),
}

/// What a `{{ … }}` refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reference {
    /// `{{ name }}`: a parameter or a constant.
    Variable(String),
    /// `{{ loop.index }}`, `{{ loop.value }}` (`name: None`) or `{{ <loop>.index }}`.
    Loop {
        /// The loop's `name`, `None` for `loop`.
        name: Option<String>,
        /// `index` (0-based) or `value`.
        field: LoopField,
    },
    /// `{{ phase.step.outputs.var }}`: an output of an earlier step.
    Output {
        /// The phase of the step.
        phase: String,
        /// The step.
        step: String,
        /// The output's name (`stdout` for the execute actions).
        var: String,
    },
    /// `{{ phase.step.inputs[i].var }}` or `{{ phase.step.inputs.var }}`: an input of an
    /// earlier step, after its expansion.
    Input {
        /// The phase of the step.
        phase: String,
        /// The step.
        step: String,
        /// Which input of a list-shaped `inputs`, 0-based; `None` for `inputs.var`, the form
        /// AWSTOE documents next to `inputs[i].var` (for a step whose inputs are one mapping).
        index: Option<usize>,
        /// The input key.
        var: String,
    },
}

/// The member of a loop reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoopField {
    /// The 0-based position of the iteration.
    Index,
    /// The value of the iteration (for `for`, the counter).
    Value,
}

/// What the runner knows of the steps already run, to resolve chaining references.
pub trait Chain {
    /// The output `var` of step `step` of phase `phase`, if it ran and produced it.
    fn output(&self, phase: &str, step: &str, var: &str) -> Option<String>;
    /// The expanded input `var` of entry `index` of that step's `inputs` (`None`: of its one
    /// mapping, written `inputs.var`).
    fn input(&self, phase: &str, step: &str, index: Option<usize>, var: &str) -> Option<String>;
}

impl Reference {
    /// Whether this is a chaining reference (to another step's inputs or outputs).
    pub fn is_chaining(&self) -> bool {
        matches!(self, Self::Output { .. } | Self::Input { .. })
    }

    fn parse(inner: &str, at: &Location) -> Result<Option<Self>, ToeError> {
        let name_char = |c: char| c.is_ascii_alphanumeric() || "_-.[]".contains(c);
        if inner.is_empty() || !inner.chars().all(name_char) || inner.starts_with('.') {
            return Ok(None);
        }
        let bad = || ToeError::MalformedReference {
            at: at.clone(),
            text: inner.to_owned(),
        };
        let plain = |s: &str| !s.is_empty() && !s.contains(['[', ']']);
        let parts: Vec<&str> = inner.split('.').collect();
        let reference = match parts.as_slice() {
            [name] if plain(name) => Self::Variable((*name).to_owned()),
            [name, field] if plain(name) => Self::Loop {
                name: (*name != "loop").then(|| (*name).to_owned()),
                field: match *field {
                    "index" => LoopField::Index,
                    "value" => LoopField::Value,
                    _ => return Err(bad()),
                },
            },
            [phase, step, "outputs", var] if [phase, step, var].iter().all(|s| plain(s)) => {
                Self::Output {
                    phase: (*phase).to_owned(),
                    step: (*step).to_owned(),
                    var: (*var).to_owned(),
                }
            }
            [phase, step, inputs, var] if [phase, step, var].iter().all(|s| plain(s)) => {
                let index = match *inputs {
                    "inputs" => None,
                    _ => Some(
                        inputs
                            .strip_prefix("inputs[")
                            .and_then(|s| s.strip_suffix(']'))
                            .and_then(|i| i.parse().ok())
                            .ok_or_else(bad)?,
                    ),
                };
                Self::Input {
                    phase: (*phase).to_owned(),
                    step: (*step).to_owned(),
                    index,
                    var: (*var).to_owned(),
                }
            }
            _ => return Err(bad()),
        };
        Ok(Some(reference))
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Variable(name) => f.write_str(name),
            Self::Loop { name, field } => {
                let field = match field {
                    LoopField::Index => "index",
                    LoopField::Value => "value",
                };
                write!(f, "{}.{field}", name.as_deref().unwrap_or("loop"))
            }
            Self::Output { phase, step, var } => write!(f, "{phase}.{step}.outputs.{var}"),
            Self::Input {
                phase,
                step,
                index,
                var,
            } => match index {
                Some(i) => write!(f, "{phase}.{step}.inputs[{i}].{var}"),
                None => write!(f, "{phase}.{step}.inputs.{var}"),
            },
        }
    }
}

impl Template {
    /// Splits `text`, written at `at`, into text and references.
    ///
    /// # Errors
    ///
    /// [`ToeError::MalformedReference`] for `{{ a.b.c }}` and other reference-like text that is
    /// none of AWSTOE's forms.
    pub fn parse(text: &str, at: Location) -> Result<Self, ToeError> {
        let mut segments = Vec::new();
        let mut text_run = String::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            let Some(close) = rest[open + 2..].find("}}") else {
                break;
            };
            let inner = &rest[open + 2..open + 2 + close];
            text_run.push_str(&rest[..open]);
            match Reference::parse(inner.trim(), &at)? {
                Some(reference) => {
                    if !text_run.is_empty() {
                        segments.push(Segment::Text(std::mem::take(&mut text_run)));
                    }
                    segments.push(Segment::Ref(reference));
                }
                None => text_run.push_str(&rest[open..open + 4 + close]),
            }
            rest = &rest[open + 4 + close..];
        }
        text_run.push_str(rest);
        if !text_run.is_empty() {
            segments.push(Segment::Text(text_run));
        }
        Ok(Self { segments, at })
    }

    /// Where the string is written.
    pub fn location(&self) -> &Location {
        &self.at
    }

    /// The parts, in order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The references, in order.
    pub fn references(&self) -> impl Iterator<Item = &Reference> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Ref(r) => Some(r),
            Segment::Text(_) => None,
        })
    }

    /// The text, if no reference is left in it.
    pub fn as_literal(&self) -> Option<String> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Text(t) => out.push_str(t),
                Segment::Ref(_) => return None,
            }
        }
        Some(out)
    }

    /// Replaces every reference `value` answers, keeping the others.
    pub(crate) fn substitute(&mut self, value: &mut dyn FnMut(&Reference) -> Option<String>) {
        let mut segments: Vec<Segment> = Vec::with_capacity(self.segments.len());
        for segment in self.segments.drain(..) {
            let segment = match segment {
                Segment::Ref(r) => value(&r).map_or(Segment::Ref(r), Segment::Text),
                text => text,
            };
            match (segments.last_mut(), segment) {
                (Some(Segment::Text(prev)), Segment::Text(t)) => prev.push_str(&t),
                (_, segment) => segments.push(segment),
            }
        }
        self.segments = segments;
    }

    /// The final string: chaining references answered by `chain`, at run time.
    ///
    /// # Errors
    ///
    /// [`ToeError::Chaining`] when `chain` has no value for a reference, or a reference other
    /// than a chaining one is left (the template was not expanded).
    pub fn resolve(&self, chain: &dyn Chain) -> Result<String, ToeError> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Text(t) => out.push_str(t),
                Segment::Ref(r) => {
                    let value = match r {
                        Reference::Output { phase, step, var } => chain.output(phase, step, var),
                        Reference::Input {
                            phase,
                            step,
                            index,
                            var,
                        } => chain.input(phase, step, *index, var),
                        _ => None,
                    };
                    out.push_str(&value.ok_or_else(|| ToeError::Chaining {
                        at: self.at.clone(),
                        reference: r.to_string(),
                        reason: "has no value at run time".to_owned(),
                    })?);
                }
            }
        }
        Ok(out)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.segments {
            match segment {
                Segment::Text(t) => f.write_str(t)?,
                Segment::Ref(r) => write!(f, "{{{{ {r} }}}}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Location {
        Location::new("c.yml", 1, 1)
    }

    fn refs(text: &str) -> Vec<String> {
        let t = Template::parse(text, at()).unwrap();
        t.references().map(ToString::to_string).collect()
    }

    #[test]
    fn every_reference_form_parses() {
        assert_eq!(refs("{{Name}}x{{ a-b_c }}"), ["Name", "a-b_c"]);
        assert_eq!(
            refs("{{ loop.index }} {{ hosts.value }}"),
            ["loop.index", "hosts.value"]
        );
        assert_eq!(
            refs("'{{build.s.outputs.stdout}}'"),
            ["build.s.outputs.stdout"]
        );
        assert_eq!(
            refs("{{ test.s.inputs[2].path }}"),
            ["test.s.inputs[2].path"]
        );
    }

    #[test]
    fn go_templates_and_lone_braces_stay_text() {
        let t = Template::parse("docker inspect -f '{{.State}}' {{json .}} {{ x", at()).unwrap();
        assert_eq!(
            t.as_literal().unwrap(),
            "docker inspect -f '{{.State}}' {{json .}} {{ x"
        );
    }

    #[test]
    fn malformed_references_are_errors() {
        for text in [
            "{{ a.b.c }}",
            "{{ a.size }}",
            "{{ p.s.inputs[x].v }}",
            "{{ a..b }}",
        ] {
            let err = Template::parse(text, at()).unwrap_err();
            assert!(
                matches!(err, ToeError::MalformedReference { .. }),
                "{text}: {err}"
            );
        }
    }

    struct Outputs;
    impl Chain for Outputs {
        fn output(&self, _: &str, step: &str, _: &str) -> Option<String> {
            (step == "s").then(|| "/tmp/x".to_owned())
        }
        fn input(&self, _: &str, _: &str, _: Option<usize>, _: &str) -> Option<String> {
            None
        }
    }

    #[test]
    fn substitution_then_resolution() {
        let mut t = Template::parse("{{ a }}-{{ b }}:{{ build.s.outputs.stdout }}", at()).unwrap();
        t.substitute(&mut |r| (r.to_string() == "a").then(|| "1".to_owned()));
        assert_eq!(t.to_string(), "1-{{ b }}:{{ build.s.outputs.stdout }}");
        t.substitute(&mut |r| (!r.is_chaining()).then(|| "2".to_owned()));
        assert_eq!(t.segments().len(), 2);
        assert_eq!(t.resolve(&Outputs).unwrap(), "1-2:/tmp/x");
        let t = Template::parse("{{ build.t.inputs[0].path }}", at()).unwrap();
        assert_eq!(
            t.resolve(&Outputs).unwrap_err().to_string(),
            "c.yml:1:1: `{{ build.t.inputs[0].path }}` has no value at run time"
        );
    }
}
