//! [`ArgPattern`]: one argument of a [`CommandGrant`](super::CommandGrant).

use std::fmt;

use crate::error::ValueError;
use crate::glob::{self, Tok};
use crate::path::AbsPath;

/// One argument pattern of a [`CommandGrant`](super::CommandGrant).
///
/// | pattern | matches |
/// |---|---|
/// | `restart`, `-TERM` | exactly that text (no wildcard, no placeholder: a literal) |
/// | `''` | only the empty argument |
/// | `*` | any one argument that is not an option: at least one character, no leading `-` |
/// | `?` | any one character |
/// | `app-*.service`, `--port=*`, `-*` | the literal parts as written, wildcards between them |
/// | `{target-root}/opt/app` | `{target-root}` replaced by the deployment's target root |
/// | `{any}` | any one argument: options and the empty argument included |
/// | `{path:/var/lib/app}` | a path at or beneath `/var/lib/app`, checked again at call time |
/// | `**` (alone, last only) | any number of remaining arguments, each one as `*` matches it |
///
/// Wildcards are narrow on purpose, so that a grant like `/bin/kill -TERM *` cannot become
/// `kill -TERM -1`:
///
/// - an argument that starts with `-` is matched only by a pattern that starts with a literal
///   `-`: `*` never matches `-1` or `--exec=x`, `--port=*` matches `--port=80` and `-*` matches
///   any option;
/// - the empty argument is matched only by the empty pattern `''` (or `{any}`): `*` needs at
///   least one character;
/// - a wildcard (`*`, `?`, and `**` inside an argument, the same as `*`) never matches a
///   control character (newline, tab, ESC …);
/// - an argument matched by a pattern with wildcards has no `..` path component, so
///   `{target-root}/opt/app/**` cannot be walked out of with `/opt/app/../../etc/shadow`;
/// - no pattern matches an argument containing NUL.
///
/// There is no escape: `*` and `?` are always wildcards. `{any}`, `{path:…}` and a lone `**`
/// stand for a whole argument and cannot be part of a longer one.
///
/// `{target-root}` is replaced by [`CommandGrant::resolve`](super::CommandGrant::resolve); an
/// unresolved placeholder matches nothing.
///
/// `{path:DIR}` declares that the argument names a file under `DIR`, an absolute path as the
/// hook sees it, at or beneath one of the hook's granted directories. It matches an absolute
/// path equal to `DIR` or beneath it, without `.`, `..` or empty components (a trailing `/` is
/// fine) and without control characters. That is only the lexical half:
/// [`CommandGrant::allows`](super::CommandGrant::allows) reports each such argument as a
/// [`PathArg`](super::PathArg), and the sandbox resolves it beneath the granted directory, links
/// followed, before it runs the program.
///
/// ```
/// use davit_spec::ArgPattern;
///
/// let star = ArgPattern::try_from("*").unwrap();
/// assert!(star.matches("1234") && star.matches("/etc/x"));
/// assert!(!star.matches("-1") && !star.matches("") && !star.matches("a\nb"));
/// assert!(ArgPattern::try_from("--port=*").unwrap().matches("--port=80"));
/// assert!(ArgPattern::try_from("{any}").unwrap().matches("-1"));
/// let data = ArgPattern::try_from("{path:/var/lib/app}").unwrap();
/// assert!(data.matches("/var/lib/app/db/x.sqlite"));
/// assert!(!data.matches("/var/lib/app/../../etc/shadow") && !data.matches("/var/lib/apple"));
/// assert_eq!(data.path_under().unwrap().as_str(), "/var/lib/app");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ArgPattern {
    /// The pattern as written (after [`CommandGrant::resolve`](super::CommandGrant::resolve),
    /// with the root filled in).
    text: String,
    kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Kind {
    /// Literal text, wildcards and `{target-root}`.
    Glob(Vec<Tok>),
    /// `{any}`.
    Any,
    /// `{path:DIR}`.
    Path(AbsPath),
    /// A lone `**`.
    Rest,
}

const ANY: &str = "{any}";
const PATH: &str = "{path:";

impl ArgPattern {
    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is a lone `**` (any number of remaining arguments).
    pub fn is_rest(&self) -> bool {
        self.kind == Kind::Rest
    }

    /// Whether this is `{any}`.
    pub fn is_any(&self) -> bool {
        self.kind == Kind::Any
    }

    /// Whether this pattern matches exactly one string (no wildcards, no placeholder).
    pub fn is_literal(&self) -> bool {
        matches!(&self.kind, Kind::Glob(t) if t.iter().all(|t| matches!(t, Tok::Lit(_))))
    }

