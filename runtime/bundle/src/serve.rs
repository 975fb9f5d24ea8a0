//! davit's HTTP store: a directory of chunks and manifests served over HTTP (`davit store
//! serve`), so hosts pull from the server. It speaks the subset of HTTP that the `object_store`
//! HTTP client uses: GET, HEAD and PUT of one object.
//!
//! Only the store's own keys exist (`chunks/ab/<digest>`, `manifests/<digest>`,
//! `signatures/<digest>/<key id>`): any other path is 404 and can name no file outside the
//! directory. An upload must hash to its name (a signature: verify by the key it names), so a
//! client cannot plant a corrupt chunk or a bogus signature. With a token, uploads need `Authorization: Bearer TOKEN`.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::cache::write_atomically;
use crate::digest::Digest;
use crate::manifest::MAX_CHUNK;
use crate::sign::{PublicKey, SignatureRecord};

/// The largest manifest accepted (the default manifest limit of a pull).
const MAX_MANIFEST: usize = 256 << 20;
/// The largest signature record accepted (one is about 200 bytes).
const MAX_SIGNATURE: usize = 4096;

/// Serves the store in `root` on `listener` until the task is dropped.
///
/// # Errors
///
/// When accepting connections fails.
pub async fn serve(
    root: PathBuf,
    listener: TcpListener,
    token: Option<String>,
) -> std::io::Result<()> {
    let shared = Arc::new((root, token));
    loop {
        let (stream, _) = listener.accept().await?;
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(&shared.0, shared.1.as_deref(), request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    root: &Path,
    token: Option<&str>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let Some((object, path)) = object_path(root, request.uri().path()) else {
        return status(StatusCode::NOT_FOUND, "no such object");
    };
    match *request.method() {
        Method::HEAD => match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_file() => sized(Bytes::new(), meta.len()),
            _ => status(StatusCode::NOT_FOUND, "no such object"),
        },
        Method::GET => match tokio::fs::read(&path).await {
            Ok(data) => {
                let len = data.len() as u64;
                sized(Bytes::from(data), len)
            }
            Err(_) => status(StatusCode::NOT_FOUND, "no such object"),
        },
        Method::PUT => {
            if let Some(token) = token {
                let expected = format!("Bearer {token}");
                let given = request.headers().get(header::AUTHORIZATION);
                if given.is_none_or(|g| g.as_bytes() != expected.as_bytes()) {
                    return status(StatusCode::UNAUTHORIZED, "uploads need the store's token");
                }
            }
            let body = match Limited::new(request.into_body(), object.max_size())
                .collect()
                .await
            {
                Ok(body) => body.to_bytes(),
                Err(_) => return status(StatusCode::PAYLOAD_TOO_LARGE, "upload too large"),
            };
            if !object.accepts(&body) {
                return status(
                    StatusCode::BAD_REQUEST,
                    "the upload does not hash to its name, or is not a valid signature by its key",
                );
            }
            let written = tokio::task::spawn_blocking(move || write_atomically(&path, &body)).await;
            match written {
                Ok(Ok(())) => status(StatusCode::CREATED, ""),
                _ => status(StatusCode::INTERNAL_SERVER_ERROR, "cannot store the upload"),
            }
        }
        _ => status(StatusCode::METHOD_NOT_ALLOWED, "GET, HEAD or PUT"),
    }
}

/// An object of the store, by its key.
enum Object {
    /// `chunks/ab/<digest>`: content named by its digest.
    Chunk(Digest),
    /// `manifests/<digest>`: content named by its digest.
    Manifest(Digest),
    /// `signatures/<revision>/<key id>`.
    Signature(Digest, String),
}

impl Object {
    /// The largest upload this key may take: a chunk, a manifest, or a signature record.
    fn max_size(&self) -> usize {
        match self {
            Object::Chunk(_) => MAX_CHUNK as usize,
            Object::Manifest(_) => MAX_MANIFEST,
            Object::Signature(..) => MAX_SIGNATURE,
        }
    }

    /// Whether `body` may be stored under this key.
    fn accepts(&self, body: &[u8]) -> bool {
        match self {
            Object::Chunk(digest) | Object::Manifest(digest) => Digest::of(body) == *digest,
            Object::Signature(revision, key_id) => {
                let Ok(record) = serde_json::from_slice::<SignatureRecord>(body) else {
                    return false;
                };
                record
                    .key
                    .parse::<PublicKey>()
                    .is_ok_and(|key| key.id() == *key_id && key.verifies(revision, &record))
            }
        }
    }
}

/// The object and file of a store key in the URL path, or `None` for anything else.
fn object_path(root: &Path, url_path: &str) -> Option<(Object, PathBuf)> {
    let parts: Vec<&str> = url_path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["chunks", shard, hex] => {
            let digest: Digest = hex.parse().ok()?;
            (*shard == &hex[..2]).then(|| {
                let path = root.join("chunks").join(shard).join(hex);
                (Object::Chunk(digest), path)
            })
        }
        ["manifests", hex] => {
            let digest: Digest = hex.parse().ok()?;
            Some((Object::Manifest(digest), root.join("manifests").join(hex)))
        }
        ["signatures", hex, key_id] if is_key_id(key_id) => {
            let digest: Digest = hex.parse().ok()?;
            let path = root.join("signatures").join(hex).join(key_id);
            Some((Object::Signature(digest, (*key_id).to_owned()), path))
        }
        _ => None,
    }
}

fn is_key_id(text: &str) -> bool {
    text.len() == 16 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A 200 response with its length.
fn sized(body: Bytes, len: u64) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, len.into());
    response
}

fn status(code: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = code;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_store_keys_name_files() {
        let root = Path::new("/store");
        let d = Digest::of(b"x").to_hex();
        let (_, path) = object_path(root, &format!("/chunks/{}/{d}", &d[..2])).unwrap();
        assert_eq!(path, root.join("chunks").join(&d[..2]).join(&d));
        assert!(object_path(root, &format!("/manifests/{d}")).is_some());
        for bad in [
            format!("/chunks/zz/{d}"),
            "/chunks/../../etc/passwd".to_string(),
            "/manifests/..%2f..%2fetc".to_string(),
            format!("/manifests/{d}/x"),
            "/".to_string(),
        ] {
            assert!(object_path(root, &bad).is_none(), "{bad}");
        }
    }
}
