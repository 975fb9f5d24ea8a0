//! [`UrlPrefix`]: which http(s) URLs a hook may fetch.

use std::fmt;

use std::net::IpAddr;

use crate::error::ValueError;
use crate::net::{Host, fmt_host_port};

/// `http` or `https`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scheme {
    /// Plain HTTP, default port 80.
    Http,
    /// HTTPS, default port 443.
    Https,
}

impl Scheme {
    /// The port used when a URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Http => "http",
            Self::Https => "https",
        })
    }
}

/// A URL prefix: scheme, host and port must equal a URL's (after WHATWG normalisation by the
/// `url` crate: host lowercased and IDNA-mapped, IPv4 forms like `0x7f.1` read as the address,
/// default ports dropped) and the path must be a prefix of the URL's path at a `/` boundary
/// (`/api` covers `/api` and `/api/v1`, not `/apiary`; `/api/` covers `/api/v1` but not `/api`).
///
/// Paths are compared after normalising percent-encoding: an encoded unreserved character is
/// decoded (`%7Euser` is `~user`, `%41` is `A`), every other escape is upper-cased. Then, in a
/// prefix and in every URL [`UrlPrefix::matches`] sees, these are refused (a URL with one
/// matches nothing), because servers disagree on them and some answer `/allowed/..%2fsecret`
/// with `/secret`:
///
/// - a `.` or `..` segment, also encoded (`%2e`, `.%2E`, `%2e%2e` …) or before a `;`
///   parameter (`..;x`); the segments are checked as written, before the WHATWG parser would
///   quietly resolve `..`;
/// - an encoded `/` or `\` (`%2F`, `%5C`), and `%25` followed by `2E`, `2F`, `5C` or `25`: a
///   double-encoded dot, separator or percent that a server decoding twice would see;
/// - a `\` anywhere (WHATWG reads it as `/`), white space or a control character (WHATWG drops
///   some), a `%` not followed by two hex digits;
/// - user info (`user@`) and a fragment; in a prefix, also a query.
///
/// ```
/// use davit_spec::UrlPrefix;
///
/// let p = UrlPrefix::try_from("http://127.0.0.1:8080/api").unwrap();
/// assert!(p.matches("http://127.0.0.1:8080/api/v1?x=1"));
/// assert!(p.matches("http://127.0.0.1:8080/%61pi/v1"));
/// assert!(!p.matches("http://127.0.0.1:8080/apiary"));
/// assert!(!p.matches("https://127.0.0.1:8080/api"));
/// assert!(!p.matches("http://127.0.0.1:8080/api/..%2fsecret"));
/// assert!(UrlPrefix::try_from("http://user@host/").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UrlPrefix {
    /// The scheme.
    pub scheme: Scheme,
    /// The host.
    pub host: Host,
    /// The port (the scheme's default when the URL names none).
    pub port: u16,
    /// The normalised path, starting with `/`.
    pub path: String,
}

/// Why a path is refused.
enum PathProblem {
    Dot,
    Separator,
    Percent,
}

impl PathProblem {
    fn error(self, got: String) -> ValueError {
        match self {
            Self::Dot => ValueError::UrlDotSegment { got },
            Self::Separator => ValueError::UrlEncodedSeparator { got },
            Self::Percent => ValueError::UrlSyntax {
                got,
                why: "a `%` must be followed by two hex digits".to_owned(),
            },
        }
    }
}

