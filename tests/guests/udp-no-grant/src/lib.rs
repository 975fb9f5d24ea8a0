//! Attack: open a UDP socket (UDP is never granted).

use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        use wasip2::sockets::network::IpAddressFamily;
        match wasip2::sockets::udp_create_socket::create_udp_socket(IpAddressFamily::Ipv4) {
            Ok(_) => Ok(()),
            Err(e) => Err(format!("contained: {e:?}")),
        }
    }
}

davit_sdk::export_hook!(Attack);
