//! The errors of this crate: [`SpecError`] (a document is wrong, and where) and [`ValueError`]
//! (a single value is wrong, no location: what `TryFrom` on the newtypes returns).

mod value;

use std::fmt;

use crate::appspec::{Event, UnknownEvent};
use crate::location::Location;

pub use value::ValueError;
pub(crate) use value::expected_one_of;

/// Why a document (appspec or host policy) was rejected. Every variant but [`SpecError::Read`]
/// starts its message with the `file:line:column` of the offending text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// The file could not be read.
    #[error("cannot read `{file}`: {error}")]
    Read {
        /// The path as given.
        file: String,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The text is not valid YAML or TOML, or a value has the wrong shape (a list where a string
    /// belongs); the message comes from the parser.
    #[error("{at}: {message}")]
    Syntax {
        /// Where the parser stopped.
        at: Location,
        /// The parser's message.
        message: String,
    },
    /// The document is empty.
    #[error("{at}: the document is empty, expected at least `version` and `os`")]
    Empty {
        /// The start of the document.
        at: Location,
    },
    /// A key this format does not know.
    #[error("{at}: unknown key `{key}`, expected {}", one_of(expected))]
    UnknownKey {
        /// Where the key is.
        at: Location,
        /// The key as written.
        key: String,
        /// The keys allowed at that place.
        expected: Vec<String>,
    },
    /// A lifecycle event written outside `hooks`, usually a mis-indented hooks section.
    #[error("{at}: `{name}` is a lifecycle event but is not under `hooks`, check its indentation")]
    MisplacedEvent {
        /// Where the key is.
        at: Location,
        /// The event name.
        name: String,
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
    /// A value that does not validate.
    #[error("{at}: `{key}` {error}")]
    Invalid {
        /// Where the value is.
        at: Location,
        /// The key it belongs to.
        key: &'static str,
        /// What is wrong with it.
        error: ValueError,
    },
    /// An event name under `hooks` that looks like a misspelt CodeDeploy event.
    #[error("{at}: {error}")]
    Event {
        /// Where the event name is.
        at: Location,
        /// The name and the closest known event.
        error: UnknownEvent,
    },
    /// Hooks under an event CodeDeploy runs itself (`DownloadBundle`, `Install`).
    #[error("{at}: `{event}` cannot have hooks, the agent runs it itself")]
    NotScriptable {
        /// Where the event name is.
        at: Location,
        /// The event.
        event: Event,
    },
    /// The same hook location twice under one event.
    #[error("{at}: hook `{location}` is listed twice under `{event}` (first at line {})", first.line)]
    DuplicateHook {
        /// The second occurrence.
        at: Location,
        /// The event.
        event: Event,
        /// The hook location, as written.
        location: String,
        /// The first occurrence.
        first: Location,
    },
    /// `grants` on a hook that is not a Wasm component: native scripts are never sandboxed.
    #[error("{at}: `grants` apply only to `.wasm` hooks, `{location}` is a native script")]
    GrantsOnNativeScript {
        /// Where `grants` is.
        at: Location,
        /// The hook location.
        location: String,
    },
    /// `permissions` in a Windows appspec (CodeDeploy supports them on Linux only).
    #[error("{at}: `permissions` are supported only with `os: linux`")]
    PermissionsOnWindows {
        /// Where `permissions` is.
        at: Location,
    },
    /// A `pattern` or `except` on a `permissions` entry whose `object` is a file (with `type`
    /// including `file`): the CodeDeploy agent refuses it, a pattern selects beneath a directory.
    #[error(
        "{at}: `{key}` applies beneath a directory, but `{object}` is a file the revision installs"
    )]
    PatternOnFile {
        /// Where the `pattern` or `except` is.
        at: Location,
        /// `pattern` or `except`.
        key: &'static str,
        /// The entry's `object`.
        object: String,
    },
    /// A default ACL entry (`d:`) that would apply to a file: only directories have one.
    #[error(
        "{at}: default ACL entry `{entry}` applies to `{file}`, a file, but only directories have a default ACL"
    )]
    DefaultAclOnFile {
        /// Where the `permissions` entry is.
        at: Location,
        /// The entry, as davit writes it.
        entry: String,
        /// The file.
        file: String,
    },
    /// Several errors in one document, in document order: the message is the first one's,
    /// then one indented line per other one; [`SpecError::errors`] lists them all.
    #[error("{}", several(errors))]
    Several {
        /// The errors, two or more, none of them `Several`.
        errors: Vec<SpecError>,
    },
}

