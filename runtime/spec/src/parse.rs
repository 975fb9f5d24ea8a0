//! Running the YAML and TOML deserializers and turning their errors into located [`SpecError`]s.

use serde::de::DeserializeOwned;
use serde_saphyr::{Error as YamlError, MessageFormatter, UserMessageFormatter};

use crate::error::SpecError;
use crate::location::Source;

/// Deserializes YAML `text` into the raw type `T`.
pub(crate) fn yaml<T: DeserializeOwned>(src: Source<'_>, text: &str) -> Result<T, SpecError> {
    if text.trim().is_empty() {
        return Err(SpecError::Empty { at: src.at(1, 1) });
    }
    serde_saphyr::from_str(text).map_err(|e| yaml_error(src, &e))
}

fn yaml_error(src: Source<'_>, err: &YamlError) -> SpecError {
    let (_, at, problem) = yaml_problem(src, err);
    match problem {
        YamlProblem::UnknownKey { key, expected } => SpecError::UnknownKey { at, key, expected },
        YamlProblem::MissingKey { key } => SpecError::MissingKey { at, key },
        YamlProblem::DuplicateKey { key } => SpecError::DuplicateKey { at, key },
        YamlProblem::Empty => SpecError::Empty { at },
        YamlProblem::Syntax { message } => syntax(at, message),
    }
}

/// What a serde-saphyr error says, in the words every document's errors use; each front end
/// (appspec, policy, component document) turns it into its own error type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum YamlProblem {
    /// A key that is not known at that place, and the keys that are.
    UnknownKey { key: String, expected: Vec<String> },
    /// A required key is absent.
    MissingKey { key: String },
    /// The same key twice in one mapping.
    DuplicateKey { key: String },
    /// The text ended where a value was expected.
    Empty,
    /// Anything else: not YAML, or a value of the wrong shape.
    Syntax { message: String },
}

/// The node a serde-saphyr error points at (if it says), its [`Location`] in `src` (the start
/// of the document if not), and what the error says.
pub fn yaml_problem(
    src: Source<'_>,
    err: &YamlError,
) -> (Option<serde_saphyr::Location>, crate::Location, YamlProblem) {
    let err = err.without_snippet();
    let loc = err.location();
    let at = loc.map_or_else(|| src.at(1, 1), |loc| src.yaml(&loc));
    let problem = match err {
        YamlError::SerdeUnknownField {
            field, expected, ..
        } => YamlProblem::UnknownKey {
            key: field.clone(),
            expected: expected.iter().map(|s| (*s).to_owned()).collect(),
        },
        YamlError::SerdeMissingField { field, .. } => YamlProblem::MissingKey {
            key: (*field).to_owned(),
        },
        YamlError::DuplicateMappingKey { key, .. } => YamlProblem::DuplicateKey {
            key: key.clone().unwrap_or_else(|| "?".to_owned()),
        },
        YamlError::Eof { .. } => YamlProblem::Empty,
        YamlError::Unexpected { expected, .. } => YamlProblem::Syntax {
            message: match *expected {
                "string scalar" => "expected a single value, not a list or a mapping".to_owned(),
                "sequence start" => "expected a list".to_owned(),
                "mapping start" => "expected a mapping".to_owned(),
                other => format!("expected {other}"),
            },
        },
        other => YamlProblem::Syntax {
            message: UserMessageFormatter.format_message(other).into_owned(),
        },
    };
    (loc, at, problem)
}

fn syntax(at: crate::Location, message: String) -> SpecError {
    SpecError::Syntax { at, message }
}

/// Deserializes TOML `text` into the raw type `T`.
pub(crate) fn toml<T: DeserializeOwned>(src: Source<'_>, text: &str) -> Result<T, SpecError> {
    toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map_or_else(|| src.at(1, 1), |span| src.offset(span.start));
        let message = e.message().trim_end_matches('\n');
        // Same words as the YAML side: documents have keys, not fields.
        let message = message
            .replacen("unknown field", "unknown key", 1)
            .replacen("missing field", "missing key", 1)
            .replacen("duplicate field", "duplicate key", 1);
        SpecError::Syntax { at, message }
    })
}

/// Reads a whole file for `load` functions.
pub(crate) fn read(path: &std::path::Path) -> Result<(String, String), SpecError> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((file, text)),
        Err(error) => Err(SpecError::Read { file, error }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
    }

    fn yaml_err(text: &str) -> String {
        yaml::<Doc>(Source::new("d.yml", text), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn yaml_errors_are_located() {
        assert_eq!(
            yaml_err("name: a\nother: b\n"),
            "d.yml:2:1: unknown key `other`, expected `name`"
        );
        assert_eq!(
            yaml_err("name: a\nname: b\n"),
            "d.yml:2:1: duplicate key `name`"
        );
        assert_eq!(
            yaml_err("name: [a]\n"),
            "d.yml:1:7: expected a single value, not a list or a mapping"
        );
        assert_eq!(
            yaml_err("name:\n  - a\n"),
            "d.yml:2:3: expected a single value, not a list or a mapping"
        );
        assert_eq!(
            yaml_err("  \n"),
            "d.yml:1:1: the document is empty, expected at least `version` and `os`"
        );
    }

    #[test]
    fn toml_errors_are_located() {
        let text = "name = \"a\"\nother = 1\n";
        let err = toml::<Doc>(Source::new("p.toml", text), text).unwrap_err();
        assert_eq!(
            err.to_string(),
            "p.toml:2:1: unknown key `other`, expected `name`"
        );
    }
}
