//! The `davit:plugin/s3` host interface: S3 requests presigned by the host (AWS Signature
//! Version 4, query-string form), so that an image action reaches S3 with the host's
//! credentials without ever holding them.
//!
//! The host signs an operation only when the object's URL at the S3 endpoint (for a listing,
//! the prefix's) lies under one of the call's url grants, the grants that were intersected
//! with the host policy. Object URLs are under those grants anyway; a listing's URL (the
//! bucket's, with the prefix in its query) is not, so egress lets through the exact URLs this
//! invocation signed ([`Signed`]), and nothing else beyond the grants.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use ring::{digest, hmac};

use crate::bindings::action::davit::plugin::s3::{Host, Operation, Presigned};
use crate::state::HookState;

/// How long a presigned request stays valid.
const EXPIRES_SECS: u32 = 900;
/// The most keys one listing returns (AWSTOE's own bound for S3Download).
const MAX_KEYS: u32 = 1000;

/// Where S3 is and whose credentials sign for it: the host's, from its environment, never
/// given to the guest.
#[derive(Clone)]
pub struct S3Access {
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]` of the endpoint.
    pub authority: String,
    /// `bucket.authority/key` (AWS's own endpoint) or `authority/bucket/key` (a custom one).
    pub virtual_hosted: bool,
    pub region: String,
    pub credentials: Option<S3Credentials>,
}

/// An access key, its secret and a session token.
#[derive(Clone)]
pub struct S3Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for S3Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Access")
            .field("endpoint", &format!("{}://{}", self.scheme, self.authority))
            .field("virtual_hosted", &self.virtual_hosted)
            .field("region", &self.region)
            .field("signed", &self.credentials.is_some())
            .finish()
    }
}

impl S3Access {
    /// The access the usual `AWS_*` variables describe, read through `var`:
    /// `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` (an S3-compatible server, addressed
    /// path-style), else AWS's regional endpoint; `AWS_REGION` or `AWS_DEFAULT_REGION`
    /// (`us-east-1`); `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`
    /// (without them requests go unsigned, for public objects).
    ///
    /// # Errors
    ///
    /// An endpoint that is not an `http://` or `https://` URL with a host and no path.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<S3Access, String> {
        let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let region = var("AWS_REGION")
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".into());
        let credentials = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key), Some(secret_key)) => Some(S3Credentials {
                access_key,
                secret_key,
                session_token: var("AWS_SESSION_TOKEN"),
            }),
            _ => None,
        };
        let Some(endpoint) = var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL")) else {
            return Ok(S3Access {
                scheme: "https".into(),
                authority: format!("s3.{region}.amazonaws.com"),
                virtual_hosted: true,
                region,
                credentials,
            });
        };
        let bad = || format!("the S3 endpoint `{endpoint}` is not an http(s) URL with only a host");
        let (scheme, rest) = endpoint.split_once("://").ok_or_else(bad)?;
        let scheme = scheme.to_ascii_lowercase();
        let authority = rest.trim_end_matches('/');
        if !matches!(scheme.as_str(), "http" | "https")
            || authority.is_empty()
            || authority.contains(['/', '?', '#', '@'])
        {
            return Err(bad());
        }
        Ok(S3Access {
            scheme,
            authority: authority.to_ascii_lowercase(),
            virtual_hosted: false,
            region,
            credentials,
        })
    }

    /// The host and the path (encoded) of `key` in `bucket`.
    fn locate(&self, bucket: &str, key: &str) -> (String, String) {
        // A bucket with dots would not match AWS's wildcard certificate as a host name.
        if self.virtual_hosted && !bucket.contains('.') {
            (
                format!("{bucket}.{}", self.authority),
                format!("/{}", encode(key, false)),
            )
        } else {
            (
                self.authority.clone(),
                format!("/{}/{}", encode(bucket, true), encode(key, false)),
            )
        }
    }

    /// The URL of `key` in `bucket` (unsigned): what a url grant must cover for the host to
    /// sign a request on it.
    pub fn object_url(&self, bucket: &str, key: &str) -> String {
        let (host, path) = self.locate(bucket, key);
        format!("{}://{host}{path}", self.scheme)
    }

    /// Signs `method` on `key` in `bucket` with `query` (unencoded pairs) and extra `headers`
    /// at `now`.
    fn presign(
        &self,
        method: &str,
        bucket: &str,
        key: &str,
        mut query: Vec<(String, String)>,
        headers: Vec<(String, String)>,
        now: SystemTime,
    ) -> Presigned {
        let (host, path) = self.locate(bucket, key);
        let path = if key.is_empty() && self.virtual_hosted && !bucket.contains('.') {
            "/".to_owned()
        } else if key.is_empty() {
            path.trim_end_matches('/').to_owned()
        } else {
            path
        };
        let signed = self.credentials.as_ref().map(|c| {
            sign_query(
                c,
                &self.region,
                Request {
                    method,
                    host: &host,
                    path: &path,
                    headers: &headers,
                },
                &mut query,
                now,
                EXPIRES_SECS,
            )
        });
        let mut pairs: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k, true), encode(v, true)))
            .collect();
        if let Some(signature) = signed {
            pairs.push(format!("X-Amz-Signature={signature}"));
        }
        let query = if pairs.is_empty() {
            String::new()
        } else {
            format!("?{}", pairs.join("&"))
        };
        Presigned {
            method: method.to_owned(),
            url: format!("{}://{host}{path}{query}", self.scheme),
            headers,
        }
    }
}

