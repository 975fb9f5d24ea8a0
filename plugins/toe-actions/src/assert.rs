//! Assert: one comparison or logical operator, as a step's `if` writes it; the step fails when
//! it does not hold. Comparisons are those of davit-toe's `if` (strings ignore case; numbers
//! parse as decimals), evaluated on the target as the sandbox shows it.

use serde_json::{Map, Value};

use crate::Done;
use crate::checksum::{self, Algorithm};

/// How deep `and`, `or` and `not` may nest.
const MAX_DEPTH: usize = 4;

/// Where `binaryExists` looks for a bare name.
const PATH: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

pub fn run(inputs: &Value) -> Result<Done, String> {
    if evaluate(inputs, 0)? {
        Ok(Done::none())
    } else {
        Err(format!("assertion does not hold: {inputs}"))
    }
}

fn evaluate(value: &Value, depth: usize) -> Result<bool, String> {
    let map = match value {
        Value::Object(map) => map,
        Value::Array(items) if items.len() == 1 => return evaluate(&items[0], depth),
        _ => return Err(format!("expected an operator mapping, found `{value}`")),
    };
    for (op, list) in [("and", true), ("or", false)] {
        if let Some(items) = map.get(op) {
            only(map, &[op])?;
            nest(depth)?;
            let items = items
                .as_array()
                .ok_or_else(|| format!("`{op}` takes a list of conditions"))?;
            for item in items {
                if evaluate(item, depth + 1)? != list {
                    return Ok(!list);
                }
            }
            return Ok(list);
        }
    }
    if let Some(inner) = map.get("not") {
        only(map, &["not"])?;
        nest(depth)?;
        return Ok(!evaluate(inner, depth + 1)?);
    }
    compare(map)
}

fn nest(depth: usize) -> Result<(), String> {
    if depth >= MAX_DEPTH {
        return Err(format!(
            "`and`, `or` and `not` nest at most {MAX_DEPTH} deep"
        ));
    }
    Ok(())
}

fn only(map: &Map<String, Value>, keys: &[&str]) -> Result<(), String> {
    match map.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(extra) => Err(format!("unexpected key `{extra}` next to `{}`", keys[0])),
        None => Ok(()),
    }
}

fn scalar(value: &Value, key: &str) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(format!("`{key}` must be a string")),
    }
}

fn compare(map: &Map<String, Value>) -> Result<bool, String> {
    let (op, operand) = map
        .iter()
        .find(|(k, _)| *k != "value" && *k != "path")
        .ok_or("no operator")?;
    let second = match op.as_str() {
        "fileMD5Equals" | "fileSHA1Equals" | "fileSHA256Equals" | "fileSHA512Equals" => {
            Some("path")
        }
        "stringIsEmpty" | "stringIsWhitespace" | "binaryExists" | "fileExists" | "folderExists" => {
            None
        }
        _ => Some("value"),
    };
    let allowed: Vec<&str> = std::iter::once(op.as_str()).chain(second).collect();
    only(map, &allowed)?;
    let a = scalar(operand, op)?;
    let b = match second {
        Some(key) => scalar(
            map.get(key)
                .ok_or_else(|| format!("`{op}` needs `{key}`"))?,
            key,
        )?,
        None => String::new(),
    };
    let (la, lb) = (a.to_lowercase(), b.to_lowercase());
    let num = || match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y),
        _ => None,
    };
    use std::cmp::Ordering::{Equal, Greater, Less};
    let digest =
        |algorithm| checksum::file(&b, algorithm).is_ok_and(|d| d.eq_ignore_ascii_case(a.trim()));
    Ok(match op.as_str() {
        "stringIsEmpty" => a.is_empty(),
        "stringIsWhitespace" => !a.is_empty() && a.chars().all(char::is_whitespace),
        "stringEquals" => la == lb,
        "stringLessThan" => la < lb,
        "stringLessThanEquals" => la <= lb,
        "stringGreaterThan" => la > lb,
        "stringGreaterThanEquals" => la >= lb,
        "patternMatches" => regex_lite::Regex::new(&a)
            .map_err(|e| format!("`patternMatches`: `{a}` is not a regular expression: {e}"))?
            .is_match(&b),
        "numberEquals" => num() == Some(Equal),
        "numberLessThan" => num() == Some(Less),
        "numberLessThanEquals" => matches!(num(), Some(Less | Equal)),
        "numberGreaterThan" => num() == Some(Greater),
        "numberGreaterThanEquals" => matches!(num(), Some(Greater | Equal)),
        "binaryExists" => binary_exists(&a),
        "fileExists" => std::fs::metadata(&a).is_ok_and(|m| m.is_file()),
        "folderExists" => std::fs::metadata(&a).is_ok_and(|m| m.is_dir()),
        "fileMD5Equals" => digest(Algorithm::Md5),
        "fileSHA1Equals" => digest(Algorithm::Sha1),
        "fileSHA256Equals" => digest(Algorithm::Sha256),
        "fileSHA512Equals" => digest(Algorithm::Sha512),
        other => return Err(format!("`{other}` is not a comparison operator")),
    })
}

fn binary_exists(name: &str) -> bool {
    let file = |p: &str| std::fs::metadata(p).is_ok_and(|m| m.is_file());
    if name.contains('/') {
        return file(name);
    }
    PATH.iter().any(|dir| file(&format!("{dir}/{name}")))
}
