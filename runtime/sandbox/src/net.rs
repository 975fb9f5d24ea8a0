//! Raw tcp under the hook's tcp grants: names are resolved once, before the hook starts, and the
//! guest may connect to exactly those addresses, a bounded number of times. Name lookups by the
//! guest are answered from the same resolution (see [`crate::dns`]).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use davit_spec::{Host as TcpHost, TcpTarget};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::sockets::SocketAddrUse;

use crate::SandboxError;
use crate::dns::{GrantedNames, Resolver};
use crate::error::ResourceKind;
use crate::record::{Effect, Recorder};
use crate::resources::Budget;

/// Grants `targets` to the context being built and returns the names a guest may look up.
///
/// # Errors
///
/// When a granted name does not resolve.
pub(crate) async fn grant_tcp(
    builder: &mut WasiCtxBuilder,
    targets: &[TcpTarget],
    resolver: &dyn Resolver,
    budget: Arc<Budget>,
    record: Option<Arc<Recorder>>,
) -> Result<GrantedNames, SandboxError> {
    let mut names = GrantedNames::default();
    if targets.is_empty() {
        return Ok(names);
    }
    let allowed = Arc::new(resolve_tcp(targets, resolver, &mut names).await?);
    builder
        .allow_tcp(true)
        .socket_addr_check(move |addr, use_| {
            let ok = match use_ {
                SocketAddrUse::TcpConnect => {
                    let canonical = SocketAddr::new(addr.ip().to_canonical(), addr.port());
                    let granted = allowed.contains(&canonical)
                        && budget.take(ResourceKind::TcpConnections, 1, || {
                            format!("a tcp connection to {addr}")
                        });
                    match &record {
                        // A dry run connects nowhere: the guest sees the connection refused.
                        Some(record) if granted => {
                            record.push(Effect::Tcp {
                                address: canonical.to_string(),
                            });
                            false
                        }
                        _ => granted,
                    }
                }
                // Connecting binds an ephemeral local port first.
                SocketAddrUse::TcpBind => addr.port() == 0,
                _ => false,
            };
            Box::pin(async move { ok })
        });
    Ok(names)
}

/// The exact socket addresses the tcp grants allow; names are resolved once, here, and
/// recorded in `names` with their addresses.
async fn resolve_tcp(
    targets: &[TcpTarget],
    resolver: &dyn Resolver,
    names: &mut GrantedNames,
) -> Result<BTreeSet<SocketAddr>, SandboxError> {
    let mut allowed = BTreeSet::new();
    for target in targets {
        let ips: Vec<IpAddr> =
            match &target.host {
                TcpHost::Ip(ip) => {
                    names.add_address(ip.to_canonical());
                    vec![ip.to_canonical()]
                }
                TcpHost::Name(name) => {
                    let ips = resolver.lookup(name.as_str()).await.map_err(|e| {
                        SandboxError::Resolve {
                            target: format!("{name}:{}", target.port),
                            reason: e.to_string(),
                        }
                    })?;
                    names.add_name(name.as_str(), &ips);
                    ips
                }
            };
        allowed.extend(ips.into_iter().map(|ip| SocketAddr::new(ip, target.port)));
    }
    Ok(allowed)
}
