//! A step's `loop`: `for` over integers or `forEach` over strings, with an optional `name`.

use davit_spec::Location;

use crate::error::ToeError;
use crate::fields::{Fields, FromNode, Visit, Visitor, inputs};
use crate::node::{Kind, Node};
use crate::source::Source;
use crate::template::Template;
use crate::value::Value;

/// A step's loop: the step runs once per iteration, `{{ loop.index }}` (0-based) and
/// `{{ loop.value }}` (or `{{ <name>.index }}`) resolved in its inputs.
///
/// ```yaml
/// loop:
///   name: hosts
///   forEach:
///     list: '{{ Hosts }}'
///     delimiter: ','
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loop {
    /// The loop's `name`, for `{{ <name>.index }}`.
    pub name: Option<String>,
    /// What it iterates over.
    pub over: Over,
    /// Where `loop` is.
    pub at: Location,
}

/// What a [`Loop`] iterates over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Over {
    /// `for`: from `start` to `end` inclusive, by `updateBy`; must terminate.
    For(ForRange),
    /// `forEach` with a list.
    List(Vec<Template>),
    /// `forEach` with `list` (one string) split at `delimiter` (`,` if absent).
    Delimited {
        /// The joined list.
        list: Template,
        /// The separator.
        delimiter: Option<Template>,
    },
}

inputs! {
    /// `for: {start, end, updateBy}`, each an integer (or a reference to one).
    pub struct ForRange {
        /// The first value.
        start: Value<i64> = "start",
        /// The last value (inclusive).
        end: Value<i64> = "end",
        /// The step, positive to count up, negative to count down, never 0.
        update_by: Value<i64> = "updateBy",
    }
}

inputs! {
    /// `forEach: {list, delimiter}`.
    pub struct Delimited {
        /// The joined list.
        list: Template = "list",
        /// The separator.
        delimiter: Option<Template> = "delimiter",
    }
}

/// One iteration of a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iteration {
    /// 0-based position.
    pub index: usize,
    /// The value (`for`: the counter, as text).
    pub value: String,
}

pub(crate) fn parse(node: &Node, src: Source<'_>) -> Result<Loop, ToeError> {
    let fields = Fields::new(node, src, "loop", &["name", "for", "forEach"])?;
    let name: Option<Template> = fields.take("name")?;
    let name = match name {
        Some(t) => Some(crate::names::variable(&t, "name")?),
        None => None,
    };
    let over = match (fields.node("for"), fields.node("forEach")) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(ToeError::invalid(
                &fields.at,
                "loop",
                "must have exactly one of `for` or `forEach`",
            ));
        }
        (Some(range), None) => {
            let range = ForRange::from_node(range, src, "for")?;
            check_range(&range, &src.yaml(&node.loc))?;
            Over::For(range)
        }
        (None, Some(each)) => match &each.kind {
            Kind::Seq(_) => Over::List(Vec::<Template>::from_node(each, src, "forEach")?),
            _ => {
                let d = Delimited::from_node(each, src, "forEach")?;
                Over::Delimited {
                    list: d.list,
                    delimiter: d.delimiter,
                }
            }
        },
    };
    Ok(Loop {
        name,
        over,
        at: fields.at,
    })
}

/// A `for` loop must end: `updateBy` is not 0 and points from `start` towards `end`.
fn check_range(range: &ForRange, at: &Location) -> Result<(), ToeError> {
    let (Some(start), Some(end), Some(by)) = (
        range.start.literal(),
        range.end.literal(),
        range.update_by.literal(),
    ) else {
        return Ok(());
    };
    let reason = if *by == 0 {
        "is 0, the loop would never end"
    } else if (end > start && *by < 0) || (end < start && *by > 0) {
        "points away from `end`, the loop would never end"
    } else {
        return Ok(());
    };
    let by_at = match &range.update_by {
        Value::Deferred { template, .. } => template.location().clone(),
        Value::Literal(_) => at.clone(),
    };
    Err(ToeError::invalid(
        &by_at,
        "updateBy",
        format!("`{by}` {reason} (from {start} to {end})"),
    ))
}

