//! Conditions: a step's `if` ([`If`]) and the `Assert` action's inputs ([`Condition`]), with
//! AWSTOE's comparison operators and `and`/`or`/`not` nested at most 4 deep.

use davit_spec::Location;

use crate::actions::Algorithm;
use crate::error::ToeError;
use crate::fields::{FromNode, Visit, Visitor};
use crate::node::{Kind, Node};
use crate::source::{Source, is_unquoted_reference};
use crate::template::Template;

/// How deep `and`, `or` and `not` may nest (AWSTOE refuses deeper expressions).
pub const MAX_DEPTH: usize = 4;

/// A conditional expression.
///
/// ```yaml
/// and:
///   - binaryExists: 'apt-get'
///   - not:
///       stringEquals: 'skip'
///       value: '{{ Mode }}'
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// Every one holds (in order, stopping at the first that does not).
    And(Vec<Condition>),
    /// One holds.
    Or(Vec<Condition>),
    /// It does not hold.
    Not(Box<Condition>),
    /// A comparison operator.
    Compare(Comparison),
}

/// One comparison: `operator: operand`, with `value` (string and number operators) or `path`
/// (file digest operators) next to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comparison {
    /// The operator.
    pub operator: Operator,
    /// What is written after the operator.
    pub operand: Template,
    /// `value` or `path`, for the operators that compare two things.
    pub other: Option<Template>,
    /// Where the operator is.
    pub at: Location,
}

macro_rules! operators {
    ($($variant:ident = $name:literal, $second:expr;)*) => {
        /// A comparison operator, spelled as AWSTOE spells it (`stringEquals`, `fileSHA256Equals`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(missing_docs)]
        pub enum Operator { $($variant,)* }

        impl Operator {
            /// Every operator.
            pub const ALL: &[Operator] = &[$(Operator::$variant,)*];

            /// The name as written in documents.
            pub fn name(self) -> &'static str {
                match self { $(Operator::$variant => $name,)* }
            }

            /// The key of the second operand (`value`, `path`), if the operator has one.
            pub fn second(self) -> Option<&'static str> {
                match self { $(Operator::$variant => $second,)* }
            }
        }
    };
}

operators! {
    StringIsEmpty = "stringIsEmpty", None;
    StringIsWhitespace = "stringIsWhitespace", None;
    StringEquals = "stringEquals", Some("value");
    StringLessThan = "stringLessThan", Some("value");
    StringLessThanEquals = "stringLessThanEquals", Some("value");
    StringGreaterThan = "stringGreaterThan", Some("value");
    StringGreaterThanEquals = "stringGreaterThanEquals", Some("value");
    PatternMatches = "patternMatches", Some("value");
    NumberEquals = "numberEquals", Some("value");
    NumberLessThan = "numberLessThan", Some("value");
    NumberLessThanEquals = "numberLessThanEquals", Some("value");
    NumberGreaterThan = "numberGreaterThan", Some("value");
    NumberGreaterThanEquals = "numberGreaterThanEquals", Some("value");
    BinaryExists = "binaryExists", None;
    FileExists = "fileExists", None;
    FolderExists = "folderExists", None;
    FileMd5Equals = "fileMD5Equals", Some("path");
    FileSha1Equals = "fileSHA1Equals", Some("path");
    FileSha256Equals = "fileSHA256Equals", Some("path");
    FileSha512Equals = "fileSHA512Equals", Some("path");
}

impl Operator {
    /// The operator named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|o| o.name() == name)
    }

    /// The digest a `fileXXXEquals` operator compares.
    pub fn algorithm(self) -> Option<Algorithm> {
        Some(match self {
            Self::FileMd5Equals => Algorithm::Md5,
            Self::FileSha1Equals => Algorithm::Sha1,
            Self::FileSha256Equals => Algorithm::Sha256,
            Self::FileSha512Equals => Algorithm::Sha512,
            _ => return None,
        })
    }
}

/// What a step's `if` decides, and what `then` and `else` say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepAction {
    /// Fail the step.
    Abort,
    /// Run the step.
    Execute,
    /// Skip the step; it counts as a success.
    Skip,
}

