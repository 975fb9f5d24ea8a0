//! [`ArgPattern`]: one argument of a [`CommandGrant`](super::CommandGrant).

use std::fmt;

use crate::error::ValueError;
use crate::glob::{self, Tok};

/// One argument pattern of a [`CommandGrant`](super::CommandGrant).
///
/// - `*` matches any characters within this one argument (`**` inside an argument is the same),
///   `?` exactly one; there is no escape, so a wildcard is always a wildcard;
/// - `{target-root}` is replaced by [`CommandGrant::resolve`](super::CommandGrant::resolve) with the deployment's target root
///   (an unresolved placeholder matches nothing);
/// - a lone `**`, allowed only as the last pattern, matches any number of remaining arguments.
///
/// An argument matched by a pattern with wildcards may not contain a `..` path component, so
/// `{target-root}/opt/app/**` cannot be walked out of with `/opt/app/../../etc/shadow`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ArgPattern {
    /// The pattern as written (after [`CommandGrant::resolve`](super::CommandGrant::resolve), with the root filled in).
    text: String,
    /// `None` for a lone `**`.
    toks: Option<Vec<Tok>>,
}

impl ArgPattern {
    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is a lone `**` (any number of remaining arguments).
    pub fn is_rest(&self) -> bool {
        self.toks.is_none()
    }

    /// Whether this pattern matches exactly one string (no wildcards, no placeholder).
    pub fn is_literal(&self) -> bool {
        self.toks
            .as_ref()
            .is_some_and(|t| t.iter().all(|t| matches!(t, Tok::Lit(_))))
    }

    /// Whether `arg` matches this pattern (a lone `**` matches any argument).
    pub fn matches(&self, arg: &str) -> bool {
        match &self.toks {
            None => true,
            Some(toks) => {
                glob::matches(toks, arg)
                    && !(glob::is_wild(toks) && glob::has_parent_component(arg))
            }
        }
    }

    /// Whether every argument `request` can match is also matched by `self`, for one position
    /// (a lone `**` on either side is handled by [`CommandGrant::covers`](super::CommandGrant::covers)).
    pub fn subsumes(&self, request: &ArgPattern) -> bool {
        match (&self.toks, &request.toks) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(p), Some(r)) => {
                p == r
                    || (glob::subsumes(p, r)
                        && !(glob::is_wild(p) && glob::has_parent_component(&request.text)))
            }
        }
    }

    pub(super) fn resolve(&self, root: &str) -> Self {
        let Some(toks) = &self.toks else {
            return self.clone();
        };
        Self {
            text: self.text.replace("{target-root}", root),
            toks: Some(
                toks.iter()
                    .flat_map(|t| match t {
                        Tok::Root => root.chars().map(Tok::Lit).collect(),
                        other => vec![other.clone()],
                    })
                    .collect(),
            ),
        }
    }
}

impl TryFrom<&str> for ArgPattern {
    type Error = ValueError;

    fn try_from(text: &str) -> Result<Self, ValueError> {
        let toks = if text == "**" {
            None
        } else {
            let toks = glob::compile(text, true)
                .map_err(|name| ValueError::UnknownPlaceholder { name })?;
            Some(toks)
        };
        Ok(Self {
            text: text.to_owned(),
            toks,
        })
    }
}

impl fmt::Display for ArgPattern {
    /// The pattern, single-quoted when empty or containing whitespace or quotes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.text;
        if t.is_empty() || t.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
            write!(f, "'{}'", t.replace('\'', "'\\''"))
        } else {
            f.write_str(t)
        }
    }
}
