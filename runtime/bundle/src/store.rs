//! Where bundles live: a directory, davit's own HTTP store (`davit store serve`), or an
//! S3-compatible bucket, all through the `object_store` crate.
//!
//! Layout, the same in every store:
//! - `chunks/<first 2 hex>/<digest>`: a chunk's bytes;
//! - `manifests/<revision id>`: a manifest's bytes;
//! - `signatures/<revision id>/<key id>`: a signature of the revision (see [`crate::sign`]);
//! - `refs/<name>`: a small named record (a package version's: which revision it is), written
//!   once: [`Store::create_ref`] never replaces one.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::digest::Digest;

/// The largest signature object read (a record is about 200 bytes).
const MAX_SIGNATURE: u64 = 4096;

/// The largest ref read (a package version's record is a few hundred bytes).
const MAX_REF: u64 = 64 << 10;

/// What [`Store::create_ref`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefWrite {
    /// The ref was written.
    Created,
    /// It was there already, with these bytes; nothing was written.
    Exists(Bytes),
}

/// A bundle store.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    url: String,
}

/// A store that cannot be opened or answered wrongly.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no store davit knows.
    #[error("`{url}` is not a store: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The store has no such object.
    #[error("{what} is not in the store `{url}`")]
    NotFound {
        /// What was looked for.
        what: String,
        /// The store.
        url: String,
    },
    /// An object larger than it may be; refused before it is read whole.
    #[error("{what} in the store `{url}` is larger than the {max} bytes it may be")]
    TooLarge {
        /// What was fetched.
        what: String,
        /// The store.
        url: String,
        /// The most it may be.
        max: u64,
    },
    /// A record the store holds is not one davit wrote.
    #[error("{what} in the store `{url}` is not a record davit wrote: {reason}")]
    BadRecord {
        /// Which record.
        what: String,
        /// The store.
        url: String,
        /// Why it does not read.
        reason: String,
    },
    /// The store failed.
    #[error("store `{url}`: {source}")]
    Backend {
        /// The store.
        url: String,
        /// What it said.
        source: object_store::Error,
    },
}

impl Store {
    /// Opens the store at `url`:
    /// - a path or `file:///path`: a directory (created if missing);
    /// - `http://host:port/prefix`: davit's HTTP store;
    /// - `s3://bucket/prefix`: an S3 bucket; credentials, region and endpoint come from the
    ///   usual `AWS_*` variables (`AWS_ENDPOINT_URL` for an S3-compatible server;
    ///   `AWS_ALLOW_HTTP=true` lets it be plain http).
    ///
    /// For an HTTP store, the token in `DAVIT_STORE_TOKEN` (if set) is sent with every request,
    /// as `davit store serve --token-env` requires for uploads.
    ///
    /// # Errors
    ///
    /// [`StoreError::BadUrl`] for a URL of another kind, or a store that cannot be set up.
    pub fn open(url: &str) -> Result<Store, StoreError> {
        let token = std::env::var("DAVIT_STORE_TOKEN")
            .ok()
            .filter(|t| !t.is_empty());
        Self::open_with_token(url, token.as_deref())
    }

