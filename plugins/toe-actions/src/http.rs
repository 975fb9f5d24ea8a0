//! One HTTP request through `wasi:http` (the sandbox lets out only what the step was granted),
//! for WebDownload and the S3 modules.

use std::io::Read;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingResponse, Method, OutgoingBody, OutgoingRequest, RequestOptions,
    Scheme,
};
use wasip2::io::streams::StreamError;

/// How long the server may pause before the first byte or between two.
const PAUSE_NS: u64 = 120_000_000_000;
/// The most bytes one write to a `wasi:io` stream takes.
const WRITE_CHUNK: usize = 4096;

/// A request body: its length, and where its bytes come from.
pub struct Body<'a> {
    pub length: u64,
    pub reader: &'a mut dyn Read,
}

/// Sends `method` to `url` with `headers` and `body`; the response, whatever its status.
pub fn send(
    method: &Method,
    url: &Url,
    headers: &[(String, String)],
    body: Option<Body<'_>>,
) -> Result<IncomingResponse, String> {
    let fields = Fields::new();
    for (name, value) in headers {
        fields
            .append(name, value.as_bytes())
            .map_err(|e| format!("`{url}`: header `{name}` refused: {e:?}"))?;
    }
    if let Some(body) = &body {
        fields
            .append("content-length", body.length.to_string().as_bytes())
            .map_err(|e| format!("`{url}`: content-length refused: {e:?}"))?;
    }
    let request = OutgoingRequest::new(fields);
    let invalid = |what: &str| format!("`{url}`: invalid request {what}");
    request.set_method(method).map_err(|()| invalid("method"))?;
    let scheme = if url.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid("scheme"))?;
    request
        .set_authority(Some(&url.authority))
        .map_err(|()| invalid("host"))?;
    request
        .set_path_with_query(Some(&url.path))
        .map_err(|()| invalid("path"))?;
    let outgoing = request.body().map_err(|()| invalid("body"))?;
    let options = RequestOptions::new();
    let _ = options.set_first_byte_timeout(Some(PAUSE_NS));
    let _ = options.set_between_bytes_timeout(Some(PAUSE_NS));
    let future = outgoing_handler::handle(request, Some(options)).map_err(|e| failure(url, e))?;
    if let Some(body) = body {
        write_body(&outgoing, body).map_err(|e| format!("`{url}`: sending the body: {e}"))?;
    }
    OutgoingBody::finish(outgoing, None).map_err(|e| failure(url, e))?;
    future.subscribe().block();
    future
        .get()
        .ok_or_else(|| format!("`{url}`: no response"))?
        .map_err(|()| format!("`{url}`: response already taken"))?
        .map_err(|e| failure(url, e))
}

fn write_body(outgoing: &OutgoingBody, body: Body<'_>) -> Result<(), String> {
    let stream = outgoing.write().map_err(|()| "already taken".to_string())?;
    let mut buf = vec![0u8; WRITE_CHUNK];
    let mut sent = 0u64;
    loop {
        let n = body.reader.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        sent += n as u64;
        stream
            .blocking_write_and_flush(&buf[..n])
            .map_err(|e| match e {
                StreamError::Closed => "the connection closed".to_string(),
                StreamError::LastOperationFailed(e) => e.to_debug_string(),
            })?;
    }
    if sent != body.length {
        return Err(format!("read {sent} bytes of {}", body.length));
    }
    Ok(())
}

/// Reads the body of `response`, handing each chunk to `sink`.
pub fn read_body(
    url: &Url,
    response: IncomingResponse,
    mut sink: impl FnMut(&[u8]) -> Result<(), String>,
) -> Result<(), String> {
    let body = response
        .consume()
        .map_err(|()| format!("`{url}`: body already taken"))?;
    let stream = body
        .stream()
        .map_err(|()| format!("`{url}`: body already taken"))?;
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => sink(&chunk)?,
            Err(StreamError::Closed) => return Ok(()),
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(format!(
                    "`{url}`: reading the body failed: {}",
                    e.to_debug_string()
                ));
            }
        }
    }
}

/// The whole body of `response`, at most `limit` bytes.
pub fn read_all(url: &Url, response: IncomingResponse, limit: usize) -> Result<Vec<u8>, String> {
    let mut all = Vec::new();
    read_body(url, response, |chunk| {
        if all.len() + chunk.len() > limit {
            return Err(format!("`{url}`: the answer is over {limit} bytes"));
        }
        all.extend_from_slice(chunk);
        Ok(())
    })?;
    Ok(all)
}

fn failure(url: &Url, code: ErrorCode) -> String {
    match code {
        ErrorCode::HttpRequestDenied => {
            format!("`{url}`: request denied by the sandbox: the step has no url grant for it")
        }
        ErrorCode::ConnectionRefused => format!("`{url}`: connection refused"),
        ErrorCode::DestinationNotFound => format!("`{url}`: host not found"),
        other => format!("`{url}`: {other:?}"),
    }
}

/// An `http[s]://authority/path?query` URL, split as `wasi:http` wants it.
pub struct Url {
    pub https: bool,
    pub authority: String,
    /// Path and query, from `/`.
    pub path: String,
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, String> {
        let t = text.trim();
        let lower = t.to_ascii_lowercase();
        let (https, rest) = if lower.starts_with("https://") {
            (true, &t[8..])
        } else if lower.starts_with("http://") {
            (false, &t[7..])
        } else {
            return Err(format!("`{text}` is not an http:// or https:// URL"));
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.is_empty() || authority.contains('@') || t.contains(char::is_whitespace) {
            return Err(format!("`{text}` has no host, a user name or white space"));
        }
        let path = match path.chars().next() {
            None => "/".to_string(),
            Some('?') => format!("/{path}"),
            Some(_) => path.to_string(),
        };
        Ok(Url {
            https,
            authority: authority.to_string(),
            path,
        })
    }

    /// Where a redirect's `location` leads from here.
    pub fn follow(&self, location: &str) -> Result<Url, String> {
        if location.starts_with('/') && !location.starts_with("//") {
            return Ok(Url {
                https: self.https,
                authority: self.authority.clone(),
                path: location.to_string(),
            });
        }
        Url::parse(location)
    }

    /// The URL without its query (a presigned URL's signature is not for logs).
    pub fn without_query(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let path = self.path.split('?').next().unwrap_or_default();
        format!("{scheme}://{}{path}", self.authority)
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority, self.path)
    }
}