    /// For `{path:DIR}`, the directory `DIR` the argument must lie under.
    pub fn path_under(&self) -> Option<&AbsPath> {
        match &self.kind {
            Kind::Path(dir) => Some(dir),
            _ => None,
        }
    }

    /// Whether `arg` matches this pattern, by the rules above (a lone `**` matches one argument
    /// as `*` does; [`CommandGrant::allows`](super::CommandGrant::allows) applies it to each
    /// remaining argument). A `{path:…}` match is lexical only.
    pub fn matches(&self, arg: &str) -> bool {
        if arg.contains('\0') {
            return false;
        }
        match &self.kind {
            Kind::Any => true,
            Kind::Rest => glob_matches(&[Tok::Star], arg),
            Kind::Path(dir) => path_matches(dir, arg),
            Kind::Glob(toks) => glob_matches(toks, arg),
        }
    }

    /// Whether every argument `request` can match is also matched by `self`, for one position
    /// and whatever the target root. A lone `**` counts here as the `*` it applies to each
    /// argument; that it stands for any number of them is
    /// [`CommandGrant::covers`](super::CommandGrant::covers)'s business, so a request `**` is
    /// subsumed only by a policy `**`.
    ///
    /// Sound, not complete: `{any}` covers everything; `{path:D}` covers `{path:}` of `D` or
    /// beneath and literal paths it matches; a glob covers a glob it provably matches all of
    /// under the argument rules, and `{path:D}` when it matches `D` and everything beneath (so
    /// `*` does: a path never starts with `-`, is never empty and has no control character).
    pub fn subsumes(&self, request: &ArgPattern) -> bool {
        match (&self.kind, &request.kind) {
            (mine, Kind::Rest) => *mine == Kind::Rest,
            (Kind::Rest, _) => Self::star().subsumes(request),
            (Kind::Any, _) => true,
            (_, Kind::Any) => false,
            (Kind::Path(mine), Kind::Path(theirs)) => theirs.starts_with(mine),
            (Kind::Path(mine), Kind::Glob(_)) => {
                request.is_literal() && path_matches(mine, &request.text)
            }
            (Kind::Glob(p), Kind::Path(dir)) => glob_covers_paths(p, dir),
            (Kind::Glob(p), Kind::Glob(r)) => p == r || glob_subsumes(p, r, &request.text),
        }
    }

    /// `*`, what a lone `**` applies to each argument.
    fn star() -> Self {
        Self {
            text: "*".to_owned(),
            kind: Kind::Glob(vec![Tok::Star]),
        }
    }

    pub(super) fn resolve(&self, root: &str) -> Self {
        let Kind::Glob(toks) = &self.kind else {
            return self.clone();
        };
        Self {
            text: self.text.replace("{target-root}", root),
            kind: Kind::Glob(substitute(toks, root)),
        }
    }
}

/// `toks` with `{target-root}` replaced by `root`.
fn substitute(toks: &[Tok], root: &str) -> Vec<Tok> {
    toks.iter()
        .flat_map(|t| match t {
            Tok::Root => root.chars().map(Tok::Lit).collect(),
            other => vec![other.clone()],
        })
        .collect()
}

/// The argument rules on top of the glob: options only by a literal `-`, the empty argument
/// only by the empty pattern, no `..` through a wildcard.
fn glob_matches(toks: &[Tok], arg: &str) -> bool {
    if arg.is_empty() {
        return toks.is_empty();
    }
    if arg.starts_with('-') && toks.first() != Some(&Tok::Lit('-')) {
        return false;
    }
    glob::matches(toks, arg) && !(glob::is_wild(toks) && glob::has_parent_component(arg))
}

/// Whether `arg` is `dir` or beneath it: absolute, no `.`, `..` or empty components but for
/// one trailing `/`, no control characters.
pub(crate) fn path_matches(dir: &AbsPath, arg: &str) -> bool {
    if arg.chars().any(char::is_control) {
        return false;
    }
    let Some(body) = arg.strip_prefix('/') else {
        return false;
    };
    let body = body.strip_suffix('/').unwrap_or(body);
    if body.is_empty() {
        return arg == "/" && dir.as_str() == "/";
    }
    let parts: Vec<&str> = body.split('/').collect();
    if parts
        .iter()
        .any(|c| c.is_empty() || *c == "." || *c == "..")
    {
        return false;
    }
    let mut mine = parts.into_iter();
    dir.components().all(|d| mine.next() == Some(d))
}

