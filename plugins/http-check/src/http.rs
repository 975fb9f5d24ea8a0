//! One GET through `wasi:http/outgoing-handler`, bounded by a timeout.

use std::time::Duration;

use wasip2::clocks::monotonic_clock;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, Method, OutgoingRequest, RequestOptions};
use wasip2::io::poll;
use wasip2::io::streams::StreamError;

use crate::url::Url;

/// At most this much of a body is read: enough to look for `expect_body` and show a snippet.
const BODY_LIMIT: usize = 64 * 1024;

/// What a service answered.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// The first [`BODY_LIMIT`] bytes of the body.
    pub body: Vec<u8>,
}

/// Why there is no response.
#[derive(Debug)]
pub enum Failure {
    /// The host refused the request: the hook has no grant for this URL.
    Denied,
    /// Anything else: refused connection, timeout, protocol error.
    Error(String),
}

/// GETs `url`, giving up after `timeout`.
pub fn get(url: &Url, timeout: Duration) -> Result<Response, Failure> {
    let timeout_ns = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
    let request = OutgoingRequest::new(Fields::new());
    let invalid = |what: &str| Failure::Error(format!("invalid request {what}"));
    request
        .set_method(&Method::Get)
        .map_err(|()| invalid("method"))?;
    request
        .set_scheme(Some(&url.scheme()))
        .map_err(|()| invalid("scheme"))?;
    request
        .set_authority(Some(&url.authority))
        .map_err(|()| invalid("authority"))?;
    request
        .set_path_with_query(Some(&url.path_with_query))
        .map_err(|()| invalid("path"))?;
    let options = RequestOptions::new();
    // A host may not support some of these; the overall timeout below still holds.
    let _ = options.set_connect_timeout(Some(timeout_ns));
    let _ = options.set_first_byte_timeout(Some(timeout_ns));
    let _ = options.set_between_bytes_timeout(Some(timeout_ns));

    let future = outgoing_handler::handle(request, Some(options)).map_err(failure)?;
    let deadline = monotonic_clock::subscribe_duration(timeout_ns);
    let response = loop {
        if let Some(result) = future.get() {
            break result
                .map_err(|()| Failure::Error("response already taken".into()))?
                .map_err(failure)?;
        }
        let ready = future.subscribe();
        let woken = poll::poll(&[&ready, &deadline]);
        if woken.contains(&1) && !woken.contains(&0) {
            return Err(Failure::Error(format!(
                "no response within {} ms",
                timeout.as_millis()
            )));
        }
    };

    let status = response.status();
    let body = response
        .consume()
        .map_err(|()| Failure::Error("body already taken".into()))?;
    let mut bytes = Vec::new();
    {
        let stream = body
            .stream()
            .map_err(|()| Failure::Error("body stream already taken".into()))?;
        while bytes.len() < BODY_LIMIT {
            match stream.read((BODY_LIMIT - bytes.len()) as u64) {
                Ok(chunk) if chunk.is_empty() => {
                    let ready = stream.subscribe();
                    let woken = poll::poll(&[&ready, &deadline]);
                    if woken.contains(&1) && !woken.contains(&0) {
                        return Err(Failure::Error(format!(
                            "status {status} but the body did not arrive within {} ms",
                            timeout.as_millis()
                        )));
                    }
                }
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    let cause = wasip2::http::types::http_error_code(&e)
                        .map(|code| describe(&code))
                        .unwrap_or_else(|| e.to_debug_string());
                    return Err(Failure::Error(format!(
                        "status {status} but reading the body failed: {cause}"
                    )));
                }
            }
        }
    }
    Ok(Response {
        status,
        body: bytes,
    })
}

fn failure(code: ErrorCode) -> Failure {
    match code {
        ErrorCode::HttpRequestDenied => Failure::Denied,
        other => Failure::Error(describe(&other)),
    }
}

/// A few words for an error code, as a person would say it.
fn describe(code: &ErrorCode) -> String {
    match code {
        ErrorCode::DnsTimeout => "DNS lookup timed out".into(),
        ErrorCode::DnsError(p) => match &p.rcode {
            Some(rcode) => format!("DNS error ({rcode})"),
            None => "DNS error".into(),
        },
        ErrorCode::DestinationNotFound => "host not found".into(),
        ErrorCode::DestinationUnavailable => "destination unavailable".into(),
        ErrorCode::DestinationIpProhibited => "destination IP prohibited".into(),
        ErrorCode::DestinationIpUnroutable => "destination IP unroutable".into(),
        ErrorCode::ConnectionRefused => "connection refused".into(),
        ErrorCode::ConnectionTerminated => "connection closed by the server".into(),
        ErrorCode::ConnectionTimeout => "connection timed out".into(),
        ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => {
            "response timed out".into()
        }
        ErrorCode::TlsProtocolError => "TLS protocol error".into(),
        ErrorCode::TlsCertificateError => "TLS certificate error".into(),
        ErrorCode::HttpResponseIncomplete => "incomplete response".into(),
        ErrorCode::HttpProtocolError => "HTTP protocol error".into(),
        ErrorCode::InternalError(Some(why)) => format!("internal error: {why}"),
        other => format!("{other:?}"),
    }
}
