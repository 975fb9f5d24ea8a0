//! Where a value of a component document is: serde-saphyr positions turned into [`Location`]s,
//! and the source text under a value, read back when the parser's value is not enough.

use davit_spec::Location;

/// One document's name and text, to turn parser positions into [`Location`]s.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Source<'a> {
    pub(crate) file: &'a str,
    pub(crate) text: &'a str,
}

impl<'a> Source<'a> {
    pub(crate) fn new(file: &'a str, text: &'a str) -> Self {
        Self { file, text }
    }

    /// A location from 1-based line and column numbers (0 is clamped to 1).
    pub(crate) fn at(&self, line: u64, column: u64) -> Location {
        let clamp = |n: u64| u32::try_from(n.max(1)).unwrap_or(u32::MAX);
        Location::new(self.file, clamp(line), clamp(column))
    }

    /// The location of a serde-saphyr node.
    pub(crate) fn yaml(&self, loc: &serde_saphyr::Location) -> Location {
        self.at(loc.line(), loc.column())
    }

    /// The text from the start of the node at `loc` to the end of its line.
    ///
    /// serde-saphyr does not say whether a scalar was quoted; the text says it. A value written
    /// `{{ x }}` without quotes is, to YAML, a flow mapping whose key is another flow mapping:
    /// the parser reports a mapping (or a type error) where AWSTOE users meant a reference.
    pub(crate) fn rest_of_line(&self, loc: &serde_saphyr::Location) -> &'a str {
        let start = match loc.span().byte_offset() {
            Some(offset) => usize::try_from(offset).unwrap_or(usize::MAX),
            None => self.line_column_offset(loc.line(), loc.column()),
        };
        let rest = self.text.get(start..).unwrap_or("");
        rest.split('\n').next().unwrap_or("")
    }

    /// The exact text of a plain scalar (`0700` stays `0700`, not 700 or 448).
    pub(crate) fn scalar_text(&self, loc: &serde_saphyr::Location) -> Option<&'a str> {
        let span = loc.span();
        let start = usize::try_from(span.byte_offset()?).ok()?;
        let len = usize::try_from(span.byte_len()?).ok()?;
        self.text.get(start..start + len)
    }

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
}

/// Whether text written at a value's place starts an unquoted `{{ … }}` reference.
pub(crate) fn is_unquoted_reference(text: &str) -> bool {
    let text = text.trim_start();
    text.starts_with('{') && text[1..].trim_start().starts_with('{')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_clamped() {
        assert_eq!(Source::new("f", "").at(0, 0).to_string(), "f:1:1");
    }

    #[test]
    fn unquoted_references_are_recognised() {
        assert!(is_unquoted_reference("{{ x }}"));
        assert!(is_unquoted_reference("{ {x} }"));
        assert!(!is_unquoted_reference("'{{ x }}'"));
        assert!(!is_unquoted_reference("{a: 1}"));
        assert!(!is_unquoted_reference("ping {{ x }}"));
    }

    #[test]
    fn line_and_column_become_an_offset() {
        let src = Source::new("f", "ab\ncdé f\n");
        assert_eq!(src.line_column_offset(2, 1), 3);
        assert_eq!(src.line_column_offset(2, 5), 8);
        assert_eq!(src.line_column_offset(9, 1), src.text.len());
    }
}
