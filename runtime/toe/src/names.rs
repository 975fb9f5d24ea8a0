//! The names of a document: parameters, constants and loops (3–128 characters of
//! `[A-Za-z0-9_-]`), steps and phases.

use crate::error::ToeError;
use crate::template::Template;

/// The names AWSTOE gives its standard phases; a document has at least one of them.
pub const STANDARD_PHASES: &[&str] = &["build", "validate", "test"];

/// A parameter, constant or loop name: 3–128 characters of `[A-Za-z0-9_-]`.
pub(crate) fn variable(name: &Template, what: &str) -> Result<String, ToeError> {
    let at = name.location();
    let text = name.as_literal().unwrap_or_else(|| name.to_string());
    let len = text.chars().count();
    if !(3..=128).contains(&len) {
        return Err(ToeError::invalid(
            at,
            what,
            format!("`{text}` must be 3 to 128 characters long, not {len}"),
        ));
    }
    check_chars(&text, what, at)?;
    Ok(text)
}

/// A step or phase name: 1–128 characters of `[A-Za-z0-9_-]` (a dot would break chaining
/// references, `phase.step.outputs.var`).
pub(crate) fn step(name: &str, what: &str, at: &davit_spec::Location) -> Result<(), ToeError> {
    let len = name.chars().count();
    if !(1..=128).contains(&len) {
        return Err(ToeError::invalid(
            at,
            what,
            format!("`{name}` must be 1 to 128 characters long, not {len}"),
        ));
    }
    check_chars(name, what, at)
}

fn check_chars(text: &str, what: &str, at: &davit_spec::Location) -> Result<(), ToeError> {
    match text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        Some(c) => Err(ToeError::invalid(
            at,
            what,
            format!("`{text}` may hold only letters, digits, `_` and `-`, not `{c}`"),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use davit_spec::Location;

    fn t(s: &str) -> Template {
        Template::parse(s, Location::new("c.yml", 1, 1)).unwrap()
    }

    #[test]
    fn variable_names() {
        assert!(variable(&t("abc"), "name").is_ok());
        assert!(variable(&t("a-b_C9"), "name").is_ok());
        assert!(variable(&t("ab"), "name").is_err());
        assert!(variable(&t(&"x".repeat(129)), "name").is_err());
        assert_eq!(
            variable(&t("a.b.c"), "parameter").unwrap_err().to_string(),
            "c.yml:1:1: `parameter` `a.b.c` may hold only letters, digits, `_` and `-`, not `.`"
        );
    }

    #[test]
    fn step_names() {
        assert!(step("Assert", "step", &Location::new("c", 1, 1)).is_ok());
        assert!(step("a b", "step", &Location::new("c", 1, 1)).is_err());
    }
}
