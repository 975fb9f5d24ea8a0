//! Pushing an image from an OCI layout to a registry, and pulling one into a layout (the OCI
//! distribution API: `/v2/<repository>/blobs/…` and `/manifests/…`).
//!
//! A push sends the blobs the registry lacks first (each checked by digest on the
//! registry's side), then the manifest once per tag: a push that fails part way tags
//! nothing. A pull checks every blob's digest before it enters the layout. Loopback
//! registries are spoken to over plain http, every other one over https.

use std::path::Path;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};

use super::layer::sha256;
use super::layout::{Descriptor, INDEX, Layout, MANIFEST, Manifest};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// `HOST[:PORT]/REPOSITORY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    pub host: String,
    pub repository: String,
}

impl std::fmt::Display for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.host, self.repository)
    }
}

impl Repository {
    /// The repository's API root, `http(s)://HOST[:PORT]/v2/REPOSITORY`: every request davit
    /// makes to it is beneath this URL.
    pub fn base(&self) -> String {
        let bare = self.host.split(':').next().unwrap_or_default();
        let loopback = bare == "localhost" || bare.starts_with("127.") || bare == "[::1]";
        let scheme = if loopback { "http" } else { "https" };
        format!("{scheme}://{}/v2/{}", self.host, self.repository)
    }
}

/// Why a push or pull failed.
#[derive(Debug, thiserror::Error)]
#[error("registry `{registry}`: {what}")]
pub struct RegistryError {
    pub registry: String,
    pub what: String,
}

/// What a push sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pushed {
    pub blobs_sent: u64,
    pub blobs_present: u64,
    pub bytes_sent: u64,
}

struct Client<'r> {
    http: reqwest::Client,
    repo: &'r Repository,
}

impl<'r> Client<'r> {
    fn new(repo: &'r Repository) -> Client<'r> {
        Client {
            http: reqwest::Client::new(),
            repo,
        }
    }

    fn error(&self, what: impl Into<String>) -> RegistryError {
        RegistryError {
            registry: self.repo.to_string(),
            what: what.into(),
        }
    }

    fn read(&self, layout: &Layout, digest: &str) -> Result<Vec<u8>, RegistryError> {
        layout
            .get(digest)
            .map_err(|e| self.error(format!("reading blob {digest} of the layout: {e}")))
    }

    fn sent(&self, what: &str, e: &reqwest::Error) -> RegistryError {
        let mut cause = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            cause = format!("{cause}: {s}");
            source = s.source();
        }
        self.error(format!("{what}: {cause}"))
    }

    async fn answer(
        &self,
        what: &str,
        response: reqwest::Response,
        ok: &[StatusCode],
    ) -> Result<reqwest::Response, RegistryError> {
        if ok.contains(&response.status()) {
            return Ok(response);
        }
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let body: String = body.chars().take(300).collect();
        Err(self.error(format!("{what}: {status} {}", body.trim())))
    }

