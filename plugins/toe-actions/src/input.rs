//! Inputs as JSON into typed structs, with AWSTOE's tolerance: booleans may be written as
//! strings (`'true'`), strings as numbers (`permissions: 755`).

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error};
use serde_json::Value;

/// The inputs of a module that takes a list of mappings, one typed value per entry. A single
/// mapping is taken as a list of one.
pub fn list<T: DeserializeOwned>(inputs: &Value) -> Result<Vec<T>, String> {
    let items = match inputs {
        Value::Array(items) => items.clone(),
        Value::Object(_) => vec![inputs.clone()],
        Value::Null => return Err("needs inputs: a list of mappings".into()),
        other => {
            return Err(format!(
                "inputs must be a list of mappings, not {}",
                kind(other)
            ));
        }
    };
    if items.is_empty() {
        return Err("needs at least one input".into());
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            if !item.is_object() {
                return Err(format!(
                    "input {}: must be a mapping, not {}",
                    i + 1,
                    kind(&item)
                ));
            }
            serde_json::from_value(item).map_err(|e| format!("input {}: {e}", i + 1))
        })
        .collect()
}

/// The inputs of a module that takes one mapping; absent inputs are an empty mapping.
pub fn mapping<T: DeserializeOwned>(inputs: &Value) -> Result<T, String> {
    let value = match inputs {
        Value::Null => Value::Object(Default::default()),
        Value::Object(_) => inputs.clone(),
        other => return Err(format!("inputs must be a mapping, not {}", kind(other))),
    };
    serde_json::from_value(value).map_err(|e| e.to_string())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A boolean written as `true` or `'true'` (any case).
pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Value::deserialize(d)? {
        Value::Bool(b) => Ok(b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(D::Error::custom(format!(
            "expected true or false, found {}",
            kind(&other)
        ))),
    }
}

/// A string, or a number or boolean taken as its text.
pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(D::Error::custom(format!(
            "expected a string, found {}",
            kind(&other)
        ))),
    }
}

/// An optional [`text`].
pub fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    text(d).map(Some)
}

/// A list of strings (numbers taken as their text); one string is a list of one.
pub fn texts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let one = |v: Value| match v {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(D::Error::custom(format!(
            "expected a list of strings, found {} in it",
            kind(&other)
        ))),
    };
    match Value::deserialize(d)? {
        Value::Array(items) => items.into_iter().map(one).collect(),
        Value::Null => Ok(Vec::new()),
        other => one(other).map(|s| vec![s]),
    }
}

pub fn yes() -> bool {
    true
}

/// Octal permission bits, `'0755'` or `755`, at most `7777`.
pub fn permissions(text: &str) -> Result<u32, String> {
    let digits = text.trim();
    let digits = digits.strip_prefix("0o").unwrap_or(digits);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o7777 && !digits.is_empty() => Ok(mode),
        _ => Err(format!(
            "`permissions`: `{text}` is not an octal mode such as `0755`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_octal() {
        assert_eq!(permissions("0755"), Ok(0o755));
        assert_eq!(permissions("4750"), Ok(0o4750));
        assert!(permissions("0789").is_err());
        assert!(permissions("17777").is_err());
    }
}
