//! The manifest: every path of a revision with its kind, mode, size and chunks. Its blake3 digest
//! is the revision id, so a manifest that arrives is checked against the id before it is read,
//! and a chunk against its name before it is used.

use std::collections::HashSet;
use std::io;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::chunker::{self, Chunk, Chunking};
use crate::digest::Digest;

/// The manifest format this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// The largest chunk a manifest may name; reads hold at most this much of one chunk in memory.
pub const MAX_CHUNK: u32 = 1 << 20;

/// A revision's file tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// How files were cut, e.g. `fastcdc-2020/16384/65536/262144` (informative).
    pub chunking: String,
    /// Every directory, file and symlink under the root, sorted by path, each once.
    pub entries: Vec<Entry>,
}

/// One path of the tree, relative to its root with `/` separators.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Entry {
    /// A directory.
    Dir {
        /// The path.
        path: String,
        /// Permission bits (at most 0o777).
        mode: u32,
    },
    /// A regular file.
    File {
        /// The path.
        path: String,
        /// Permission bits (at most 0o777: no setuid, setgid or sticky bit).
        mode: u32,
        /// Its length in bytes: the sum of its chunks' sizes.
        size: u64,
        /// Its content, in order.
        chunks: Vec<ChunkRef>,
    },
    /// A symbolic link that stays inside the tree.
    Symlink {
        /// The path.
        path: String,
        /// The relative target, as the link holds it.
        target: String,
    },
}

impl Entry {
    /// The entry's path.
    pub fn path(&self) -> &str {
        match self {
            Entry::Dir { path, .. } | Entry::File { path, .. } | Entry::Symlink { path, .. } => {
                path
            }
        }
    }
}

/// A chunk of a file: `[digest, size]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChunkRef(pub Digest, pub u32);

/// Bounds a manifest must stay within; beyond them it is refused before anything is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Entries in all.
    pub max_entries: usize,
    /// Bytes of all files together.
    pub max_total_size: u64,
    /// Bytes of the manifest itself.
    pub max_manifest_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_entries: 1_000_000,
            max_total_size: 64 << 30,
            max_manifest_size: 256 << 20,
        }
    }
}

/// Why a manifest, or a tree being turned into one, is refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The bytes do not hash to the revision id asked for.
    #[error("manifest digest mismatch: asked for revision {expected}, the bytes hash to {actual}")]
    DigestMismatch {
        /// The revision id.
        expected: Digest,
        /// blake3 of the bytes received.
        actual: Digest,
    },
    /// Not a manifest.
    #[error("manifest is not valid JSON for schema {SCHEMA_VERSION}: {0}")]
    Malformed(serde_json::Error),
    /// Another schema.
    #[error("manifest schema {got} is not supported (this davit reads {SCHEMA_VERSION})")]
    Schema {
        /// The schema version found.
        got: u32,
    },
    /// A limit.
    #[error("manifest exceeds a limit: {what} is {got}, the most is {max}")]
    Limit {
        /// Which limit.
        what: &'static str,
        /// The value found.
        got: u64,
        /// The limit.
        max: u64,
    },
    /// A bad entry.
    #[error("manifest entry `{path}`: {problem}")]
    Entry {
        /// The entry's path (escaped for display).
        path: String,
        /// What is wrong.
        problem: EntryProblem,
    },
    /// Reading the tree.
    #[error("cannot read `{}`", path.display())]
    Io {
        /// Where.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// What is wrong with one entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryProblem {
    /// Empty, absolute, longer than [`MAX_PATH`], or with an empty, `.` or `..` component, or
    /// a NUL.
    #[error(
        "the path must be relative, at most {MAX_PATH} bytes, without `.`, `..`, empty components or NUL"
    )]
    BadPath,
    /// Not in strictly ascending order: a duplicate, or not canonical.
    #[error("duplicate path, or entries out of order")]
    Duplicate,
    /// Beneath a file or a symlink.
    #[error("lies beneath `{0}`, which is not a directory")]
    BeneathNonDirectory(String),
    /// A symlink that leaves the tree, or may (`..` after a name).
    #[error("symlink to `{0}` may point outside the tree")]
    LinkEscapes(String),
    /// A mode with more than permission bits.
    #[error("mode {0:o} has bits beyond 0o777 (setuid, setgid or sticky)")]
    Mode(u32),
    /// The size is not the sum of the chunk sizes.
    #[error("size {size} is not the sum of its chunks ({sum})")]
    Size {
        /// The size recorded.
        size: u64,
        /// The sum of the chunks.
        sum: u64,
    },
    /// A chunk of 0 bytes or above [`MAX_CHUNK`].
    #[error("chunk {0} has size {1}, outside 1..={MAX_CHUNK}")]
    ChunkSize(Digest, u32),
    /// A device, FIFO or socket (when building).
    #[error("is a {0}, which a bundle cannot hold")]
    Special(&'static str),
    /// A file name that is not UTF-8 (when building).
    #[error("the name is not UTF-8")]
    NotUtf8,
}

