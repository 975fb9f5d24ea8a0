//! [`UrlPrefix`]: which http(s) URLs a hook may fetch.

use std::fmt;

use crate::error::ValueError;
use crate::net::{Host, fmt_host_port, parse_port, split_host_port};

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

/// A URL prefix: scheme, host and port must equal a URL's exactly (host case-insensitively) and
/// the path must be a prefix of the URL's path at a `/` boundary (`/api` covers `/api` and
/// `/api/v1`, not `/apiary`; `/api/` covers `/api/v1` but not `/api`).
///
/// Prefixes with user info, a query or a fragment, or with `.`/`..` segments, are refused.
/// [`UrlPrefix::matches`] fails closed: a URL it cannot parse, with user info, a fragment, a
/// backslash or a dot segment (also percent-encoded) matches nothing.
///
/// ```
/// use davit_spec::UrlPrefix;
///
/// let p = UrlPrefix::try_from("http://127.0.0.1:8080/api").unwrap();
/// assert!(p.matches("http://127.0.0.1:8080/api/v1?x=1"));
/// assert!(!p.matches("http://127.0.0.1:8080/apiary"));
/// assert!(!p.matches("https://127.0.0.1:8080/api"));
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
    /// The path, starting with `/`.
    pub path: String,
}

/// A URL split into a prefix and whether it had a query; the query itself is never compared.
fn parse(text: &str, allow_query: bool) -> Result<UrlPrefix, ValueError> {
    let got = || text.to_owned();
    let (scheme, rest) = text
        .split_once("://")
        .ok_or_else(|| ValueError::UrlScheme { got: got() })?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return Err(ValueError::UrlScheme { got: got() }),
    };
    if rest.contains('#') || (!allow_query && rest.contains('?')) {
        return Err(ValueError::UrlQueryOrFragment { got: got() });
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') {
        return Err(ValueError::UrlUserinfo { got: got() });
    }
    let (host, port) = split_host_port(authority).ok_or_else(|| ValueError::Host { got: got() })?;
    let port = match port {
        Some(p) => parse_port(p)?,
        None => scheme.default_port(),
    };
    let path = tail.split('?').next().unwrap_or("");
    let path = if path.is_empty() { "/" } else { path };
    let dot = |seg: &str| {
        let seg = seg.to_ascii_lowercase().replace("%2e", ".");
        seg == "." || seg == ".."
    };
    if path.split('/').any(dot) {
        return Err(ValueError::UrlDotSegment { got: got() });
    }
    Ok(UrlPrefix {
        scheme,
        host: Host::try_from(host)?,
        port,
        path: path.to_owned(),
    })
}

impl UrlPrefix {
    /// Whether `url` lies under this prefix.
    pub fn matches(&self, url: &str) -> bool {
        match parse(url, true) {
            Ok(url) if !url.path.contains('\\') => url.is_within(self),
            _ => false,
        }
    }

    /// Whether every URL under `self` is also under `other` (same origin, path at or below).
    pub fn is_within(&self, other: &UrlPrefix) -> bool {
        self.same_origin(other) && path_within(&self.path, &other.path)
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

    #[test]
    fn within() {
        assert!(p("http://h/api/v1").is_within(&p("http://h/api")));
        assert!(p("http://h/api").is_within(&p("http://h/")));
        assert!(!p("http://h/apiary").is_within(&p("http://h/api")));
        assert!(!p("http://h/api").is_within(&p("http://h/api/")));
        assert!(!p("https://h/api").is_within(&p("http://h/api")));
    }
}
