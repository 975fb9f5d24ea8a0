//! Layers from what changed in a root filesystem: a [`Snapshot`] of the root before a
//! component runs, another after, and the difference written as one OCI layer, the same
//! bytes for the same change:
//!
//! - entries sorted by path, directories before what they hold;
//! - modification times clamped to the build's epoch (`SOURCE_DATE_EPOCH`), numeric owners
//!   only, no user or group names, no access or change times;
//! - a removed entry as a whiteout (`.wh.NAME`), only the topmost of a removed tree;
//! - a second path of one inode, in the same layer, as a hard link to the first;
//! - gzip with no name and no date in its header.
//!
//! The root is read through davit-fsroot (`InRoot`): a link a component planted is stored as
//! a link, never followed out of the root. Devices and FIFOs are not stored (a container or
//! VM gets its own `/dev`).

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use davit_fsroot::{MetadataExt, OpenOptions, Root};
use sha2::{Digest, Sha256};

/// What tells one state of an entry from another.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    kind: Kind,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: (i64, i64),
    /// The change time moves on every write, chmod, chown or rename: a component cannot
    /// change a file and leave it looking the same.
    ctime: (i64, i64),
    ino: u64,
    nlink: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Symlink,
    /// A device, FIFO or socket: never stored.
    Special,
}

/// Every entry of a root, by path relative to it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    entries: BTreeMap<PathBuf, Stamp>,
}

impl Snapshot {
    /// Walks `root` (links are entries, never followed).
    ///
    /// # Errors
    ///
    /// When an entry cannot be read.
    pub fn of(root: &Root) -> io::Result<Snapshot> {
        let mut snapshot = Snapshot::default();
        walk(root, Path::new(""), &mut snapshot.entries)?;
        Ok(snapshot)
    }
}

fn stamp(root: &Root, rel: &Path) -> io::Result<Stamp> {
    let meta = root.symlink_metadata(rel)?;
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        Kind::Dir
    } else if ft.is_symlink() {
        Kind::Symlink
    } else if ft.is_file() {
        Kind::File
    } else {
        Kind::Special
    };
    Ok(Stamp {
        kind,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        size: meta.size(),
        mtime: (meta.mtime(), meta.mtime_nsec()),
        ctime: (meta.ctime(), meta.ctime_nsec()),
        ino: meta.ino(),
        nlink: meta.nlink(),
    })
}

/// Walks the open directory `dir` (at `rel` in the root): each entry stat-ed by its one name
/// in its own directory, each subdirectory opened from its parent (beneath it, never
/// through a link), so a walk costs a call per entry rather than a resolution of its path.
fn walk(dir: &Root, rel: &Path, out: &mut BTreeMap<PathBuf, Stamp>) -> io::Result<()> {
    for (name, ft) in dir.entries(Path::new(""))? {
        let name = Path::new(&name);
        let path = rel.join(name);
        out.insert(path.clone(), stamp(dir, name)?);
        if ft.is_dir() {
            walk(&dir.open_dir(name)?, &path, out)?;
        }
    }
    Ok(())
}

/// A layer written as a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// `sha256:…` of the compressed blob (the manifest's digest).
    pub digest: String,
    /// `sha256:…` of the uncompressed tar (the config's diff id).
    pub diff_id: String,
    /// Bytes of the compressed blob.
    pub size: u64,
    /// Entries stored (whiteouts included).
    pub entries: u64,
}

/// Writes the difference between `before` and `after` (both of `root`) as a gzip layer in
/// `blobs` (the layout's `blobs/sha256`), mtimes clamped to `epoch`. With an empty `before`,
/// the whole root.
///
/// # Errors
///
/// When the root cannot be read or the blob written.
pub fn write(
    root: &Root,
    before: &Snapshot,
    after: &Snapshot,
    epoch: u64,
    blobs: &Path,
) -> io::Result<Layer> {
    std::fs::create_dir_all(blobs)?;
    let tmp_tar = blobs.join(format!(".layer-{}.tar", std::process::id()));
    let (diff_id, entries) = {
        let file = std::fs::File::create(&tmp_tar)?;
        let hashing = HashingWriter::new(io::BufWriter::new(file));
        let mut builder = tar::Builder::new(hashing);
        let entries = append_changes(&mut builder, root, before, after, epoch)?;
        let hashing = builder.into_inner()?;
        let (digest, mut inner) = hashing.finish();
        inner.flush()?;
        (digest, entries)
    };
    let result = compress(&tmp_tar, blobs);
    let _ = std::fs::remove_file(&tmp_tar);
    let (digest, size) = result?;
    Ok(Layer {
        digest,
        diff_id,
        size,
        entries,
    })
}

