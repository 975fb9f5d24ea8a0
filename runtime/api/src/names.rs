//! Names parsed once: an application, a deployment group, a revision id. Every agent uses
//! application and group names as directory names under its deployment root, so the server
//! refuses what an agent would.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest application or group name (a directory name on every host).
pub const MAX_NAME_LEN: usize = 100;

/// Why a string is not a valid name or revision id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameError {
    /// What the string was meant to name: `application`, `deployment group`, `revision id`.
    pub what: &'static str,
    /// The string, as given.
    pub value: String,
    /// The rule it breaks.
    pub rule: &'static str,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a valid {}: {}",
            self.value, self.what, self.rule
        )
    }
}

impl std::error::Error for NameError {}

/// Whether `name` can be one path component under a deployment root: 1 to 100 of `A-Z a-z 0-9
/// . _ -`, and not `.` or `..`.
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

const NAME_RULE: &str = "1 to 100 letters, digits, `-`, `_`, `.`, and not `.` or `..`";

fn check_name(what: &'static str, value: &str) -> Result<(), NameError> {
    if is_safe_name(value) {
        Ok(())
    } else {
        Err(NameError {
            what,
            value: value.to_owned(),
            rule: NAME_RULE,
        })
    }
}

fn check_revision(value: &str) -> Result<(), NameError> {
    if value.len() == 64
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        Ok(())
    } else {
        Err(NameError {
            what: "revision id",
            value: value.to_owned(),
            rule: "64 lowercase hexadecimal digits (a blake3 digest)",
        })
    }
}

macro_rules! validated {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The name as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<&str> for $name {
            type Error = NameError;
            fn try_from(value: &str) -> Result<Self, NameError> {
                $check(value).map(|()| $name(value.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(value: String) -> Result<Self, NameError> {
                $check(&value).map(|()| $name(value))
            }
        }

        impl FromStr for $name {
            type Err = NameError;
            fn from_str(value: &str) -> Result<Self, NameError> {
                $name::try_from(value)
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

validated!(
    /// An application's name: one path component on every host (see [`is_safe_name`]).
    AppName,
    |v| check_name("application name", v)
);
validated!(
    /// A deployment group's name: one path component on every host (see [`is_safe_name`]).
    GroupName,
    |v| check_name("deployment group name", v)
);
validated!(
    /// An image pipeline's name (see [`is_safe_name`]).
    PipelineName,
    |v| check_name("pipeline name", v)
);
validated!(
    /// A revision id: the blake3 digest of a revision's manifest, 64 lowercase hex digits.
    RevisionId,
    check_revision
);

impl RevisionId {
    /// The first 12 digits, as people read them.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_agents_directory_rule() {
        assert!(AppName::try_from("shop-1.web_x").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "é"] {
            assert!(AppName::try_from(bad).is_err(), "{bad:?}");
        }
        assert!(GroupName::try_from("g".repeat(100).as_str()).is_ok());
        let long = GroupName::try_from("g".repeat(128).as_str()).unwrap_err();
        assert_eq!(long.what, "deployment group name");
        assert!(long.to_string().contains("1 to 100"), "{long}");
    }

    #[test]
    fn revision_ids_are_lowercase_blake3_hex() {
        let id = "ab".repeat(32);
        assert_eq!(
            RevisionId::try_from(id.as_str()).unwrap().short(),
            "abababababab"
        );
        let upper = RevisionId::try_from("AB".repeat(32).as_str()).unwrap_err();
        assert!(upper.to_string().contains("lowercase"), "{upper}");
        assert!(RevisionId::try_from("ab").is_err());
    }

    #[test]
    fn serde_refuses_what_parsing_refuses() {
        let err = serde_json::from_str::<GroupName>("\"..\"").unwrap_err();
        assert!(err.to_string().contains("deployment group name"), "{err}");
        let name: AppName = serde_json::from_str("\"shop\"").unwrap();
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"shop\"");
    }
}
