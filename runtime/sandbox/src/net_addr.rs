//! Which addresses a host *name* may lead to: the filter that keeps a granted public name that
//! resolves somewhere private (DNS rebinding, SSRF) away from loopback, private networks and the
//! cloud metadata address.
//!
//! IPv4 is a deny-list of the special-purpose ranges (RFC 6890 and the IANA registry). IPv6 is an
//! allow-list: only global unicast (`2000::/3`) is public, less the special-purpose blocks inside
//! it, and an address that embeds an IPv4 address (IPv4-mapped, NAT64 `64:ff9b::/96`, 6to4) is
//! public only when the address it embeds is. Every other way back into a private range (IPv4-
//! compatible `::a.b.c.d`, local-use NAT64, Teredo, site-local, unique-local, link-local,
//! multicast, discard) is simply not public.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address on the public internet.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// Whether `ip` is loopback in either family, `::ffff:127.0.0.1` included.
pub(crate) fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// IPv4 special-purpose ranges, as (network, prefix length).
const NOT_PUBLIC_V4: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8),       // "this network", unspecified
    (Ipv4Addr::new(10, 0, 0, 0), 8),      // private
    (Ipv4Addr::new(100, 64, 0, 0), 10),   // shared address space (CGNAT)
    (Ipv4Addr::new(127, 0, 0, 0), 8),     // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16),  // link-local, the cloud metadata address
    (Ipv4Addr::new(172, 16, 0, 0), 12),   // private
    (Ipv4Addr::new(192, 0, 0, 0), 24),    // IETF protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24),    // documentation (TEST-NET-1)
    (Ipv4Addr::new(192, 88, 99, 0), 24),  // 6to4 relay anycast (deprecated)
    (Ipv4Addr::new(192, 168, 0, 0), 16),  // private
    (Ipv4Addr::new(198, 18, 0, 0), 15),   // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24), // documentation (TEST-NET-2)
    (Ipv4Addr::new(203, 0, 113, 0), 24),  // documentation (TEST-NET-3)
    (Ipv4Addr::new(224, 0, 0, 0), 4),     // multicast
    (Ipv4Addr::new(240, 0, 0, 0), 4),     // reserved, and the broadcast address
];

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let bits = ip.to_bits();
    !NOT_PUBLIC_V4.iter().any(|&(net, len)| {
        let mask = u32::MAX << (32 - len);
        bits & mask == net.to_bits()
    })
}

/// Special-purpose blocks inside global unicast `2000::/3`, as (network, prefix length).
const NOT_PUBLIC_V6: &[(Ipv6Addr, u8)] = &[
    // IETF protocol assignments: Teredo `2001::/32`, benchmarking `2001:2::/48`, ORCHID and the
    // rest; none of it is a destination a hook needs.
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20),     // documentation (RFC 9637)
];

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, len: u8) -> bool {
    let mask = u128::MAX << (128 - len);
    ip.to_bits() & mask == net.to_bits()
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    in_v6(ip, Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3)
        && !NOT_PUBLIC_V6.iter().any(|&(net, len)| in_v6(ip, net, len))
}

