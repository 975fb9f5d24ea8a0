//! The OCI image layout on disk (`oci-layout`, `index.json`, `blobs/sha256/…`), written and
//! read by davit: an image is a manifest naming a config and its layers, all content-named,
//! and the index names the manifest once per tag (`org.opencontainers.image.ref.name`).
//!
//! Every JSON document is written from a struct with fixed field order and no insignificant
//! whitespace, so the same image is the same bytes, the same digest.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::layer::sha256;

pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default)]
    pub media_type: String,
    pub manifests: Vec<Descriptor>,
}

/// The image configuration (the parts davit writes and reads; unknown fields of a parent's
/// are kept in `rest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    pub architecture: String,
    pub os: String,
    #[serde(default)]
    pub config: RunConfig,
    pub rootfs: RootFs,
    #[serde(default)]
    pub history: Vec<History>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunConfig {
    #[serde(rename = "Env", default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(rename = "Cmd", default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(
        rename = "WorkingDir",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub working_dir: Option<String>,
    #[serde(rename = "Labels", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// An image read from a layout: its manifest, its config and their descriptors.
#[derive(Debug, Clone)]
pub struct Image {
    pub manifest: Manifest,
    pub manifest_descriptor: Descriptor,
    pub config: Config,
}

/// An OCI layout directory.
#[derive(Debug, Clone)]
pub struct Layout {
    dir: PathBuf,
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

impl Layout {
    /// Creates (or opens) the layout at `dir`.
    ///
    /// # Errors
    ///
    /// When it cannot be written.
    pub fn create(dir: &Path) -> io::Result<Layout> {
        std::fs::create_dir_all(dir.join("blobs/sha256"))?;
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        Ok(Layout {
            dir: dir.to_path_buf(),
        })
    }

    /// Opens an existing layout.
    ///
    /// # Errors
    ///
    /// When `dir` holds no `oci-layout`.
    pub fn open(dir: &Path) -> io::Result<Layout> {
        let marker = std::fs::read(dir.join("oci-layout")).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("`{}` is not an OCI layout: {e}", dir.display()),
            )
        })?;
        if !String::from_utf8_lossy(&marker).contains("imageLayoutVersion") {
            return Err(invalid(format!(
                "`{}/oci-layout` is not an OCI layout marker",
                dir.display()
            )));
        }
        Ok(Layout {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the blobs are (`blobs/sha256`).
    pub fn blobs(&self) -> PathBuf {
        self.dir.join("blobs/sha256")
    }

    /// The path of the blob `digest` (`sha256:…`), refusing anything but 64 hex digits.
    ///
    /// # Errors
    ///
    /// A digest that is not sha256 hex.
    pub fn blob_path(&self, digest: &str) -> io::Result<PathBuf> {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| invalid(format!("`{digest}` is not a sha256 digest")))?;
        Ok(self.blobs().join(hex.to_ascii_lowercase()))
    }

    /// Writes `bytes` as a blob; its descriptor.
    ///
    /// # Errors
    ///
    /// When it cannot be written.
    pub fn put(&self, media_type: &str, bytes: &[u8]) -> io::Result<Descriptor> {
        let digest = sha256(bytes);
        let path = self.blob_path(&digest)?;
        if !path.exists() {
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, &path)?;
        }
        Ok(Descriptor {
            media_type: media_type.to_owned(),
            digest,
            size: bytes.len() as u64,
            annotations: BTreeMap::new(),
        })
    }

    /// Reads the blob `digest`, checking its digest.
    ///
    /// # Errors
    ///
    /// When it is missing or its bytes are not what the digest says.
    pub fn get(&self, digest: &str) -> io::Result<Vec<u8>> {
        let bytes = std::fs::read(self.blob_path(digest)?)?;
        if sha256(&bytes) != digest {
            return Err(invalid(format!(
                "blob {digest} in `{}` does not match its digest",
                self.dir.display()
            )));
        }
        Ok(bytes)
    }

    /// Copies the blob `digest` from `other` (unless this layout has it), checking it.
    ///
    /// # Errors
    ///
    /// When it is missing, corrupt or cannot be written.
    pub fn copy_blob(&self, other: &Layout, digest: &str) -> io::Result<()> {
        let to = self.blob_path(digest)?;
        if to.exists() {
            return Ok(());
        }
        let from = other.blob_path(digest)?;
        let tmp = to.with_extension(format!("tmp{}", std::process::id()));
        std::fs::copy(&from, &tmp)?;
        if file_digest(&tmp)? != digest {
            let _ = std::fs::remove_file(&tmp);
            return Err(invalid(format!(
                "blob {digest} in `{}` does not match its digest",
                other.dir.display()
            )));
        }
        std::fs::rename(&tmp, &to)
    }

    /// The index (an empty one for a new layout).
    ///
    /// # Errors
    ///
    /// When `index.json` exists and is not an index.
    pub fn index(&self) -> io::Result<Index> {
        match std::fs::read(self.dir.join("index.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| invalid(format!("`{}/index.json`: {e}", self.dir.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Index {
                schema_version: 2,
                media_type: INDEX.to_owned(),
                manifests: Vec::new(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Points each of `tags` at `manifest` in the index (a tag moves; other tags stay).
    ///
    /// # Errors
    ///
    /// When the index cannot be read or written.
    pub fn tag(&self, manifest: &Descriptor, tags: &[String]) -> io::Result<()> {
        let mut index = self.index()?;
        index.manifests.retain(|m| {
            m.annotations
                .get(REF_NAME)
                .is_none_or(|t| !tags.contains(t))
        });
        for tag in tags {
            let mut d = manifest.clone();
            d.annotations.insert(REF_NAME.to_owned(), tag.clone());
            index.manifests.push(d);
        }
        index.manifests.sort_by(|a, b| {
            a.annotations
                .get(REF_NAME)
                .cmp(&b.annotations.get(REF_NAME))
        });
        let bytes = serde_json::to_vec(&index).expect("index serializes");
        let path = self.dir.join("index.json");
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    }

    /// The image the index names `tag`, or its only image when `tag` is `None`.
    ///
    /// # Errors
    ///
    /// No such tag (the tags there are named), several images and no tag, or a blob that is
    /// missing or corrupt.
    pub fn image(&self, tag: Option<&str>) -> io::Result<Image> {
        let index = self.index()?;
        let found: Vec<&Descriptor> = index
            .manifests
            .iter()
            .filter(|m| {
                let name = m.annotations.get(REF_NAME).map(String::as_str);
                match tag {
                    Some(t) => name == Some(t),
                    // Artifacts about an image (its SBOM) are not images.
                    None => !name.is_some_and(|n| n.ends_with(".sbom")),
                }
            })
            .collect();
        let distinct: std::collections::BTreeSet<&str> =
            found.iter().map(|d| d.digest.as_str()).collect();
        let descriptor = match (distinct.len(), tag) {
            (1, _) => found[0].clone(),
            (0, _) | (_, None) => {
                let tags: Vec<&str> = index
                    .manifests
                    .iter()
                    .filter_map(|m| m.annotations.get(REF_NAME).map(String::as_str))
                    .collect();
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    match tag {
                        Some(t) => format!(
                            "`{}` has no image tagged `{t}` (it has {})",
                            self.dir.display(),
                            if tags.is_empty() {
                                "none".to_owned()
                            } else {
                                tags.join(", ")
                            }
                        ),
                        None => format!(
                            "`{}` holds {} images: name one by tag ({})",
                            self.dir.display(),
                            distinct.len(),
                            tags.join(", ")
                        ),
                    },
                ));
            }
            _ => unreachable!("one tag names one manifest"),
        };
        let manifest: Manifest = serde_json::from_slice(&self.get(&descriptor.digest)?)
            .map_err(|e| invalid(format!("manifest {}: {e}", descriptor.digest)))?;
        let config: Config = serde_json::from_slice(&self.get(&manifest.config.digest)?)
            .map_err(|e| invalid(format!("config {}: {e}", manifest.config.digest)))?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(invalid(format!(
                "image {}: {} layers but {} diff ids",
                descriptor.digest,
                manifest.layers.len(),
                config.rootfs.diff_ids.len()
            )));
        }
        Ok(Image {
            manifest,
            manifest_descriptor: descriptor,
            config,
        })
    }
}

/// `sha256:…` of a file's bytes.
///
/// # Errors
///
/// When it cannot be read.
pub fn file_digest(path: &Path) -> io::Result<String> {
    reader_digest(&mut std::fs::File::open(path)?)
}

/// `sha256:…` of what `reader` reads to its end.
///
/// # Errors
///
/// When it cannot be read.
pub fn reader_digest(reader: &mut impl io::Read) -> io::Result<String> {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("sha256:{hex}"))
}

