//! Attack: connect to a port next to the granted one.

use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        connect(ctx.require_param("granted")?).map_err(|e| format!("granted connect failed: {e}"))?;
        match connect(ctx.require_param("other")?) {
            Ok(()) => Ok(()),
            Err(e) => Err(format!("contained: {e}")),
        }
    }
}

/// Connects to an IPv4 `address:port` with wasi:sockets (std::net needs a libc with sockets).
fn connect(addr: &str) -> Result<(), String> {
    use wasip2::sockets::network::{ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
    let target: std::net::SocketAddrV4 = addr.parse().map_err(|e| format!("`{addr}`: {e}"))?;
    let network = wasip2::sockets::instance_network::instance_network();
    let socket = wasip2::sockets::tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4)
        .map_err(|e| format!("{e:?}"))?;
    let [a, b, c, d] = target.ip().octets();
    let remote = IpSocketAddress::Ipv4(Ipv4SocketAddress { port: target.port(), address: (a, b, c, d) });
    socket.start_connect(&network, remote).map_err(|e| format!("{e:?}"))?;
    let ready = socket.subscribe();
    loop {
        match socket.finish_connect() {
            Ok(_) => return Ok(()),
            Err(ErrorCode::WouldBlock) => ready.block(),
            Err(e) => return Err(format!("{e:?}")),
        }
    }
}

davit_sdk::export_hook!(Attack);