/// The IPv4 address a translating prefix carries to: NAT64's well-known prefix `64:ff9b::/96`
/// (the last 32 bits) and 6to4 `2002::/16` (the 32 bits after the prefix).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = ip.to_bits();
    if in_v6(ip, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96) {
        return Some(Ipv4Addr::from_bits(bits as u32));
    }
    if in_v6(ip, Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        return Some(Ipv4Addr::from_bits((bits >> 80) as u32));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each range by its last address below, its first and last address, and its first above;
    /// `true` where the address is public.
    #[test]
    fn ipv4_ranges_on_both_sides_of_each_boundary() {
        let table: &[(&str, &str, bool)] = &[
            ("0.0.0.0", "this network", false),
            ("0.255.255.255", "this network", false),
            ("1.0.0.0", "above this network", true),
            ("9.255.255.255", "below 10/8", true),
            ("10.0.0.0", "private 10/8", false),
            ("10.255.255.255", "private 10/8", false),
            ("11.0.0.0", "above 10/8", true),
            ("100.63.255.255", "below CGNAT", true),
            ("100.64.0.0", "CGNAT", false),
            ("100.127.255.255", "CGNAT", false),
            ("100.128.0.0", "above CGNAT", true),
            ("126.255.255.255", "below loopback", true),
            ("127.0.0.1", "loopback", false),
            ("127.255.255.255", "loopback", false),
            ("128.0.0.0", "above loopback", true),
            ("169.253.255.255", "below link-local", true),
            ("169.254.0.0", "link-local", false),
            ("169.254.169.254", "cloud metadata", false),
            ("169.254.255.255", "link-local", false),
            ("169.255.0.0", "above link-local", true),
            ("172.15.255.255", "below 172.16/12", true),
            ("172.16.0.0", "private 172.16/12", false),
            ("172.31.255.255", "private 172.16/12", false),
            ("172.32.0.0", "above 172.16/12", true),
            ("191.255.255.255", "below 192.0.0/24", true),
            ("192.0.0.0", "IETF protocol assignments", false),
            ("192.0.0.255", "IETF protocol assignments", false),
            ("192.0.1.255", "between 192.0.0/24 and TEST-NET-1", true),
            ("192.0.2.0", "TEST-NET-1", false),
            ("192.0.2.255", "TEST-NET-1", false),
            ("192.0.3.0", "above TEST-NET-1", true),
            ("192.88.98.255", "below 6to4 relay", true),
            ("192.88.99.0", "6to4 relay anycast", false),
            ("192.88.99.255", "6to4 relay anycast", false),
            ("192.88.100.0", "above 6to4 relay", true),
            ("192.167.255.255", "below 192.168/16", true),
            ("192.168.0.0", "private 192.168/16", false),
            ("192.168.255.255", "private 192.168/16", false),
            ("192.169.0.0", "above 192.168/16", true),
            ("198.17.255.255", "below benchmarking", true),
            ("198.18.0.0", "benchmarking", false),
            ("198.19.255.255", "benchmarking", false),
            ("198.20.0.0", "above benchmarking", true),
            ("198.51.99.255", "below TEST-NET-2", true),
            ("198.51.100.0", "TEST-NET-2", false),
            ("198.51.100.255", "TEST-NET-2", false),
            ("198.51.101.0", "above TEST-NET-2", true),
            ("203.0.112.255", "below TEST-NET-3", true),
            ("203.0.113.0", "TEST-NET-3", false),
            ("203.0.113.255", "TEST-NET-3", false),
            ("203.0.114.0", "above TEST-NET-3", true),
            ("223.255.255.255", "below multicast", true),
            ("224.0.0.0", "multicast", false),
            ("239.255.255.255", "multicast", false),
            ("240.0.0.0", "reserved", false),
            ("255.255.255.254", "reserved", false),
            ("255.255.255.255", "broadcast", false),
            ("1.1.1.1", "public", true),
            ("8.8.8.8", "public", true),
        ];
        check(table);
    }

    #[test]
    fn ipv6_ranges_on_both_sides_of_each_boundary() {
        let table: &[(&str, &str, bool)] = &[
            ("::", "unspecified", false),
            ("::1", "loopback", false),
            ("::2", "IPv4-compatible, deprecated", false),
            ("::10.0.0.1", "IPv4-compatible private", false),
            ("::8.8.8.8", "IPv4-compatible public, deprecated", false),
            ("::ffff:10.0.0.1", "IPv4-mapped private", false),
            ("::ffff:127.0.0.1", "IPv4-mapped loopback", false),
            ("::ffff:169.254.169.254", "IPv4-mapped metadata", false),
            ("::ffff:0.0.0.0", "IPv4-mapped unspecified", false),
            ("::ffff:8.8.8.8", "IPv4-mapped public", true),
            ("::ffff:0:a00:1", "IPv4-translated (SIIT)", false),
            (
                "64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff",
                "below NAT64",
                false,
            ),
            ("64:ff9b::7f00:1", "NAT64 of loopback", false),
            ("64:ff9b::a9fe:a9fe", "NAT64 of metadata", false),
            ("64:ff9b::a00:1", "NAT64 of 10.0.0.1", false),
            ("64:ff9b::808:808", "NAT64 of 8.8.8.8", true),
            ("64:ff9b::1:0:0", "NAT64 prefix, beyond /96", false),
            ("64:ff9b:1::", "local-use NAT64", false),
            (
                "64:ff9b:1:ffff:ffff:ffff:ffff:ffff",
                "local-use NAT64",
                false,
            ),
            ("64:ff9b:1::808:808", "local-use NAT64 of 8.8.8.8", false),
            ("100::", "discard-only", false),
            ("100::ffff:ffff:ffff:ffff", "discard-only", false),
            ("100:0:0:1::", "dummy prefix", false),
            (
                "1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                "below global unicast",
                false,
            ),
            ("2000::", "global unicast", true),
            (
                "2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                "below 2001::/23",
                true,
            ),
            ("2001::", "Teredo", false),
            ("2001:0:a00:1::", "Teredo, private server", false),
            ("2001:0:ffff:ffff:ffff:ffff:ffff:ffff", "Teredo", false),
            ("2001:1::", "IETF protocol assignments", false),
            ("2001:2::", "benchmarking", false),
            ("2001:2:0:ffff:ffff:ffff:ffff:ffff", "benchmarking", false),
            ("2001:2:1::", "above benchmarking, still 2001::/23", false),
            ("2001:10::", "ORCHID", false),
            (
                "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff",
                "IETF protocol assignments",
                false,
            ),
            ("2001:200::", "above 2001::/23", true),
            (
                "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff",
                "below documentation",
                true,
            ),
            ("2001:db8::", "documentation", false),
            (
                "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
                "documentation",
                false,
            ),
            ("2001:db9::", "above documentation", true),
            (
                "2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                "below 6to4",
                true,
            ),
            ("2002::", "6to4 of 0.0.0.0", false),
            ("2002:a00:1::", "6to4 of 10.0.0.1", false),
            ("2002:7f00:1::", "6to4 of loopback", false),
            ("2002:a9fe:a9fe::1", "6to4 of metadata", false),
            ("2002:c0a8:101::", "6to4 of 192.168.1.1", false),
            ("2002:808:808::1", "6to4 of 8.8.8.8", true),
            (
                "2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                "6to4 of broadcast",
                false,
            ),
            ("2003::", "above 6to4", true),
            ("2606:4700::1111", "public", true),
            (
                "3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                "below 3fff::/20",
                true,
            ),
            ("3fff::", "documentation (RFC 9637)", false),
            (
                "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff",
                "documentation (RFC 9637)",
                false,
            ),
            ("3fff:1000::", "above 3fff::/20", true),
            (
                "3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                "last of global unicast",
                true,
            ),
            ("4000::", "above global unicast", false),
            ("5f00::", "SRv6 SIDs", false),
            (
                "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                "below unique-local",
                false,
            ),
            ("fc00::", "unique-local", false),
            ("fd00::1", "unique-local", false),
            (
                "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                "unique-local",
                false,
            ),
            ("fe80::", "link-local", false),
            ("fe80::1", "link-local", false),
            (
                "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                "link-local",
                false,
            ),
            ("fec0::", "site-local", false),
            (
                "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                "site-local",
                false,
            ),
            ("ff00::", "multicast", false),
            ("ff02::1", "multicast all-nodes", false),
            (
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                "multicast",
                false,
            ),
        ];
        check(table);
    }

    #[track_caller]
    fn check(table: &[(&str, &str, bool)]) {
        let wrong: Vec<String> = table
            .iter()
            .filter(|(ip, _, public)| is_public(ip.parse().expect(ip)) != *public)
            .map(|(ip, what, public)| format!("{ip} ({what}) should be public: {public}"))
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn loopback_in_either_family() {
        for ip in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["10.0.0.1", "::2", "64:ff9b::7f00:1"] {
            assert!(!is_loopback(ip.parse().unwrap()), "{ip}");
        }
    }
}
