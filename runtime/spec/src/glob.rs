//! The one glob dialect of davit (`*`, `?`, and in command arguments the `{target-root}`
//! placeholder), compiled once at parse time: matching a string, and deciding whether one
//! pattern covers everything another can match. A wildcard never matches a control character
//! (newline, tab, ESC, NUL …): what a wildcard lets through is always printable.

/// One element of a compiled pattern.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Tok {
    /// This exact character.
    Lit(char),
    /// Any run of characters but control characters, possibly empty (`*`; `**` inside an
    /// argument means the same).
    Star,
    /// Exactly one character, not a control character (`?`).
    One,
    /// The `{target-root}` placeholder: unresolved, it matches nothing.
    Root,
}

/// Compiles `text`; `{target-root}` is recognised only when `placeholders` is set.
/// Returns the name of an unknown `{placeholder}` as the error.
pub(crate) fn compile(text: &str, placeholders: bool) -> Result<Vec<Tok>, String> {
    const ROOT: &str = "{target-root}";
    let mut toks = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if placeholders && rest.starts_with(ROOT) {
            toks.push(Tok::Root);
            rest = &rest[ROOT.len()..];
            continue;
        }
        if placeholders
            && c == '{'
            && let Some(name) = placeholder_name(rest)
        {
            return Err(name.to_owned());
        }
        toks.push(match c {
            '*' => Tok::Star,
            '?' => Tok::One,
            c => Tok::Lit(c),
        });
        rest = &rest[c.len_utf8()..];
    }
    // `**` inside one argument is the same as `*`: keep the pattern small.
    toks.dedup_by(|a, b| *a == Tok::Star && *b == Tok::Star);
    Ok(toks)
}

/// `{name}` at the start of `text` where name looks like a placeholder (`[a-z_-]+`).
fn placeholder_name(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('{')?;
    let end = inner.find('}')?;
    let name = &inner[..end];
    let looks = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_');
    looks.then_some(name)
}

/// Whether the pattern has wildcards.
pub(crate) fn is_wild(toks: &[Tok]) -> bool {
    toks.iter().any(|t| matches!(t, Tok::Star | Tok::One))
}

/// Whether `toks` matches all of `text`.
pub(crate) fn matches(toks: &[Tok], text: &str) -> bool {
    let s: Vec<char> = text.chars().collect();
    let (mut pi, mut si) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while si < s.len() {
        match toks.get(pi) {
            Some(Tok::Star) => {
                backtrack = Some((pi, si));
                pi += 1;
                continue;
            }
            Some(Tok::One) if !s[si].is_control() => {
                pi += 1;
                si += 1;
                continue;
            }
            Some(Tok::Lit(c)) if *c == s[si] => {
                pi += 1;
                si += 1;
                continue;
            }
            _ => {}
        }
        match backtrack {
            // The star may not swallow a control character: no later split can help.
            Some((_, from)) if s[from].is_control() => return false,
            Some((star, from)) => {
                pi = star + 1;
                si = from + 1;
                backtrack = Some((star, from + 1));
            }
            None => return false,
        }
    }
    toks[pi..].iter().all(|t| *t == Tok::Star)
}

/// Whether every string `request` can match is matched by `policy` (for any target root).
///
/// Sound, not complete: `policy`'s `*` may absorb any run of `request`'s elements, its `?` one
/// literal or `?`, its literals and `{target-root}` only the same element. A literal control
/// character of `request` is never absorbed by a wildcard, which could not match it.
pub(crate) fn subsumes(policy: &[Tok], request: &[Tok]) -> bool {
    let width = request.len() + 1;
    let mut memo = vec![None; (policy.len() + 1) * width];
    sub(policy, request, 0, 0, &mut memo, width)
}

fn sub(p: &[Tok], r: &[Tok], i: usize, j: usize, memo: &mut [Option<bool>], width: usize) -> bool {
    if let Some(known) = memo[i * width + j] {
        return known;
    }
    let result = match (p.get(i), r.get(j)) {
        (None, next) => next.is_none(),
        (Some(Tok::Star), next) => {
            sub(p, r, i + 1, j, memo, width)
                || (next.is_some_and(|t| !is_control(t)) && sub(p, r, i, j + 1, memo, width))
        }
        (Some(_), None) => false,
        (Some(Tok::One), Some(t @ (Tok::Lit(_) | Tok::One))) if !is_control(t) => {
            sub(p, r, i + 1, j + 1, memo, width)
        }
        (Some(Tok::One), Some(_)) => false,
        (Some(mine), Some(theirs)) => mine == theirs && sub(p, r, i + 1, j + 1, memo, width),
    };
    memo[i * width + j] = Some(result);
    result
}