impl Loop {
    /// The iterations, once the loop's references are resolved.
    ///
    /// # Errors
    ///
    /// [`ToeError::Invalid`] if a bound is still unresolved or the range does not terminate.
    pub fn iterations(&self) -> Result<Box<dyn Iterator<Item = Iteration> + Send + '_>, ToeError> {
        let unresolved = |t: &Template| {
            ToeError::invalid(t.location(), "loop", format!("`{t}` is not resolved"))
        };
        match &self.over {
            Over::For(range) => {
                let get = |v: &Value<i64>| match v {
                    Value::Literal(n) => Ok(*n),
                    Value::Deferred { template, .. } => Err(unresolved(template)),
                };
                let (start, end, by) =
                    (get(&range.start)?, get(&range.end)?, get(&range.update_by)?);
                check_range(range, &self.at)?;
                let mut next = Some(start);
                Ok(Box::new((0..).map_while(move |index| {
                    let value = next?;
                    if (by > 0 && value > end) || (by < 0 && value < end) {
                        return None;
                    }
                    next = value.checked_add(by);
                    Some(Iteration {
                        index,
                        value: value.to_string(),
                    })
                })))
            }
            Over::List(items) => {
                let values = items
                    .iter()
                    .map(|t| t.as_literal().ok_or_else(|| unresolved(t)))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Box::new(
                    values
                        .into_iter()
                        .enumerate()
                        .map(|(index, value)| Iteration { index, value }),
                ))
            }
            Over::Delimited { list, delimiter } => {
                let text = list.as_literal().ok_or_else(|| unresolved(list))?;
                let delimiter = match delimiter {
                    Some(d) => d.as_literal().ok_or_else(|| unresolved(d))?,
                    None => ",".to_owned(),
                };
                if delimiter.is_empty() {
                    return Err(ToeError::invalid(
                        list.location(),
                        "delimiter",
                        "must not be empty",
                    ));
                }
                let values: Vec<String> =
                    text.split(delimiter.as_str()).map(str::to_owned).collect();
                Ok(Box::new(
                    values
                        .into_iter()
                        .enumerate()
                        .map(|(index, value)| Iteration { index, value }),
                ))
            }
        }
    }
}

impl Visit for Loop {
    fn visit(&mut self, visitor: &mut dyn Visitor) {
        match &mut self.over {
            Over::For(range) => {
                range.visit(visitor);
                if let Err(e) = check_range(range, &self.at) {
                    visitor.error(e);
                }
            }
            Over::List(items) => items.visit(visitor),
            Over::Delimited { list, delimiter } => {
                list.visit(visitor);
                delimiter.visit(visitor);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<String> {
        let node: Node = serde_saphyr::from_str(text).unwrap();
        let l = parse(&node, Source::new("c.yml", text)).unwrap();
        l.iterations().unwrap().map(|i| i.value).collect()
    }

    #[test]
    fn for_is_inclusive_both_ways() {
        assert_eq!(
            values("for: {start: 1, end: 3, updateBy: 1}"),
            ["1", "2", "3"]
        );
        assert_eq!(
            values("for: {start: 3, end: -3, updateBy: -3}"),
            ["3", "0", "-3"]
        );
        assert_eq!(
            values("for: {start: 0, end: 5, updateBy: 2}"),
            ["0", "2", "4"]
        );
        assert_eq!(values("for: {start: 7, end: 7, updateBy: -1}"), ["7"]);
    }

    #[test]
    fn for_each_lists_and_delimited_strings() {
        assert_eq!(values("forEach: [a, 'b c']"), ["a", "b c"]);
        assert_eq!(values("forEach: {list: 'x;y', delimiter: ';'}"), ["x", "y"]);
        assert_eq!(values("forEach: {list: 'x,y'}"), ["x", "y"]);
    }

    #[test]
    fn the_counter_stops_at_the_integer_limit() {
        let top = i64::MAX;
        let got = values(&format!(
            "for: {{start: {}, end: {top}, updateBy: 1}}",
            top - 1
        ));
        assert_eq!(got.len(), 2);
    }
}
