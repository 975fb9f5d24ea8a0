//! S3Download and S3Upload. The host signs each request (`davit:plugin/s3`) when the object's
//! URL at its S3 endpoint is under one of the step's url grants, and the request goes out
//! through `wasi:http`; the credentials stay on the host.
//!
//! A download of `s3://bucket/prefix/*` lists the prefix (at most 1000 keys, AWSTOE's bound)
//! and recreates the keys below it under the destination folder; a key that would climb out of
//! it (`..`, `.` or an empty name) fails the step before anything is written. Each object is
//! streamed to a file beside its destination and renamed into place.

use std::io::Write;

use davit_sdk::info;
use davit_sdk::s3::{Operation, Presigned, presign};
use serde::Deserialize;
use serde_json::Value;
use wasip2::http::types::Method;

use crate::Done;
use crate::files::{exists, file_name, io_error, join, make_parents};
use crate::http::{self, Body, Url};
use crate::input::{self, boolean, opt_text, text, yes};

/// The largest listing answer read (1000 keys of up to 1024 bytes, with their XML).
const MAX_LISTING_BYTES: usize = 4 << 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct S3Download {
    #[serde(deserialize_with = "text")]
    source: String,
    #[serde(deserialize_with = "text")]
    destination: String,
    #[serde(default, deserialize_with = "opt_text")]
    expected_bucket_owner: Option<String>,
    #[serde(default = "yes", deserialize_with = "boolean")]
    overwrite: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct S3Upload {
    #[serde(deserialize_with = "text")]
    source: String,
    #[serde(deserialize_with = "text")]
    destination: String,
    #[serde(default, deserialize_with = "boolean")]
    recurse: bool,
    #[serde(default, deserialize_with = "opt_text")]
    expected_bucket_owner: Option<String>,
}

/// `s3://bucket/key`, split.
struct S3Uri {
    bucket: String,
    key: String,
}

impl S3Uri {
    fn parse(field: &str, text: &str) -> Result<S3Uri, String> {
        let rest = text
            .strip_prefix("s3://")
            .ok_or_else(|| format!("`{field}`: `{text}` is not an s3:// URI"))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("`{field}`: `{text}` names no bucket"));
        }
        Ok(S3Uri {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }
}

impl std::fmt::Display for S3Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

fn signed(
    operation: Operation,
    uri: &S3Uri,
    key: &str,
    owner: Option<&str>,
) -> Result<(Presigned, Url), String> {
    let request = presign(operation, &uri.bucket, key, owner)
        .map_err(|e| format!("`s3://{}/{key}`: {e}", uri.bucket))?;
    let url = Url::parse(&request.url)?;
    Ok((request, url))
}

fn method(name: &str) -> Method {
    match name {
        "PUT" => Method::Put,
        _ => Method::Get,
    }
}

/// What S3 said when it refused: its error code and message, when the body has them.
fn refusal(url: &Url, status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let code = tag(&text, "Code").unwrap_or_default();
    let message = tag(&text, "Message").unwrap_or_default();
    let shown = url.without_query();
    if code.is_empty() {
        format!("`{shown}` answered {status}")
    } else {
        format!("`{shown}` answered {status} {code}: {message}")
    }
}

pub fn download(inputs: &Value) -> Result<Done, String> {
    for item in input::list::<S3Download>(inputs)? {
        let source = S3Uri::parse("source", &item.source)?;
        let owner = item.expected_bucket_owner.as_deref();
        let objects: Vec<(String, String)> = match source.key.strip_suffix('*') {
            Some(prefix) => {
                if !(prefix.is_empty() || prefix.ends_with('/')) {
                    return Err(format!(
                        "`source`: `{}`: a wildcard stands for a whole prefix (`prefix/*`)",
                        item.source
                    ));
                }
                list(&source, prefix, owner)?
                    .into_iter()
                    .map(|key| {
                        let below = &key[prefix.len()..];
                        safe_relative(&key, below).map(|rel| (key.clone(), join(&item.destination, rel)))
                    })
                    .collect::<Result<_, _>>()?
            }
            None => {
                let destination = if item.destination.ends_with('/') {
                    join(&item.destination, file_name(&source.key))
                } else {
                    item.destination.clone()
                };
                vec![(source.key.clone(), destination)]
            }
        };
        for (key, destination) in objects {
            if key.ends_with('/') {
                // A "folder" object: the directory itself.
                std::fs::create_dir_all(&destination).map_err(|e| io_error(&destination, &e))?;
                continue;
            }
            if exists(&destination) && !item.overwrite {
                return Err(format!(
                    "`{destination}` already exists and `overwrite` is false"
                ));
            }
            get_object(&source, &key, owner, &destination)?;
            info!("downloaded s3://{}/{key} to {destination}", source.bucket);
        }
    }
    Ok(Done::none())
}

/// The part of a listed key below the prefix, when it stays below it.
fn safe_relative<'a>(key: &str, below: &'a str) -> Result<&'a str, String> {
    let trimmed = below.strip_suffix('/').unwrap_or(below);
    if trimmed.is_empty() && below.is_empty()
        || trimmed
            .split('/')
            .any(|name| name.is_empty() || name == "." || name == "..")
    {
        return Err(format!(
            "the listed key `{key}` does not name a path below the prefix; nothing of it is written"
        ));
    }
    Ok(below)
}

