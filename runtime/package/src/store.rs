//! Packages in a davit store: each version is a bundle revision (its `manifest.json`, its
//! `davit.yml` if any, and the files the manifest names), and a davit-bundle release
//! `NAME` `VERSION` that says which revision it is, written once: a version never changes. Chunks make a push send only what the store lacks; a pull fetches only what the
//! host lacks and checks every chunk.

use std::path::{Path, PathBuf};

use davit_bundle::{Created, Digest, Release, Store};
use serde::Serialize;

use crate::archive;
use crate::error::PackageError;
use crate::manifest::Manifest;

/// A version's record in the store: davit-bundle's release of the package's name.
pub type VersionRecord = Release;

/// The manifest's file name beside the zips.
pub const MANIFEST: &str = "manifest.json";
/// davit's section beside it: each action's grants.
pub const DAVIT_SECTION: &str = "davit.yml";

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pushed {
    pub name: String,
    pub version: String,
    pub revision: String,
    /// False when the same version with the same content was there already.
    pub created: bool,
    pub new_chunks: usize,
    pub new_bytes: u64,
}

/// Checks a package name: one path component of letters, digits, `_ - .`, as application
/// names are.
///
/// # Errors
///
/// [`PackageError::Name`].
pub fn check_name(name: &str) -> Result<(), PackageError> {
    if davit_api::is_safe_name(name) {
        Ok(())
    } else {
        Err(PackageError::Name {
            name: name.to_owned(),
        })
    }
}

/// Checks the package at `dir` (its manifest, every checksum, every zip's scripts) and pushes
/// it to `store` as `name`, sending only what the store lacks. The same version again with the
/// same content is a no-op; with other content it is refused.
///
/// # Errors
///
/// A [`PackageError`] naming the package, version and file at fault; nothing is written then.
pub async fn push(dir: &Path, name: &str, store: &Store) -> Result<Pushed, PackageError> {
    check_name(name)?;
    let manifest = read_manifest(dir)?;
    crate::scripts::read(dir)?;
    for (file, sha256) in &manifest.files {
        let path = dir.join(file);
        archive::check_sha256(&path, sha256).map_err(|e| e.of(name, &manifest.version))?;
        archive::list_actions(&path).map_err(|e| e.of(name, &manifest.version))?;
    }
    // Only the package's own files go into the revision, whatever else the directory holds.
    let staging = tempfile::tempdir()
        .map_err(|e| PackageError::io("create a temporary directory", Path::new("/tmp"), e))?;
    let mut names: Vec<&str> = vec![MANIFEST];
    if dir.join(DAVIT_SECTION).exists() {
        names.push(DAVIT_SECTION);
    }
    names.extend(manifest.files.keys().map(String::as_str));
    for file in names {
        let (from, to) = (dir.join(file), staging.path().join(file));
        std::fs::copy(&from, &to).map_err(|e| PackageError::io("copy", &from, e))?;
    }
    let report = davit_bundle::push(
        staging.path(),
        store,
        davit_bundle::DEFAULT_CONCURRENCY,
        &davit_bundle::Quiet,
    )
    .await?;
    let revision = report.revision.to_hex();
    let created = match store
        .create_release(&Release::new(name, &manifest.version, &revision))
        .await?
    {
        Created::New => true,
        Created::Same => false,
        Created::Other(existing) => {
            return Err(PackageError::VersionExists {
                name: name.to_owned(),
                version: manifest.version.clone(),
                revision: existing.revision,
            });
        }
    };
    Ok(Pushed {
        name: name.to_owned(),
        version: manifest.version,
        revision,
        created,
        new_chunks: report.new_chunks,
        new_bytes: report.new_bytes,
    })
}

/// Reads and checks `dir/manifest.json`.
///
/// # Errors
///
/// [`PackageError::Manifest`] (located) or I/O.
pub fn read_manifest(dir: &Path) -> Result<Manifest, PackageError> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| PackageError::io("read", &path, e))?;
    Ok(Manifest::parse(&path.display().to_string(), &text)?)
}

/// Every version of `name` in `store`, oldest push first.
///
/// # Errors
///
/// When the store fails or cannot list.
pub async fn versions(store: &Store, name: &str) -> Result<Vec<VersionRecord>, PackageError> {
    check_name(name)?;
    Ok(store.releases(name).await?)
}

/// The record of `name` at `version`, or at the newest push when `version` is `None`.
///
/// # Errors
///
/// [`PackageError::NoSuchVersion`] when the store does not have it.
pub async fn resolve(
    store: &Store,
    name: &str,
    version: Option<&str>,
) -> Result<VersionRecord, PackageError> {
    check_name(name)?;
    store
        .find_release(name, version)
        .await?
        .ok_or_else(|| PackageError::NoSuchVersion {
            name: name.to_owned(),
            version: version.map(str::to_owned),
            store: store.url().to_owned(),
        })
}

/// Removes all but the `keep` newest versions of `name` (their records: the chunks go with
/// the store's garbage collection). Returns the versions removed.
///
/// # Errors
///
/// When the store fails.
pub async fn prune(store: &Store, name: &str, keep: usize) -> Result<Vec<String>, PackageError> {
    let all = versions(store, name).await?;
    let drop = all.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for record in &all[..drop] {
        store.delete_release(name, &record.version).await?;
        removed.push(record.version.clone());
    }
    Ok(removed)
}

/// Pulls a version's files from `store` into `dest` (which must not exist) through the host's
/// chunk cache.
///
/// # Errors
///
/// When the store fails or a chunk is corrupt.
pub async fn pull(
    store: &Store,
    record: &VersionRecord,
    cache: &davit_bundle::ChunkCache,
    dest: &Path,
) -> Result<PathBuf, PackageError> {
    let id: Digest = record.revision.parse().map_err(|_| PackageError::Store {
        detail: format!(
            "the record of `{}` {} names no revision",
            record.name, record.version
        ),
    })?;
    davit_bundle::pull(&id, store, cache, dest, &davit_bundle::Quiet).await?;
    Ok(dest.to_path_buf())
}
