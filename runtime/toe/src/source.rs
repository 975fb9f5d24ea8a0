//! Where a value of a component document is: davit-spec's [`Source`] (parser positions turned
//! into locations, the text under a value read back), and the one rule of AWSTOE's that needs
//! that text.

pub(crate) use davit_spec::Source;

/// Whether text written at a value's place starts an unquoted `{{ … }}` reference.
pub(crate) fn is_unquoted_reference(text: &str) -> bool {
    let text = text.trim_start();
    text.starts_with('{') && text[1..].trim_start().starts_with('{')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquoted_references_are_recognised() {
        assert!(is_unquoted_reference("{{ x }}"));
        assert!(is_unquoted_reference("{ {x} }"));
        assert!(!is_unquoted_reference("'{{ x }}'"));
        assert!(!is_unquoted_reference("{a: 1}"));
        assert!(!is_unquoted_reference("ping {{ x }}"));
    }
}