/// A URL as a prefix (the query, when `request` allows one, is never compared).
fn parse(text: &str, request: bool) -> Result<UrlPrefix, ValueError> {
    let got = || text.to_owned();
    if text
        .chars()
        .any(|c| c == '\\' || c.is_whitespace() || c.is_control())
    {
        return Err(ValueError::UrlCharacter { got: got() });
    }
    let (scheme, rest) = text
        .split_once("://")
        .ok_or_else(|| ValueError::UrlScheme { got: got() })?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return Err(ValueError::UrlScheme { got: got() }),
    };
    if rest.contains('#') || (!request && rest.contains('?')) {
        return Err(ValueError::UrlQueryOrFragment { got: got() });
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') {
        return Err(ValueError::UrlUserinfo { got: got() });
    }
    if authority.is_empty() {
        return Err(ValueError::Host { got: got() });
    }
    let raw_path = tail.split('?').next().unwrap_or("");
    let path = normalise_path(raw_path).map_err(|p| p.error(got()))?;
    // The host and port by WHATWG rules; the path has nothing left for the parser to resolve.
    let url = url::Url::parse(&format!("{scheme}://{authority}{path}")).map_err(|e| match e {
        url::ParseError::InvalidPort => ValueError::Port { got: got() },
        url::ParseError::EmptyHost
        | url::ParseError::IdnaError
        | url::ParseError::InvalidIpv4Address
        | url::ParseError::InvalidIpv6Address
        | url::ParseError::InvalidDomainCharacter => ValueError::Host { got: got() },
        other => ValueError::UrlSyntax {
            got: got(),
            why: other.to_string(),
        },
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ValueError::UrlUserinfo { got: got() });
    }
    let host = match url.host() {
        Some(url::Host::Domain(name)) => {
            Host::try_from(name).map_err(|_| ValueError::Host { got: got() })?
        }
        Some(url::Host::Ipv4(ip)) => Host::Ip(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Host::Ip(IpAddr::V6(ip).to_canonical()),
        None => return Err(ValueError::Host { got: got() }),
    };
    let port = match url.port() {
        Some(0) => return Err(ValueError::Port { got: got() }),
        Some(port) => port,
        None => scheme.default_port(),
    };
    // The parser may percent-encode more (`{`, `"`, non-ASCII); never anything refused above.
    let path = url.path().to_owned();
    check_path(&path).map_err(|p| p.error(got()))?;
    Ok(UrlPrefix {
        scheme,
        host,
        port,
        path,
    })
}

/// RFC 3986 unreserved: `A-Z a-z 0-9 - . _ ~`.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_at(bytes: &[u8], i: usize) -> Option<u8> {
    let pair = bytes.get(i + 1..i + 3)?;
    let digit = |b: u8| char::from(b).to_digit(16);
    Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
}

/// `raw` (empty or starting with `/`) with unreserved characters decoded and every other escape
/// upper-cased, checked by [`check_path`]; `/` for an empty path.
fn normalise_path(raw: &str) -> Result<String, PathProblem> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len().max(1));
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let byte = hex_at(bytes, i).ok_or(PathProblem::Percent)?;
            if is_unreserved(byte) {
                out.push(byte);
            } else {
                out.extend(format!("%{byte:02X}").bytes());
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    if out.is_empty() {
        out.push(b'/');
    }
    // Only ASCII bytes were replaced, by ASCII bytes.
    let out = String::from_utf8(out).expect("still UTF-8");
    check_path(&out)?;
    Ok(out)
}

/// The refusals of [`UrlPrefix`] on a normalised path.
fn check_path(path: &str) -> Result<(), PathProblem> {
    let bytes = path.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\\' => return Err(PathProblem::Separator),
            b'%' => match hex_at(bytes, i) {
                None => return Err(PathProblem::Percent),
                Some(b'/' | b'\\') => return Err(PathProblem::Separator),
                Some(b'%') => {
                    let next = bytes.get(i + 3..i + 5).unwrap_or_default();
                    let doubled = ["2E", "2F", "5C", "25"]
                        .iter()
                        .any(|h| next.eq_ignore_ascii_case(h.as_bytes()));
                    if doubled {
                        return Err(PathProblem::Separator);
                    }
                }
                Some(_) => {}
            },
            _ => {}
        }
    }
    let dot = |segment: &str| {
        let decoded = percent_decode(segment);
        let head = decoded.split(|b| *b == b';').next().unwrap_or_default();
        head == b"." || head == b".."
    };
    if path.split('/').any(dot) {
        return Err(PathProblem::Dot);
    }
    Ok(())
}

/// `text` with every valid escape decoded once.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], hex_at(bytes, i)) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

impl UrlPrefix {
    /// The scheme, host, port and normalised path of a request `url` (its query dropped), with
    /// the refusals of a prefix: what [`UrlPrefix::matches`] compares.
    ///
    /// # Errors
    ///
    /// Why `url` matches no prefix at all.
    pub fn of_request(url: &str) -> Result<UrlPrefix, ValueError> {
        parse(url, true)
    }

    /// Whether `url` lies under this prefix; a URL [`UrlPrefix::of_request`] refuses never does.
    pub fn matches(&self, url: &str) -> bool {
        Self::of_request(url).is_ok_and(|url| url.is_within(self))
    }

    /// Whether every URL under `self` is also under `other` (same origin, path at or below).
    /// Fails closed like [`UrlPrefix::matches`] if either path (the fields are public) has a
    /// dot segment or an encoded separator.
    pub fn is_within(&self, other: &UrlPrefix) -> bool {
        let clean = |p: &str| p.starts_with('/') && check_path(p).is_ok();
        self.same_origin(other)
            && clean(&self.path)
            && clean(&other.path)
            && path_within(&self.path, &other.path)
    }

