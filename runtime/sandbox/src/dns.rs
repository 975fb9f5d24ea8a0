//! Name lookups: the host resolves each granted name once, before the hook starts, and a hook's
//! `wasi:sockets/ip-name-lookup` answers only those names, from that answer.
//!
//! wasmtime-wasi 48 has one switch for the interface, `WasiCtxBuilder::allow_ip_name_lookup`:
//! on, a guest may resolve any name through the system resolver (DNS exfiltration, discovery of
//! internal names); off, every lookup fails. There is no hook to filter names. So the sandbox
//! links its own implementation of the interface over wasmtime-wasi's, with the linker's
//! shadowing (see [`link`]). `resolve-addresses(name)` looks `name` up in the hook's
//! [`GrantedNames`] and never calls a resolver: a granted name yields exactly the addresses the
//! host resolved at set-up (the only ones its `socket_addr_check` lets it connect to); any other
//! name, or an address literal that is not granted, fails with `access-denied`.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;

use wasmtime::component::{Linker, Resource, ResourceType};
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddress};
use wasmtime_wasi::p2::{DynPollable, Network, Pollable};

use crate::sink::Stream;
use crate::state::HookState;

/// The interface wasmtime-wasi 48.0.8 links (its WIT is `wasi:sockets@0.2.12`); a guest built
/// against any `0.2.x` resolves to it by the linker's semver matching.
const INTERFACE: &str = "wasi:sockets/ip-name-lookup@0.2.12";

/// Resolves host names for the sandbox's own set-up lookups (tcp grants, http egress); never
/// called on a guest's behalf. Tests inject one to see every lookup the host makes.
pub trait Resolver: Send + Sync + 'static {
    /// The addresses `name` resolves to.
    fn lookup(&self, name: &str) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;
}

/// The system resolver (`getaddrinfo`, through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn lookup(&self, name: &str) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>> {
        let name = name.to_string();
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let mut ips: Vec<IpAddr> = Vec::new();
            for addr in found {
                let ip = addr.ip().to_canonical();
                if !ips.contains(&ip) {
                    ips.push(ip);
                }
            }
            Ok(ips)
        })
    }
}

/// The names (lowercase) of a hook's tcp grants with the addresses they resolved to at set-up,
/// and every granted address.
#[derive(Debug, Clone, Default)]
pub(crate) struct GrantedNames {
    names: BTreeMap<String, Vec<IpAddr>>,
    addresses: BTreeSet<IpAddr>,
}

impl GrantedNames {
    pub(crate) fn add_name(&mut self, name: &str, ips: &[IpAddr]) {
        let entry = self.names.entry(name.to_ascii_lowercase()).or_default();
        for ip in ips {
            if !entry.contains(ip) {
                entry.push(*ip);
            }
        }
        self.addresses.extend(ips);
    }

    pub(crate) fn add_address(&mut self, ip: IpAddr) {
        self.addresses.insert(ip);
    }

    /// What `resolve-addresses(name)` answers, without any lookup.
    fn answer(&self, name: &str) -> Option<Vec<IpAddr>> {
        let literal = name.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            let ip = ip.to_canonical();
            return self.addresses.contains(&ip).then(|| vec![ip]);
        }
        self.names.get(&name.to_ascii_lowercase()).cloned()
    }
}

/// The `resolve-address-stream` of an answered lookup.
pub(crate) struct NameStream(std::vec::IntoIter<IpAddr>);

#[wasmtime_wasi::async_trait]
impl Pollable for NameStream {
    async fn ready(&mut self) {}
}

/// Replaces wasmtime-wasi's `wasi:sockets/ip-name-lookup` in `linker` (which must already hold
/// `wasmtime_wasi::p2::add_to_linker_async`'s definitions) with one that answers only granted
/// names. Shadowing is allowed for these definitions alone.
pub(crate) fn link(linker: &mut Linker<HookState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut instance = linker.instance(INTERFACE)?;
    instance.resource(
        "resolve-address-stream",
        ResourceType::host::<NameStream>(),
        |mut store, rep| {
            store
                .data_mut()
                .table
                .delete(Resource::<NameStream>::new_own(rep))?;
            Ok(())
        },
    )?;
    instance.func_wrap(
        "resolve-addresses",
        |mut store, (network, name): (Resource<Network>, String)| {
            let state = store.data_mut();
            // The network handle is the capability to call this; check it as wasmtime-wasi does.
            state.table.get(&network)?;
            let Some(ips) = state.names.answer(&name) else {
                state.sink.line(
                    Stream::Warn,
                    &format!(
                        "sandbox: name lookup denied: `{name}` is not the name or address of any of the hook's tcp grants (no lookup was made)"
                    ),
                );
                return Ok((Err(ErrorCode::AccessDenied),));
            };
            let stream = state.table.push(NameStream(ips.into_iter()))?;
            Ok((Ok(stream),))
        },
    )?;
    instance.func_wrap(
        "[method]resolve-address-stream.resolve-next-address",
        |mut store, (stream,): (Resource<NameStream>,)| {
            let stream = store.data_mut().table.get_mut(&stream)?;
            let next: Result<Option<IpAddress>, ErrorCode> = Ok(stream.0.next().map(Into::into));
            Ok((next,))
        },
    )?;
    instance.func_wrap(
        "[method]resolve-address-stream.subscribe",
        |mut store, (stream,): (Resource<NameStream>,)| {
            let pollable: Resource<DynPollable> =
                wasmtime_wasi::p2::subscribe(&mut store.data_mut().table, stream)?;
            Ok((pollable,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> GrantedNames {
        let mut names = GrantedNames::default();
        names.add_name("LocalHost", &["127.0.0.1".parse().unwrap()]);
        names.add_address("10.0.0.7".parse().unwrap());
        names
    }

    #[test]
    fn a_granted_name_answers_its_set_up_addresses_in_any_case() {
        let ips = vec!["127.0.0.1".parse::<IpAddr>().unwrap()];
        assert_eq!(names().answer("localhost"), Some(ips.clone()));
        assert_eq!(names().answer("LOCALHOST"), Some(ips));
    }

    #[test]
    fn other_names_and_addresses_are_not_answered() {
        for name in [
            "example.com",
            "localhost.",
            "sub.localhost",
            "10.0.0.8",
            "",
            "[::1]",
        ] {
            assert_eq!(names().answer(name), None, "{name}");
        }
    }

    #[test]
    fn granted_addresses_answer_themselves() {
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        assert_eq!(names().answer("10.0.0.7"), Some(vec![ip]));
        assert_eq!(names().answer("::ffff:10.0.0.7"), Some(vec![ip]));
        assert_eq!(
            names().answer("127.0.0.1"),
            Some(vec!["127.0.0.1".parse().unwrap()])
        );
    }
}
