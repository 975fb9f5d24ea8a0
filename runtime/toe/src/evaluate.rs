//! Evaluating conditions: [`Condition::evaluate`] and [`If::decide`], with the checks that look
//! at a machine asked through [`Probe`], which the runner implements (inside the image's root
//! filesystem, not the host's).

use crate::actions::Algorithm;
use crate::condition::{Comparison, Condition, If, Operator, StepAction};
use crate::error::ToeError;
use crate::template::Chain;

/// What a condition asks of the machine a step runs on.
pub trait Probe {
    /// Whether `name` is an executable found in `PATH` (or is a path to one).
    fn binary_exists(&self, name: &str) -> bool;
    /// Whether `path` is a file.
    fn file_exists(&self, path: &str) -> bool;
    /// Whether `path` is a folder.
    fn folder_exists(&self, path: &str) -> bool;
    /// The hexadecimal digest of the file at `path`, if it can be read.
    fn file_digest(&self, path: &str, algorithm: Algorithm) -> Option<String>;
    /// Whether the regular expression `pattern` matches `value` (kept with the runner so this
    /// crate stays serde-only; an invalid pattern is an error message).
    ///
    /// # Errors
    ///
    /// The pattern's syntax error.
    fn pattern_matches(&self, pattern: &str, value: &str) -> Result<bool, String>;
}

impl If {
    /// What to do with the step: `then` if the condition holds, else `else`.
    ///
    /// # Errors
    ///
    /// As [`Condition::evaluate`].
    pub fn decide(&self, chain: &dyn Chain, probe: &dyn Probe) -> Result<StepAction, ToeError> {
        Ok(if self.condition.evaluate(chain, probe)? {
            self.then
        } else {
            self.otherwise
        })
    }
}

impl Condition {
    /// Whether the condition holds. String comparisons ignore case and do not trim; a number
    /// comparison with a value that is not a number is false.
    ///
    /// # Errors
    ///
    /// A chaining reference without a value, or an invalid `patternMatches` pattern.
    pub fn evaluate(&self, chain: &dyn Chain, probe: &dyn Probe) -> Result<bool, ToeError> {
        Ok(match self {
            Self::And(items) => {
                for item in items {
                    if !item.evaluate(chain, probe)? {
                        return Ok(false);
                    }
                }
                true
            }
            Self::Or(items) => {
                for item in items {
                    if item.evaluate(chain, probe)? {
                        return Ok(true);
                    }
                }
                false
            }
            Self::Not(inner) => !inner.evaluate(chain, probe)?,
            Self::Compare(c) => compare(c, chain, probe)?,
        })
    }
}

fn compare(c: &Comparison, chain: &dyn Chain, probe: &dyn Probe) -> Result<bool, ToeError> {
    use Operator as O;
    let a = c.operand.resolve(chain)?;
    let b = match &c.other {
        Some(t) => t.resolve(chain)?,
        None => String::new(),
    };
    let (la, lb) = (a.to_lowercase(), b.to_lowercase());
    let num = || match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        (Ok(x), Ok(y)) => Some(x.partial_cmp(&y)),
        _ => None,
    };
    use std::cmp::Ordering::{Equal, Greater, Less};
    Ok(match c.operator {
        O::StringIsEmpty => a.is_empty(),
        O::StringIsWhitespace => !a.is_empty() && a.chars().all(char::is_whitespace),
        O::StringEquals => la == lb,
        O::StringLessThan => la < lb,
        O::StringLessThanEquals => la <= lb,
        O::StringGreaterThan => la > lb,
        O::StringGreaterThanEquals => la >= lb,
        O::PatternMatches => probe
            .pattern_matches(&a, &b)
            .map_err(|m| ToeError::invalid(&c.at, "patternMatches", m))?,
        O::NumberEquals => num() == Some(Some(Equal)),
        O::NumberLessThan => num() == Some(Some(Less)),
        O::NumberLessThanEquals => matches!(num(), Some(Some(Less | Equal))),
        O::NumberGreaterThan => num() == Some(Some(Greater)),
        O::NumberGreaterThanEquals => matches!(num(), Some(Some(Greater | Equal))),
        O::BinaryExists => probe.binary_exists(&a),
        O::FileExists => probe.file_exists(&a),
        O::FolderExists => probe.folder_exists(&a),
        O::FileMd5Equals | O::FileSha1Equals | O::FileSha256Equals | O::FileSha512Equals => {
            let algorithm = c.operator.algorithm().unwrap_or(Algorithm::Sha256);
            probe
                .file_digest(&b, algorithm)
                .is_some_and(|d| d.eq_ignore_ascii_case(a.trim()))
        }
    })
}
