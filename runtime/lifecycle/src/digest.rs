//! The content address of a staged revision: the blake3 digest of its bundle manifest (see
//! `davit_bundle::Manifest`), which covers every path, its kind, permission bits, a file's
//! content and a link's target. Owners, timestamps and the root directory's own mode are left
//! out, so the same tree gives the same id whether it arrived as a directory, a zip, a tarball or
//! from a bundle store, and on any host.

use std::fmt;
use std::io;
use std::path::Path;

/// The id of a staged revision: the lowercase hex of a 32-byte blake3 digest.
///
/// ```
/// use davit_lifecycle::digest::RevisionId;
///
/// let hex = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";
/// let id = RevisionId::try_from(hex).unwrap();
/// assert_eq!(id.short(), "af1349b9f5f9");
/// assert_eq!(id.to_string(), hex);
/// assert!(RevisionId::try_from("AF13").is_err());
/// ```
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct RevisionId(String);

impl RevisionId {
    /// Number of hex characters in an id.
    pub const LEN: usize = 64;

    /// The full hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 hex characters, for messages and listings.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

/// Why a string is not a [`RevisionId`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "revision id must be {} lowercase hex characters, got `{got}`",
    RevisionId::LEN
)]
pub struct InvalidRevisionId {
    /// The text as given.
    pub got: String,
}

impl TryFrom<&str> for RevisionId {
    type Error = InvalidRevisionId;

    fn try_from(text: &str) -> Result<Self, InvalidRevisionId> {
        let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if text.len() == Self::LEN && text.bytes().all(hex) {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidRevisionId {
                got: text.to_owned(),
            })
        }
    }
}

impl TryFrom<String> for RevisionId {
    type Error = InvalidRevisionId;

    fn try_from(text: String) -> Result<Self, InvalidRevisionId> {
        Self::try_from(text.as_str())
    }
}

impl From<RevisionId> for String {
    fn from(id: RevisionId) -> String {
        id.0
    }
}

impl std::str::FromStr for RevisionId {
    type Err = InvalidRevisionId;

    fn from_str(text: &str) -> Result<Self, InvalidRevisionId> {
        Self::try_from(text)
    }
}

impl fmt::Display for RevisionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Computes the [`RevisionId`] of the tree at `dir`: the id of its bundle manifest, so a tree
/// deployed from a directory or archive has the id `davit bundle push` gives it. Symlinks are
/// recorded as links, never followed.
///
/// # Errors
///
/// Any I/O error reading the tree, and `InvalidData` for what a bundle cannot hold (a fifo,
/// socket or device, a name that is not UTF-8, a symlink leaving the tree), each naming the path.
pub fn tree_digest(dir: &Path) -> io::Result<RevisionId> {
    let manifest = davit_bundle::Manifest::build(dir, |_| Ok(())).map_err(|e| match e {
        davit_bundle::ManifestError::Io { path, source } => with_path(source, &path),
        e => io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
    })?;
    Ok(RevisionId(manifest.id().to_hex()))
}

/// Adds the path to an I/O error's message (std's messages never name the file).
pub(crate) fn with_path(error: io::Error, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("`{}`: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn ids_validate() {
        let ok = "0".repeat(64);
        assert!(RevisionId::try_from(ok.as_str()).is_ok());
        assert!(RevisionId::try_from("0".repeat(63)).is_err());
        assert!(RevisionId::try_from("g".repeat(64)).is_err());
        let json = serde_json::to_string(&RevisionId::try_from(ok.as_str()).unwrap()).unwrap();
        assert_eq!(json, format!("\"{ok}\""));
        assert!(serde_json::from_str::<RevisionId>("\"abc\"").is_err());
    }

    #[test]
    fn digest_tracks_content_mode_and_links() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        fs::create_dir(d.join("sub")).unwrap();
        fs::write(d.join("sub/a.txt"), b"hello").unwrap();
        fs::set_permissions(d.join("sub/a.txt"), fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink("sub/a.txt", d.join("link")).unwrap();
        let first = tree_digest(d).unwrap();
        assert_eq!(first, tree_digest(d).unwrap(), "deterministic");

        fs::write(d.join("sub/a.txt"), b"hellO").unwrap();
        let byte = tree_digest(d).unwrap();
        assert_ne!(first, byte);

        fs::write(d.join("sub/a.txt"), b"hello").unwrap();
        assert_eq!(first, tree_digest(d).unwrap());
        fs::set_permissions(d.join("sub/a.txt"), fs::Permissions::from_mode(0o755)).unwrap();
        assert_ne!(first, tree_digest(d).unwrap(), "mode is covered");
        fs::set_permissions(d.join("sub/a.txt"), fs::Permissions::from_mode(0o644)).unwrap();

        fs::remove_file(d.join("link")).unwrap();
        std::os::unix::fs::symlink("sub", d.join("link")).unwrap();
        assert_ne!(first, tree_digest(d).unwrap(), "link target is covered");
    }

    #[test]
    fn empty_file_and_empty_dir_differ() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        fs::write(a.path().join("x"), b"").unwrap();
        fs::create_dir(b.path().join("x")).unwrap();
        fs::set_permissions(a.path().join("x"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(b.path().join("x"), fs::Permissions::from_mode(0o755)).unwrap();
        assert_ne!(
            tree_digest(a.path()).unwrap(),
            tree_digest(b.path()).unwrap()
        );
    }
}