fn get_object(
    source: &S3Uri,
    key: &str,
    owner: Option<&str>,
    destination: &str,
) -> Result<(), String> {
    let (request, url) = signed(Operation::GetObject, source, key, owner)?;
    let response = http::send(&method(&request.method), &url, &request.headers, None)?;
    let status = response.status();
    if !(200..300).contains(&status) {
        let body = http::read_all(&url, response, 64 * 1024).unwrap_or_default();
        return Err(refusal(&url, status, &body));
    }
    make_parents(destination)?;
    let part = format!("{destination}.davit-part");
    let written = (|| {
        let mut file = std::fs::File::create(&part).map_err(|e| io_error(&part, &e))?;
        http::read_body(&url, response, |chunk| {
            file.write_all(chunk).map_err(|e| io_error(&part, &e))
        })?;
        file.flush().map_err(|e| io_error(&part, &e))
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&part);
        return Err(e);
    }
    std::fs::rename(&part, destination).map_err(|e| io_error(destination, &e))
}

/// The keys under `prefix` (at most 1000; more is an error, as in AWSTOE).
fn list(source: &S3Uri, prefix: &str, owner: Option<&str>) -> Result<Vec<String>, String> {
    let (request, url) = signed(Operation::ListObjects, source, prefix, owner)?;
    let response = http::send(&method(&request.method), &url, &request.headers, None)?;
    let status = response.status();
    let body = http::read_all(&url, response, MAX_LISTING_BYTES)?;
    if !(200..300).contains(&status) {
        return Err(refusal(&url, status, &body));
    }
    let text = String::from_utf8_lossy(&body);
    if tag(&text, "IsTruncated").as_deref() == Some("true") {
        return Err(format!(
            "`{source}`: more than 1000 objects under the prefix (S3Download's bound)"
        ));
    }
    let mut keys = Vec::new();
    let mut rest = &*text;
    while let Some(start) = rest.find("<Contents>") {
        let after = &rest[start + "<Contents>".len()..];
        let end = after.find("</Contents>").unwrap_or(after.len());
        if let Some(key) = tag(&after[..end], "Key") {
            keys.push(key);
        }
        rest = &after[end..];
    }
    Ok(keys)
}

