//! Attack: resolve a host name without any grant.

use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        let network = wasip2::sockets::instance_network::instance_network();
        let stream = wasip2::sockets::ip_name_lookup::resolve_addresses(&network, "localhost")
            .map_err(|e| format!("contained: {e:?}"))?;
        let ready = stream.subscribe();
        loop {
            match stream.resolve_next_address() {
                Ok(Some(addr)) => {
                    info!("escaped: resolved {addr:?}");
                    return Ok(());
                }
                Ok(None) => return Err("contained: no addresses".into()),
                Err(wasip2::sockets::network::ErrorCode::WouldBlock) => ready.block(),
                Err(e) => return Err(format!("contained: {e:?}")),
            }
        }
    }
}

davit_sdk::export_hook!(Attack);