    async fn has_blob(&self, digest: &str) -> Result<bool, RegistryError> {
        let url = format!("{}/blobs/{digest}", self.repo.base());
        let what = format!("checking blob {digest}");
        let r = self
            .http
            .head(&url)
            .send()
            .await
            .map_err(|e| self.sent(&what, &e))?;
        match r.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => self.answer(&what, r, &[]).await.map(|_| false),
        }
    }

    async fn put_blob(&self, digest: &str, bytes: Vec<u8>) -> Result<(), RegistryError> {
        let what = format!("uploading blob {digest}");
        let start = self
            .http
            .post(format!("{}/blobs/uploads/", self.repo.base()))
            .header(CONTENT_LENGTH, 0)
            .send()
            .await
            .map_err(|e| self.sent(&what, &e))?;
        let start = self.answer(&what, start, &[StatusCode::ACCEPTED]).await?;
        let location = start
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| self.error(format!("{what}: no upload location")))?
            .to_owned();
        let location = if location.starts_with('/') {
            let base = self.repo.base();
            let origin = base.split("/v2/").next().unwrap_or_default().to_owned();
            format!("{origin}{location}")
        } else {
            location
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let r = self
            .http
            .put(format!("{location}{sep}digest={digest}"))
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, bytes.len())
            .body(bytes)
            .send()
            .await
            .map_err(|e| self.sent(&what, &e))?;
        self.answer(&what, r, &[StatusCode::CREATED]).await?;
        Ok(())
    }

    async fn put_manifest(
        &self,
        tag: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<(), RegistryError> {
        let what = format!("tagging `{tag}`");
        let r = self
            .http
            .put(format!("{}/manifests/{tag}", self.repo.base()))
            .header(CONTENT_TYPE, media_type)
            .body(bytes)
            .send()
            .await
            .map_err(|e| self.sent(&what, &e))?;
        self.answer(&what, r, &[StatusCode::CREATED]).await?;
        Ok(())
    }

    /// The bytes at `/manifests/REFERENCE` or `/blobs/DIGEST`, and the media type given.
    async fn get(&self, path: &str, what: &str) -> Result<(Vec<u8>, String), RegistryError> {
        let r = self
            .http
            .get(format!("{}/{path}", self.repo.base()))
            .header(
                ACCEPT,
                [MANIFEST, INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(", "),
            )
            .send()
            .await
            .map_err(|e| self.sent(what, &e))?;
        let r = self.answer(what, r, &[StatusCode::OK]).await?;
        let media_type = r
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = r.bytes().await.map_err(|e| self.sent(what, &e))?;
        Ok((bytes.to_vec(), media_type))
    }
}

/// Pushes the image `manifest` of `layout` to `repo` under `tags`: its blobs, then its tags.
///
/// # Errors
///
/// The first request that failed, naming the registry and what was being sent.
pub async fn push(
    layout: &Layout,
    manifest: &Descriptor,
    repo: &Repository,
    tags: &[String],
) -> Result<Pushed, RegistryError> {
    let pushed = push_blobs(layout, manifest, repo).await?;
    put_tags(layout, manifest, repo, tags).await?;
    Ok(pushed)
}

/// Sends `repo` the blobs of the image `manifest` of `layout` that it lacks (each checked by
/// digest on the registry's side). Nothing is tagged: a registry that has every blob can be
/// tagged without a failure part way leaving a tag on a partial image.
///
/// # Errors
///
/// The first request that failed.
pub async fn push_blobs(
    layout: &Layout,
    manifest: &Descriptor,
    repo: &Repository,
) -> Result<Pushed, RegistryError> {
    let client = Client::new(repo);
    let parsed: Manifest = serde_json::from_slice(&client.read(layout, &manifest.digest)?)
        .map_err(|e| client.error(format!("the manifest {}: {e}", manifest.digest)))?;
    let mut pushed = Pushed::default();
    for blob in parsed.layers.iter().chain([&parsed.config]) {
        if client.has_blob(&blob.digest).await? {
            pushed.blobs_present += 1;
            continue;
        }
        let bytes = client.read(layout, &blob.digest)?;
        pushed.bytes_sent += bytes.len() as u64;
        client.put_blob(&blob.digest, bytes).await?;
        pushed.blobs_sent += 1;
    }
    Ok(pushed)
}

/// Puts the manifest under each of `tags` (its blobs must be there: [`push_blobs`]).
///
/// # Errors
///
/// The first tag the registry refused.
pub async fn put_tags(
    layout: &Layout,
    manifest: &Descriptor,
    repo: &Repository,
    tags: &[String],
) -> Result<(), RegistryError> {
    let client = Client::new(repo);
    let bytes = client.read(layout, &manifest.digest)?;
    for tag in tags {
        client
            .put_manifest(tag, &manifest.media_type, bytes.clone())
            .await?;
    }
    Ok(())
}

/// The digest of the manifest `repo` serves as `tag`, computed from its bytes.
///
/// # Errors
///
/// When the registry does not answer with it.
pub async fn tagged_digest(repo: &Repository, tag: &str) -> Result<String, RegistryError> {
    let client = Client::new(repo);
    let (bytes, _) = client
        .get(&format!("manifests/{tag}"), &format!("reading `{tag}`"))
        .await?;
    Ok(sha256(&bytes))
}

/// Pulls `repo:tag` (for an index, its linux/amd64 image) into `into`, tagged `tag` there;
/// the manifest's descriptor.
///
/// # Errors
///
/// A request that failed, or a blob whose bytes are not its digest.
pub async fn pull(
    repo: &Repository,
    tag: &str,
    into: &Layout,
) -> Result<Descriptor, RegistryError> {
    let client = Client::new(repo);
    let (mut bytes, mut media_type) = client
        .get(&format!("manifests/{tag}"), &format!("reading `{tag}`"))
        .await?;
    if media_type.starts_with(INDEX) || media_type.starts_with(DOCKER_LIST) {
        let index: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| client.error(format!("the index of `{tag}`: {e}")))?;
        let digest = index["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["platform"]["os"] == "linux" && m["platform"]["architecture"] == "amd64")
            .and_then(|m| m["digest"].as_str())
            .ok_or_else(|| client.error(format!("`{tag}` has no linux/amd64 image")))?
            .to_owned();
        (bytes, media_type) = client
            .get(&format!("manifests/{digest}"), &format!("reading `{tag}`"))
            .await?;
    }
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| client.error(format!("the manifest of `{tag}`: {e}")))?;
    for blob in manifest.layers.iter().chain([&manifest.config]) {
        if into.blob_path(&blob.digest).is_ok_and(|p| p.exists()) {
            continue;
        }
        let what = format!("reading blob {}", blob.digest);
        let (data, _) = client.get(&format!("blobs/{}", blob.digest), &what).await?;
        if sha256(&data) != blob.digest {
            return Err(client.error(format!("{what}: its bytes are not its digest")));
        }
        into.put(&blob.media_type, &data)
            .map_err(|e| client.error(format!("{what}: writing it: {e}")))?;
    }
    let media_type = if media_type.is_empty() {
        manifest.media_type.clone()
    } else {
        media_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let descriptor = into
        .put(&media_type, &bytes)
        .map_err(|e| client.error(format!("writing the manifest: {e}")))?;
    into.tag(&descriptor, &[tag.to_owned()])
        .map_err(|e| client.error(format!("tagging the pulled image: {e}")))?;
    Ok(descriptor)
}

/// Where pulled parents are kept under the deployment root: one layout per repository.
pub fn pull_cache(deployment_root: &Path, repo: &Repository) -> std::path::PathBuf {
    let safe = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
    };
    deployment_root
        .join("cache")
        .join("registry")
        .join(safe(&repo.host))
        .join(safe(&repo.repository))
}
