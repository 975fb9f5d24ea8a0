//! `--parameters K=V,K2=V2`: parsed by [`parse_parameters`], checked and bound by
//! [`Document::bind`] into [`Bindings`] (every parameter and constant with its value).

use davit_spec::Location;

use crate::document::Document;
use crate::error::ToeError;

/// Every parameter and constant of a document with its value, in document order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Bindings {
    values: Vec<(String, String)>,
}

impl Bindings {
    /// The value of parameter or constant `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every name and value.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// Splits `--parameters` text, `name=value` entries separated by `,` (a value may hold `=`,
/// not `,`, as with `awstoe run --parameters`).
///
/// ```
/// let given = davit_toe::parse_parameters("Who=world,Url=http://x/?a=b")?;
/// assert_eq!(given[1], ("Url".to_owned(), "http://x/?a=b".to_owned()));
/// # Ok::<(), davit_toe::ToeError>(())
/// ```
///
/// # Errors
///
/// [`ToeError::Binding`] for an entry without `=` or with an empty name, located at its
/// column in the `--parameters` text.
pub fn parse_parameters(text: &str) -> Result<Vec<(String, String)>, ToeError> {
    let mut out = Vec::new();
    let mut column = 1;
    for entry in text.split(',') {
        let at = Location::new("--parameters", 1, column);
        column += u32::try_from(entry.chars().count() + 1).unwrap_or(0);
        if entry.trim().is_empty() {
            continue;
        }
        match entry.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => {
                out.push((name.trim().to_owned(), value.to_owned()));
            }
            _ => {
                return Err(ToeError::Binding {
                    at,
                    name: entry.to_owned(),
                    reason: "is not of the form `name=value`".to_owned(),
                });
            }
        }
    }
    Ok(out)
}

impl Document {
    /// Binds `given` (from [`parse_parameters`]) to the document's parameters; constants and
    /// defaults fill the rest.
    ///
    /// # Errors
    ///
    /// Every problem at once: a name that is no parameter (or is a constant, which cannot be
    /// changed), a name given twice, a parameter without a default that is not given.
    pub fn bind(&self, given: &[(String, String)]) -> Result<Bindings, ToeError> {
        let mut errors = Vec::new();
        let start = Location::new(self.file.clone(), 1, 1);
        for (i, (name, _)) in given.iter().enumerate() {
            let reason = if let Some(c) = self.constants.iter().find(|c| c.name == *name) {
                format!(
                    "is a constant (line {}), and constants cannot be changed",
                    c.at.line
                )
            } else if !self.parameters.iter().any(|p| p.name == *name) {
                let known: Vec<String> = self
                    .parameters
                    .iter()
                    .map(|p| format!("`{}`", p.name))
                    .collect();
                if known.is_empty() {
                    "is not a parameter: the document has none".to_owned()
                } else {
                    format!(
                        "is not a parameter of the document (parameters: {})",
                        known.join(", ")
                    )
                }
            } else if given[..i].iter().any(|(n, _)| n == name) {
                "is given twice".to_owned()
            } else {
                continue;
            };
            let at = self
                .parameters
                .first()
                .map_or_else(|| start.clone(), |p| p.at.clone());
            errors.push(ToeError::Binding {
                at,
                name: name.clone(),
                reason,
            });
        }
        let mut values = Vec::new();
        for p in &self.parameters {
            let value = given
                .iter()
                .find(|(n, _)| *n == p.name)
                .map(|(_, v)| v.clone());
            match value.or_else(|| p.default.clone()) {
                Some(v) => values.push((p.name.clone(), v)),
                None => errors.push(ToeError::invalid(
                    &p.at,
                    &p.name,
                    format!("has no default, give it with `--parameters {}=…`", p.name),
                )),
            }
        }
        values.extend(
            self.constants
                .iter()
                .map(|c| (c.name.clone(), c.value.clone())),
        );
        ToeError::check(errors)?;
        Ok(Bindings { values })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_split_at_commas_and_the_first_equals() {
        let got = parse_parameters("a=1,,b=x=y, c = 3").unwrap();
        assert_eq!(
            got,
            [
                ("a".into(), "1".into()),
                ("b".into(), "x=y".into()),
                ("c".into(), " 3".into())
            ]
        );
        assert_eq!(
            parse_parameters("a=1,oops").unwrap_err().to_string(),
            "--parameters:1:5: `--parameters` sets `oops`, which is not of the form `name=value`"
        );
    }
}
