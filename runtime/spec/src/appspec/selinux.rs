//! `permissions[].context`: an SELinux context to set, checked with the CodeDeploy agent's rules
//! (its `context_info.rb` and `range_info.rb`).

use crate::error::ValueError;

/// An SELinux context to set.
///
/// ```yaml
/// context:
///   user: system_u              # optional (the agent reads `name`; both are accepted)
///   type: httpd_sys_content_t   # required
///   range: s0-s0:c0.c255        # optional MLS range
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeContext {
    /// `user` (CodeDeploy's agent reads `name`; both are accepted).
    pub user: Option<String>,
    /// `role` (tolerated; the CodeDeploy agent reads it, then never uses it).
    pub role: Option<String>,
    /// `type` (required, as in CodeDeploy).
    pub kind: String,
    /// `range`, as `s0`, `s0-s1:c0.c3`, checked as the agent does (see [`SeContext::range`]);
    /// a `{low, high}` mapping (the codedeploy-agent-go form) is turned into `low-high` first.
    pub range: Option<String>,
}

/// The highest SELinux category number.
const MAX_CATEGORY: u64 = 1023;

/// Checks an MLS range the way the CodeDeploy agent does: `s<N>[-s<M>][:<categories>]`, `M` not
/// below `N`; categories a `,`-separated list of `c<N>` (0 to 1023) and `c<N>.c<M>` ranges, no
/// category twice. As in the agent, empty pieces at the end of the list (`s0:c1,`) are ignored.
pub(crate) fn check_range(text: &str) -> Result<(), ValueError> {
    let fail = |why: &str| ValueError::SeRange {
        got: text.to_owned(),
        why: why.to_owned(),
    };
    let (levels, categories) = split_in_two(text, ':').map_err(|()| fail("empty part"))?;
    let (low, high) = split_in_two(levels, '-').map_err(|()| fail("empty sensitivity"))?;
    let level = |s: &str| {
        number(s, 's').ok_or_else(|| fail(&format!("`{s}` is not a sensitivity like `s0`")))
    };
    let low = level(low)?;
    if let Some(high) = high
        && level(high)? < low
    {
        return Err(fail("the high sensitivity is below the low one"));
    }
    let Some(categories) = categories else {
        return Ok(());
    };
    let mut pieces: Vec<&str> = categories.split(',').collect();
    while pieces.last() == Some(&"") {
        pieces.pop();
    }
    let category = |c: &str| {
        number(c, 'c')
            .filter(|n| *n <= MAX_CATEGORY)
            .ok_or_else(|| fail(&format!("`{c}` is not a category from `c0` to `c1023`")))
    };
    let mut seen = Vec::new();
    for piece in pieces {
        let (from, to) = split_in_two(piece, '.').map_err(|()| fail("empty category"))?;
        let from = category(from)?;
        let to = match to {
            Some(to) => category(to)?,
            None => from,
        };
        if to < from {
            return Err(fail(&format!(
                "the category range `{piece}` runs backwards"
            )));
        }
        seen.extend(from..=to);
    }
    seen.sort_unstable();
    if seen.windows(2).any(|w| w[0] == w[1]) {
        return Err(fail("a category is listed twice"));
    }
    Ok(())
}

/// `a` or `a<sep>b` split at the first `sep`, neither part empty.
fn split_in_two(text: &str, sep: char) -> Result<(&str, Option<&str>), ()> {
    let (a, b) = match text.split_once(sep) {
        Some((a, b)) => (a, Some(b)),
        None => (text, None),
    };
    if a.is_empty() || b == Some("") {
        return Err(());
    }
    Ok((a, b))
}

/// The number in `s12` / `c3`: the letter, then one or more ASCII digits.
fn number(text: &str, letter: char) -> Option<u64> {
    let digits = text.strip_prefix(letter)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_the_agent_accepts() {
        for ok in [
            "s0",
            "s0-s0",
            "s0-s15",
            "s0:c0",
            "s0-s1:c0.c1023",
            "s2:c0,c3.c5,c9",
            "s0:c1,",
        ] {
            assert_eq!(check_range(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn ranges_the_agent_refuses() {
        for (bad, why) in [
            ("", "empty part"),
            ("s0:", "empty part"),
            (":c1", "empty part"),
            ("s0-", "empty sensitivity"),
            ("s", "`s` is not a sensitivity like `s0`"),
            ("0", "`0` is not a sensitivity like `s0`"),
            ("s0x", "`s0x` is not a sensitivity like `s0`"),
            ("s2-s1", "the high sensitivity is below the low one"),
            ("s0:c1024", "`c1024` is not a category from `c0` to `c1023`"),
            ("s0:c1,,c2", "empty category"),
            ("s0:x1", "`x1` is not a category from `c0` to `c1023`"),
            ("s0:c5.c2", "the category range `c5.c2` runs backwards"),
            ("s0:c1.", "empty category"),
            ("s0:c1,c0.c3", "a category is listed twice"),
        ] {
            assert_eq!(
                check_range(bad),
                Err(ValueError::SeRange {
                    got: bad.into(),
                    why: why.into()
                }),
                "{bad}"
            );
        }
    }
}
