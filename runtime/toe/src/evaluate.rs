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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Node;
    use crate::source::Source;

    struct None_;
    impl Chain for None_ {
        fn output(&self, _: &str, _: &str, _: &str) -> Option<String> {
            None
        }
        fn input(&self, _: &str, _: &str, _: Option<usize>, _: &str) -> Option<String> {
            None
        }
    }
    struct Box_;
    impl Probe for Box_ {
        fn binary_exists(&self, name: &str) -> bool {
            name == "apt-get"
        }
        fn file_exists(&self, path: &str) -> bool {
            path == "/etc/os-release"
        }
        fn folder_exists(&self, path: &str) -> bool {
            path == "/etc"
        }
        fn file_digest(&self, _: &str, a: Algorithm) -> Option<String> {
            (a == Algorithm::Md5).then(|| "900150983cd24fb0d6963f7d28e17f72".to_owned())
        }
        fn pattern_matches(&self, pattern: &str, _: &str) -> Result<bool, String> {
            Err(format!("`{pattern}` is not supported here"))
        }
    }

    fn eval(text: &str) -> Result<bool, ToeError> {
        let node: Node = serde_saphyr::from_str(text).unwrap();
        crate::condition::parse(&node, Source::new("c.yml", text), 0, &[])
            .unwrap()
            .evaluate(&None_, &Box_)
    }

    #[test]
    fn strings_ignore_case_and_numbers_parse() {
        assert!(eval("stringEquals: Hello\nvalue: hELLO\n").unwrap());
        assert!(!eval("stringEquals: 'a '\nvalue: a\n").unwrap());
        assert!(eval("stringLessThan: A\nvalue: b\n").unwrap());
        assert!(eval("numberLessThan: 2\nvalue: '10.0'\n").unwrap());
        assert!(!eval("numberEquals: 1\nvalue: a10\n").unwrap());
        assert!(eval("stringIsWhitespace: '  '\n").unwrap());
        assert!(!eval("stringIsEmpty: ' '\n").unwrap());
    }

    #[test]
    fn machine_checks_go_through_the_probe() {
        assert!(eval("and:\n  - binaryExists: apt-get\n  - folderExists: /etc\n").unwrap());
        assert!(eval("not:\n  fileExists: /nope\n").unwrap());
        assert!(eval("fileMD5Equals: 900150983CD24FB0D6963F7D28E17F72\npath: /a\n").unwrap());
        assert!(!eval("fileSHA1Equals: 00\npath: /a\n").unwrap());
        let err = eval("patternMatches: '^a'\nvalue: abc\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.yml:1:1: `patternMatches` `^a` is not supported here"
        );
    }
}