impl Manifest {
    /// The canonical bytes: compact JSON. Their blake3 is the revision id.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a manifest serializes")
    }

    /// The revision id.
    pub fn id(&self) -> Digest {
        Digest::of(&self.encode())
    }

    /// Bytes of all files.
    pub fn total_size(&self) -> u64 {
        self.files().map(|(_, size, _)| size).sum()
    }

    /// Every file: path, size, chunks.
    pub fn files(&self) -> impl Iterator<Item = (&str, u64, &[ChunkRef])> {
        self.entries.iter().filter_map(|e| match e {
            Entry::File {
                path, size, chunks, ..
            } => Some((path.as_str(), *size, chunks.as_slice())),
            _ => None,
        })
    }

    /// Each chunk the tree needs, once, in first-use order.
    pub fn unique_chunks(&self) -> Vec<ChunkRef> {
        let mut seen = HashSet::new();
        self.files()
            .flat_map(|(_, _, chunks)| chunks)
            .filter(|c| seen.insert(c.0))
            .copied()
            .collect()
    }

    /// Reads a manifest received for revision `id`: checks the digest first, then the format,
    /// then every entry against `limits`.
    ///
    /// # Errors
    ///
    /// The first check that fails, as a [`ManifestError`].
    pub fn decode(bytes: &[u8], id: &Digest, limits: &Limits) -> Result<Manifest, ManifestError> {
        limit(
            "the manifest size",
            bytes.len() as u64,
            limits.max_manifest_size as u64,
        )?;
        let actual = Digest::of(bytes);
        if actual != *id {
            return Err(ManifestError::DigestMismatch {
                expected: *id,
                actual,
            });
        }
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(ManifestError::Malformed)?;
        if manifest.schema_version != SCHEMA_VERSION {
            return Err(ManifestError::Schema {
                got: manifest.schema_version,
            });
        }
        manifest.validate(limits)?;
        Ok(manifest)
    }

    /// Checks every rule a manifest must keep (see [`EntryProblem`]) and the limits.
    ///
    /// # Errors
    ///
    /// The first rule broken.
    pub fn validate(&self, limits: &Limits) -> Result<(), ManifestError> {
        limit(
            "the number of entries",
            self.entries.len() as u64,
            limits.max_entries as u64,
        )?;
        let mut total: u64 = 0;
        let mut not_dirs: HashSet<&str> = HashSet::new();
        let mut previous: Option<&str> = None;
        for entry in &self.entries {
            let path = entry.path();
            let bad = |problem| ManifestError::Entry {
                path: path.escape_debug().to_string(),
                problem,
            };
            if !is_clean_relative(path) {
                return Err(bad(EntryProblem::BadPath));
            }
            if previous.is_some_and(|p| p >= path) {
                return Err(bad(EntryProblem::Duplicate));
            }
            previous = Some(path);
            // Ancestors sort before their descendants, so they were seen already.
            let mut ancestor = path;
            while let Some((parent, _)) = ancestor.rsplit_once('/') {
                if not_dirs.contains(parent) {
                    return Err(bad(EntryProblem::BeneathNonDirectory(parent.to_owned())));
                }
                ancestor = parent;
            }
            match entry {
                Entry::Dir { mode, .. } => check_mode(*mode).map_err(bad)?,
                Entry::File {
                    mode, size, chunks, ..
                } => {
                    check_mode(*mode).map_err(bad)?;
                    let mut sum: u64 = 0;
                    for c in chunks {
                        if c.1 == 0 || c.1 > MAX_CHUNK {
                            return Err(bad(EntryProblem::ChunkSize(c.0, c.1)));
                        }
                        sum += u64::from(c.1);
                    }
                    if sum != *size {
                        return Err(bad(EntryProblem::Size { size: *size, sum }));
                    }
                    total = total.saturating_add(*size);
                    limit("the size of all files", total, limits.max_total_size)?;
                    not_dirs.insert(path);
                }
                Entry::Symlink { target, .. } => {
                    if !link_stays_inside(Path::new(path), Path::new(target)) {
                        return Err(bad(EntryProblem::LinkEscapes(target.clone())));
                    }
                    not_dirs.insert(path);
                }
            }
        }
        Ok(())
    }

    /// Builds the manifest of the tree at `root`, handing each chunk of each file to `chunk` in
    /// order (to store it) as it is read.
    ///
    /// # Errors
    ///
    /// A special file, a name that is not UTF-8, a symlink leaving the tree, an I/O error, or
    /// whatever `chunk` returns.
    pub fn build(
        root: &Path,
        mut chunk: impl FnMut(Chunk) -> io::Result<()>,
    ) -> Result<Manifest, ManifestError> {
        let mut paths = Vec::new();
        walk(root, &mut PathBuf::new(), &mut paths)?;
        paths.sort();
        let mut entries = Vec::with_capacity(paths.len());
        for rel in paths {
            let full = root.join(&rel);
            let io_err = |source| ManifestError::Io {
                path: full.clone(),
                source,
            };
            let meta = std::fs::symlink_metadata(&full).map_err(io_err)?;
            let mode = permission_bits(&meta);
            let entry = if meta.is_dir() {
                Entry::Dir { path: rel, mode }
            } else if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&full).map_err(io_err)?;
                let text = target.to_str().ok_or_else(|| ManifestError::Entry {
                    path: rel.clone(),
                    problem: EntryProblem::NotUtf8,
                })?;
                Entry::Symlink {
                    target: text.to_owned(),
                    path: rel,
                }
            } else {
                let file = std::fs::File::open(&full).map_err(io_err)?;
                let mut refs = Vec::new();
                let mut size = 0;
                for c in chunker::chunks(file) {
                    let c = c.map_err(io_err)?;
                    refs.push(ChunkRef(c.digest, c.data.len() as u32));
                    size += c.data.len() as u64;
                    chunk(c).map_err(io_err)?;
                }
                Entry::File {
                    path: rel,
                    mode,
                    size,
                    chunks: refs,
                }
            };
            entries.push(entry);
        }
        let manifest = Manifest {
            schema_version: SCHEMA_VERSION,
            chunking: Chunking::DEFAULT.describe(),
            entries,
        };
        manifest.validate(&Limits::default())?;
        Ok(manifest)
    }
}

