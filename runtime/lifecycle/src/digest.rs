//! The content address of a staged revision: a blake3 digest over a directory tree.
//!
//! The digest covers every entry below the root, in order of relative path (compared component
//! by component, the same on every host): the path, the entry type, the permission bits
//! (`mode & 0o7777`; none for symlinks, whose mode means nothing on Linux), the link target of a
//! symlink and the blake3 of a file's contents (streamed).
//! Owners, timestamps and the root directory's own mode are left out, so the same bundle gives the
//! same id whether it arrived as a directory, a zip or a tarball, and on any host.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Bumped whenever the byte stream fed to the hasher changes.
const DOMAIN: &[u8] = b"davit-tree-v1\0";

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

    fn from_hash(hash: blake3::Hash) -> Self {
        Self(hash.to_hex().to_string())
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

/// Computes the [`RevisionId`] of the tree at `dir` (see the module docs for what it covers).
/// Symlinks are hashed as links, never followed.
///
/// # Errors
///
/// Any I/O error reading the tree, with the path in its message; `InvalidData` for an entry
/// that is not a file, directory or symlink (a fifo, socket or device).
pub fn tree_digest(dir: &Path) -> io::Result<RevisionId> {
    let mut entries = Vec::new();
    collect(dir, &mut PathBuf::new(), &mut entries)?;
    // `Path` orders by components: a pure function of the names, the same on every host.
    entries.sort_unstable();

    let mut tree = blake3::Hasher::new();
    tree.update(DOMAIN);
    for rel in &entries {
        let path = dir.join(rel);
        let meta = fs::symlink_metadata(&path).map_err(|e| with_path(e, &path))?;
        let name = rel.as_os_str().as_bytes();
        let kind = meta.file_type();
        let tag = if kind.is_dir() {
            b'd'
        } else if kind.is_symlink() {
            b'l'
        } else {
            b'f'
        };
        tree.update(&[tag]);
        tree.update(&(name.len() as u64).to_le_bytes());
        tree.update(name);
        if kind.is_symlink() {
            let target = fs::read_link(&path).map_err(|e| with_path(e, &path))?;
            let target = target.as_os_str().as_bytes();
            tree.update(&(target.len() as u64).to_le_bytes());
            tree.update(target);
            continue;
        }
        tree.update(&(meta.permissions().mode() & 0o7777).to_le_bytes());
        if kind.is_file() {
            let mut file = fs::File::open(&path).map_err(|e| with_path(e, &path))?;
            let mut content = blake3::Hasher::new();
            io::copy(&mut file, &mut content).map_err(|e| with_path(e, &path))?;
            tree.update(content.finalize().as_bytes());
        }
    }
    Ok(RevisionId::from_hash(tree.finalize()))
}

/// Pushes the relative path of every entry under `root/rel`, depth first, without following
/// symlinks.
fn collect(root: &Path, rel: &mut PathBuf, out: &mut Vec<PathBuf>) -> io::Result<()> {
    let dir = root.join(&*rel);
    let listing = fs::read_dir(&dir).map_err(|e| with_path(e, &dir))?;
    for entry in listing {
        let entry = entry.map_err(|e| with_path(e, &dir))?;
        let kind = entry.file_type().map_err(|e| with_path(e, &entry.path()))?;
        rel.push(entry.file_name());
        if !(kind.is_dir() || kind.is_file() || kind.is_symlink()) {
            let msg = format!(
                "`{}` is not a file, directory or symlink",
                dir.join(&*rel).display()
            );
            return Err(io::Error::new(io::ErrorKind::InvalidData, msg));
        }
        out.push(rel.clone());
        if kind.is_dir() {
            collect(root, rel, out)?;
        }
        rel.pop();
    }
    Ok(())
}

/// Adds the path to an I/O error's message (std's messages never name the file).
pub(crate) fn with_path(error: io::Error, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("`{}`: {error}", path.display()))
}

#[cfg(test)]
mod tests {
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
