//! Network calls the attack guests share, made with the `wasip2` crate (std::net needs a libc
//! with sockets, which Debian's wasi-libc lacks). Not a guest itself: a library the guests link.

/// Connects to an IPv4 `address:port` with wasi:sockets.
pub fn connect(addr: &str) -> Result<(), String> {
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

/// GETs `http://{authority}{path}` through wasi-http; returns the status or the error code.
pub fn get(authority: &str, path: &str) -> Result<u16, String> {
    use wasip2::http::types::{Fields, OutgoingRequest, Scheme};
    let request = OutgoingRequest::new(Fields::new());
    request.set_scheme(Some(&Scheme::Http)).map_err(|()| "bad scheme")?;
    request.set_authority(Some(authority)).map_err(|()| "bad authority")?;
    request.set_path_with_query(Some(path)).map_err(|()| "bad path")?;
    let response = wasip2::http::outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    response.subscribe().block();
    match response.get() {
        Some(Ok(Ok(r))) => Ok(r.status()),
        Some(Ok(Err(e))) => Err(format!("{e:?}")),
        other => Err(format!("{other:?}")),
    }
}

/// Resolves `name` with wasi:sockets/ip-name-lookup; returns the addresses or the error code.
pub fn resolve(name: &str) -> Result<Vec<String>, String> {
    use wasip2::sockets::network::{ErrorCode, IpAddress};
    let network = wasip2::sockets::instance_network::instance_network();
    let stream = wasip2::sockets::ip_name_lookup::resolve_addresses(&network, name)
        .map_err(|e| format!("{e:?}"))?;
    let ready = stream.subscribe();
    let mut found = Vec::new();
    loop {
        match stream.resolve_next_address() {
            Ok(Some(IpAddress::Ipv4((a, b, c, d)))) => found.push(format!("{a}.{b}.{c}.{d}")),
            Ok(Some(IpAddress::Ipv6(s))) => {
                let ip = std::net::Ipv6Addr::new(s.0, s.1, s.2, s.3, s.4, s.5, s.6, s.7);
                found.push(ip.to_string());
            }
            Ok(None) => return Ok(found),
            Err(ErrorCode::WouldBlock) => ready.block(),
            Err(e) => return Err(format!("{e:?}")),
        }
    }
}

/// Starts a GET of `{scheme}://{authority}{path}` through wasi-http without waiting for it.
pub fn start_get(
    https: bool,
    authority: &str,
    path: &str,
) -> Result<wasip2::http::types::FutureIncomingResponse, String> {
    use wasip2::http::types::{Fields, OutgoingRequest, Scheme};
    let request = OutgoingRequest::new(Fields::new());
    let scheme = if https { Scheme::Https } else { Scheme::Http };
    request.set_scheme(Some(&scheme)).map_err(|()| "bad scheme")?;
    request.set_authority(Some(authority)).map_err(|()| "bad authority")?;
    request.set_path_with_query(Some(path)).map_err(|()| "bad path")?;
    wasip2::http::outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))
}

/// Waits for a response started by [`start_get`]; returns the status or the error code.
pub fn finish_get(response: wasip2::http::types::FutureIncomingResponse) -> Result<u16, String> {
    response.subscribe().block();
    match response.get() {
        Some(Ok(Ok(r))) => Ok(r.status()),
        Some(Ok(Err(e))) => Err(format!("{e:?}")),
        other => Err(format!("{other:?}")),
    }
}

/// GETs `https://{authority}{path}` through wasi-http; returns the status or the error code.
pub fn get_https(authority: &str, path: &str) -> Result<u16, String> {
    finish_get(start_get(true, authority, path)?)
}