fn limit(what: &'static str, got: u64, max: u64) -> Result<(), ManifestError> {
    if got > max {
        Err(ManifestError::Limit { what, got, max })
    } else {
        Ok(())
    }
}

fn check_mode(mode: u32) -> Result<(), EntryProblem> {
    if mode > 0o777 {
        Err(EntryProblem::Mode(mode))
    } else {
        Ok(())
    }
}

fn permission_bits(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o777
}

/// The longest path a manifest may hold, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH: usize = 4096;

/// A path of clean, non-empty components other than `.` and `..`, without a leading `/` or NUL,
/// and at most [`MAX_PATH`] bytes (which also bounds the ancestors validation walks).
fn is_clean_relative(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= MAX_PATH
        && !path.contains('\0')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Collects every path under `root` (relative, `/`-separated), refusing what a bundle cannot hold.
fn walk(root: &Path, rel: &mut PathBuf, out: &mut Vec<String>) -> Result<(), ManifestError> {
    let dir = root.join(&*rel);
    let io_err = |source| ManifestError::Io {
        path: dir.clone(),
        source,
    };
    for entry in std::fs::read_dir(&dir).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        rel.push(entry.file_name());
        let text = rel
            .to_str()
            .map(str::to_owned)
            .ok_or_else(|| ManifestError::Entry {
                path: rel.display().to_string(),
                problem: EntryProblem::NotUtf8,
            })?;
        let kind = entry.file_type().map_err(io_err)?;
        if kind.is_dir() {
            out.push(text);
            walk(root, rel, out)?;
        } else if kind.is_symlink() {
            // Checked here, before any chunk of the tree is read or sent.
            let target = std::fs::read_link(entry.path()).map_err(io_err)?;
            if !link_stays_inside(rel, &target) {
                return Err(ManifestError::Entry {
                    path: text,
                    problem: EntryProblem::LinkEscapes(target.display().to_string()),
                });
            }
            out.push(text);
        } else if kind.is_file() {
            out.push(text);
        } else {
            return Err(ManifestError::Entry {
                path: text,
                problem: EntryProblem::Special(special_kind(&kind)),
            });
        }
        rel.pop();
    }
    Ok(())
}

