//! Property tests of the argument and URL matchers (issue 8): what a grant lets through, for
//! random patterns, arguments and URLs.

use std::path::Path;

use davit_spec::{AbsPath, ArgPattern, CommandGrant, UrlPrefix};
use proptest::prelude::*;

/// Characters that matter to the argument rules: options, paths, dots, control characters.
const CHARS: &[char] = &['a', 'b', '-', '/', '.', '=', '\n', '\t', '\u{1b}', ' '];

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(CHARS), 0..=max)
        .prop_map(|c| c.into_iter().collect())
}

/// Patterns: the interesting ones by hand, and random globs over a small alphabet (so that one
/// often covers another), some starting with `{target-root}`.
fn pattern() -> impl Strategy<Value = String> {
    let fixed = proptest::sample::select(vec![
        "*",
        "?",
        "**",
        "{any}",
        "-*",
        "--port=*",
        "*-a",
        "?*",
        "",
        "a",
        "-a",
        "{path:/a}",
        "{path:/a/b}",
        "{path:/}",
        "/a/*",
        "/a*",
        "{target-root}",
        "{target-root}*",
        "{target-root}/a/*",
        "..{target-root}/a",
        "/a/../b",
        "..",
    ])
    .prop_map(str::to_owned);
    let glob = (
        any::<bool>(),
        proptest::collection::vec(
            proptest::sample::select(vec!['a', '-', '*', '?', '/', '.']),
            0..5,
        ),
    )
        .prop_map(|(root, c)| {
            let body: String = c.into_iter().collect();
            if root {
                format!("{{target-root}}{body}")
            } else {
                body
            }
        });
    prop_oneof![fixed, glob].prop_filter("`**` only alone", |p| {
        p == "**" || ArgPattern::try_from(p.as_str()).is_ok_and(|a| !a.is_rest())
    })
}

/// A policy and a request pattern: independent, or the policy made from the request by turning
/// some of its characters into wildcards (so that it often covers it).
fn pattern_pair() -> impl Strategy<Value = (String, String)> {
    let independent = (pattern(), pattern());
    let widened = pattern().prop_flat_map(|r| {
        let n = r.chars().count();
        let mask = proptest::collection::vec(0..4u8, n);
        (Just(r), mask).prop_map(|(r, mask)| {
            let p: String = if r.starts_with('{') && !r.starts_with("{target-root}") {
                "*".to_owned()
            } else {
                let mut out = String::new();
                for (c, m) in r.chars().zip(mask) {
                    match m {
                        0 if c != '{' && c != '}' => out.push('*'),
                        1 if c != '{' && c != '}' => out.push('?'),
                        _ => out.push(c),
                    }
                }
                out
            };
            (p, r)
        })
    });
    prop_oneof![independent, widened].prop_filter("valid patterns", |(p, _)| {
        ArgPattern::try_from(p.as_str()).is_ok()
    })
}

/// An argument built from `pattern` as the target root resolved it: each wildcard filled from
/// `fills` in turn, `{any}` by a fill, `{path:D}` by `D` and perhaps a fill beneath it.
fn instance(pattern: &ArgPattern, fills: &[String]) -> String {
    let mut fills = fills.iter().cycle();
    let mut next = || fills.next().cloned().unwrap_or_default();
    if pattern.is_any() {
        return next();
    }
    if let Some(dir) = pattern.path_under() {
        let sub = next();
        return match dir.as_str() {
            "/" => format!("/{sub}"),
            d if sub.is_empty() => d.to_owned(),
            d => format!("{d}/{sub}"),
        };
    }
    if pattern.is_rest() {
        return next();
    }
    let mut out = String::new();
    for c in pattern.as_str().chars() {
        match c {
            '*' => out.push_str(&next()),
            '?' => out.push(next().chars().next().unwrap_or('a')),
            c => out.push(c),
        }
    }
    out
}

fn grant(args: &[&str]) -> CommandGrant {
    let args = args
        .iter()
        .map(|a| ArgPattern::try_from(*a).unwrap())
        .collect();
    CommandGrant::new(AbsPath::try_from("/bin/x").unwrap(), args).unwrap()
}

