//! One TCP connection attempt through `wasi:sockets`, bounded by a timeout.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use wasip2::clocks::monotonic_clock;
use wasip2::io::poll::{self, Pollable};
use wasip2::sockets::instance_network::instance_network;
use wasip2::sockets::ip_name_lookup::resolve_addresses;
use wasip2::sockets::network::{
    ErrorCode, IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
    Network,
};
use wasip2::sockets::tcp_create_socket::create_tcp_socket;

/// `HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub host: String,
    pub port: u16,
}

impl Address {
    pub fn parse(text: &str) -> Result<Address, String> {
        let text = text.trim();
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| format!("`{text}` is not HOST:PORT"))?;
        let bracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
        if bracketed.is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_err()) {
            return Err(format!("`{text}`: `{host}` is not an IPv6 address"));
        }
        let host = bracketed.unwrap_or(host);
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(format!("`{text}` is not HOST:PORT"));
        }
        if bracketed.is_none() && host.contains(':') {
            return Err(format!(
                "`{text}`: write an IPv6 address in brackets, like `[::1]:8080`"
            ));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("`{text}`: `{port}` is not a port number"))?;
        Ok(Address {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Why the connection did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// The host refused: the hook has no grant for this address.
    Denied,
    Error(String),
}

impl From<ErrorCode> for Failure {
    fn from(code: ErrorCode) -> Self {
        match code {
            ErrorCode::AccessDenied => Failure::Denied,
            ErrorCode::Timeout => Failure::Error("timed out".into()),
            ErrorCode::NameUnresolvable => Failure::Error("host name not found".into()),
            other => Failure::Error(other.name().replace('-', " ")),
        }
    }
}

/// Connects to `address` (each of its IP addresses in turn) and closes the connection at once.
pub fn connect(address: &Address, timeout: Duration) -> Result<(), Failure> {
    let timeout_ns = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
    let deadline = monotonic_clock::subscribe_duration(timeout_ns);
    let network = instance_network();
    let ips = match address.host.parse::<IpAddr>() {
        Ok(ip) => vec![ip_address(ip)],
        Err(_) => resolve(&network, &address.host, &deadline, timeout)?,
    };
    let mut last = Failure::Error("host name has no addresses".into());
    for ip in ips {
        match connect_one(&network, ip, address.port, &deadline, timeout) {
            Ok(()) => return Ok(()),
            Err(Failure::Denied) => return Err(Failure::Denied),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn connect_one(
    network: &Network,
    ip: IpAddress,
    port: u16,
    deadline: &Pollable,
    timeout: Duration,
) -> Result<(), Failure> {
    let (family, remote) = match ip {
        IpAddress::Ipv4(address) => (
            IpAddressFamily::Ipv4,
            IpSocketAddress::Ipv4(Ipv4SocketAddress { port, address }),
        ),
        IpAddress::Ipv6(address) => (
            IpAddressFamily::Ipv6,
            IpSocketAddress::Ipv6(Ipv6SocketAddress {
                port,
                flow_info: 0,
                address,
                scope_id: 0,
            }),
        ),
    };
    let socket = create_tcp_socket(family)?;
    socket.start_connect(network, remote)?;
    loop {
        match socket.finish_connect() {
            Ok((input, output)) => {
                drop((input, output));
                return Ok(());
            }
            Err(ErrorCode::WouldBlock) => wait(&socket.subscribe(), deadline, timeout)?,
            Err(e) => return Err(e.into()),
        }
    }
}

fn resolve(
    network: &Network,
    host: &str,
    deadline: &Pollable,
    timeout: Duration,
) -> Result<Vec<IpAddress>, Failure> {
    let stream = resolve_addresses(network, host)?;
    let mut ips = Vec::new();
    loop {
        match stream.resolve_next_address() {
            Ok(Some(ip)) => ips.push(ip),
            Ok(None) => return Ok(ips),
            Err(ErrorCode::WouldBlock) => wait(&stream.subscribe(), deadline, timeout)?,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Blocks until `ready`, or fails when `deadline` comes first.
fn wait(ready: &Pollable, deadline: &Pollable, timeout: Duration) -> Result<(), Failure> {
    let woken = poll::poll(&[ready, deadline]);
    if woken.contains(&1) && !woken.contains(&0) {
        return Err(Failure::Error(format!(
            "no connection within {} ms",
            timeout.as_millis()
        )));
    }
    Ok(())
}

fn ip_address(ip: IpAddr) -> IpAddress {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            IpAddress::Ipv4((a, b, c, d))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddress::Ipv6((s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses() {
        assert_eq!(
            Address::parse("127.0.0.1:8080").unwrap().to_string(),
            "127.0.0.1:8080"
        );
        assert_eq!(Address::parse("[::1]:80").unwrap().host, "::1");
        assert_eq!(Address::parse("db.internal:5432").unwrap().port, 5432);
        for bad in ["localhost", ":80", "h:0", "h:x", "::1:80", "h :1"] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
    }
}
