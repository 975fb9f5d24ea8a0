//! The policy side of TCP: [`TcpRule`], [`HostPattern`] and [`PortRange`].

use std::fmt;
use std::net::IpAddr;

use crate::error::ValueError;
use crate::net::{Host, parse_port};

/// A `[[tcp]]` rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpRule {
    /// `host`.
    pub host: HostPattern,
    /// `ports`.
    pub ports: PortRange,
}

/// Which hosts a policy `[[tcp]]` rule covers: one IP, a CIDR block, or a DNS name (exact,
/// case-insensitive; a name never covers an IP or the other way round).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostPattern {
    /// Exactly this host.
    Host(Host),
    /// Every IP address in `addr/prefix`.
    Cidr {
        /// The network address (host bits cleared).
        addr: IpAddr,
        /// The prefix length.
        prefix: u8,
    },
}

impl HostPattern {
    /// Whether `host` is covered.
    pub fn contains(&self, host: &Host) -> bool {
        match (self, host) {
            (Self::Host(mine), _) => mine == host,
            (Self::Cidr { addr, prefix }, Host::Ip(ip)) => mask(*ip, *prefix) == Some(*addr),
            (Self::Cidr { .. }, Host::Name(_)) => false,
        }
    }
}

/// `ip` with all but the first `prefix` bits cleared; `None` if the families or lengths differ.
fn mask(ip: IpAddr, prefix: u8) -> Option<IpAddr> {
    let keep = |bits: u32| -> Option<u128> {
        let prefix = u32::from(prefix);
        (prefix <= bits).then(|| u128::MAX.checked_shl(bits - prefix).unwrap_or(0))
    };
    match ip {
        IpAddr::V4(v4) => {
            let m = keep(32)? as u32;
            Some(IpAddr::from((u32::from(v4) & m).to_be_bytes()))
        }
        IpAddr::V6(v6) => Some(IpAddr::from((u128::from(v6) & keep(128)?).to_be_bytes())),
    }
}

impl TryFrom<&str> for HostPattern {
    type Error = ValueError;

    fn try_from(text: &str) -> Result<Self, ValueError> {
        let bad = || ValueError::HostPattern {
            got: text.to_owned(),
        };
        if let Some((addr, prefix)) = text.split_once('/') {
            let addr = addr.parse::<IpAddr>().map_err(|_| bad())?.to_canonical();
            let prefix = prefix.parse::<u8>().map_err(|_| bad())?;
            let addr = mask(addr, prefix).ok_or_else(bad)?;
            return Ok(Self::Cidr { addr, prefix });
        }
        Host::try_from(text).map(Self::Host).map_err(|_| bad())
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Host(h) => h.fmt(f),
            Self::Cidr { addr, prefix } => write!(f, "{addr}/{prefix}"),
        }
    }
}

/// An inclusive range of ports: `8080`, `8000-9000`, or `*` (all of 1 to 65535).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    /// The lowest port allowed.
    pub low: u16,
    /// The highest port allowed.
    pub high: u16,
}

impl PortRange {
    /// Whether `port` is in the range.
    pub fn contains(self, port: u16) -> bool {
        (self.low..=self.high).contains(&port)
    }
}

impl TryFrom<&str> for PortRange {
    type Error = ValueError;

    fn try_from(text: &str) -> Result<Self, ValueError> {
        let bad = || ValueError::PortRange {
            got: text.to_owned(),
        };
        let (low, high) = match text.trim() {
            "*" => (1, u16::MAX),
            t => {
                let (l, h) = t.split_once('-').unwrap_or((t, t));
                let port = |p: &str| parse_port(p.trim()).map_err(|_| bad());
                (port(l)?, port(h)?)
            }
        };
        if low > high {
            return Err(bad());
        }
        Ok(Self { low, high })
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.low, self.high) {
            (1, u16::MAX) => f.write_str("*"),
            (l, h) if l == h => write!(f, "{l}"),
            (l, h) => write!(f, "{l}-{h}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns() {
        let p = |s: &str| HostPattern::try_from(s).unwrap();
        let h = |s: &str| Host::try_from(s).unwrap();
        assert!(p("10.0.0.0/8").contains(&h("10.200.3.4")));
        assert!(!p("10.0.0.0/8").contains(&h("11.0.0.1")));
        assert!(p("10.1.2.3/8").contains(&h("10.9.9.9")));
        assert!(p("0.0.0.0/0").contains(&h("8.8.8.8")));
        assert!(!p("0.0.0.0/0").contains(&h("::1")));
        assert!(p("fd00::/8").contains(&h("fd12::1")));
        assert!(p("127.0.0.1").contains(&h("127.0.0.1")));
        assert!(p("API.example.com").contains(&h("api.EXAMPLE.com")));
        assert!(!p("localhost").contains(&h("127.0.0.1")));
        assert!(!p("10.0.0.0/8").contains(&h("ten.example")));
        assert_eq!(p("10.1.2.3/8").to_string(), "10.0.0.0/8");
        for bad in ["10.0.0.0/33", "x/8", "::/129", "a b"] {
            assert!(HostPattern::try_from(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn port_ranges() {
        let r = |s: &str| PortRange::try_from(s).map(|r| (r.low, r.high));
        assert_eq!(r("*"), Ok((1, 65535)));
        assert_eq!(r("8080"), Ok((8080, 8080)));
        assert_eq!(r("8000-9000"), Ok((8000, 9000)));
        assert_eq!(r("8000 - 9000"), Ok((8000, 9000)));
        for bad in ["9000-8000", "0", "a", "1-2-3", "", "-5"] {
            assert!(r(bad).is_err(), "{bad}");
        }
        assert_eq!(
            PortRange::try_from("8000-9000").unwrap().to_string(),
            "8000-9000"
        );
        assert!(PortRange::try_from("8000-9000").unwrap().contains(8500));
        assert!(!PortRange::try_from("8000-9000").unwrap().contains(9001));
    }
}