/// A step's `if`: a condition, then what to do when it holds (default `Execute`) and when it
/// does not (default `Skip`). Evaluated once per step, before its first iteration, even when
/// the step reboots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct If {
    /// The expression.
    pub condition: Condition,
    /// When it holds.
    pub then: StepAction,
    /// When it does not.
    pub otherwise: StepAction,
}

/// Parses `if`: the expression's operator and, next to it, `then` and `else`. A list of one
/// such mapping (the form AWSTOE's syntax summary shows) is read the same way.
pub(crate) fn parse_if(node: &Node, src: Source<'_>) -> Result<If, ToeError> {
    let node = match &node.kind {
        Kind::Seq(items) if items.len() == 1 => &items[0],
        _ => node,
    };
    let mut then = StepAction::Execute;
    let mut otherwise = StepAction::Skip;
    for (key, value) in map_entries(node, src, "if")? {
        let target = match key.key_str().as_deref() {
            Some("then") => &mut then,
            Some("else") => &mut otherwise,
            _ => continue,
        };
        let text = crate::fields::scalar_text(value, src, "then")?;
        *target = match text.as_str() {
            "Abort" => StepAction::Abort,
            "Execute" => StepAction::Execute,
            "Skip" => StepAction::Skip,
            _ => {
                let key = key.key_str().unwrap_or_default();
                return Err(ToeError::invalid(
                    &src.yaml(&value.loc),
                    &key,
                    format!("must be `Abort`, `Execute` or `Skip`, not `{text}`"),
                ));
            }
        };
    }
    let condition = parse(node, src, 0, &["then", "else"])?;
    Ok(If {
        condition,
        then,
        otherwise,
    })
}

fn map_entries<'n>(
    node: &'n Node,
    src: Source<'_>,
    key: &str,
) -> Result<&'n [(Node, Node)], ToeError> {
    match &node.kind {
        Kind::Map(entries) => Ok(entries),
        _ if is_unquoted_reference(src.rest_of_line(&node.loc)) => {
            Err(ToeError::UnquotedReference {
                at: src.yaml(&node.loc),
            })
        }
        _ => Err(ToeError::invalid(
            &src.yaml(&node.loc),
            key,
            format!(
                "must be a mapping with one operator, not {}",
                node.describe()
            ),
        )),
    }
}

/// Parses one expression at logical depth `depth`; `extra` keys are allowed (and ignored) next
/// to the operator.
pub(crate) fn parse(
    node: &Node,
    src: Source<'_>,
    depth: usize,
    extra: &[&str],
) -> Result<Condition, ToeError> {
    let at = src.yaml(&node.loc);
    let entries = map_entries(node, src, "if")?;
    let mut operator: Option<(&Node, &Node, String)> = None;
    let mut seconds: Vec<(String, &Node)> = Vec::new();
    for (key, value) in entries {
        let key_at = src.yaml(&key.loc);
        let Some(name) = key.key_str() else {
            return Err(ToeError::UnquotedReference { at: key_at });
        };
        if extra.contains(&name.as_str()) {
            continue;
        }
        if name == "value" || name == "path" {
            seconds.push((name, value));
            continue;
        }
        if !matches!(name.as_str(), "and" | "or" | "not") && Operator::from_name(&name).is_none() {
            let mut expected: Vec<String> = ["and", "or", "not"].map(String::from).to_vec();
            expected.extend(Operator::ALL.iter().map(|o| o.name().to_owned()));
            return Err(ToeError::UnknownKey {
                at: key_at,
                key: name,
                expected,
            });
        }
        if let Some((_, _, first)) = &operator {
            return Err(ToeError::invalid(
                &key_at,
                &name,
                format!("is a second operator next to `{first}`, combine them with `and` or `or`"),
            ));
        }
        operator = Some((key, value, name));
    }
    let Some((key, value, name)) = operator else {
        return Err(ToeError::invalid(&at, "if", "has no operator"));
    };
    let key_at = src.yaml(&key.loc);
    let logical = matches!(name.as_str(), "and" | "or" | "not");
    if logical && let Some((second, _)) = seconds.first() {
        return Err(ToeError::invalid(
            &key_at,
            second,
            format!("does not apply to `{name}`"),
        ));
    }
    if logical && depth == MAX_DEPTH {
        return Err(ToeError::invalid(
            &key_at,
            &name,
            format!("nests logical operators deeper than {MAX_DEPTH} levels"),
        ));
    }
    match name.as_str() {
        "and" | "or" => {
            let Kind::Seq(items) = &value.kind else {
                return Err(ToeError::invalid(
                    &key_at,
                    &name,
                    "must be a list of expressions",
                ));
            };
            if items.is_empty() {
                return Err(ToeError::invalid(
                    &key_at,
                    &name,
                    "must list at least one expression",
                ));
            }
            let items = items
                .iter()
                .map(|n| parse(n, src, depth + 1, &[]))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if name == "and" {
                Condition::And(items)
            } else {
                Condition::Or(items)
            })
        }
        "not" => Ok(Condition::Not(Box::new(parse(value, src, depth + 1, &[])?))),
        _ => {
            let operator = Operator::from_name(&name).unwrap_or(Operator::StringEquals);
            let operand = Template::from_node(value, src, operator.name())?;
            let mut other = None;
            for (second, node) in seconds {
                if operator.second() != Some(second.as_str()) {
                    return Err(ToeError::invalid(
                        &src.yaml(&node.loc),
                        &second,
                        format!("does not apply to `{name}`"),
                    ));
                }
                other = Some(Template::from_node(
                    node,
                    src,
                    operator.second().unwrap_or(""),
                )?);
            }
            if let Some(second) = operator.second()
                && other.is_none()
            {
                return Err(ToeError::MissingKey {
                    at,
                    key: second.to_owned(),
                });
            }
            Ok(Condition::Compare(Comparison {
                operator,
                operand,
                other,
                at: key_at,
            }))
        }
    }
}

