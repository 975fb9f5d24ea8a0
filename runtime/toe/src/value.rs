//! Typed input values that may still hold references: [`Value`], and the scalar types inputs
//! use ([`Mode`], numbers, booleans).

use std::fmt;

use crate::error::ToeError;
use crate::template::{Chain, Template};

/// A typed input that is known when the document is validated, or written with references and
/// typed once they are resolved (at expansion for parameters, constants and loop variables; at
/// run time, through [`Value::resolve`], for chaining).
///
/// ```
/// use davit_toe::{Mode, Value};
///
/// let v: Value<Mode> = Value::Literal("0755".parse()?);
/// assert_eq!(v.literal().map(ToString::to_string).as_deref(), Some("0755"));
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<T> {
    /// Known.
    Literal(T),
    /// Written with references, typed when they are resolved.
    Deferred {
        /// The text.
        template: Template,
        /// The input key, for messages.
        key: &'static str,
    },
}

impl<T: FromText> Value<T> {
    /// The value, if it is known.
    pub fn literal(&self) -> Option<&T> {
        match self {
            Self::Literal(v) => Some(v),
            Self::Deferred { .. } => None,
        }
    }

    /// The value, resolving chaining references through `chain`.
    ///
    /// # Errors
    ///
    /// [`ToeError::Chaining`] if a reference has no value, [`ToeError::Invalid`] if the result
    /// is not a valid `T`.
    pub fn resolve(&self, chain: &dyn Chain) -> Result<T, ToeError>
    where
        T: Clone,
    {
        match self {
            Self::Literal(v) => Ok(v.clone()),
            Self::Deferred { template, key } => {
                let text = template.resolve(chain)?;
                T::from_text(&text).map_err(|m| ToeError::invalid(template.location(), key, m))
            }
        }
    }

    /// Types the text of a deferred value once no reference is left in it.
    pub(crate) fn settle(&mut self) -> Result<(), ToeError> {
        if let Self::Deferred { template, key } = self
            && let Some(text) = template.as_literal()
        {
            let value =
                T::from_text(&text).map_err(|m| ToeError::invalid(template.location(), key, m))?;
            *self = Self::Literal(value);
        }
        Ok(())
    }
}

/// A type an input's text converts to; the error is a lowercase fragment following the key.
pub trait FromText: Sized {
    /// Parses the text of an input.
    ///
    /// # Errors
    ///
    /// A message such as ``must be `true` or `false`, not `yes` ``.
    fn from_text(text: &str) -> Result<Self, String>;
}

impl FromText for bool {
    fn from_text(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("must be `true` or `false`, not `{text}`")),
        }
    }
}

impl FromText for u64 {
    fn from_text(text: &str) -> Result<Self, String> {
        text.trim()
            .parse()
            .map_err(|_| format!("must be a whole number of 0 or more, not `{text}`"))
    }
}

impl FromText for i64 {
    fn from_text(text: &str) -> Result<Self, String> {
        text.trim()
            .parse()
            .map_err(|_| format!("must be a whole number, not `{text}`"))
    }
}

/// Unix permission bits written as 3 or 4 octal digits (`0755`, `644`), as AWSTOE's
/// `SetFilePermissions`, `CreateFile` and `CreateFolder` take them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode(pub u32);

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if !(3..=4).contains(&t.len()) || !t.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return Err(format!(
                "must be 3 or 4 octal digits like `0755`, not `{text}`"
            ));
        }
        u32::from_str_radix(t, 8)
            .map(Mode)
            .map_err(|e| e.to_string())
    }
}

impl FromText for Mode {
    fn from_text(text: &str) -> Result<Self, String> {
        text.parse()
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use davit_spec::Location;

    #[test]
    fn modes_are_octal_digits() {
        assert_eq!("0700".parse::<Mode>().unwrap(), Mode(0o700));
        assert_eq!("644".parse::<Mode>().unwrap().to_string(), "0644");
        assert!("0800".parse::<Mode>().is_err());
        assert!("rwx".parse::<Mode>().is_err());
        assert!("07777".parse::<Mode>().is_err());
    }

    #[test]
    fn deferred_values_settle_when_literal() {
        let at = Location::new("c.yml", 2, 3);
        let mut v: Value<bool> = Value::Deferred {
            template: Template::parse("TRUE", at.clone()).unwrap(),
            key: "overwrite",
        };
        v.settle().unwrap();
        assert_eq!(v.literal(), Some(&true));
        let mut v: Value<u64> = Value::Deferred {
            template: Template::parse("-3", at).unwrap(),
            key: "delaySeconds",
        };
        assert_eq!(
            v.settle().unwrap_err().to_string(),
            "c.yml:2:3: `delaySeconds` must be a whole number of 0 or more, not `-3`"
        );
    }
}