fn special_kind(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_block_device() {
        "block device"
    } else if kind.is_char_device() {
        "character device"
    } else if kind.is_fifo() {
        "FIFO"
    } else if kind.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

/// Whether a symlink at `rel` (relative to the tree's root) pointing at `target` stays inside
/// the tree, judged on the text alone: the target is relative, all its `..` come first (none after
/// a name: `l/../x` could climb through a link `l`), and it climbs no higher than the link's own
/// directory is deep. Each link checked this way stays inside, so chains of them do too.
pub fn link_stays_inside(rel: &Path, target: &Path) -> bool {
    let depth = rel.components().count().saturating_sub(1);
    let mut ups = 0;
    let mut descended = false;
    if target.as_os_str().is_empty() {
        return false;
    }
    for part in target.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if !descended => ups += 1,
            Component::Normal(_) => descended = true,
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    ups <= depth
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_inside_and_outside() {
        let ok = |rel: &str, target: &str| link_stays_inside(Path::new(rel), Path::new(target));
        assert!(ok("a", "b"));
        assert!(ok("a", "./b/c"));
        assert!(ok("d/a", "../b"));
        assert!(ok("d/e/a", "../../b"));
        assert!(ok("l", "."));
        assert!(!ok("a", "../b"), "climbs above the root");
        assert!(!ok("d/a", "../../b"));
        assert!(!ok("a", "/etc/passwd"));
        assert!(!ok("d/a", "x/../.."), "climbs after descending");
        assert!(!ok("m", "l/../etc"), "could climb through a link `l -> .`");
        assert!(!ok("a", ""));
    }

    #[test]
    fn clean_relative_paths() {
        for good in ["a", "a/b", "a.b/c-d", "..a", "a.."] {
            assert!(is_clean_relative(good), "{good}");
        }
        for bad in ["", "/a", "a/", "a//b", "./a", "a/../b", "..", "a\0b"] {
            assert!(!is_clean_relative(bad), "{bad:?}");
        }
    }
}