/// Gzips `tar` into its content-named blob in `blobs`; the blob's digest and size.
fn compress(tar: &Path, blobs: &Path) -> io::Result<(String, u64)> {
    let tmp = blobs.join(format!(".layer-{}.gz", std::process::id()));
    let out = HashingWriter::new(io::BufWriter::new(std::fs::File::create(&tmp)?));
    // No file name, no date: the same tar gives the same bytes.
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(out, flate2::Compression::default());
    io::copy(&mut std::fs::File::open(tar)?, &mut gz)?;
    let (digest, mut inner) = gz.finish()?.finish();
    inner.flush()?;
    let size = std::fs::metadata(&tmp)?.len();
    let hex = digest.trim_start_matches("sha256:");
    std::fs::rename(&tmp, blobs.join(hex))?;
    Ok((digest, size))
}

/// Appends every changed entry to `builder`; how many it stored.
fn append_changes<W: Write>(
    builder: &mut tar::Builder<W>,
    root: &Root,
    before: &Snapshot,
    after: &Snapshot,
    epoch: u64,
) -> io::Result<u64> {
    let changed: Vec<&PathBuf> = after
        .entries
        .iter()
        .filter(|(p, s)| s.kind != Kind::Special && before.entries.get(*p) != Some(*s))
        .map(|(p, _)| p)
        .collect();
    let removed = removed_tops(before, after);
    // The directories above what changed are stored too, so that the layer recreates them with
    // their modes and owners; then everything in path order (a BTreeMap of paths sorts a
    // directory before its entries), whiteouts among them.
    let mut stored: BTreeMap<PathBuf, Option<&Stamp>> = BTreeMap::new();
    for path in &changed {
        for parent in path.ancestors().skip(1) {
            if parent.as_os_str().is_empty() {
                break;
            }
            stored.insert(parent.to_path_buf(), after.entries.get(parent));
        }
        stored.insert((*path).clone(), after.entries.get(*path));
    }
    for path in &removed {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let whiteout = path.with_file_name(format!(".wh.{name}"));
        stored.insert(whiteout, None);
    }
    let mut first_of_inode: HashMap<u64, PathBuf> = HashMap::new();
    let mut count = 0;
    for (path, stamp) in stored {
        match stamp {
            None => append_whiteout(builder, &path, epoch)?,
            Some(s) => {
                let link = (s.kind == Kind::File && s.nlink > 1)
                    .then(|| first_of_inode.get(&s.ino).cloned())
                    .flatten();
                match link {
                    Some(first) => append_hard_link(builder, &path, &first, s, epoch)?,
                    None => {
                        if s.kind == Kind::File && s.nlink > 1 {
                            first_of_inode.insert(s.ino, path.clone());
                        }
                        append_entry(builder, root, &path, s, epoch)?;
                    }
                }
            }
        }
        count += 1;
    }
    Ok(count)
}

/// Removed paths whose parent is still there: a removed tree is one whiteout.
fn removed_tops(before: &Snapshot, after: &Snapshot) -> Vec<PathBuf> {
    let gone = |p: &Path| !after.entries.contains_key(p);
    before
        .entries
        .keys()
        .filter(|p| gone(p))
        .filter(|p| {
            p.parent()
                .is_none_or(|parent| parent.as_os_str().is_empty() || !gone(parent))
        })
        .cloned()
        .collect()
}

fn header(stamp: &Stamp, epoch: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(stamp.mode);
    h.set_uid(u64::from(stamp.uid));
    h.set_gid(u64::from(stamp.gid));
    let mtime = u64::try_from(stamp.mtime.0).unwrap_or(0);
    h.set_mtime(mtime.min(epoch));
    h.set_size(0);
    h
}

fn append_entry<W: Write>(
    builder: &mut tar::Builder<W>,
    root: &Root,
    path: &Path,
    stamp: &Stamp,
    epoch: u64,
) -> io::Result<()> {
    let mut h = header(stamp, epoch);
    match stamp.kind {
        Kind::Dir => {
            h.set_entry_type(tar::EntryType::Directory);
            builder.append_data(&mut h, dir_name(path), io::empty())
        }
        Kind::Symlink => {
            h.set_entry_type(tar::EntryType::Symlink);
            let target = root.read_link(path)?;
            builder.append_link(&mut h, path, target)
        }
        Kind::File => {
            h.set_entry_type(tar::EntryType::Regular);
            let file = root.open_file(path, OpenOptions::new().read(true))?;
            // The size stored is the size read: a file that changed since the snapshot is
            // stored as it is now, whole.
            let size = file.metadata()?.len();
            h.set_size(size);
            builder.append_data(&mut h, path, file.take(size))
        }
        Kind::Special => Ok(()),
    }
}

