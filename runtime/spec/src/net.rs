//! Network names: [`Host`] and [`TcpTarget`] (what a hook asks to connect to).

use std::fmt;
use std::net::IpAddr;

use crate::error::ValueError;

/// An IP address or a DNS name (stored lowercase, without a trailing dot).
///
/// ```
/// use davit_spec::Host;
///
/// assert_eq!(Host::try_from("Example.COM.").unwrap().to_string(), "example.com");
/// assert!(matches!(Host::try_from("::1").unwrap(), Host::Ip(_)));
/// assert!(Host::try_from("bad_host!").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Host {
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A DNS name, lowercase.
    Name(String),
}

impl TryFrom<&str> for Host {
    type Error = ValueError;

    fn try_from(text: &str) -> Result<Self, ValueError> {
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Self::Ip(ip.to_canonical()));
        }
        let name = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len())
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        // A last label of digits only is a mistyped IPv4 address, not a name.
        let numeric_tld = name
            .rsplit('.')
            .next()
            .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
        if name.len() <= 253 && name.split('.').all(label_ok) && !numeric_tld {
            Ok(Self::Name(name))
        } else {
            Err(ValueError::Host {
                got: text.to_owned(),
            })
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(ip) => ip.fmt(f),
            Self::Name(name) => f.write_str(name),
        }
    }
}

/// Writes `host:port`, bracketing IPv6 addresses.
pub(crate) fn fmt_host_port(f: &mut fmt::Formatter<'_>, host: &Host, port: u16) -> fmt::Result {
    match host {
        Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{port}"),
        _ => write!(f, "{host}:{port}"),
    }
}

/// Splits `host:port` / `[v6]:port` into a host and a port; `None` if the shape is wrong.
pub(crate) fn split_host_port(text: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        host.parse::<std::net::Ipv6Addr>().ok()?;
        return Some((host, port));
    }
    match text.split_once(':') {
        Some((_, port)) if port.contains(':') => None,
        Some((host, port)) => Some((host, Some(port))),
        None => Some((text, None)),
    }
}

/// Parses a port from 1 to 65535.
pub(crate) fn parse_port(text: &str) -> Result<u16, ValueError> {
    match text.parse::<u16>() {
        Ok(port) if port > 0 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(port),
        _ => Err(ValueError::Port {
            got: text.to_owned(),
        }),
    }
}

/// A TCP address a hook may connect to: `HOST:PORT`, IPv6 as `[::1]:PORT`.
///
/// ```
/// use davit_spec::TcpTarget;
///
/// let t = TcpTarget::try_from("127.0.0.1:8080").unwrap();
/// assert_eq!(t.port, 8080);
/// assert_eq!(TcpTarget::try_from("[::1]:53").unwrap().to_string(), "[::1]:53");
/// assert!(TcpTarget::try_from("db.internal:0").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TcpTarget {
    /// The host.
    pub host: Host,
    /// The port, 1 to 65535.
    pub port: u16,
}

impl TryFrom<&str> for TcpTarget {
    type Error = ValueError;

    fn try_from(text: &str) -> Result<Self, ValueError> {
        let shape = || ValueError::HostPort {
            got: text.to_owned(),
        };
        let (host, port) = split_host_port(text).ok_or_else(shape)?;
        let port = port.ok_or_else(shape)?;
        Ok(Self {
            host: Host::try_from(host)?,
            port: parse_port(port)?,
        })
    }
}

impl fmt::Display for TcpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_host_port(f, &self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let h = |s: &str| Host::try_from(s).map(|h| h.to_string());
        assert_eq!(h("127.0.0.1"), Ok("127.0.0.1".into()));
        assert_eq!(h("::ffff:10.0.0.1"), Ok("10.0.0.1".into()));
        assert_eq!(h("Db-1.Internal"), Ok("db-1.internal".into()));
        assert_eq!(h("localhost"), Ok("localhost".into()));
        for bad in [
            "",
            "a..b",
            "-a.com",
            "a b",
            "999.1.1.1",
            "1.2.3",
            "x.com:80",
            "[::1]",
        ] {
            assert!(h(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tcp_targets() {
        let t = |s: &str| TcpTarget::try_from(s).map(|t| t.to_string());
        assert_eq!(t("127.0.0.1:8080"), Ok("127.0.0.1:8080".into()));
        assert_eq!(t("DB.internal:5432"), Ok("db.internal:5432".into()));
        assert_eq!(t("[::1]:53"), Ok("[::1]:53".into()));
        assert!(matches!(t("127.0.0.1"), Err(ValueError::HostPort { .. })));
        assert!(matches!(t("::1:53"), Err(ValueError::HostPort { .. })));
        assert!(matches!(t("h:0"), Err(ValueError::Port { .. })));
        assert!(matches!(t("h:65536"), Err(ValueError::Port { .. })));
        assert!(matches!(t("h:+80"), Err(ValueError::Port { .. })));
        assert!(matches!(t("[::1]53"), Err(ValueError::HostPort { .. })));
    }
}
