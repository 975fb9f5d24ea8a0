//! wasi-http egress: every outgoing request is checked against the hook's URL grants, and the
//! address it will really connect to is checked after DNS.
//!
//! A request goes out only when its URL lies under a granted prefix. A literal IP in the URL is
//! connected to as written (the grant named it). A host name is resolved here, and only to
//! addresses of the kind the name implies: `localhost` to loopback, any other name to public
//! addresses only, so a granted public name that resolves to `127.0.0.1`, a private network or
//! the cloud metadata address (DNS rebinding, SSRF) is refused. Plain-http requests then connect
//! to the checked address itself; https requests keep the name for TLS verification.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use davit_spec::UrlPrefix;
use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::sink::{Sink, Stream};

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const BYTE_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct Egress {
    pub(crate) urls: Arc<Vec<UrlPrefix>>,
    pub(crate) sink: Sink,
}

impl WasiHttpHooks for Egress {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>
    {
        let urls = self.urls.clone();
        let sink = self.sink.clone();
        Box::new(async move {
            let url = request.uri().to_string();
            let deny = |why: String| {
                sink.line(
                    Stream::Warn,
                    &format!("sandbox: http request denied: {why}"),
                );
                HttpError::HttpRequestDenied
            };
            if !urls.iter().any(|prefix| prefix.matches(&url)) {
                return Err(deny(format!(
                    "`{url}` is not under any of the hook's url grants"
                )));
            }
            let uri = request.uri().clone();
            let host = uri.host().ok_or(HttpError::HttpRequestUriInvalid)?;
            let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            let addr = resolve_checked(host, port).await.map_err(deny)?;
            if !https {
                // Connect to the address we checked, not to a second lookup of the name.
                let path = uri.path_and_query().map_or("/", |p| p.as_str());
                *request.uri_mut() = http::Uri::builder()
                    .scheme("http")
                    .authority(addr.to_string())
                    .path_and_query(path)
                    .build()
                    .map_err(|_| HttpError::HttpRequestUriInvalid)?;
            }
            let clamp =
                |asked: Option<Duration>, most: Duration| Some(asked.map_or(most, |d| d.min(most)));
            let options = options.unwrap_or_default();
            let options = RequestOptions {
                connect_timeout: clamp(options.connect_timeout, CONNECT_TIMEOUT),
                first_byte_timeout: clamp(options.first_byte_timeout, BYTE_TIMEOUT),
                between_bytes_timeout: clamp(options.between_bytes_timeout, BYTE_TIMEOUT),
            };
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as IoFuture,
            ))
        })
    }
}

/// Resolves `host` and returns the first address a request to it may use.
async fn resolve_checked(host: &str, port: u16) -> Result<SocketAddr, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|e| format!("cannot resolve `{host}`: {e}"))?
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
        .find(|a| if local_name { a.ip().is_loopback() } else { is_public(a.ip()) })
        .ok_or_else(|| {
            let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
            format!(
                "`{host}` resolves to {}, which a name grant may not reach (grant the address itself to allow it)",
                if shown.is_empty() { "nothing".to_string() } else { shown.join(", ") }
            )
        })
}

/// An address on the public internet: not loopback, private, link-local (cloud metadata),
/// shared (CGNAT), multicast, documentation or unspecified.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_metadata_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["1.1.1.1", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    fn addrs(ips: &[&str]) -> Vec<SocketAddr> {
        ips.iter()
            .map(|ip| SocketAddr::new(ip.parse().unwrap(), 443))
            .collect()
    }

    #[test]
    fn a_name_that_resolves_to_a_private_address_is_refused() {
        for ip in ["10.0.0.5", "127.0.0.1", "169.254.169.254", "fd00::7"] {
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
        let local = resolve_checked("localhost", 80).await.unwrap();
        assert!(local.ip().is_loopback());
        let literal = resolve_checked("[::1]", 80).await.unwrap();
        assert_eq!(literal.to_string(), "[::1]:80");
    }
}