impl Visit for Condition {
    fn visit(&mut self, visitor: &mut dyn Visitor) {
        match self {
            Self::And(items) | Self::Or(items) => items.visit(visitor),
            Self::Not(inner) => inner.visit(visitor),
            Self::Compare(c) => {
                c.operand.visit(visitor);
                c.other.visit(visitor);
            }
        }
    }
}

impl Visit for If {
    fn visit(&mut self, visitor: &mut dyn Visitor) {
        self.condition.visit(visitor);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_if_text(text: &str) -> Result<If, ToeError> {
        let node: Node = serde_saphyr::from_str(text).unwrap();
        parse_if(&node, Source::new("c.yml", text))
    }

    #[test]
    fn then_and_else_sit_next_to_the_operator() {
        let i = parse_if_text("fileExists: /a\nthen: Skip\nelse: Abort\n").unwrap();
        assert_eq!((i.then, i.otherwise), (StepAction::Skip, StepAction::Abort));
        let Condition::Compare(c) = &i.condition else {
            panic!()
        };
        assert_eq!(c.operator, Operator::FileExists);
        assert!(c.other.is_none());
    }

    #[test]
    fn defaults_are_execute_and_skip_and_a_one_item_list_is_accepted() {
        let i = parse_if_text("- stringEquals: a\n  value: A\n").unwrap();
        assert_eq!(
            (i.then, i.otherwise),
            (StepAction::Execute, StepAction::Skip)
        );
    }

    #[test]
    fn four_levels_of_logic_are_allowed_five_are_not() {
        let four = "and:\n  - or:\n      - not:\n          and:\n            - fileExists: /a\n";
        assert!(parse_if_text(four).is_ok());
        let five = "not:\n  not:\n    not:\n      not:\n        not:\n          fileExists: /a\n";
        assert!(
            parse_if_text(five)
                .unwrap_err()
                .to_string()
                .contains("deeper than 4")
        );
    }

    #[test]
    fn second_operands_belong_to_their_operators() {
        let err = parse_if_text("fileExists: /a\nvalue: b\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.yml:2:8: `value` does not apply to `fileExists`"
        );
        let ok = parse_if_text("fileSHA256Equals: abc\npath: /a\n").unwrap();
        let Condition::Compare(c) = ok.condition else {
            panic!()
        };
        assert_eq!(c.operator.algorithm(), Some(Algorithm::Sha256));
        assert!(parse_if_text("and: []\n").is_err());
    }

    #[test]
    fn every_operator_round_trips_its_name() {
        for op in Operator::ALL {
            assert_eq!(Operator::from_name(op.name()), Some(*op));
        }
        assert_eq!(Operator::ALL.len(), 20);
    }
}
