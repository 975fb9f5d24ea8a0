//! WebDownload: GET through `wasi:http` (only URLs the step is granted), streamed to a file
//! beside the destination, its digest checked, then renamed into place.

use std::io::Write;

use davit_sdk::info;
use serde::Deserialize;
use serde_json::Value;
use wasip2::http::types::Method;

use crate::Done;
use crate::checksum::{Algorithm, Hasher};
use crate::http::{self, Url};
use crate::files::{exists, file_name, io_error, join, make_parents};
use crate::input::{self, boolean, opt_text, text, yes};

/// Redirects followed before giving up (each must be granted too).
const MAX_REDIRECTS: usize = 5;

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
        let url = Url::parse(&item.source).map_err(|e| format!("`source`: {e}"))?;
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
        let response = http::send(&Method::Get, &url, &[], None)?;
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
        let mut file = std::fs::File::create(part).map_err(|e| io_error(part, &e))?;
        http::read_body(&url, response, |chunk| {
            if let Some(h) = hasher.as_mut() {
                h.update(chunk);
            }
            file.write_all(chunk).map_err(|e| io_error(part, &e))
        })?;
        file.flush().map_err(|e| io_error(part, &e))?;
        return Ok(hasher.map(Hasher::hex));
    }
    Err(format!("`{url}`: more than {MAX_REDIRECTS} redirects"))
}
