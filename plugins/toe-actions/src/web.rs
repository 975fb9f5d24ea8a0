//! WebDownload: GET through `wasi:http` (only URLs the step is granted), streamed to a file
//! beside the destination, its digest checked, then renamed into place.

use std::io::Write;

use davit_sdk::info;
use serde::Deserialize;
use serde_json::Value;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, Method, OutgoingRequest, RequestOptions, Scheme};
use wasip2::io::streams::StreamError;

use crate::Done;
use crate::checksum::{Algorithm, Hasher};
use crate::files::{exists, file_name, io_error, join, make_parents};
use crate::input::{self, boolean, opt_text, text, yes};

/// Redirects followed before giving up (each must be granted too).
const MAX_REDIRECTS: usize = 5;
/// How long the server may pause before the first byte or between two.
const PAUSE_NS: u64 = 120_000_000_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WebDownload {
    #[serde(deserialize_with = "text")]
    source: String,
    #[serde(deserialize_with = "text")]
    destination: String,
    #[serde(default = "yes", deserialize_with = "boolean")]
    overwrite: bool,
    #[serde(default, deserialize_with = "opt_text")]
    checksum: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    algorithm: Option<String>,
    #[serde(default, deserialize_with = "boolean")]
    ignore_certificate_errors: bool,
}

/// Output `destination`: the files written, one a line.
pub fn run(inputs: &Value) -> Result<Done, String> {
    let mut written = Vec::new();
    for item in input::list::<WebDownload>(inputs)? {
        let url = Url::parse(&item.source)?;
        if item.ignore_certificate_errors && url.https {
            return Err("`ignoreCertificateErrors: true` is not supported: the sandbox always checks certificates".into());
        }
        let check = match (&item.checksum, &item.algorithm) {
            (Some(sum), Some(name)) => {
                Some((sum.trim().to_ascii_lowercase(), Algorithm::parse(name)?))
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err("`checksum` and `algorithm` go together: give both or neither".into());
            }
            (None, None) => None,
        };
        let destination = if item.destination.ends_with('/') {
            let name = file_name(url.path.split('?').next().unwrap_or_default());
            if name.is_empty() {
                return Err(format!(
                    "`{}` names no file to put in `{}`",
                    item.source, item.destination
                ));
            }
            join(&item.destination, name)
        } else {
            item.destination.clone()
        };
        if exists(&destination) && !item.overwrite {
            return Err(format!(
                "`{destination}` already exists and `overwrite` is false"
            ));
        }
        make_parents(&destination)?;
        let part = format!("{destination}.davit-part");
        let fetched = download(url, &part, check.as_ref().map(|(_, a)| a.hasher()));
        let digest = match fetched {
            Ok(digest) => digest,
            Err(e) => {
                let _ = std::fs::remove_file(&part);
                return Err(e);
            }
        };
        if let (Some((want, algorithm)), Some(got)) = (&check, digest)
            && *want != got
        {
            let _ = std::fs::remove_file(&part);
            let name = format!("{algorithm:?}").to_uppercase();
            return Err(format!(
                "`{}`: {name} checksum is {got}, expected {want}",
                item.source
            ));
        }
        std::fs::rename(&part, &destination).map_err(|e| io_error(&destination, &e))?;
        info!("downloaded {} to {destination}", item.source);
        written.push(destination);
    }
    Ok(Done::output("destination", written.join("\n")))
}

/// GETs `url` into the file `part`, following redirects; the digest when a hasher is given.
fn download(
    mut url: Url,
    part: &str,
    mut hasher: Option<Hasher>,
) -> Result<Option<String>, String> {
    for _ in 0..=MAX_REDIRECTS {
        let request = OutgoingRequest::new(Fields::new());
        let invalid = |what: &str| format!("`{url}`: invalid request {what}");
        request
            .set_method(&Method::Get)
            .map_err(|()| invalid("method"))?;
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
        let options = RequestOptions::new();
        let _ = options.set_first_byte_timeout(Some(PAUSE_NS));
        let _ = options.set_between_bytes_timeout(Some(PAUSE_NS));
        let future =
            outgoing_handler::handle(request, Some(options)).map_err(|e| failure(&url, e))?;
        future.subscribe().block();
        let response = future
            .get()
            .ok_or_else(|| format!("`{url}`: no response"))?
            .map_err(|()| format!("`{url}`: response already taken"))?
            .map_err(|e| failure(&url, e))?;
        let status = response.status();
        if matches!(status, 301 | 302 | 303 | 307 | 308) {
            let location = response.headers().get("location");
            let location = location
                .first()
                .map(|v| String::from_utf8_lossy(v).into_owned());
            let Some(location) = location else {
                return Err(format!("`{url}` redirected ({status}) without a location"));
            };
            url = url.follow(&location)?;
            continue;
        }
        if !(200..300).contains(&status) {
            return Err(format!("`{url}` answered {status}"));
        }
        let body = response
            .consume()
            .map_err(|()| format!("`{url}`: body already taken"))?;
        let stream = body
            .stream()
            .map_err(|()| format!("`{url}`: body already taken"))?;
        let mut file = std::fs::File::create(part).map_err(|e| io_error(part, &e))?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => {
                    if let Some(h) = hasher.as_mut() {
                        h.update(&chunk);
                    }
                    file.write_all(&chunk).map_err(|e| io_error(part, &e))?;
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(format!(
                        "`{url}`: reading the body failed: {}",
                        e.to_debug_string()
                    ));
                }
            }
        }
        drop(stream);
        file.flush().map_err(|e| io_error(part, &e))?;
        return Ok(hasher.map(Hasher::hex));
    }
    Err(format!("`{url}`: more than {MAX_REDIRECTS} redirects"))
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
struct Url {
    https: bool,
    authority: String,
    /// Path and query, from `/`.
    path: String,
}

impl Url {
    fn parse(text: &str) -> Result<Url, String> {
        let t = text.trim();
        let lower = t.to_ascii_lowercase();
        let (https, rest) = if lower.starts_with("https://") {
            (true, &t[8..])
        } else if lower.starts_with("http://") {
            (false, &t[7..])
        } else {
            return Err(format!(
                "`source`: `{text}` is not an http:// or https:// URL"
            ));
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.is_empty() || authority.contains('@') || t.contains(char::is_whitespace) {
            return Err(format!(
                "`source`: `{text}` has no host, a user name or white space"
            ));
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
    fn follow(&self, location: &str) -> Result<Url, String> {
        if location.starts_with('/') && !location.starts_with("//") {
            return Ok(Url {
                https: self.https,
                authority: self.authority.clone(),
                path: location.to_string(),
            });
        }
        Url::parse(location)
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority, self.path)
    }
}
