//! [`ToeError`]: why a component document was rejected, or could not be expanded, and where.

use std::fmt;

use davit_spec::Location;

/// Why a component document (or its expansion with bound parameters) was rejected. Every variant
/// but [`ToeError::Read`] and [`ToeError::Several`] starts its message with the `file:line:column`
/// of the offending text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ToeError {
    /// The file could not be read.
    #[error("cannot read `{file}`: {error}")]
    Read {
        /// The path as given.
        file: String,
        /// The I/O error.
        error: std::io::Error,
    },
    /// Not valid YAML, or a value of the wrong shape; the message comes from the parser.
    #[error("{at}: {message}")]
    Syntax {
        /// Where the parser stopped.
        at: Location,
        /// The parser's message.
        message: String,
    },
    /// The document is empty.
    #[error("{at}: the document is empty, expected at least `schemaVersion` and `phases`")]
    Empty {
        /// The start of the document.
        at: Location,
    },
    /// A key AWSTOE does not know at that place.
    #[error("{at}: unknown key `{key}`, expected {}", one_of(expected))]
    UnknownKey {
        /// Where the key is.
        at: Location,
        /// The key as written.
        key: String,
        /// The keys allowed there.
        expected: Vec<String>,
    },
    /// A required key is absent.
    #[error("{at}: missing key `{key}`")]
    MissingKey {
        /// The mapping that lacks it.
        at: Location,
        /// The missing key.
        key: String,
    },
    /// The same key twice in one mapping.
    #[error("{at}: duplicate key `{key}`")]
    DuplicateKey {
        /// The second occurrence.
        at: Location,
        /// The key.
        key: String,
    },
    /// A value that does not validate: `key` is the key it belongs to, `message` what is wrong.
    #[error("{at}: `{key}` {message}")]
    Invalid {
        /// Where the value is.
        at: Location,
        /// The key it belongs to.
        key: String,
        /// What is wrong with it, a lowercase fragment.
        message: String,
    },
    /// `{{ name }}` written without quotes: YAML reads it as a mapping.
    #[error(
        "{at}: `{{{{ … }}}}` must be inside a quoted string, YAML reads an unquoted `{{{{` as a mapping"
    )]
    UnquotedReference {
        /// Where the value starts.
        at: Location,
    },
    /// `{{ … }}` whose inside looks like a reference but is none of AWSTOE's forms.
    #[error(
        "{at}: `{{{{ {text} }}}}` is not a reference: expected `name`, `loop.index`, `loop.value`, `<loop>.index`, `phase.step.outputs.var`, `phase.step.inputs.var` or `phase.step.inputs[i].var`"
    )]
    MalformedReference {
        /// Where the string is.
        at: Location,
        /// What is between the braces.
        text: String,
    },
    /// `{{ name }}` where no parameter or constant has that name.
    #[error(
        "{at}: `{{{{ {name} }}}}` names no parameter or constant{}",
        defined(known)
    )]
    Undefined {
        /// Where the string is.
        at: Location,
        /// The name.
        name: String,
        /// The names the document defines.
        known: Vec<String>,
    },
    /// A loop variable where it cannot be resolved.
    #[error("{at}: `{{{{ {reference} }}}}` {reason}")]
    LoopVariable {
        /// Where the string is.
        at: Location,
        /// The reference as written.
        reference: String,
        /// Why, a lowercase fragment.
        reason: &'static str,
    },
    /// A chaining reference (`phase.step.outputs.var`) that cannot be resolved.
    #[error("{at}: `{{{{ {reference} }}}}` {reason}")]
    Chaining {
        /// Where the string is.
        at: Location,
        /// The reference as written.
        reference: String,
        /// Why, a lowercase fragment.
        reason: String,
    },
    /// An `action` AWSTOE does not have.
    #[error("{at}: unknown action `{action}`{}", suggest(suggestion.as_deref()))]
    UnknownAction {
        /// Where the action name is.
        at: Location,
        /// The name as written.
        action: String,
        /// The known action closest to it, if any is close.
        suggestion: Option<&'static str>,
    },
    /// Two parameters or constants with one name, two phases or two steps of one phase.
    #[error("{at}: {what} `{name}` is defined twice (first at line {})", first.line)]
    Duplicate {
        /// The second occurrence.
        at: Location,
        /// `parameter or constant`, `phase` or `step`.
        what: &'static str,
        /// The name.
        name: String,
        /// The first occurrence.
        first: Location,
    },
    /// A `--parameters` value for a name the document does not define as a parameter.
    #[error("{at}: `--parameters` sets `{name}`, which {reason}")]
    Binding {
        /// The document's `parameters` (or its start).
        at: Location,
        /// The name as given.
        name: String,
        /// Why, a lowercase fragment.
        reason: String,
    },
    /// Several errors in one document, in document order; [`ToeError::errors`] lists them.
    #[error("{}", several(errors))]
    Several {
        /// The errors, two or more, none of them `Several`.
        errors: Vec<ToeError>,
    },
}

