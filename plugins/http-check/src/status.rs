//! The `expect_status` parameter: `200`, `200,204`, `2xx`, `200-299`, or a mix.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    Exact(u16),
    Range(u16, u16),
}

/// The statuses a healthy service may answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet {
    rules: Vec<Rule>,
    text: String,
}

impl StatusSet {
    pub fn parse(text: &str) -> Result<StatusSet, String> {
        let mut rules = Vec::new();
        for item in text.split(',').map(str::trim) {
            let bad = || {
                format!(
                    "`{item}` is not a status code, a class like `2xx` or a range like `200-299`"
                )
            };
            let code = |s: &str| -> Result<u16, String> {
                match s.trim().parse::<u16>() {
                    Ok(c) if (100..=599).contains(&c) => Ok(c),
                    _ => Err(bad()),
                }
            };
            let rule =
                if let Some(class) = item.strip_suffix("xx").or_else(|| item.strip_suffix("XX")) {
                    match class.parse::<u16>() {
                        Ok(c) if (1..=5).contains(&c) && class.len() == 1 => {
                            Rule::Range(c * 100, c * 100 + 99)
                        }
                        _ => return Err(bad()),
                    }
                } else if let Some((lo, hi)) = item.split_once('-') {
                    let (lo, hi) = (code(lo)?, code(hi)?);
                    if lo > hi {
                        return Err(bad());
                    }
                    Rule::Range(lo, hi)
                } else {
                    Rule::Exact(code(item)?)
                };
            rules.push(rule);
        }
        Ok(StatusSet {
            rules,
            text: text.trim().to_string(),
        })
    }

    pub fn contains(&self, status: u16) -> bool {
        self.rules.iter().any(|r| match *r {
            Rule::Exact(c) => c == status,
            Rule::Range(lo, hi) => (lo..=hi).contains(&status),
        })
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let s = StatusSet::parse("200, 204,3xx,401-403").unwrap();
        for ok in [200, 204, 301, 399, 401, 403] {
            assert!(s.contains(ok), "{ok}");
        }
        for no in [201, 400, 404, 500] {
            assert!(!s.contains(no), "{no}");
        }
        for bad in ["", "abc", "20x", "6xx", "300-200", "99", "2xxx"] {
            assert!(StatusSet::parse(bad).is_err(), "{bad}");
        }
    }
}
