//! Running the YAML deserializer and turning its errors into located [`ToeError`]s.

use davit_spec::{YamlProblem, yaml_problem};
use serde::de::DeserializeOwned;
use serde_saphyr::Error as YamlError;

use crate::error::ToeError;
use crate::source::{Source, is_unquoted_reference};

/// Deserializes YAML `text` into the raw type `T`.
pub(crate) fn yaml<T: DeserializeOwned>(src: Source<'_>) -> Result<T, ToeError> {
    if src.text.trim().is_empty() {
        return Err(ToeError::Empty { at: src.at(1, 1) });
    }
    serde_saphyr::from_str(src.text).map_err(|e| yaml_error(src, &e))
}

fn yaml_error(src: Source<'_>, err: &YamlError) -> ToeError {
    let (loc, at, problem) = yaml_problem(src, err);
    if let Some(loc) = loc
        && is_unquoted_reference(src.rest_of_line(&loc))
    {
        return ToeError::UnquotedReference { at };
    }
    match problem {
        YamlProblem::UnknownKey { key, expected } => ToeError::UnknownKey { at, key, expected },
        YamlProblem::MissingKey { key } => ToeError::MissingKey { at, key },
        YamlProblem::DuplicateKey { key } => ToeError::DuplicateKey { at, key },
        YamlProblem::Empty => ToeError::Empty { at },
        YamlProblem::Syntax { message } => ToeError::Syntax { at, message },
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

    fn err(text: &str) -> String {
        yaml::<Doc>(Source::new("d.yml", text))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn yaml_errors_are_located() {
        assert_eq!(
            err("name: a\nother: b\n"),
            "d.yml:2:1: unknown key `other`, expected `name`"
        );
        assert_eq!(err("name: a\nname: b\n"), "d.yml:2:1: duplicate key `name`");
        assert_eq!(
            err(" \n"),
            "d.yml:1:1: the document is empty, expected at least `schemaVersion` and `phases`"
        );
        assert!(
            err("name: {{ x }}\n").contains("must be inside a quoted string"),
            "{}",
            err("name: {{ x }}\n")
        );
    }
}