impl ToeError {
    /// Where the error is, if it is inside a document.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Self::Read { .. } => None,
            Self::Several { errors } => errors.first().and_then(ToeError::location),
            Self::Syntax { at, .. }
            | Self::Empty { at }
            | Self::UnknownKey { at, .. }
            | Self::MissingKey { at, .. }
            | Self::DuplicateKey { at, .. }
            | Self::Invalid { at, .. }
            | Self::UnquotedReference { at }
            | Self::MalformedReference { at, .. }
            | Self::Undefined { at, .. }
            | Self::LoopVariable { at, .. }
            | Self::Chaining { at, .. }
            | Self::UnknownAction { at, .. }
            | Self::Duplicate { at, .. }
            | Self::Binding { at, .. } => Some(at),
        }
    }

    /// Every error this one stands for: the list of [`ToeError::Several`], else itself.
    pub fn errors(&self) -> &[ToeError] {
        match self {
            Self::Several { errors } => errors,
            one => std::slice::from_ref(one),
        }
    }

    /// One error for a list: `Ok` if empty, the only one, or [`ToeError::Several`].
    pub(crate) fn check(mut errors: Vec<ToeError>) -> Result<(), ToeError> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(Self::Several { errors }),
        }
    }

    /// A value that does not validate.
    pub(crate) fn invalid(at: &Location, key: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            at: at.clone(),
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

fn one_of(expected: &[String]) -> String {
    match expected {
        [] => "no keys here".to_owned(),
        [one] => format!("`{one}`"),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(|k| format!("`{k}`")).collect();
            format!("one of {} or `{last}`", init.join(", "))
        }
    }
}

fn defined(known: &[String]) -> String {
    if known.is_empty() {
        ", and the document defines none".to_owned()
    } else {
        let known: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
        format!(" (defined: {})", known.join(", "))
    }
}

fn suggest(suggestion: Option<&str>) -> String {
    suggestion.map_or_else(String::new, |s| format!(", did you mean `{s}`?"))
}

fn several(errors: &[ToeError]) -> String {
    let mut out = String::new();
    for (i, e) in errors.iter().enumerate() {
        if i > 0 {
            out.push_str("\n  ");
        }
        let _ = fmt::write(&mut out, format_args!("{e}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_errors_are_one_line_each() {
        let at = Location::new("c.yml", 3, 5);
        let a = ToeError::invalid(&at, "maxAttempts", "must be at least 1, not `0`");
        let b = ToeError::UnquotedReference { at: at.clone() };
        let err = ToeError::check(vec![a, b]).unwrap_err();
        assert_eq!(err.errors().len(), 2);
        assert_eq!(
            err.to_string(),
            "c.yml:3:5: `maxAttempts` must be at least 1, not `0`\n  c.yml:3:5: `{{ … }}` must be \
             inside a quoted string, YAML reads an unquoted `{{` as a mapping"
        );
        assert_eq!(err.location(), Some(&at));
        assert!(ToeError::check(Vec::new()).is_ok());
    }

    #[test]
    fn key_lists_read_as_english() {
        assert_eq!(one_of(&["a".into()]), "`a`");
        assert_eq!(
            one_of(&["a".into(), "b".into(), "c".into()]),
            "one of `a`, `b` or `c`"
        );
    }
}