/// A directory's name in a tar ends with `/`, as GNU tar and umoci write it.
fn dir_name(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push("/");
    PathBuf::from(s)
}

fn append_hard_link<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &Path,
    first: &Path,
    stamp: &Stamp,
    epoch: u64,
) -> io::Result<()> {
    let mut h = header(stamp, epoch);
    h.set_entry_type(tar::EntryType::Link);
    builder.append_link(&mut h, path, first)
}

fn append_whiteout<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &Path,
    epoch: u64,
) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_mtime(epoch);
    h.set_size(0);
    builder.append_data(&mut h, path, io::empty())
}

/// A writer that hashes what passes through it.
struct HashingWriter<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hash: Sha256::new(),
        }
    }

    /// The `sha256:…` of what was written, and the writer.
    fn finish(self) -> (String, W) {
        let hex: String = self
            .hash
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        (format!("sha256:{hex}"), self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `sha256:…` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use davit_fsroot::Resolve;

    fn entries(blob: &Path) -> Vec<(String, tar::EntryType, u64, String)> {
        let gz = flate2::read::GzDecoder::new(std::fs::File::open(blob).unwrap());
        let mut archive = tar::Archive::new(gz);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let path = e.path().unwrap().display().to_string();
                let kind = e.header().entry_type();
                let mtime = e.header().mtime().unwrap();
                let mut body = String::new();
                if kind == tar::EntryType::Symlink || kind == tar::EntryType::Link {
                    body = e.link_name().unwrap().unwrap().display().to_string();
                } else {
                    e.read_to_string(&mut body).unwrap();
                }
                (path, kind, mtime, body)
            })
            .collect()
    }

    #[test]
    fn a_change_becomes_a_sorted_clamped_layer_with_whiteouts_and_the_same_bytes_twice() {
        let dir = tempfile::tempdir().unwrap();
        let root_dir = dir.path().join("root");
        for d in ["etc/app", "usr/share/doc/old", "var"] {
            std::fs::create_dir_all(root_dir.join(d)).unwrap();
        }
        std::fs::write(root_dir.join("etc/keep.conf"), "same").unwrap();
        std::fs::write(root_dir.join("etc/app/a.conf"), "a1").unwrap();
        std::fs::write(root_dir.join("usr/share/doc/old/README"), "x").unwrap();
        std::fs::write(root_dir.join("var/gone"), "x").unwrap();
        let root = Root::open_ambient(&root_dir, Resolve::InRoot).unwrap();
        let before = Snapshot::of(&root).unwrap();
        std::fs::write(root_dir.join("etc/app/a.conf"), "a2").unwrap();
        std::fs::write(root_dir.join("etc/app/b.conf"), "b").unwrap();
        std::fs::hard_link(
            root_dir.join("etc/app/b.conf"),
            root_dir.join("etc/app/c.conf"),
        )
        .unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root_dir.join("etc/app/link")).unwrap();
        std::fs::remove_dir_all(root_dir.join("usr/share/doc/old")).unwrap();
        std::fs::remove_file(root_dir.join("var/gone")).unwrap();
        let after = Snapshot::of(&root).unwrap();
        let blobs = dir.path().join("blobs");
        let epoch = 1_000_000;
        let layer = write(&root, &before, &after, epoch, &blobs).unwrap();
        let got = entries(&blobs.join(layer.digest.trim_start_matches("sha256:")));
        let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "etc/",
                "etc/app/",
                "etc/app/a.conf",
                "etc/app/b.conf",
                "etc/app/c.conf",
                "etc/app/link",
                "usr/",
                "usr/share/",
                "usr/share/doc/",
                "usr/share/doc/.wh.old",
                "var/",
                "var/.wh.gone",
            ]
        );
        let find = |n: &str| got.iter().find(|e| e.0 == n).unwrap().clone();
        assert_eq!(find("etc/app/a.conf").3, "a2");
        assert_eq!(find("etc/app/c.conf").1, tar::EntryType::Link);
        assert_eq!(find("etc/app/c.conf").3, "etc/app/b.conf");
        assert_eq!(
            find("etc/app/link").3,
            "/etc/passwd",
            "a link is stored, not followed"
        );
        assert!(got.iter().all(|e| e.2 <= epoch), "mtimes clamped");
        // The same change written again is the same blob.
        let again = write(&root, &before, &after, epoch, &dir.path().join("again")).unwrap();
        assert_eq!(again, layer);
        assert_eq!(layer.diff_id.len(), "sha256:".len() + 64);
    }
}