impl SpecError {
    /// Where the error is, if it is inside a document.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Self::Read { .. } => None,
            Self::Syntax { at, .. }
            | Self::Empty { at }
            | Self::UnknownKey { at, .. }
            | Self::MisplacedEvent { at, .. }
            | Self::MissingKey { at, .. }
            | Self::DuplicateKey { at, .. }
            | Self::Invalid { at, .. }
            | Self::Event { at, .. }
            | Self::NotScriptable { at, .. }
            | Self::DuplicateHook { at, .. }
            | Self::GrantsOnNativeScript { at, .. }
            | Self::PermissionsOnWindows { at }
            | Self::PatternOnFile { at, .. }
            | Self::DefaultAclOnFile { at, .. } => Some(at),
            Self::Several { errors } => errors.first().and_then(SpecError::location),
        }
    }

    /// Every error this one stands for: the list of [`SpecError::Several`], else itself.
    pub fn errors(&self) -> &[SpecError] {
        match self {
            Self::Several { errors } => errors,
            one => std::slice::from_ref(one),
        }
    }

    /// One error for a non-empty list: the only one, or [`SpecError::Several`].
    pub(crate) fn from_list(mut errors: Vec<SpecError>) -> Option<SpecError> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(Self::Several { errors }),
        }
    }

    /// How to fix the error, where there is one obvious way (shown as `hint:`).
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self {
            Self::Invalid { error, key, .. } => match (error, *key) {
                (ValueError::AclBaseEntry { .. }, _) => {
                    "set the owner's, group's and others' permissions with `mode: \"0750\"`, and list only named users and groups (`u:bob:rw-`), the mask (`m::r-x`) or `d:` entries in `acls`"
                }
                (ValueError::Quoted { .. }, _) => "write `version: 0.0`, without quotes",
                (ValueError::OneOf { .. }, "file_exists_behavior") => {
                    "write the value in capitals, as the CodeDeploy agent requires"
                }
                (ValueError::Timeout { .. }, _) => {
                    "give the timeout in whole seconds, like `timeout: 300`"
                }
                _ => return None,
            },
            Self::PatternOnFile { .. } => {
                "drop `pattern` and `except`, or set `object` to the directory that holds the file"
            }
            Self::DefaultAclOnFile { .. } => {
                "drop the `d:` entries, or limit the entry to directories with `type: [directory]`"
            }
            _ => return None,
        })
    }
}

/// A copy; an I/O error is copied as its kind and message.
impl Clone for SpecError {
    fn clone(&self) -> Self {
        match self {
            Self::Read { file, error } => Self::Read {
                file: file.clone(),
                error: std::io::Error::new(error.kind(), error.to_string()),
            },
            Self::Syntax { at, message } => Self::Syntax {
                at: at.clone(),
                message: message.clone(),
            },
            Self::Empty { at } => Self::Empty { at: at.clone() },
            Self::UnknownKey { at, key, expected } => Self::UnknownKey {
                at: at.clone(),
                key: key.clone(),
                expected: expected.clone(),
            },
            Self::MisplacedEvent { at, name } => Self::MisplacedEvent {
                at: at.clone(),
                name: name.clone(),
            },
            Self::MissingKey { at, key } => Self::MissingKey {
                at: at.clone(),
                key: key.clone(),
            },
            Self::DuplicateKey { at, key } => Self::DuplicateKey {
                at: at.clone(),
                key: key.clone(),
            },
            Self::Invalid { at, key, error } => Self::Invalid {
                at: at.clone(),
                key,
                error: error.clone(),
            },
            Self::Event { at, error } => Self::Event {
                at: at.clone(),
                error: error.clone(),
            },
            Self::NotScriptable { at, event } => Self::NotScriptable {
                at: at.clone(),
                event: event.clone(),
            },
            Self::DuplicateHook {
                at,
                event,
                location,
                first,
            } => Self::DuplicateHook {
                at: at.clone(),
                event: event.clone(),
                location: location.clone(),
                first: first.clone(),
            },
            Self::GrantsOnNativeScript { at, location } => Self::GrantsOnNativeScript {
                at: at.clone(),
                location: location.clone(),
            },
            Self::PermissionsOnWindows { at } => Self::PermissionsOnWindows { at: at.clone() },
            Self::PatternOnFile { at, key, object } => Self::PatternOnFile {
                at: at.clone(),
                key,
                object: object.clone(),
            },
            Self::DefaultAclOnFile { at, entry, file } => Self::DefaultAclOnFile {
                at: at.clone(),
                entry: entry.clone(),
                file: file.clone(),
            },
            Self::Several { errors } => Self::Several {
                errors: errors.clone(),
            },
        }
    }
}

/// Two errors are equal when they are the same kind of error, at the same place, with the same
/// message (an I/O error compares by its message).
impl PartialEq for SpecError {
    fn eq(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
            && self.location() == other.location()
            && self.to_string() == other.to_string()
    }
}

impl Eq for SpecError {}

/// The first error, then each other on its own indented line.
fn several(errors: &[SpecError]) -> String {
    let mut out = String::new();
    for (i, e) in errors.iter().enumerate() {
        if i > 0 {
            out.push_str("\n  ");
        }
        out.push_str(&e.to_string());
    }
    out
}

/// "`a`", "`a` or `b`", "one of `a`, `b`, `c`".
pub(crate) fn one_of(items: &[String]) -> String {
    struct List<'a>(&'a [String]);
    impl fmt::Display for List<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self.0 {
                [] => f.write_str("nothing"),
                [one] => write!(f, "`{one}`"),
                [a, b] => write!(f, "`{a}` or `{b}`"),
                many => {
                    f.write_str("one of ")?;
                    for (i, item) in many.iter().enumerate() {
                        let sep = if i == 0 { "" } else { ", " };
                        write!(f, "{sep}`{item}`")?;
                    }
                    Ok(())
                }
            }
        }
    }
    List(items).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_naturally() {
        let s = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(one_of(&s(&["a"])), "`a`");
        assert_eq!(one_of(&s(&["a", "b"])), "`a` or `b`");
        assert_eq!(one_of(&s(&["a", "b", "c"])), "one of `a`, `b`, `c`");
    }

    #[test]
    fn invalid_reads_as_a_sentence() {
        let e = SpecError::Invalid {
            at: Location::new("appspec.yml", 12, 7),
            key: "timeout",
            error: ValueError::TimeoutTooLong {
                got: 7200,
                max: 3600,
            },
        };
        assert_eq!(
            e.to_string(),
            "appspec.yml:12:7: `timeout` must be at most 3600 seconds, got 7200"
        );
    }
}
