//! Where something is in a document: `file:line:column`, 1-based.

use std::fmt;

/// A position in a user-written document, shown as `file:line:column` (both 1-based).
///
/// Every error this crate returns, and every policy rule, carries one, so a message can point at
/// the exact place to fix.
///
/// ```
/// use davit_spec::Location;
///
/// let at = Location::new("appspec.yml", 12, 7);
/// assert_eq!(at.to_string(), "appspec.yml:12:7");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    /// The name of the document, as given to the parser (usually its path).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
}

impl Location {
    /// A location in `file` at `line`:`column` (both 1-based).
    pub fn new(file: impl Into<String>, line: u32, column: u32) -> Self {
        Self {
            file: file.into(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A value together with where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located<T> {
    /// The validated value.
    pub value: T,
    /// Where the value was written.
    pub at: Location,
}

impl<T> Located<T> {
    /// Pairs `value` with its location.
    pub fn new(value: T, at: Location) -> Self {
        Self { value, at }
    }
}

/// Turns the positions the YAML and TOML parsers report into [`Location`]s for one document
/// (an appspec, a policy, a component document), and reads back the text under a value.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    /// The document's name, as errors show it.
    pub file: &'a str,
    /// Its text.
    pub text: &'a str,
}

impl<'a> Source<'a> {
    /// The document `file` with `text`.
    pub fn new(file: &'a str, text: &'a str) -> Self {
        Self { file, text }
    }

    /// A location from 1-based line and column numbers (0 is clamped to 1).
    pub fn at(&self, line: u64, column: u64) -> Location {
        let clamp = |n: u64| u32::try_from(n.max(1)).unwrap_or(u32::MAX);
        Location::new(self.file, clamp(line), clamp(column))
    }

    /// The location of a serde-saphyr node.
    pub fn yaml(&self, loc: &serde_saphyr::Location) -> Location {
        self.at(loc.line(), loc.column())
    }

    /// The text from the start of the YAML node at `loc` to the end of its line: what was
    /// written there, where the parsed value does not say (whether a scalar was quoted).
    pub fn rest_of_line(&self, loc: &serde_saphyr::Location) -> &'a str {
        let start = match loc.span().byte_offset() {
            Some(offset) => usize::try_from(offset).unwrap_or(usize::MAX),
            None => self.line_column_offset(loc.line(), loc.column()),
        };
        let rest = self.text.get(start..).unwrap_or("");
        rest.split('\n').next().unwrap_or("")
    }

    /// The exact text of a plain YAML scalar (`0700` stays `0700`, not 700 or 448).
    pub fn scalar_text(&self, loc: &serde_saphyr::Location) -> Option<&'a str> {
        let span = loc.span();
        let start = usize::try_from(span.byte_offset()?).ok()?;
        let len = usize::try_from(span.byte_len()?).ok()?;
        self.text.get(start..start + len)
    }

    /// The byte offset of a 1-based line and column (columns count characters).
    fn line_column_offset(&self, line: u64, column: u64) -> usize {
        let mut offset = 0;
        for (n, text) in self.text.split_inclusive('\n').enumerate() {
            if n as u64 + 1 == line {
                let col = usize::try_from(column.saturating_sub(1)).unwrap_or(0);
                return offset + text.char_indices().nth(col).map_or(text.len(), |(i, _)| i);
            }
            offset += text.len();
        }
        self.text.len()
    }

    /// The location of a byte offset into the text (TOML reports byte spans).
    pub(crate) fn offset(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        self.at(line as u64, column as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_one_based_line_and_column() {
        let src = Source::new("p.toml", "a = 1\n\n[[x]]\n  é = 2\n");
        assert_eq!(src.offset(0).to_string(), "p.toml:1:1");
        assert_eq!(src.offset(7).to_string(), "p.toml:3:1");
        let e = "a = 1\n\n[[x]]\n  é".len();
        assert_eq!(src.offset(e).to_string(), "p.toml:4:4");
        assert_eq!(src.offset(10_000).to_string(), "p.toml:5:1");
    }

    #[test]
    fn zero_is_clamped() {
        assert_eq!(Source::new("f", "").at(0, 0).to_string(), "f:1:1");
    }

    #[test]
    fn line_and_column_become_an_offset() {
        let src = Source::new("f", "ab\ncdé f\n");
        assert_eq!(src.line_column_offset(2, 1), 3);
        assert_eq!(src.line_column_offset(2, 5), 8);
        assert_eq!(src.line_column_offset(9, 1), src.text.len());
    }
}