    /// Whether scheme, host and port are equal.
    pub fn same_origin(&self, other: &UrlPrefix) -> bool {
        self.scheme == other.scheme && self.host == other.host && self.port == other.port
    }
}

/// `path` equals `prefix` or continues it after a `/`.
fn path_within(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

impl TryFrom<&str> for UrlPrefix {
    type Error = ValueError;

    fn try_from(text: &str) -> Result<Self, ValueError> {
        parse(text, false)
    }
}

impl fmt::Display for UrlPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        if self.port == self.scheme.default_port() {
            match &self.host {
                Host::Ip(std::net::IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
                host => write!(f, "{host}")?,
            }
        } else {
            fmt_host_port(f, &self.host, self.port)?;
        }
        f.write_str(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> UrlPrefix {
        UrlPrefix::try_from(s).unwrap()
    }

    #[test]
    fn parse_and_display() {
        assert_eq!(p("HTTP://Example.com").to_string(), "http://example.com/");
        assert_eq!(
            p("https://example.com:443/a").to_string(),
            "https://example.com/a"
        );
        assert_eq!(
            p("http://[::1]:8080/x/").to_string(),
            "http://[::1]:8080/x/"
        );
        assert_eq!(p("http://[::1]/").to_string(), "http://[::1]/");
        assert_eq!(p("http://127.0.0.1:8080/").port, 8080);
    }

    #[test]
    fn refusals() {
        let e = |s: &str| UrlPrefix::try_from(s).unwrap_err();
        assert!(matches!(e("ftp://x/"), ValueError::UrlScheme { .. }));
        assert!(matches!(e("example.com/"), ValueError::UrlScheme { .. }));
        assert!(matches!(e("http://u:p@x/"), ValueError::UrlUserinfo { .. }));
        assert!(matches!(
            e("http://x/#frag"),
            ValueError::UrlQueryOrFragment { .. }
        ));
        assert!(matches!(
            e("http://x/?q"),
            ValueError::UrlQueryOrFragment { .. }
        ));
        assert!(matches!(
            e("http://x/a/../b"),
            ValueError::UrlDotSegment { .. }
        ));
        assert!(matches!(
            e("http://x/a/%2E%2e/b"),
            ValueError::UrlDotSegment { .. }
        ));
        assert!(matches!(e("http://x:0/"), ValueError::Port { .. }));
        assert!(matches!(e("http:///"), ValueError::Host { .. }));
    }

    #[test]
    fn matching_respects_segments_and_origin() {
        let api = p("http://127.0.0.1:8080/api");
        assert!(api.matches("http://127.0.0.1:8080/api"));
        assert!(api.matches("http://127.0.0.1:8080/api/"));
        assert!(api.matches("http://127.0.0.1:8080/api?x=1"));
        assert!(!api.matches("http://127.0.0.1:8080/apix"));
        assert!(!api.matches("http://127.0.0.1:8081/api"));
        assert!(!api.matches("http://127.0.0.1/api"));
        assert!(!api.matches("http://127.0.0.1:8080/api/../admin"));
        assert!(!api.matches("http://127.0.0.1:8080/api/%2e%2e/admin"));
        assert!(!api.matches("http://127.0.0.1:8080/api\\..\\admin"));
        assert!(!api.matches("http://evil@127.0.0.1:8080/api"));
        assert!(!api.matches("http://127.0.0.1:8080/api#x"));
        let slash = p("http://h/api/");
        assert!(slash.matches("http://h/api/v1"));
        assert!(!slash.matches("http://h/api"));
        assert!(p("http://h/").matches("http://H/anything"));
        assert!(p("https://h/").matches("https://h:443/x"));
    }

    /// Issue 8: `/allowed/..%2fsecret` and friends got through a prefix `/allowed/`, and
    /// common servers answer them with `/secret`.
    #[test]
    fn encoded_traversals_match_nothing_issue_8() {
        let allowed = p("http://127.0.0.1:8080/allowed/");
        for attack in [
            "/allowed/..%2fsecret",
            "/allowed/..%2Fsecret",
            "/allowed/%2e%2e%2fsecret",
            "/allowed/%2E%2E/secret",
            "/allowed/.%2e/secret",
            "/allowed/%2e./secret",
            "/allowed/%2e/secret",
            "/allowed/./secret",
            "/allowed/../secret",
            "/allowed/%5c..%5csecret",
            "/allowed/%5C..%5Csecret",
            "/allowed\\..\\secret",
            "/allowed/..\\secret",
            "/allowed/%252e%252e/secret",
            "/allowed/%252fsecret",
            "/allowed/%255csecret",
            "/allowed/%25252e",
            "/allowed/..;/secret",
            "/allowed/..%3bx/secret",
            "/allowed/%%32e%%32e/secret",
            "/allowed/%zz",
            "/allowed/%2",
            "/allowed/x%00/../secret",
            "/allowed/a b",
            "/allowed/a\tb",
            "/allowed/a\nb",
        ] {
            let url = format!("http://127.0.0.1:8080{attack}");
            assert!(!allowed.matches(&url), "{url:?}");
            assert!(UrlPrefix::of_request(&url).is_err(), "{url:?}");
        }
        let e = |s: &str| UrlPrefix::try_from(s).unwrap_err();
        assert!(matches!(
            e("http://h/a/..%2fb"),
            ValueError::UrlEncodedSeparator { .. }
        ));
        assert!(matches!(
            e("http://h/a/.%2E/b"),
            ValueError::UrlDotSegment { .. }
        ));
        assert!(matches!(
            e("http://h/a\\b"),
            ValueError::UrlCharacter { .. }
        ));
        assert!(matches!(e("http://h/a%2"), ValueError::UrlSyntax { .. }));
    }

    #[test]
    fn percent_encoding_is_normalised() {
        let allowed = p("http://127.0.0.1:8080/allowed/");
        for ok in [
            "/allowed/a%20b",
            "/allowed/%7Euser",
            "/allowed/~user",
            "/%61llowed/x",
            "/allowed/a.b/..c/.d",
            "/allowed/%2e%2e%2e",
            "/allowed/%2541",
            "/allowed/x?next=../../secret",
        ] {
            let url = format!("http://127.0.0.1:8080{ok}");
            assert!(allowed.matches(&url), "{url}");
        }
        let of = |s: &str| UrlPrefix::of_request(s).unwrap().path;
        assert_eq!(of("http://h/allowed/%7Euser"), "/allowed/~user");
        assert_eq!(of("http://h/allowed/a%3ab"), "/allowed/a%3Ab");
        assert_eq!(of("http://h/é{x}"), "/%C3%A9%7Bx%7D");
        assert_eq!(of("http://h"), "/");
        assert_eq!(p("http://h/%7Euser").to_string(), "http://h/~user");
        assert!(p("http://h/%7Euser/").matches("http://h/~user/x"));
        assert!(p("http://h/a%3a").matches("http://h/a%3A"));
    }

    #[test]
    fn hosts_are_normalised_by_whatwg_rules() {
        let h = |s: &str| p(s).host.to_string();
        assert_eq!(h("http://Bücher.Example/"), "xn--bcher-kva.example");
        assert_eq!(h("http://0x7f.1/"), "127.0.0.1");
        assert_eq!(h("http://[::ffff:127.0.0.1]/"), "127.0.0.1");
        assert_eq!(h("http://%65xample.com/"), "example.com");
        assert!(p("http://127.0.0.1:8080/").matches("http://0x7f.0.0.1:8080/x"));
        assert!(p("http://h:80/").matches("http://H/"));
        assert_eq!(p("http://h:/").port, 80);
        let e = |s: &str| UrlPrefix::try_from(s).unwrap_err();
        assert!(matches!(e("http://@h/"), ValueError::UrlUserinfo { .. }));
        assert!(matches!(e("http://h:99999/"), ValueError::Port { .. }));
        assert!(matches!(e("http://a$b/"), ValueError::Host { .. }));
        assert!(matches!(e("http://[::1/"), ValueError::Host { .. }));
    }

    #[test]
    fn within_refuses_unclean_paths_of_hand_built_prefixes() {
        let mut sneaky = p("http://h/api/x");
        sneaky.path = "/api/../admin".to_owned();
        assert!(!sneaky.is_within(&p("http://h/api")));
        sneaky.path = "/api/%2F".to_owned();
        assert!(!sneaky.is_within(&p("http://h/api")));
        assert!(!p("http://h/api").is_within(&sneaky));
    }

    #[test]
    fn within() {
        assert!(p("http://h/api/v1").is_within(&p("http://h/api")));
        assert!(p("http://h/api").is_within(&p("http://h/")));
        assert!(!p("http://h/apiary").is_within(&p("http://h/api")));
        assert!(!p("http://h/api").is_within(&p("http://h/api/")));
        assert!(!p("https://h/api").is_within(&p("http://h/api")));
    }
}