fn is_control(tok: &Tok) -> bool {
    matches!(tok, Tok::Lit(c) if c.is_control())
}

/// Whether `text` has a `..` path component.
pub(crate) fn has_parent_component(text: &str) -> bool {
    text.split('/').any(|c| c == "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Vec<Tok> {
        compile(s, true).unwrap()
    }

    #[test]
    fn matching() {
        assert!(
            matches(&c("*"), ""),
            "plain globs: arguments add their own rules"
        );
        assert!(
            !matches(&c("*"), "a\nb"),
            "a wildcard never matches a control character"
        );
        assert!(!matches(&c("a?b"), "a\tb"));
        assert!(!matches(&c("*b"), "\u{1b}b"));
        assert!(matches(&c("a\tb"), "a\tb"), "a literal one matches itself");
        assert!(matches(&c("*"), "anything/at/all"));
        assert!(matches(&c("a*c"), "abbbc"));
        assert!(matches(&c("a*c"), "ac"));
        assert!(!matches(&c("a*c"), "abd"));
        assert!(matches(&c("a?c"), "abc"));
        assert!(!matches(&c("a?c"), "ac"));
        assert!(matches(&c("*.log"), "x.log"));
        assert!(matches(&c("/opt/**"), "/opt/a/b"));
        assert!(matches(&c("APP_*"), "APP_MODE"));
        assert!(matches(&c("é?"), "éé"));
        assert!(
            !matches(&c("{target-root}/x"), "/x"),
            "unresolved placeholders match nothing"
        );
    }

    /// The obvious recursive matcher, to check the backtracking one against.
    fn reference(p: &[Tok], s: &[char]) -> bool {
        match (p.first(), s.first()) {
            (None, _) => s.is_empty(),
            (Some(Tok::Star), _) => {
                reference(&p[1..], s)
                    || s.first()
                        .is_some_and(|c| !c.is_control() && reference(p, &s[1..]))
            }
            (Some(Tok::One), Some(c)) => !c.is_control() && reference(&p[1..], &s[1..]),
            (Some(Tok::Lit(l)), Some(c)) => l == c && reference(&p[1..], &s[1..]),
            _ => false,
        }
    }

    proptest::proptest! {
        #[test]
        fn matches_agrees_with_the_reference(
            p in "[ab*?\\n]{0,6}",
            s in "[ab\\n\\t]{0,8}",
        ) {
            let toks = c(&p);
            let chars: Vec<char> = s.chars().collect();
            proptest::prop_assert_eq!(matches(&toks, &s), reference(&toks, &chars));
        }
    }

    #[test]
    fn placeholders() {
        assert_eq!(c("{target-root}/a").first(), Some(&Tok::Root));
        assert_eq!(
            compile("{target_root}/a", true),
            Err("target_root".to_owned())
        );
        assert_eq!(
            c("{\"json\": 1}").len(),
            11,
            "braces that are not placeholders are literal"
        );
        assert_eq!(compile("{x}", false).unwrap().len(), 3);
        assert_eq!(c("a**b"), c("a*b"));
    }

    #[test]
    fn subsumption() {
        let s = |p: &str, r: &str| subsumes(&c(p), &c(r));
        assert!(s("*", "literal"));
        assert!(s("*", "a*b"));
        assert!(s("*", "{target-root}/x"));
        assert!(s("a*", "ab*"));
        assert!(s("a*", "a?"));
        assert!(s("?", "?"));
        assert!(s("?", "x"));
        assert!(s("{target-root}/opt/**", "{target-root}/opt/www"));
        assert!(s("{target-root}/opt/**", "{target-root}/opt/*"));
        assert!(s("x", "x"));
        assert!(!s("x", "y"));
        assert!(!s("ab*", "a*"));
        assert!(!s("?", "*"));
        assert!(!s("?", "{target-root}"));
        assert!(!s("/opt/*", "{target-root}/opt/x"));
        assert!(!s("{target-root}/opt/*", "/opt/x"));
        assert!(!s("*", "a\nb"), "`*` cannot match the newline");
        assert!(!s("a?b", "a\tb"));
        assert!(s("a\nb", "a\nb"));
    }
}