/// RFC 3339 UTC of a Unix time, as OCI's `created` fields.
pub fn rfc3339(epoch: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(i64::try_from(epoch).unwrap_or(0))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_move_and_images_read_back_with_digests_checked() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let config = Config {
            created: Some(rfc3339(0)),
            architecture: "amd64".into(),
            os: "linux".into(),
            config: RunConfig::default(),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: Vec::new(),
            },
            history: Vec::new(),
        };
        let c = layout
            .put(CONFIG, &serde_json::to_vec(&config).unwrap())
            .unwrap();
        let manifest = Manifest {
            schema_version: 2,
            media_type: MANIFEST.into(),
            config: c,
            layers: Vec::new(),
            annotations: BTreeMap::new(),
        };
        let m = layout
            .put(MANIFEST, &serde_json::to_vec(&manifest).unwrap())
            .unwrap();
        layout.tag(&m, &["1.0.0".into(), "latest".into()]).unwrap();
        let image = layout.image(Some("latest")).unwrap();
        assert_eq!(image.config, config);
        assert_eq!(layout.image(None).unwrap().manifest, manifest);
        let err = layout.image(Some("2.0.0")).unwrap_err().to_string();
        assert!(
            err.contains("has no image tagged `2.0.0` (it has 1.0.0, latest)"),
            "{err}"
        );
        // A corrupt blob is found out.
        std::fs::write(layout.blob_path(&m.digest).unwrap(), b"{}").unwrap();
        assert!(layout.image(Some("latest")).is_err());
        assert!(layout.blob_path("sha256:../../etc/passwd").is_err());
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