/// Whether glob `p` matches every argument `{path:dir}` matches.
fn glob_covers_paths(p: &[Tok], dir: &AbsPath) -> bool {
    let lit = |s: &str| s.chars().map(Tok::Lit).collect::<Vec<_>>();
    let mut beneath = lit(dir.as_str().trim_end_matches('/'));
    beneath.extend([Tok::Lit('/'), Tok::Star]);
    // Every such path is `dir` itself or `dir/…` (with `/` alone, `/…`): printable, starting
    // with `/`, never `..`, so the argument rules add nothing to the plain glob check.
    glob::subsumes(p, &beneath) && glob::subsumes(p, &lit(dir.as_str()))
}

/// Whether glob `p` matches every argument glob `r` matches, for any target root (the empty
/// one of `/`, and others, which are clean absolute paths: see `CommandGrant::resolve`).
fn glob_subsumes(p: &[Tok], r: &[Tok], r_text: &str) -> bool {
    let bare = |t: &[Tok]| {
        t.iter()
            .filter(|t| **t != Tok::Root)
            .cloned()
            .collect::<Vec<_>>()
    };
    let (p_bare, r_bare) = (bare(p), bare(r));
    let dash = |p: &[Tok], r: &[Tok]| {
        r.first() != Some(&Tok::Lit('-')) || p.first() == Some(&Tok::Lit('-'))
    };
    let as_text = |t: &[Tok]| -> String {
        t.iter()
            .map(|t| match t {
                Tok::Lit(c) => c.to_string(),
                _ => "x".to_owned(),
            })
            .collect()
    };
    // `r` with the root `/` (nothing) and with a stand-in for any other root.
    let parent = glob::has_parent_component(r_text)
        || glob::has_parent_component(&as_text(&r_bare))
        || glob::has_parent_component(&as_text(&substitute(r, "/r")));
    glob::subsumes(p, r)
        && dash(p, r)
        && dash(&p_bare, &r_bare)
        && (!r_bare.is_empty() || p_bare.is_empty())
        && !(glob::is_wild(p) && parent)
}

impl TryFrom<&str> for ArgPattern {
    type Error = ValueError;