/// The unescaped text of the first `<name>…</name>` in `xml`.
fn tag(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(unescape(&xml[start..end]))
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

pub fn upload(inputs: &Value) -> Result<Done, String> {
    for item in input::list::<S3Upload>(inputs)? {
        let destination = S3Uri::parse("destination", &item.destination)?;
        let owner = item.expected_bucket_owner.as_deref();
        let files: Vec<(String, String)> = match item.source.strip_suffix("/*") {
            Some(dir) => {
                if !(destination.key.is_empty() || destination.key.ends_with('/')) {
                    return Err(format!(
                        "`destination`: `{}` must be a prefix ending in `/` for a folder's files",
                        item.destination
                    ));
                }
                let mut found = Vec::new();
                walk(dir, "", item.recurse, &mut found)?;
                found
                    .into_iter()
                    .map(|rel| (join(dir, &rel), format!("{}{rel}", destination.key)))
                    .collect()
            }
            None => {
                let key = if destination.key.is_empty() || destination.key.ends_with('/') {
                    format!("{}{}", destination.key, file_name(&item.source))
                } else {
                    destination.key.clone()
                };
                vec![(item.source.clone(), key)]
            }
        };
        for (path, key) in files {
            put_object(&destination, &key, owner, &path)?;
            info!("uploaded {path} to s3://{}/{key}", destination.bucket);
        }
    }
    Ok(Done::none())
}

/// The files under `dir` (relative to it, sorted), into subdirectories with `recurse`; links
/// to directories are not followed.
fn walk(dir: &str, rel: &str, recurse: bool, out: &mut Vec<String>) -> Result<(), String> {
    let here = if rel.is_empty() {
        dir.to_owned()
    } else {
        join(dir, rel)
    };
    let mut entries: Vec<_> = std::fs::read_dir(&here)
        .map_err(|e| io_error(&here, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| io_error(&here, &e))?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let kind = entry.file_type().map_err(|e| io_error(&child, &e))?;
        if kind.is_dir() {
            if recurse {
                walk(dir, &child, recurse, out)?;
            }
        } else if kind.is_file()
            || kind.is_symlink() && std::fs::metadata(join(dir, &child)).is_ok_and(|m| m.is_file())
        {
            out.push(child);
        }
    }
    Ok(())
}

fn put_object(
    destination: &S3Uri,
    key: &str,
    owner: Option<&str>,
    path: &str,
) -> Result<(), String> {
    let mut file = std::fs::File::open(path).map_err(|e| io_error(path, &e))?;
    let length = file.metadata().map_err(|e| io_error(path, &e))?.len();
    let (request, url) = signed(Operation::PutObject, destination, key, owner)?;
    let body = Body {
        length,
        reader: &mut file,
    };
    let response = http::send(&method(&request.method), &url, &request.headers, Some(body))?;
    let status = response.status();
    let answer = http::read_all(&url, response, 64 * 1024).unwrap_or_default();
    if !(200..300).contains(&status) {
        return Err(refusal(&url, status, &answer));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_keys_stay_below_the_prefix() {
        assert_eq!(safe_relative("p/a/b.txt", "a/b.txt"), Ok("a/b.txt"));
        assert_eq!(safe_relative("p/dir/", "dir/"), Ok("dir/"));
        for below in ["../etc/passwd", "a/../../x", "./a", "a//b", "", "/abs"] {
            assert!(safe_relative(below, below).is_err(), "{below}");
        }
    }

    #[test]
    fn listing_xml_is_read_with_its_entities() {
        let xml = "<ListBucketResult><IsTruncated>false</IsTruncated>\
            <Contents><Key>p/a&amp;b.txt</Key><Size>1</Size></Contents>\
            <Contents><Key>p/&#x263A;&lt;x&gt;</Key></Contents></ListBucketResult>";
        assert_eq!(tag(xml, "IsTruncated").as_deref(), Some("false"));
        assert_eq!(unescape("a&amp;b&#65;&bogus;c"), "a&bA&bogus;c");
        assert_eq!(tag(xml, "Key").as_deref(), Some("p/a&b.txt"));
    }
}