    /// [`Store::open`] with an explicit token for an HTTP store (`None`: no token).
    ///
    /// # Errors
    ///
    /// As [`Store::open`], and for a token that cannot be sent as a header.
    pub fn open_with_token(url: &str, token: Option<&str>) -> Result<Store, StoreError> {
        let bad = |reason: String| StoreError::BadUrl {
            url: url.to_owned(),
            reason,
        };
        let inner: Arc<dyn ObjectStore> = if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("it names no bucket".into()));
            }
            let s3 = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| bad(e.to_string()))?;
            prefixed(Arc::new(s3), prefix)
        } else if url.starts_with("http://") || url.starts_with("https://") {
            let mut options = object_store::ClientOptions::new().with_allow_http(true);
            if let Some(token) = token {
                let value = http::HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| bad("the token is not valid in an HTTP header".into()))?;
                let mut headers = http::HeaderMap::new();
                headers.insert(http::header::AUTHORIZATION, value);
                options = options.with_default_headers(headers);
            }
            let http = object_store::http::HttpBuilder::new()
                .with_url(url)
                .with_client_options(options)
                .build()
                .map_err(|e| bad(e.to_string()))?;
            Arc::new(http)
        } else if url.contains("://") && !url.starts_with("file://") {
            return Err(bad(
                "use a directory, file://, http://, https:// or s3:// URL".into(),
            ));
        } else {
            let dir = url.strip_prefix("file://").unwrap_or(url);
            std::fs::create_dir_all(dir).map_err(|e| bad(format!("cannot create it: {e}")))?;
            let local = object_store::local::LocalFileSystem::new_with_prefix(dir)
                .map_err(|e| bad(e.to_string()))?;
            Arc::new(local)
        };
        Ok(Store {
            inner,
            url: url.to_owned(),
        })
    }

    /// The URL it was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the store has the chunk.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn has_chunk(&self, digest: &Digest) -> Result<bool, StoreError> {
        match self.inner.head(&chunk_key(digest)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.backend(e)),
        }
    }

    /// Stores a chunk (its digest is its name; the caller computed it).
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn put_chunk(&self, digest: &Digest, data: Bytes) -> Result<(), StoreError> {
        self.put(&chunk_key(digest), data).await
    }

    /// A chunk's bytes, at most `max`, unverified: the caller checks them against `digest`.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`], [`StoreError::TooLarge`], or when the store fails.
    pub async fn get_chunk(&self, digest: &Digest, max: u64) -> Result<Bytes, StoreError> {
        self.get(&chunk_key(digest), || format!("chunk {digest}"), max)
            .await
    }

    /// Stores a manifest under its revision id.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn put_manifest(&self, id: &Digest, data: Bytes) -> Result<(), StoreError> {
        self.put(&manifest_key(id), data).await
    }

    /// Whether the store has the revision's manifest.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn has_manifest(&self, id: &Digest) -> Result<bool, StoreError> {
        match self.inner.head(&manifest_key(id)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.backend(e)),
        }
    }

    /// A manifest's bytes, at most `max`, unverified:
    /// [`Manifest::decode`](crate::Manifest::decode) checks them.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`], [`StoreError::TooLarge`], or when the store fails.
    pub async fn get_manifest(&self, id: &Digest, max: u64) -> Result<Bytes, StoreError> {
        self.get(&manifest_key(id), || format!("revision {id}"), max)
            .await
    }

    /// Stores a signature of revision `id` by the key `key_id` names.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn put_signature(
        &self,
        id: &Digest,
        key_id: &str,
        data: Bytes,
    ) -> Result<(), StoreError> {
        self.put(&signature_key(id, key_id), data).await
    }

    /// The signature of revision `id` by the key `key_id` names, if the store has one
    /// (unverified).
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn get_signature(
        &self,
        id: &Digest,
        key_id: &str,
    ) -> Result<Option<Bytes>, StoreError> {
        let what = || format!("the signature of revision {id} by key {key_id}");
        match self
            .get(&signature_key(id, key_id), what, MAX_SIGNATURE)
            .await
        {
            Ok(bytes) => Ok(Some(bytes)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes the ref `name` (a `/`-separated key under `refs/`) unless it exists:
    /// [`RefWrite::Exists`] then holds what it says. Atomic where the store can create
    /// conditionally (a directory, S3 with conditional writes); elsewhere a check then a
    /// write, which two writers racing could both pass.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn create_ref(&self, name: &str, data: Bytes) -> Result<RefWrite, StoreError> {
        let key = ref_key(name);
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let put = self
            .inner
            .put_opts(&key, PutPayload::from_bytes(data.clone()), options)
            .await;
        match put {
            Ok(_) => Ok(RefWrite::Created),
            Err(object_store::Error::AlreadyExists { .. }) => {
                Ok(RefWrite::Exists(self.ref_bytes(name).await?))
            }
            Err(object_store::Error::NotImplemented { .. }) => match self.get_ref(name).await? {
                Some(existing) => Ok(RefWrite::Exists(existing)),
                None => self.put(&key, data).await.map(|()| RefWrite::Created),
            },
            Err(e) => Err(self.backend(e)),
        }
    }

    /// The ref `name`, if the store has it.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn get_ref(&self, name: &str) -> Result<Option<Bytes>, StoreError> {
        match self.ref_bytes(name).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn ref_bytes(&self, name: &str) -> Result<Bytes, StoreError> {
        self.get(&ref_key(name), || format!("ref `{name}`"), MAX_REF)
            .await
    }

    /// The names of the refs under `prefix` (`packages/agent`), sorted.
    ///
    /// # Errors
    ///
    /// When the store fails or cannot list (davit's HTTP store serves no listing).
    pub async fn list_refs(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let base = ref_key(prefix);
        let mut names = Vec::new();
        let mut listing = self.inner.list(Some(&base));
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| self.backend(e))?;
            if let Some(name) = meta.location.as_ref().strip_prefix("refs/") {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Removes the ref `name` (a retention policy's work); removing a missing ref is no error.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn delete_ref(&self, name: &str) -> Result<(), StoreError> {
        match self.inner.delete(&ref_key(name)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.backend(e)),
        }
    }

    async fn put(&self, key: &Key, data: Bytes) -> Result<(), StoreError> {
        self.inner
            .put(key, PutPayload::from_bytes(data))
            .await
            .map(drop)
            .map_err(|e| self.backend(e))
    }

    /// An object's bytes, refused as soon as it is known to exceed `max`: by its announced size,
    /// or while it streams in (a store may announce one size and send more).
    async fn get(
        &self,
        key: &Key,
        what: impl Fn() -> String,
        max: u64,
    ) -> Result<Bytes, StoreError> {
        let failed = |e| match e {
            object_store::Error::NotFound { .. } => StoreError::NotFound {
                what: what(),
                url: self.url.clone(),
            },
            e => self.backend(e),
        };
        let too_large = || StoreError::TooLarge {
            what: what(),
            url: self.url.clone(),
            max,
        };
        let result = self.inner.get(key).await.map_err(failed)?;
        if result.meta.size > max {
            return Err(too_large());
        }
        let mut data = bytes::BytesMut::with_capacity(result.meta.size as usize);
        let mut stream = result.into_stream();
        while let Some(part) = stream.next().await {
            let part = part.map_err(failed)?;
            if (data.len() + part.len()) as u64 > max {
                return Err(too_large());
            }
            data.extend_from_slice(&part);
        }
        Ok(data.freeze())
    }

    fn backend(&self, source: object_store::Error) -> StoreError {
        StoreError::Backend {
            url: self.url.clone(),
            source,
        }
    }
}

fn prefixed(store: Arc<dyn ObjectStore>, prefix: &str) -> Arc<dyn ObjectStore> {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        store
    } else {
        Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
    }
}

/// Where a chunk lives in a store (and in a host's cache).
pub fn chunk_key(digest: &Digest) -> Key {
    let hex = digest.to_hex();
    Key::from(format!("chunks/{}/{hex}", &hex[..2]))
}

fn manifest_key(id: &Digest) -> Key {
    Key::from(format!("manifests/{id}"))
}

fn ref_key(name: &str) -> Key {
    Key::from(format!("refs/{}", name.trim_matches('/')))
}

fn signature_key(id: &Digest, key_id: &str) -> Key {
    Key::from(format!("signatures/{id}/{key_id}"))
}