    /// # Errors
    ///
    /// [`ValueError::Nul`] for a NUL; [`ValueError::UnknownPlaceholder`] for `{name}` other
    /// than the three; [`ValueError::PlaceholderNotWhole`] for `{any}` or `{path:…}` inside a
    /// longer argument; [`ValueError::PathPlaceholder`] for a `{path:…}` without an absolute
    /// clean directory.
    fn try_from(text: &str) -> Result<Self, ValueError> {
        if text.contains('\0') {
            return Err(ValueError::Nul);
        }
        let kind = if text == "**" {
            Kind::Rest
        } else if text == ANY {
            Kind::Any
        } else if let Some(dir) = text.strip_prefix(PATH).and_then(|t| t.strip_suffix('}')) {
            let bad = || ValueError::PathPlaceholder {
                got: text.to_owned(),
            };
            if dir.contains(['{', '}']) || dir.chars().any(char::is_control) {
                return Err(bad());
            }
            Kind::Path(AbsPath::try_from(dir).map_err(|_| bad())?)
        } else if text.contains(ANY) || text.contains(PATH) {
            return Err(ValueError::PlaceholderNotWhole {
                got: text.to_owned(),
            });
        } else {
            let toks = glob::compile(text, true)
                .map_err(|name| ValueError::UnknownPlaceholder { name })?;
            Kind::Glob(toks)
        };
        Ok(Self {
            text: text.to_owned(),
            kind,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> ArgPattern {
        ArgPattern::try_from(s).unwrap()
    }

    #[test]
    fn wildcards_do_not_match_options_empty_or_control() {
        let star = a("*");
        for bad in ["-1", "--exec=x", "-", "", "a\nb", "\t", "x\u{1b}[2J", "a\0"] {
            assert!(!star.matches(bad), "{bad:?}");
        }
        assert!(star.matches("1234") && star.matches("a b") && star.matches("é"));
        assert!(!a("?").matches("-") && !a("?").matches("\n") && a("?").matches("x"));
        assert!(
            !a("*-x").matches("-x"),
            "the leading `-` must be the pattern's first"
        );
        assert!(a("-*").matches("-x") && a("-*").matches("--exec=y") && !a("-*").matches("x"));
        assert!(a("--port=*").matches("--port=80"));
        assert!(!a("--port=*").matches("--port=8\n0"));
        assert!(a("-TERM").matches("-TERM") && !a("-TERM").matches("-KILL"));
        assert!(a("").matches("") && !a("").matches("x"));
        assert!(!a("/srv/*").matches("/srv/../etc"));
        assert!(
            a("a\tb").matches("a\tb"),
            "a literal control character matches itself"
        );
    }

    #[test]
    fn any_matches_every_argument_but_nul() {
        let any = a("{any}");
        for ok in ["-1", "", "a\nb", "../x", "--exec=sh"] {
            assert!(any.matches(ok), "{ok:?}");
        }
        assert!(!any.matches("a\0b"));
        assert!(any.is_any() && !any.is_literal() && any.path_under().is_none());
    }

    #[test]
    fn rest_checks_each_argument_as_star() {
        let rest = a("**");
        assert!(rest.is_rest());
        assert!(rest.matches("x") && !rest.matches("-e") && !rest.matches(""));
    }

    #[test]
    fn path_placeholder() {
        let p = a("{path:/var/lib/app}");
        assert_eq!(p.path_under().unwrap().as_str(), "/var/lib/app");
        for ok in [
            "/var/lib/app",
            "/var/lib/app/",
            "/var/lib/app/db",
            "/var/lib/app/a/b.txt/",
            "/var/lib/app/.hidden",
            "/var/lib/app/-x",
        ] {
            assert!(p.matches(ok), "{ok}");
        }
        for bad in [
            "/var/lib/apple",
            "/var/lib",
            "var/lib/app/x",
            "/var/lib/app/../x",
            "/var/lib/app/./x",
            "/var/lib/app//x",
            "/var/lib/app/x\n",
            "/var/lib/app/..",
            "-/var/lib/app",
            "",
            "/var/lib/app\0",
        ] {
            assert!(!p.matches(bad), "{bad:?}");
        }
        let root = a("{path:/}");
        assert!(root.matches("/") && root.matches("/etc") && !root.matches("//"));
        assert_eq!(
            a("{path:/var//lib/}").path_under().unwrap().as_str(),
            "/var/lib"
        );
    }

    #[test]
    fn placeholder_errors() {
        let e = |s: &str| ArgPattern::try_from(s).unwrap_err();
        for bad in [
            "{path:var}",
            "{path:/a/../b}",
            "{path:}",
            "{path:{target-root}/x}",
        ] {
            assert!(
                matches!(e(bad), ValueError::PathPlaceholder { .. }),
                "{bad}"
            );
        }
        for bad in ["x{any}", "--dir={path:/x}", "{any}{any}", "{path:/x}/y"] {
            assert!(
                matches!(e(bad), ValueError::PlaceholderNotWhole { .. }),
                "{bad}"
            );
        }
        assert!(matches!(
            e("{target_root}"),
            ValueError::UnknownPlaceholder { .. }
        ));
        assert_eq!(e("a\0"), ValueError::Nul);
    }

    #[test]
    fn subsumption() {
        let s = |p: &str, r: &str| a(p).subsumes(&a(r));
        assert!(s("{any}", "*") && s("{any}", "-x") && s("{any}", "") && s("{any}", "{any}"));
        assert!(!s("{any}", "**"));
        assert!(!s("*", "{any}") && !s("*", "-*") && !s("*", "-x") && !s("*", ""));
        assert!(s("*", "x") && s("*", "a*") && s("*", "?"));
        assert!(s("-*", "-x") && s("-*", "--port=*") && !s("-*", "x"));
        assert!(s("*", "*-x"), "`*-x` never matches an option either");
        assert!(
            s("*", "{path:/var/lib/app}"),
            "paths are never options, empty or control"
        );
        assert!(s("/var/*", "{path:/var/lib}") && !s("/var/lib/*", "{path:/var/lib}"));
        assert!(s("/var/lib*", "{path:/var/lib}"));
        assert!(s("{path:/var/lib}", "{path:/var/lib/app}"));
        assert!(s("{path:/var/lib}", "/var/lib/app/x"));
        assert!(!s("{path:/var/lib}", "/var/lib/../x"));
        assert!(!s("{path:/var/lib}", "/var/lib/*"), "`*` can match `a/./b`");
        assert!(!s("{path:/var/lib/app}", "{path:/var/lib}"));
        assert!(!s("{path:/var/lib}", "{any}") && !s("{path:/var/lib}", "{target-root}/var/lib"));
        assert!(s("**", "x") && s("**", "**") && !s("**", "-x") && !s("x", "**"));
        assert!(!s("*", "{target-root}"), "the root `/` resolves it to ``");
        assert!(
            !s("{target-root}*", "{target-root}-x"),
            "with the root `/`: `*` and `-x`"
        );
        assert!(s("{target-root}/opt/*", "{target-root}/opt/x"));
        assert!(
            !s("*", "..{target-root}/x"),
            "`../srv/x` under the root `/srv`"
        );
        assert!(!s("*", ".{target-root}./x"), "`../x` under the root `/`");
        assert!(!s("*", "a\nb"));
    }
}