/// The exact URLs an invocation signed, which egress lets through as signed.
#[derive(Clone, Default)]
pub(crate) struct Signed(Arc<Mutex<HashSet<(String, String)>>>);

impl Signed {
    fn key(uri: &http::Uri) -> Option<(String, String)> {
        Some((
            format!("{}://{}", uri.scheme_str()?, uri.authority()?.as_str()).to_ascii_lowercase(),
            uri.path_and_query()?.as_str().to_owned(),
        ))
    }

    fn add(&self, url: &str) {
        if let Some(key) = url.parse::<http::Uri>().ok().as_ref().and_then(Self::key) {
            self.0.lock().expect("not poisoned").insert(key);
        }
    }

    /// Whether the host signed exactly this request URI.
    pub(crate) fn holds(&self, uri: &http::Uri) -> bool {
        Self::key(uri).is_some_and(|k| self.0.lock().expect("not poisoned").contains(&k))
    }
}

struct Request<'a> {
    method: &'a str,
    host: &'a str,
    /// Already encoded.
    path: &'a str,
    /// Lowercase names.
    headers: &'a [(String, String)],
}

/// Adds the `X-Amz-*` parameters of a presigned request to `query` and returns its signature.
fn sign_query(
    c: &S3Credentials,
    region: &str,
    req: Request<'_>,
    query: &mut Vec<(String, String)>,
    now: SystemTime,
    expires: u32,
) -> String {
    let (date, stamp) = amz_date(now);
    let scope = format!("{date}/{region}/s3/aws4_request");
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
        .chain([("host".to_owned(), req.host.to_owned())])
        .collect();
    headers.sort();
    let signed_headers: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    let signed_headers = signed_headers.join(";");
    query.push(("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into()));
    query.push((
        "X-Amz-Credential".into(),
        format!("{}/{scope}", c.access_key),
    ));
    query.push(("X-Amz-Date".into(), stamp.clone()));
    query.push(("X-Amz-Expires".into(), expires.to_string()));
    if let Some(token) = &c.session_token {
        query.push(("X-Amz-Security-Token".into(), token.clone()));
    }
    query.push(("X-Amz-SignedHeaders".into(), signed_headers.clone()));
    let mut canonical_query: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (encode(k, true), encode(v, true)))
        .collect();
    canonical_query.sort();
    let canonical_query: Vec<String> = canonical_query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let canonical = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\nUNSIGNED-PAYLOAD",
        req.method,
        req.path,
        canonical_query.join("&"),
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let mut key = format!("AWS4{}", c.secret_key).into_bytes();
    for part in [date.as_str(), region, "s3", "aws4_request"] {
        key = mac(&key, part.as_bytes());
    }
    hex(&mac(&key, to_sign.as_bytes()))
}

fn mac(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
        .as_ref()
        .to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// AWS's URI encoding: every byte but `A-Za-z0-9-_.~` as `%XX`, `/` only with `encode_slash`
/// (a key in a path keeps its slashes).
fn encode(text: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            b'/' if !encode_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `YYYYMMDD` and `YYYYMMDDTHHMMSSZ` of `now`, in UTC.
fn amz_date(now: SystemTime) -> (String, String) {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let date = format!("{year:04}{month:02}{day:02}");
    let stamp = format!(
        "{date}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
    (date, stamp)
}

impl HookState {
    fn s3_denied(&self, message: String) -> String {
        self.sink.line(
            crate::Stream::Warn,
            &format!("sandbox: s3 denied: {message}"),
        );
        message
    }
}

impl Host for HookState {
    async fn presign(
        &mut self,
        operation: Operation,
        bucket: String,
        key: String,
        expected_owner: Option<String>,
    ) -> wasmtime::Result<Result<Presigned, String>> {
        let Some(access) = &self.grants.s3 else {
            return Ok(Err(
                self.s3_denied("this call was not given S3 access".to_owned())
            ));
        };
        let shown = format!("s3://{bucket}/{key}");
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !valid_bucket || key.len() > 1024 {
            return Ok(Err(
                self.s3_denied(format!("`{shown}`: not a valid bucket name and key"))
            ));
        }
        if operation == Operation::ListObjects && !(key.is_empty() || key.ends_with('/')) {
            return Ok(Err(self.s3_denied(format!(
                "`{shown}`: a listing's prefix must be empty or end with `/`"
            ))));
        }
        let url = access.object_url(&bucket, &key);
        if !self.grants.urls.iter().any(|g| g.matches(&url)) {
            return Ok(Err(self.s3_denied(format!(
                "`{shown}` (`{url}`) is not under any of this step's url grants"
            ))));
        }
        let headers: Vec<(String, String)> = expected_owner
            .map(|owner| ("x-amz-expected-bucket-owner".to_owned(), owner))
            .into_iter()
            .collect();
        if headers.iter().any(|(_, v)| v.contains(['\r', '\n'])) {
            return Ok(Err(self.s3_denied(format!(
                "`{shown}`: the expected owner is not one line"
            ))));
        }
        let now = SystemTime::now();
        let signed = match operation {
            Operation::GetObject => access.presign("GET", &bucket, &key, Vec::new(), headers, now),
            Operation::PutObject => access.presign("PUT", &bucket, &key, Vec::new(), headers, now),
            Operation::ListObjects => {
                let query = vec![
                    ("list-type".to_owned(), "2".to_owned()),
                    ("max-keys".to_owned(), MAX_KEYS.to_string()),
                    ("prefix".to_owned(), key.clone()),
                ];
                let signed = access.presign("GET", &bucket, "", query, headers, now);
                self.signed.add(&signed.url);
                signed
            }
        };
        Ok(Ok(signed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// AWS's own example of a presigned GET ("Authenticating Requests: Using Query
    /// Parameters", Signature Version 4), which also checks the date arithmetic.
    #[test]
    fn a_presigned_get_matches_aws_documented_example() {
        let creds = S3Credentials {
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        // 2013-05-24T00:00:00Z
        let now = at(1_369_353_600);
        assert_eq!(amz_date(now).1, "20130524T000000Z");
        let req = Request {
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            path: "/test.txt",
            headers: &[],
        };
        let mut query = Vec::new();
        let signature = sign_query(&creds, "us-east-1", req, &mut query, now, 86_400);
        assert_eq!(
            signature,
            "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
        assert!(query.contains(&("X-Amz-SignedHeaders".into(), "host".into())));
    }

    #[test]
    fn dates_are_utc_civil_dates() {
        assert_eq!(amz_date(at(0)).1, "19700101T000000Z");
        // 2024-02-29T23:59:59Z, a leap day.
        assert_eq!(amz_date(at(1_709_251_199)).1, "20240229T235959Z");
        assert_eq!(amz_date(at(1_709_251_200)).0, "20240301");
    }

    #[test]
    fn endpoints_come_from_the_usual_variables() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let aws = S3Access::from_vars(vars(&[("AWS_REGION", "eu-west-1")])).unwrap();
        assert_eq!(
            aws.object_url("my-bucket", "a b/c.txt"),
            "https://my-bucket.s3.eu-west-1.amazonaws.com/a%20b/c.txt"
        );
        assert_eq!(
            aws.object_url("dotted.bucket", "k"),
            "https://s3.eu-west-1.amazonaws.com/dotted.bucket/k"
        );
        assert!(aws.credentials.is_none());
        let local = S3Access::from_vars(vars(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:8333/"),
            ("AWS_ACCESS_KEY_ID", "k"),
            ("AWS_SECRET_ACCESS_KEY", "a-secret-never-shown"),
        ]))
        .unwrap();
        assert_eq!(local.object_url("b", "x/y"), "http://127.0.0.1:8333/b/x/y");
        let listing = local.presign(
            "GET",
            "b",
            "",
            vec![("prefix".into(), "x/".into())],
            Vec::new(),
            at(0),
        );
        assert!(
            listing.url.starts_with(
                "http://127.0.0.1:8333/b?prefix=x%2F&X-Amz-Algorithm=AWS4-HMAC-SHA256&"
            ),
            "{}",
            listing.url
        );
        assert!(
            !listing.url.contains("a-secret"),
            "the secret is never in a URL"
        );
        for bad in ["ftp://h", "http://h/path", "http://u@h", "127.0.0.1:8333"] {
            let r = S3Access::from_vars(move |k: &str| {
                (k == "AWS_ENDPOINT_URL").then(|| bad.to_owned())
            });
            assert!(r.is_err(), "{bad}");
        }
    }
}