fn allows(grant: &CommandGrant, args: &[String]) -> bool {
    grant.allows("/bin/x", args).is_some()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// (a) Only a pattern that starts with a literal `-` matches an option-like argument.
    #[test]
    fn options_only_by_a_literal_dash(p in pattern(), tail in text(6)) {
        let pattern = ArgPattern::try_from(p.as_str()).unwrap();
        prop_assume!(!pattern.is_any());
        let arg = format!("-{tail}");
        for root in ["/", "/srv/root"] {
            let resolved = grant(&[p.as_str()]).resolve(Path::new(root));
            let resolved = &resolved.args[0];
            if resolved.matches(&arg) {
                prop_assert!(resolved.as_str().starts_with('-'), "{p:?} ({root}) matched {arg:?}");
            }
        }
    }

    /// (b) If the policy covers the request, every invocation the request allows, the policy
    /// allows, whatever the target root.
    #[test]
    fn covers_is_sound(
        (p, r) in pattern_pair(),
        fills in proptest::collection::vec(text(4), 1..6),
        extra in proptest::collection::vec(text(3), 0..3),
    ) {
        let (policy, request) = (grant(&[p.as_str()]), grant(&[r.as_str()]));
        if policy.covers(&request).is_err() {
            return Ok(());
        }
        for root in ["/", "/srv/root"] {
            let (policy, request) =
                (policy.resolve(Path::new(root)), request.resolve(Path::new(root)));
            let mut args = vec![instance(&request.args[0], &fills)];
            if request.args[0].is_rest() {
                args.extend(extra.iter().cloned());
            }
            if allows(&request, &args) {
                prop_assert!(
                    allows(&policy, &args),
                    "policy {p:?} covers {r:?} but refuses {args:?} under the root {root}"
                );
            }
        }
    }

    /// (c) Whatever a wildcard stands for, it is never a control character.
    #[test]
    fn wildcards_never_match_control_characters(
        p in pattern(),
        before in text(3),
        control in proptest::sample::select(vec!['\n', '\t', '\r', '\u{1b}', '\u{7f}', '\u{85}']),
        after in text(3),
    ) {
        let pattern = ArgPattern::try_from(p.as_str()).unwrap();
        prop_assume!(!pattern.is_any());
        let arg = format!("{before}{control}{after}");
        let resolved = grant(&[p.as_str()]).resolve(Path::new("/srv/root"));
        prop_assert!(!resolved.args[0].matches(&arg), "{p:?} matched {arg:?}");
    }

    /// (d) `{path:D}` matches only paths at or beneath `D`, never through `..`.
    #[test]
    fn path_placeholders_stay_beneath(
        dir in proptest::collection::vec(proptest::sample::select(vec!["a", "b", "ab"]), 0..3),
        segments in proptest::collection::vec(
            proptest::sample::select(vec!["a", "b", "ab", "..", ".", "", "a\n"]),
            0..5,
        ),
        absolute in any::<bool>(),
    ) {
        let dir = format!("/{}", dir.join("/"));
        let pattern = ArgPattern::try_from(format!("{{path:{dir}}}").as_str()).unwrap();
        let arg = format!("{}{}", if absolute { "/" } else { "" }, segments.join("/"));
        if pattern.matches(&arg) {
            prop_assert!(!arg.split('/').any(|c| c == ".." || c == "."), "{arg:?}");
            prop_assert!(!arg.contains(char::is_control));
            let path = AbsPath::try_from(arg.as_str()).unwrap();
            prop_assert!(path.starts_with(&AbsPath::try_from(dir.as_str()).unwrap()), "{arg:?}");
        }
    }
}

/// Pieces of URL paths that matter: dots, escapes of dots, separators and percent, parameters.
const URL_PIECES: &[&str] = &[
    "allowed", "secret", "a", ".", "..", "/", "/", "/", "%2e", "%2E", "%2f", "%2F", "%5c", "\\",
    "%25", "2e", "2f", "%32", "%65", "%", "%7E", "~", ";", "%3b", "%41", "%252e", "%00", "?", "#",
    " ", "%20",
];

fn url_path() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(URL_PIECES), 0..8)
        .prop_map(|p| format!("/{}", p.concat()))
}

/// Decodes every valid escape once.
fn decode(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .filter(|h| b[i] == b'%' && h.iter().all(u8::is_ascii_hexdigit));
        match hex {
            Some(h) => {
                out.push(u8::from_str_radix(std::str::from_utf8(h).unwrap(), 16).unwrap());
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn dot_segment(path: &str) -> bool {
    path.split('/').any(|s| {
        let head = s.split(';').next().unwrap_or_default();
        head == "." || head == ".."
    })
}

fn prefix_path() -> impl Strategy<Value = String> {
    let fixed = proptest::sample::select(vec!["/", "/allowed", "/allowed/", "/allowed/a"]);
    prop_oneof![3 => fixed.prop_map(str::to_owned), 1 => url_path()]
}

fn request_path() -> impl Strategy<Value = String> {
    let start = proptest::sample::select(vec!["", "/allowed", "/allowed/"]);
    (start, url_path()).prop_map(|(start, path)| format!("{start}{path}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// A URL a prefix matches has, normalised, a path that continues the prefix's at a segment
    /// boundary; and as sent, decoded zero, one or two times, no dot segment, no `\\` and no
    /// separator that was not one already.
    #[test]
    fn matched_urls_stay_under_the_prefix(prefix in prefix_path(), path in request_path()) {
        let Ok(prefix) = UrlPrefix::try_from(format!("http://127.0.0.1:8080{prefix}").as_str())
        else {
            return Ok(());
        };
        let url = format!("http://127.0.0.1:8080{path}");
        if !prefix.matches(&url) {
            return Ok(());
        }
        let got = UrlPrefix::of_request(&url).unwrap().path;
        let rest = got.strip_prefix(prefix.path.as_str());
        prop_assert!(
            rest.is_some_and(|r| prefix.path.ends_with('/') || r.is_empty() || r.starts_with('/')),
            "{url} normalised to {got}, not under {}", prefix.path
        );
        let sent = path.split('?').next().unwrap_or_default();
        let once = decode(sent);
        let twice = decode(&once);
        for decoded in [sent, &once, &twice, &got, &decode(&got)] {
            prop_assert!(!dot_segment(decoded), "{url} decodes to {decoded}");
            prop_assert!(!decoded.contains('\\'), "{url} decodes to {decoded}");
            prop_assert_eq!(decoded.matches('/').count(), sent.matches('/').count(), "{}", url);
        }
    }
}
