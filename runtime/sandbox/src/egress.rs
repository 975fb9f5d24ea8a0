//! wasi-http egress: every outgoing request is checked against the hook's URL grants, and the
//! address it will really connect to is checked after DNS.
//!
//! A request goes out only when its URL lies under a granted prefix. A literal IP in the URL is
//! connected to as written (the grant named it). A host name is resolved here, and only to
//! addresses of the kind the name implies: `localhost` to loopback, any other name to public
//! addresses only ([`is_public`]), so a granted public name that resolves to `127.0.0.1`, a
//! private network or the cloud metadata address (DNS rebinding, SSRF) is refused. Both http and
//! https then connect to the checked address itself ([`net_send`](crate::net_send)); https keeps
//! the name for SNI and certificate verification. Requests are bounded in total and in flight
//! ([`Limits::http_requests`](crate::Limits::http_requests), `http_in_flight`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use davit_spec::UrlPrefix;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::dns::Resolver;
use crate::error::ResourceKind;
use crate::net_addr::{is_loopback, is_public};
use crate::net_send::{IoFuture, Timeouts};
use crate::record::{Effect, Recorder};
use crate::resources::Budget;
use crate::s3::Signed;
use crate::sink::{Sink, Stream};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const BYTE_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct Egress {
    pub(crate) urls: Arc<Vec<UrlPrefix>>,
    pub(crate) sink: Sink,
    pub(crate) budget: Arc<Budget>,
    pub(crate) resolver: Arc<dyn Resolver>,
    /// Requests the host presigned (`davit:plugin/s3`), let through as written.
    pub(crate) signed: Signed,
    /// A dry run's: a granted request is recorded, not sent.
    pub(crate) record: Option<Arc<Recorder>>,
}

impl WasiHttpHooks for Egress {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>
    {
        let urls = self.urls.clone();
        let sink = self.sink.clone();
        let budget = self.budget.clone();
        let resolver = self.resolver.clone();
        let signed = self.signed.clone();
        let record = self.record.clone();
        Box::new(async move {
            let url = request.uri().to_string();
            let deny = |why: String| {
                sink.line(
                    Stream::Warn,
                    &format!("sandbox: http request denied: {why}"),
                );
                HttpError::HttpRequestDenied
            };
            if !urls.iter().any(|prefix| prefix.matches(&url)) && !signed.holds(request.uri()) {
                return Err(deny(format!(
                    "`{url}` is not under any of the hook's url grants"
                )));
            }
            if let Some(record) = record {
                record.push(Effect::Http {
                    method: request.method().to_string(),
                    url: url.clone(),
                });
                sink.line(
                    Stream::Info,
                    &format!(
                        "sandbox: dry run: `{} {url}` recorded, not sent",
                        request.method()
                    ),
                );
                return Err(HttpError::HttpRequestDenied);
            }
            let uri = request.uri().clone();
            let host = uri.host().ok_or(HttpError::HttpRequestUriInvalid)?;
            let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            let addr = resolve_checked(resolver.as_ref(), host, port)
                .await
                .map_err(deny)?;
            // The budget logs the bound it stops at; the guest sees a denied request.
            let asked = || format!("`{} {url}`", request.method());
            if !budget.take(ResourceKind::HttpRequests, 1, asked) {
                return Err(HttpError::HttpRequestDenied);
            }
            let Some(slot) = budget.start_request(asked) else {
                return Err(HttpError::HttpRequestDenied);
            };
            let tls = if https {
                Some(crate::net_send::server_name(host)?)
            } else {
                None
            };
            let clamp =
                |asked: Option<Duration>, most: Duration| asked.map_or(most, |d| d.min(most));
            let options = options.unwrap_or_default();
            let timeouts = Timeouts {
                connect: clamp(options.connect_timeout, CONNECT_TIMEOUT),
                first_byte: clamp(options.first_byte_timeout, BYTE_TIMEOUT),
                between_bytes: clamp(options.between_bytes_timeout, BYTE_TIMEOUT),
            };
            crate::net_send::send(request, addr, tls, timeouts, slot).await
        })
    }
}

/// Resolves `host` and returns the first address a request to it may use.
async fn resolve_checked(
    resolver: &dyn Resolver,
    host: &str,
    port: u16,
) -> Result<SocketAddr, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let addrs: Vec<SocketAddr> = resolver
        .lookup(bare)
        .await
        .map_err(|e| format!("cannot resolve `{host}`: {e}"))?
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect();
    pick_resolved(host, &addrs)
}

/// Of the addresses `host` resolved to, the first one a name grant may reach: for `localhost`
/// a loopback address, for any other name a public one.
fn pick_resolved(host: &str, addrs: &[SocketAddr]) -> Result<SocketAddr, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let local_name = bare.eq_ignore_ascii_case("localhost");
    addrs
        .iter()
        .copied()
        .find(|a| {
            if local_name {
                is_loopback(a.ip())
            } else {
                is_public(a.ip())
            }
        })
        .ok_or_else(|| {
            let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
            format!(
                "`{host}` resolves to {}, which a name grant may not reach (grant the address itself to allow it)",
                if shown.is_empty() { "nothing".to_string() } else { shown.join(", ") }
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(ips: &[&str]) -> Vec<SocketAddr> {
        ips.iter()
            .map(|ip| SocketAddr::new(ip.parse().unwrap(), 443))
            .collect()
    }

    #[test]
    fn a_name_that_resolves_to_a_private_address_is_refused() {
        for ip in [
            "10.0.0.5",
            "127.0.0.1",
            "169.254.169.254",
            "fd00::7",
            "::ffff:10.0.0.5",
            "64:ff9b::a9fe:a9fe",
            "2002:a00:5::",
        ] {
            let err = pick_resolved("intranet.example.com", &addrs(&[ip])).unwrap_err();
            assert_eq!(
                err,
                format!(
                    "`intranet.example.com` resolves to {ip}, which a name grant may not reach (grant the address itself to allow it)"
                )
            );
        }
        assert!(
            pick_resolved("nothing.example", &[])
                .unwrap_err()
                .contains("resolves to nothing")
        );
    }

    #[test]
    fn of_mixed_answers_only_a_public_address_is_used() {
        let picked = pick_resolved("api.example.com", &addrs(&["10.0.0.5", "1.1.1.1"])).unwrap();
        assert_eq!(picked.ip().to_string(), "1.1.1.1");
    }

    #[test]
    fn localhost_may_reach_only_loopback() {
        let picked = pick_resolved("localhost", &addrs(&["10.0.0.5", "::1"])).unwrap();
        assert!(picked.ip().is_loopback());
        assert!(pick_resolved("localhost", &addrs(&["1.1.1.1"])).is_err());
    }

    #[tokio::test]
    async fn localhost_and_addresses_resolve_through_the_system() {
        let system = crate::dns::SystemResolver;
        let local = resolve_checked(&system, "localhost", 80).await.unwrap();
        assert!(local.ip().is_loopback());
        let literal = resolve_checked(&system, "[::1]", 80).await.unwrap();
        assert_eq!(literal.to_string(), "[::1]:80");
    }
}
