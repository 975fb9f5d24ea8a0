//! Sends one checked http or https request to the address that was checked.
//!
//! wasi-http's `default_send_request` connects to the request's authority, so it resolves a name
//! again after the egress hook checked it (DNS rebinding). This is the same sender, after
//! `wasmtime-wasi-http-48.0.8/src/default_send_request.rs`, except that it dials a given
//! [`SocketAddr`]; for https the original host name still drives SNI and certificate
//! verification, with the same crates (`tokio-rustls`, `webpki-roots`, ring) and roots.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

use crate::resources::InFlight;

pub(crate) type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

/// Time limits of one request, each already clamped by the egress hook.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) first_byte: Duration,
    pub(crate) between_bytes: Duration,
}

trait Stream: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}
impl<T> Stream for T where T: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}

/// TLS client settings: webpki's roots and ring, as wasi-http's default sender has them. The
/// provider is named, not taken from the process default, because another crate of the same
/// build may enable a second one.
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.into(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

/// The name a TLS server must prove it is: the request's host, a name or an address literal.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, HttpError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return Ok(ServerName::from(ip));
    }
    Ok(ServerName::try_from(bare)?.to_owned())
}

/// Sends `request` over a new connection to `addr`, through TLS for `tls`'s name when given.
/// `slot` is the request's place among those in flight, freed when the response body drops.
pub(crate) async fn send(
    mut request: http::Request<WasiBody>,
    addr: SocketAddr,
    tls: Option<ServerName<'static>>,
    timeouts: Timeouts,
    slot: InFlight,
) -> Result<(http::Response<WasiBody>, IoFuture), HttpError> {
    let tcp = match tokio::time::timeout(timeouts.connect, TcpStream::connect(addr)).await {
        Ok(stream) => stream.map_err(HttpError::Connect)?,
        Err(_) => return Err(HttpError::ConnectionTimeout),
    };
    let stream: Box<dyn Stream> = match tls {
        Some(name) => {
            let connector = tokio_rustls::TlsConnector::from(tls_config());
            let tls = tokio::time::timeout(timeouts.connect, connector.connect(name, tcp))
                .await
                .map_err(|_| HttpError::ConnectionTimeout)?
                .map_err(HttpError::Tls)?;
            Box::new(tls)
        }
        None => Box::new(tcp),
    };
    let (mut sender, conn) = tokio::time::timeout(
        timeouts.connect,
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| HttpError::ConnectionTimeout)??;

    // The request line carries only the path; the Host header names the server.
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|_| HttpError::HttpRequestUriInvalid)?;

    let first_byte = timeouts.first_byte;
    let send = async move {
        tokio::time::timeout(first_byte, sender.send_request(request))
            .await
            .map_err(|_| HttpError::ConnectionReadTimeout)?
            .map_err(HttpError::from)
    };
    let mut send = pin!(send);
    let mut conn = Some(conn);
    // Wait for the response head while driving the connection.
    let response = poll_fn(|cx| match send.as_mut().poll(cx) {
        Poll::Ready(result) => Poll::Ready(result),
        Poll::Pending => {
            let Some(fut) = conn.as_mut() else {
                return Poll::Pending;
            };
            let done = ready!(Pin::new(fut).poll(cx));
            conn = None;
            match done {
                Ok(()) => send.as_mut().poll(cx),
                Err(e) => Poll::Ready(Err(HttpError::from(e))),
            }
        }
    })
    .await?;
    let between = timeouts.between_bytes.max(Duration::from_nanos(1));
    let response = response.map(|incoming| {
        let mut timeout = tokio::time::interval(between);
        timeout.reset();
        ResponseBody {
            incoming,
            timeout,
            _slot: slot,
        }
        .boxed_unsync()
    });
    let io = async move {
        let Some(conn) = conn.take() else {
            return Ok(());
        };
        conn.await.map_err(|e| {
            if e.is_timeout() {
                HttpError::HttpResponseTimeout
            } else {
                e.into()
            }
        })
    };
    Ok((response, Box::new(io) as IoFuture))
}

/// A response body with a limit on the time between frames, holding its request's slot.
struct ResponseBody {
    incoming: Incoming,
    timeout: tokio::time::Interval,
    _slot: InFlight,
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(if e.is_timeout() {
                HttpError::HttpResponseTimeout
            } else {
                e.into()
            }))),
            Poll::Ready(Some(Ok(frame))) => {
                self.timeout.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(self.timeout.poll_tick(cx));
                Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::grants::Limits;
    use crate::resources::Budget;
    use crate::sink::Sink;

    fn request(url: &str) -> http::Request<WasiBody> {
        let body = http_body_util::Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        http::Request::get(url).body(body).unwrap()
    }

    fn slot() -> InFlight {
        let budget = Budget::new(&Limits::default(), Sink::new(1 << 20, None));
        budget.start_request(String::new).unwrap()
    }

    const TIMEOUTS: Timeouts = Timeouts {
        connect: Duration::from_secs(5),
        first_byte: Duration::from_secs(5),
        between_bytes: Duration::from_secs(5),
    };

    /// The name `example.com` resolves far away; the connection still goes to the address given,
    /// and the TLS ClientHello that arrives there asks for `example.com` (SNI).
    #[tokio::test]
    async fn https_dials_the_checked_address_with_the_original_name() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut hello = vec![0u8; 4096];
            let n = conn.read(&mut hello).unwrap();
            hello.truncate(n);
            hello // dropping the connection fails the handshake
        });
        let name = server_name("example.com").unwrap();
        let result = send(
            request("https://example.com/x"),
            addr,
            Some(name),
            TIMEOUTS,
            slot(),
        )
        .await;
        assert!(
            matches!(result, Err(HttpError::Tls(_))),
            "{:?}",
            result.err()
        );
        let hello = server.join().unwrap();
        assert_eq!(hello[0], 0x16, "a TLS handshake record");
        assert!(
            hello.windows(11).any(|w| w == b"example.com"),
            "SNI names the original host"
        );
    }

    #[tokio::test]
    async fn http_sends_only_the_path_to_the_checked_address() {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut head = vec![0u8; 4096];
            let n = conn.read(&mut head).unwrap();
            head.truncate(n);
            conn.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                .unwrap();
            String::from_utf8(head).unwrap()
        });
        let mut req = request("http://api.example.com/a?b=c");
        req.headers_mut()
            .insert(http::header::HOST, "api.example.com".parse().unwrap());
        let (response, _io) = send(req, addr, None, TIMEOUTS, slot()).await.unwrap();
        assert_eq!(response.status(), 204);
        let head = server.join().unwrap();
        assert!(head.starts_with("GET /a?b=c HTTP/1.1\r\n"), "{head}");
        assert!(
            head.to_ascii_lowercase().contains("host: api.example.com"),
            "{head}"
        );
    }

    #[test]
    fn server_names_of_names_and_literals() {
        assert_eq!(
            server_name("example.com").unwrap(),
            ServerName::try_from("example.com").unwrap()
        );
        assert_eq!(
            server_name("[::1]").unwrap(),
            ServerName::from(std::net::Ipv6Addr::LOCALHOST)
        );
        assert!(server_name("bad name").is_err());
    }
}
