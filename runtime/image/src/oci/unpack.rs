//! Applying one OCI image layer onto a root filesystem ([`apply_layer`]), as container runtimes
//! do (the image spec's "Applying changesets"): entries are added or replaced, whiteouts
//! (`.wh.NAME`, `.wh..wh..opq`) remove what lower layers left.
//!
//! A layer is hostile input. Every path operation goes through the caller's
//! [`davit_fsroot::Root`], opened with [`Resolve::InRoot`](davit_fsroot::Resolve::InRoot): an
//! absolute link of the image (`/usr/lib/… -> /etc/alternatives/…`) leads to the image's own
//! files and `..` stops at the root, so a link planted by one entry cannot carry a later entry
//! out of the root. Names are checked before anything is written: a `..` component, an empty
//! name or one longer than [`MAX_NAME`] fails the whole layer. The leaf is never followed: a
//! file, directory or link replaces whatever is at its name, a link there included.
//!
//! ```no_run
//! use davit_fsroot::{Resolve, Root};
//!
//! let root = Root::open_ambient("/var/lib/davit/rootfs".as_ref(), Resolve::InRoot)?;
//! let layer = std::fs::File::open("layer.tar.gz")?;
//! let applied = davit_image::oci::unpack::apply_layer(&root, layer)?;
//! println!("{} files, {} removed by whiteouts", applied.files, applied.removed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::fs::{File, Permissions};
use std::io::{self, BufRead, BufReader, Read};
use std::ops::Bound;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Component, Path, PathBuf};

use davit_fsroot::{OpenOptions, OpenOptionsExt as _, Root};
use tar::{EntryType, Header};

/// The longest entry or link name accepted, in bytes (Linux's `PATH_MAX`).
pub const MAX_NAME: usize = 4096;

/// How much of a refused over-long name an error repeats.
const SHOWN_NAME: usize = 256;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A file whose name starts so hides `NAME` of the lower layers.
const WHITEOUT: &[u8] = b".wh.";

/// AUFS's own bookkeeping (`.wh..wh.plnk`, …): never created, never a whiteout of anything.
const WHITEOUT_META: &[u8] = b".wh..wh.";

/// Hides everything the lower layers left in its directory.
const OPAQUE: &[u8] = b".wh..wh..opq";

/// Mode of a parent that a layer implies without listing it (as containerd makes them).
const IMPLIED_DIR_MODE: u32 = 0o755;

/// Mode of a listed directory until the layer's end, when its own mode is set: a directory
/// listed read-only (`dr-xr-xr-x`, as Fedora's `/usr/bin`) must still take its entries when
/// the unpacking process has no `CAP_DAC_OVERRIDE`.
const WORKING_DIR_MODE: u32 = 0o700;

/// Mode a regular file is created with, before its contents are in and its own mode is set.
const WORKING_FILE_MODE: u32 = 0o600;

/// `EPERM` (Linux): a change of owner without `CAP_CHOWN`.
const EPERM: i32 = 1;

/// What one layer did to the root.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Regular files written.
    pub files: u64,
    /// Directory entries applied (created, or an existing directory's owner and mode set).
    pub dirs: u64,
    /// Symbolic and hard links created.
    pub links: u64,
    /// Entries of lower layers removed by whiteouts (a directory tree counts once).
    pub removed: u64,
    /// Character and block devices and FIFOs, not created: the sandbox gives a fresh `/dev`.
    pub skipped_devices: u64,
}

/// Why a layer could not be applied. The root is then partly changed and should be discarded.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The stream is no readable tar archive (or gzip stream).
    #[error("cannot read the layer")]
    Read(#[source] io::Error),
    /// An entry could not be applied to the root.
    #[error("cannot apply the layer entry `{}`", path.display())]
    Entry {
        /// The entry's name as the layer gives it.
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// An entry that no image may have: the whole layer is refused.
    #[error("the layer entry `{}` is refused: {reason}", path.display())]
    Refused {
        /// The entry's name as the layer gives it (its first bytes when it is too long).
        path: PathBuf,
        reason: Refusal,
    },
}

/// What is wrong with an entry that [`UnpackError::Refused`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The entry's own name.
    #[error("its name {0}")]
    Name(BadName),
    /// A name that normalizes to the root itself, on an entry that is no directory.
    #[error("it names the root itself and is no directory")]
    RootNotDirectory,
    /// `.wh.`, `.wh..` or `.wh...`: a whiteout of no entry.
    #[error("it whites out `{}`, which names no entry", name.display())]
    BadWhiteout { name: PathBuf },
    /// A symbolic or hard link without a target.
    #[error("it is a link without a target")]
    MissingLinkTarget,
    /// A symbolic link's target longer than [`MAX_NAME`].
    #[error("its link target is {len} bytes long, more than {MAX_NAME}")]
    LinkTargetTooLong { len: usize },
    /// A hard link's target, a path of the image like the entry's own name.
    #[error("its hard link target `{}` {problem}", target.display())]
    HardLinkTarget { target: PathBuf, problem: BadName },
    /// A hard link to what is not in the root (lower layers or earlier entries).
    #[error("its hard link target `{}` is not in the root", target.display())]
    HardLinkTargetMissing { target: PathBuf },
    /// A hard link to its own name.
    #[error("it is a hard link to itself")]
    HardLinkToItself,
    /// A uid or gid that does not fit, or is `-1` (which `chown` reads as "unchanged").
    #[error("its owner {uid}:{gid} is out of range")]
    OwnerOutOfRange { uid: u64, gid: u64 },
    /// An entry type no layer should have.
    #[error("its entry type `{}` is not supported", char::from(*flag).escape_default())]
    UnsupportedType { flag: u8 },
}

/// What is wrong with a name in the layer (an entry's, or a hard link's target).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadName {
    #[error("has a `..` component")]
    ParentComponent,
    #[error("is empty")]
    Empty,
    #[error("names the root itself")]
    Root,
    #[error("is {len} bytes long, more than {MAX_NAME}")]
    TooLong { len: usize },
    #[error("contains a NUL byte")]
    Nul,
}

/// Applies the layer `layer` (a tar stream, gzip-compressed or not: the gzip magic decides)
/// onto `root`, which the caller opened with [`Resolve::InRoot`](davit_fsroot::Resolve::InRoot)
/// (with `Beneath`, the image's absolute links fail as escapes). Owners are set from the
/// headers' numeric ids and ignored where the process may not change them (`EPERM`);
/// modification times are not kept.
///
/// # Errors
///
/// [`UnpackError::Refused`] for an entry no image may have (see [`Refusal`]),
/// [`UnpackError::Entry`] when one cannot be applied, [`UnpackError::Read`] when the stream is
/// no tar archive. The root is then partly changed.
pub fn apply_layer(root: &Root, layer: impl Read) -> Result<Applied, UnpackError> {
    let (compressed, layer) = sniff_gzip(BufReader::new(layer)).map_err(UnpackError::Read)?;
    if compressed {
        apply_tar(root, flate2::bufread::MultiGzDecoder::new(layer))
    } else {
        apply_tar(root, layer)
    }
}

/// Whether `layer` starts with the gzip magic, and the whole stream again (the bytes read to
/// tell, then the rest): a stream cannot be rewound.
fn sniff_gzip<R: BufRead>(mut layer: R) -> io::Result<(bool, impl BufRead)> {
    let mut head = [0u8; 2];
    let mut len = 0;
    while len < head.len() {
        match layer.read(&mut head[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let compressed = head[..len] == GZIP_MAGIC;
    Ok((
        compressed,
        io::Cursor::new(head).take(len as u64).chain(layer),
    ))
}

fn apply_tar(root: &Root, tar: impl Read) -> Result<Applied, UnpackError> {
    let mut archive = tar::Archive::new(tar);
    let mut layer = Layer::new(root);
    for entry in archive.entries().map_err(UnpackError::Read)? {
        let mut entry = entry.map_err(UnpackError::Read)?;
        let raw = entry.path_bytes().into_owned();
        layer
            .apply(&raw, &mut entry)
            .map_err(|failure| failure.at(&raw))?;
    }
    layer.finish()
}

/// An entry's failure, before the entry's name is attached.
enum Failure {
    Refused(Refusal),
    Io(io::Error),
}

impl From<Refusal> for Failure {
    fn from(refusal: Refusal) -> Self {
        Failure::Refused(refusal)
    }
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Self {
        Failure::Io(error)
    }
}

impl Failure {
    fn at(self, raw: &[u8]) -> UnpackError {
        let path = shown_name(raw);
        match self {
            Failure::Refused(reason) => UnpackError::Refused { path, reason },
            Failure::Io(source) => UnpackError::Entry { path, source },
        }
    }
}

/// A name of the layer for messages, cut at [`SHOWN_NAME`] bytes when it is too long anyway.
fn shown_name(raw: &[u8]) -> PathBuf {
    let raw = if raw.len() > MAX_NAME {
        &raw[..SHOWN_NAME]
    } else {
        raw
    };
    PathBuf::from(OsStr::from_bytes(raw))
}

/// A name of the layer as a path relative to the root: a leading `/` or `./` and `.`
/// components dropped; empty for the root itself. A `..` anywhere is refused rather than
/// resolved: no image needs one, and a name that means one thing here and another to the
/// tool that built the layer is how layers smuggle files.
fn normalize(raw: &[u8]) -> Result<PathBuf, BadName> {
    if raw.is_empty() {
        return Err(BadName::Empty);
    }
    if raw.len() > MAX_NAME {
        return Err(BadName::TooLong { len: raw.len() });
    }
    if raw.contains(&0) {
        return Err(BadName::Nul);
    }
    let mut rel = PathBuf::new();
    for component in Path::new(OsStr::from_bytes(raw)).components() {
        match component {
            Component::Normal(name) => rel.push(name),
            Component::RootDir | Component::CurDir => {}
            // No prefix on Unix; were there one, it would not be a name inside the root.
            Component::ParentDir | Component::Prefix(_) => return Err(BadName::ParentComponent),
        }
    }
    Ok(rel)
}

/// Owner and permission bits of an entry, from its header.
#[derive(Clone, Copy)]
struct Meta {
    uid: u32,
    gid: u32,
    /// Permission bits with setuid, setgid and sticky.
    mode: u32,
}

impl Meta {
    fn of(header: &Header) -> Result<Meta, Failure> {
        let (uid, gid) = (header.uid()?, header.gid()?);
        let fits = |id: u64| u32::try_from(id).ok().filter(|&id| id != u32::MAX);
        let (Some(uid32), Some(gid32)) = (fits(uid), fits(gid)) else {
            return Err(Refusal::OwnerOutOfRange { uid, gid }.into());
        };
        Ok(Meta {
            uid: uid32,
            gid: gid32,
            mode: header.mode()? & 0o7777,
        })
    }
}

/// The entry type, with a V7 archive's directory (a regular file whose name ends in `/`)
/// taken as the directory it is, as Go's `archive/tar` takes it.
fn kind_of(header: &Header, raw: &[u8]) -> EntryType {
    match header.entry_type() {
        EntryType::Regular if raw.ends_with(b"/") => EntryType::Directory,
        kind => kind,
    }
}

/// Whether the last component of `rel` is a whiteout (`.wh.…`).
fn is_whiteout(rel: &Path) -> bool {
    rel.file_name()
        .is_some_and(|name| name.as_bytes().starts_with(WHITEOUT))
}

/// The directory `rel` is in: empty (the root) for a single name.
fn parent_of(rel: &Path) -> &Path {
    rel.parent().unwrap_or(Path::new(""))
}

/// One layer being applied.
struct Layer<'r> {
    root: &'r Root,
    applied: Applied,
    /// Every path this layer created, and their parents: what its whiteouts keep (they hide
    /// only the lower layers), whichever order the tar has them in.
    ours: HashSet<PathBuf>,
    /// The directories this layer listed and their modes, set when all entries are in.
    dir_modes: BTreeMap<PathBuf, u32>,
}

impl<'r> Layer<'r> {
    fn new(root: &'r Root) -> Layer<'r> {
        Layer {
            root,
            applied: Applied::default(),
            ours: HashSet::new(),
            dir_modes: BTreeMap::new(),
        }
    }

    /// Applies one entry named `raw`.
    fn apply<R: Read>(&mut self, raw: &[u8], entry: &mut tar::Entry<'_, R>) -> Result<(), Failure> {
        let kind = kind_of(entry.header(), raw);
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        let rel = normalize(raw).map_err(Refusal::Name)?;
        if rel.as_os_str().is_empty() {
            // `./`: the root is the caller's directory, its owner and mode the caller's choice.
            return match kind {
                EntryType::Directory => Ok(()),
                _ => Err(Refusal::RootNotDirectory.into()),
            };
        }
        if is_whiteout(&rel) {
            return self.whiteout(&rel);
        }
        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let meta = Meta::of(entry.header())?;
                Ok(self.file(&rel, meta, entry)?)
            }
            EntryType::Directory => Ok(self.dir(&rel, Meta::of(entry.header())?)?),
            EntryType::Symlink => {
                let meta = Meta::of(entry.header())?;
                let target = entry.link_name_bytes().ok_or(Refusal::MissingLinkTarget)?;
                self.symlink(&rel, &target, meta)
            }
            EntryType::Link => {
                let target = entry.link_name_bytes().ok_or(Refusal::MissingLinkTarget)?;
                self.hard_link(&rel, &target)
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                self.applied.skipped_devices += 1;
                Ok(())
            }
            other => Err(Refusal::UnsupportedType {
                flag: other.as_byte(),
            }
            .into()),
        }
    }

    /// Writes a regular file at `rel` in place of whatever is there. Owner and mode are set
    /// on the open descriptor: exactly the file created, whatever happens to its name.
    fn file(&mut self, rel: &Path, meta: Meta, contents: &mut impl Read) -> io::Result<()> {
        self.make_parent(rel)?;
        self.clear(rel)?;
        let mut options = OpenOptions::new();
        options.write(true).create_new(true).mode(WORKING_FILE_MODE);
        let mut file = self.root.open_file(rel, &options)?;
        io::copy(contents, &mut file)?;
        own_file(&file, meta)?;
        // After the owner: a change of owner clears setuid and setgid.
        file.set_permissions(Permissions::from_mode(meta.mode))?;
        self.mark_ours(rel);
        self.applied.files += 1;
        Ok(())
    }

    /// Creates the directory `rel`, or keeps the directory there (lower layers' entries in it
    /// stay); anything else there is replaced. Its mode is set at the layer's end.
    fn dir(&mut self, rel: &Path, meta: Meta) -> io::Result<()> {
        self.make_parent(rel)?;
        match self.root.symlink_metadata(rel) {
            Ok(existing) if existing.is_dir() => {}
            Ok(_) => {
                self.clear(rel)?;
                self.root.create_dir(rel, WORKING_DIR_MODE)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.root.create_dir(rel, WORKING_DIR_MODE)?;
            }
            Err(e) => return Err(e),
        }
        self.own(rel, meta)?;
        self.dir_modes.insert(rel.to_owned(), meta.mode);
        self.mark_ours(rel);
        self.applied.dirs += 1;
        Ok(())
    }

    /// Creates the link `rel` with `target` as written: an absolute target is a path of the
    /// image, and nothing resolves it here. Links have no mode of their own.
    fn symlink(&mut self, rel: &Path, target: &[u8], meta: Meta) -> Result<(), Failure> {
        if target.len() > MAX_NAME {
            return Err(Refusal::LinkTargetTooLong { len: target.len() }.into());
        }
        self.make_parent(rel)?;
        self.clear(rel)?;
        self.root
            .symlink(Path::new(OsStr::from_bytes(target)), rel)?;
        self.own(rel, meta)?;
        self.mark_ours(rel);
        self.applied.links += 1;
        Ok(())
    }

    /// Links `rel` to `target`, another path of the image resolved in the root (a link at
    /// `target` is linked as a link). Owner and mode are the target's: the header's copies
    /// would change an inode this entry does not own.
    fn hard_link(&mut self, rel: &Path, raw_target: &[u8]) -> Result<(), Failure> {
        let refused = |problem| Refusal::HardLinkTarget {
            target: shown_name(raw_target),
            problem,
        };
        let target = normalize(raw_target).map_err(refused)?;
        if target.as_os_str().is_empty() {
            return Err(refused(BadName::Root).into());
        }
        if target == rel {
            return Err(Refusal::HardLinkToItself.into());
        }
        match self.root.symlink_metadata(&target) {
            Ok(_) => {}
            Err(e) if is_missing(&e) => {
                return Err(Refusal::HardLinkTargetMissing { target }.into());
            }
            Err(e) => return Err(e.into()),
        }
        self.make_parent(rel)?;
        self.clear(rel)?;
        self.root.hard_link(&target, rel)?;
        self.mark_ours(rel);
        self.applied.links += 1;
        Ok(())
    }

    /// Applies the whiteout `rel`: `.wh..wh..opq` hides what lower layers left in its
    /// directory, `.wh.NAME` hides NAME. Neither is ever created; what this layer itself put
    /// there stays (a whiteout hides only the lower layers), even when it came first in the tar.
    fn whiteout(&mut self, rel: &Path) -> Result<(), Failure> {
        let name = rel.file_name().map(OsStrExt::as_bytes).unwrap_or_default();
        let dir = parent_of(rel);
        if name == OPAQUE {
            self.whiteout_dir(rel)?;
            self.applied.removed += self.hide_lower_children(dir)?;
            return Ok(());
        }
        if name.starts_with(WHITEOUT_META) {
            return Ok(());
        }
        let hidden = Path::new(OsStr::from_bytes(&name[WHITEOUT.len()..]));
        if matches!(hidden.as_os_str().as_bytes(), b"" | b"." | b"..") {
            return Err(Refusal::BadWhiteout {
                name: hidden.to_owned(),
            }
            .into());
        }
        self.whiteout_dir(rel)?;
        self.applied.removed += self.hide_lower(&dir.join(hidden))?;
        Ok(())
    }

    /// The directory of the whiteout `rel` is part of this layer: made if missing (as
    /// containerd makes it) and kept by the layer's own whiteouts.
    fn whiteout_dir(&mut self, rel: &Path) -> io::Result<()> {
        self.make_parent(rel)?;
        self.mark_ours(parent_of(rel));
        Ok(())
    }

    /// Removes what the lower layers left at `rel`, keeping what this layer put there: the
    /// whole entry when this layer has nothing there, else the lower entries inside it.
    /// Returns how many entries were removed.
    fn hide_lower(&mut self, rel: &Path) -> io::Result<u64> {
        let existing = match self.root.symlink_metadata(rel) {
            Ok(existing) => existing,
            Err(e) if is_missing(&e) => return Ok(0),
            Err(e) => return Err(e),
        };
        if !self.ours.contains(rel) {
            // Nothing of this layer is beneath it, so no directory mode is pending there.
            self.root.remove_all(rel)?;
            return Ok(1);
        }
        if existing.is_dir() {
            self.hide_lower_children(rel)
        } else {
            Ok(0)
        }
    }

    fn hide_lower_children(&mut self, dir: &Path) -> io::Result<u64> {
        let mut removed = 0;
        for name in self.root.read_dir(dir)? {
            removed += self.hide_lower(&dir.join(name))?;
        }
        Ok(removed)
    }

    /// Creates the missing parents of `rel` (links on the way resolved in the root).
    fn make_parent(&self, rel: &Path) -> io::Result<()> {
        let parent = parent_of(rel);
        if !parent.as_os_str().is_empty() {
            self.root.create_dir_all(parent, IMPLIED_DIR_MODE)?;
        }
        Ok(())
    }

    /// Removes whatever is at `rel` (a link itself, never its target; a directory with all
    /// in it), and forgets the modes pending for directories that went with it.
    fn clear(&mut self, rel: &Path) -> io::Result<()> {
        self.root.remove_all(rel)?;
        // Descendants sort right after `rel`: paths compare component by component.
        let gone: Vec<PathBuf> = self
            .dir_modes
            .range::<Path, _>((Bound::Included(rel), Bound::Unbounded))
            .map(|(path, _)| path)
            .take_while(|path| path.starts_with(rel))
            .cloned()
            .collect();
        for path in gone {
            self.dir_modes.remove(&path);
        }
        Ok(())
    }

    /// Records `rel` and its parents as this layer's.
    fn mark_ours(&mut self, rel: &Path) {
        for path in rel.ancestors() {
            if path.as_os_str().is_empty() || !self.ours.insert(path.to_owned()) {
                break;
            }
        }
    }

    /// Sets the owner of `rel` itself (a link's own).
    fn own(&self, rel: &Path, meta: Meta) -> io::Result<()> {
        unless_unprivileged(self.root.chown(rel, Some(meta.uid), Some(meta.gid)))
    }

    /// Sets the listed directories' modes, the deepest first (a parent left without `x`
    /// would stop the walk to its children otherwise).
    fn finish(self) -> Result<Applied, UnpackError> {
        for (rel, mode) in self.dir_modes.iter().rev() {
            self.root
                .set_mode(rel, *mode)
                .map_err(|source| UnpackError::Entry {
                    path: rel.clone(),
                    source,
                })?;
        }
        Ok(self.applied)
    }
}

fn own_file(file: &File, meta: Meta) -> io::Result<()> {
    unless_unprivileged(std::os::unix::fs::fchown(
        file,
        Some(meta.uid),
        Some(meta.gid),
    ))
}

/// A change of owner refused for want of `CAP_CHOWN` is no error: unprivileged, a layer is
/// unpacked with the process's own owner (only it gets `EPERM` on entries it just created).
fn unless_unprivileged(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.raw_os_error() == Some(EPERM) => Ok(()),
        other => other,
    }
}

/// Nothing there, or a parent that is no directory: nothing to remove or link.
fn is_missing(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io::Write as _;
    use std::os::unix::fs::{MetadataExt as _, symlink};

    use davit_fsroot::Resolve;
    use tar::Builder;

    use super::*;

    /// Owner the test layers give their entries (checked only when the test runs as root).
    const UID: u32 = 1234;
    const GID: u32 = 2345;

    /// A layer built entry by entry, each name written as raw header bytes: the `tar` crate's
    /// path setters refuse `..` and absolute names, an attacker's tool does not.
    struct Tar(Builder<Vec<u8>>);

    impl Tar {
        fn new() -> Tar {
            Tar(Builder::new(Vec::new()))
        }

        fn raw(
            &mut self,
            name: &str,
            kind: EntryType,
            mode: u32,
            link: &str,
            data: &str,
        ) -> &mut Tar {
            let mut header = Header::new_gnu();
            header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_entry_type(kind);
            header.set_mode(mode);
            header.set_uid(UID.into());
            header.set_gid(GID.into());
            header.set_size(data.len() as u64);
            header.set_link_name_literal(link).unwrap();
            header.set_cksum();
            self.0.append(&header, data.as_bytes()).unwrap();
            self
        }

        fn dir(&mut self, name: &str, mode: u32) -> &mut Tar {
            self.raw(name, EntryType::Directory, mode, "", "")
        }

        fn file(&mut self, name: &str, mode: u32, data: &str) -> &mut Tar {
            self.raw(name, EntryType::Regular, mode, "", data)
        }

        fn symlink(&mut self, name: &str, target: &str) -> &mut Tar {
            self.raw(name, EntryType::Symlink, 0o777, target, "")
        }

        fn hard_link(&mut self, name: &str, target: &str) -> &mut Tar {
            self.raw(name, EntryType::Link, 0o644, target, "")
        }

        fn bytes(self) -> Vec<u8> {
            self.0.into_inner().unwrap()
        }
    }

    /// The names and link names in `layer` as a reader sees them: proof that a hostile name
    /// really is in the layer.
    fn names(layer: &[u8]) -> Vec<(String, String)> {
        let mut archive = tar::Archive::new(layer);
        let entries = archive.entries().unwrap();
        entries
            .map(|entry| {
                let entry = entry.unwrap();
                let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
                let link = entry.link_name_bytes().unwrap_or_default();
                (name, String::from_utf8_lossy(&link).into_owned())
            })
            .collect()
    }

    fn has_name(layer: &[u8], name: &str) -> bool {
        names(layer).iter().any(|(n, _)| n == name)
    }

    /// A root next to a sentinel directory, `outside`, that no layer may touch.
    struct Scene {
        tmp: tempfile::TempDir,
        root: Root,
        before: Vec<String>,
    }

    impl Scene {
        fn new() -> Scene {
            let tmp = tempfile::tempdir().unwrap();
            fs::create_dir(tmp.path().join("root")).unwrap();
            let outside = tmp.path().join("outside");
            fs::create_dir_all(outside.join("dir")).unwrap();
            fs::write(outside.join("secret"), "secret").unwrap();
            fs::write(outside.join("dir/file"), "outside file").unwrap();
            let root = Root::open_ambient(&tmp.path().join("root"), Resolve::InRoot).unwrap();
            let before = host_snapshot(tmp.path());
            Scene { tmp, root, before }
        }

        /// `rel` in the root, on the host.
        fn at(&self, rel: &str) -> PathBuf {
            self.tmp.path().join("root").join(rel)
        }

        fn outside(&self) -> PathBuf {
            self.tmp.path().join("outside")
        }

        /// `outside` as the root sees an absolute link to it: the same path inside the root.
        fn outside_in_root(&self) -> PathBuf {
            self.at(self.outside().strip_prefix("/").unwrap().to_str().unwrap())
        }

        /// A name no other test or host file has, for paths like `/etc/NAME`.
        fn unique(&self) -> String {
            let tmp = self.tmp.path().file_name().unwrap().to_string_lossy();
            format!(
                "davit-unpack-{}-{}",
                std::process::id(),
                tmp.trim_start_matches('.')
            )
        }

        fn apply(&self, layer: &[u8]) -> Result<Applied, UnpackError> {
            apply_layer(&self.root, layer)
        }

        fn privileged(&self) -> bool {
            fs::metadata(self.tmp.path()).unwrap().uid() == 0
        }

        /// Nothing next to the root, and nothing in `outside`, was created or changed.
        fn assert_host_untouched(&self) {
            assert_eq!(host_snapshot(self.tmp.path()), self.before);
        }

        /// Every path in the root, relative, sorted.
        fn tree(&self) -> Vec<String> {
            let mut out = Vec::new();
            walk(&self.at(""), &mut |path, _| {
                let rel = path.strip_prefix(self.at("")).unwrap();
                out.push(rel.to_string_lossy().into_owned());
            });
            out.sort();
            out
        }
    }

    /// Visits everything under `dir` without following links.
    fn walk(dir: &Path, visit: &mut dyn FnMut(&Path, &fs::Metadata)) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            visit(&path, &meta);
            if meta.is_dir() {
                walk(&path, visit);
            }
        }
    }

    /// Everything in `tmp` but the root: names, kinds, contents, owners, modes, link counts
    /// and change times (a chmod, chown or link changes `ctime`).
    fn host_snapshot(tmp: &Path) -> Vec<String> {
        let root = tmp.join("root");
        let mut out = Vec::new();
        walk(tmp, &mut |path, meta| {
            if path.starts_with(&root) {
                return;
            }
            let what = if meta.is_symlink() {
                format!("-> {}", fs::read_link(path).unwrap().display())
            } else if meta.is_file() {
                format!("{:?}", fs::read_to_string(path).unwrap())
            } else {
                "dir".to_owned()
            };
            out.push(format!(
                "{} {:o} {}:{} n{} c{}.{} m{}.{} {what}",
                path.display(),
                meta.mode(),
                meta.uid(),
                meta.gid(),
                meta.nlink(),
                meta.ctime(),
                meta.ctime_nsec(),
                meta.mtime(),
                meta.mtime_nsec(),
            ));
        });
        out.sort();
        out
    }

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    fn refusal(result: Result<Applied, UnpackError>) -> (PathBuf, Refusal) {
        match result {
            Err(UnpackError::Refused { path, reason }) => (path, reason),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn ordinary_layer_is_applied() {
        let scene = Scene::new();
        let root_mode = mode(&scene.at(""));
        let mut tar = Tar::new();
        tar.dir("./", 0o777)
            .dir("etc/", 0o755)
            .dir("etc/app/", 0o750)
            .file("etc/app/conf", 0o640, "x=1\n")
            .file("./usr/bin/tool", 0o4755, "#!/bin/sh\n")
            .symlink("etc/link", "app/conf")
            .symlink("etc/abs", "/etc/app/conf")
            .hard_link("etc/hard", "etc/app/conf")
            .dir("ro/", 0o555)
            .file("ro/inside", 0o444, "read-only");
        let applied = scene.apply(&tar.bytes()).unwrap();

        let expected = Applied {
            files: 3,
            dirs: 3,
            links: 3,
            removed: 0,
            skipped_devices: 0,
        };
        assert_eq!(applied, expected);
        assert_eq!(
            fs::read_to_string(scene.at("etc/app/conf")).unwrap(),
            "x=1\n"
        );
        assert_eq!(mode(&scene.at("etc/app/conf")), 0o640);
        assert_eq!(mode(&scene.at("etc/app")), 0o750);
        assert_eq!(
            mode(&scene.at("usr/bin/tool")),
            0o4755,
            "setuid survives the chown"
        );
        assert!(scene.at("usr/bin").is_dir(), "implied parents are made");
        assert_eq!(
            fs::read_link(scene.at("etc/link")).unwrap(),
            Path::new("app/conf")
        );
        assert_eq!(
            fs::read_link(scene.at("etc/abs")).unwrap(),
            Path::new("/etc/app/conf")
        );
        let conf = fs::metadata(scene.at("etc/app/conf")).unwrap();
        let hard = fs::symlink_metadata(scene.at("etc/hard")).unwrap();
        assert_eq!((hard.dev(), hard.ino()), (conf.dev(), conf.ino()));
        assert_eq!(mode(&scene.at("ro")), 0o555, "set once its entries are in");
        assert_eq!(
            fs::read_to_string(scene.at("ro/inside")).unwrap(),
            "read-only"
        );
        assert_eq!(
            mode(&scene.at("")),
            root_mode,
            "`./` leaves the root's mode alone"
        );
        if scene.privileged() {
            for rel in ["etc/app/conf", "etc/app", "etc/link", "usr/bin/tool"] {
                let meta = fs::symlink_metadata(scene.at(rel)).unwrap();
                assert_eq!((meta.uid(), meta.gid()), (UID, GID), "{rel}");
            }
        }
        scene.assert_host_untouched();
    }

    #[test]
    fn names_with_parent_components_are_refused() {
        let far = format!("../../{}.txt", Scene::new().unique());
        for name in [
            "../escape.txt",
            "a/../../escape.txt",
            "a/../b",
            far.as_str(),
        ] {
            let scene = Scene::new();
            let mut tar = Tar::new();
            tar.file("first", 0o644, "").file(name, 0o644, "escaped");
            let layer = tar.bytes();
            assert!(has_name(&layer, name), "{name} is in the layer");

            let (path, reason) = refusal(scene.apply(&layer));
            assert_eq!(path, Path::new(name));
            assert_eq!(reason, Refusal::Name(BadName::ParentComponent), "{name}");
            assert!(!scene.tmp.path().join("escape.txt").exists());
            assert!(!scene.tmp.path().parent().unwrap().join(&far[6..]).exists());
            assert_eq!(scene.tree(), ["first"], "{name}: nothing after it");
            scene.assert_host_untouched();
        }
    }

    #[test]
    fn empty_rootlike_and_overlong_names_are_refused() {
        let scene = Scene::new();
        let mut tar = Tar::new();
        tar.file("", 0o644, "");
        let (_, reason) = refusal(scene.apply(&tar.bytes()));
        assert_eq!(reason, Refusal::Name(BadName::Empty));

        for name in [".", "/"] {
            let mut tar = Tar::new();
            tar.symlink(name, "/elsewhere");
            let (_, reason) = refusal(scene.apply(&tar.bytes()));
            assert_eq!(reason, Refusal::RootNotDirectory, "{name}");
        }

        let long = format!("{}f", "d/".repeat(2100));
        let mut header = Header::new_gnu();
        header.set_size(0);
        header.set_entry_type(EntryType::Regular);
        let mut builder = Builder::new(Vec::new());
        builder
            .append_data(&mut header, &long, io::empty())
            .unwrap();
        let layer = builder.into_inner().unwrap();
        assert!(has_name(&layer, &long), "a GNU long name");
        let (path, reason) = refusal(scene.apply(&layer));
        assert_eq!(reason, Refusal::Name(BadName::TooLong { len: long.len() }));
        assert_eq!(path.as_os_str().len(), SHOWN_NAME);

        assert!(scene.tree().is_empty());
        scene.assert_host_untouched();
    }

    #[test]
    fn absolute_names_land_in_the_root() {
        let scene = Scene::new();
        let name = format!("/etc/{}", scene.unique());
        let mut tar = Tar::new();
        tar.file(&name, 0o644, "in the image");
        let layer = tar.bytes();
        assert!(has_name(&layer, &name));

        scene.apply(&layer).unwrap();
        let inside = scene.at(&name[1..]);
        assert_eq!(fs::read_to_string(inside).unwrap(), "in the image");
        assert!(!Path::new(&name).exists(), "the host's /etc is untouched");
        scene.assert_host_untouched();
    }

    #[test]
    fn links_out_of_the_root_lead_back_into_it() {
        let scene = Scene::new();
        let unique = scene.unique();
        let outside = scene.outside().to_str().unwrap().to_owned();
        let mut tar = Tar::new();
        tar.symlink("evil", "/")
            .symlink("up", "../../..")
            .symlink("abs", &outside)
            .file(&format!("evil/etc/{unique}-a"), 0o644, "a")
            .file(&format!("up/etc/{unique}-b"), 0o644, "b")
            .file("abs/secret", 0o644, "pwned")
            .file("abs/dir/file", 0o644, "pwned");
        scene.apply(&tar.bytes()).unwrap();

        let read = |path: PathBuf| fs::read_to_string(path).unwrap();
        assert_eq!(read(scene.at(&format!("etc/{unique}-a"))), "a");
        assert_eq!(read(scene.at(&format!("etc/{unique}-b"))), "b");
        assert_eq!(read(scene.outside_in_root().join("secret")), "pwned");
        assert_eq!(read(scene.outside_in_root().join("dir/file")), "pwned");
        for suffix in ["a", "b"] {
            assert!(!Path::new(&format!("/etc/{unique}-{suffix}")).exists());
        }
        scene.assert_host_untouched();
    }

    #[test]
    fn entries_replace_links_at_their_names() {
        let scene = Scene::new();
        let outside = scene.outside();
        symlink("../outside/dir/file", scene.at("rel-link")).unwrap();
        symlink(outside.join("dir/file"), scene.at("abs-link")).unwrap();
        symlink(outside.join("dir"), scene.at("dir-link")).unwrap();
        fs::create_dir_all(scene.at("tree/a")).unwrap();
        fs::write(scene.at("tree/a/b"), "lower").unwrap();
        let mut tar = Tar::new();
        tar.file("rel-link", 0o644, "new")
            .file("abs-link", 0o644, "new")
            .file("tree", 0o644, "now a file")
            .dir("dir-link/", 0o755)
            .file("dir-link/file", 0o644, "in the root")
            .symlink("late", "../outside/dir/file")
            .file("late", 0o644, "late");
        let layer = tar.bytes();
        assert_eq!(names(&layer)[5].1, "../outside/dir/file");
        scene.apply(&layer).unwrap();

        for (rel, contents) in [
            ("rel-link", "new"),
            ("abs-link", "new"),
            ("tree", "now a file"),
            ("dir-link/file", "in the root"),
            ("late", "late"),
        ] {
            assert!(
                fs::symlink_metadata(scene.at(rel)).unwrap().is_file(),
                "{rel}"
            );
            assert_eq!(
                fs::read_to_string(scene.at(rel)).unwrap(),
                contents,
                "{rel}"
            );
        }
        assert!(fs::symlink_metadata(scene.at("dir-link")).unwrap().is_dir());
        scene.assert_host_untouched();
    }

    #[test]
    fn hard_links_stay_in_the_root() {
        let scene = Scene::new();
        let mut tar = Tar::new();
        tar.hard_link("h", "../outside/secret");
        let layer = tar.bytes();
        assert_eq!(names(&layer)[0].1, "../outside/secret");
        let (_, reason) = refusal(scene.apply(&layer));
        assert_eq!(
            reason,
            Refusal::HardLinkTarget {
                target: "../outside/secret".into(),
                problem: BadName::ParentComponent,
            }
        );

        let secret = scene.outside().join("secret");
        for target in ["/etc/passwd", secret.to_str().unwrap()] {
            let mut tar = Tar::new();
            tar.hard_link("h", target);
            let (_, reason) = refusal(scene.apply(&tar.bytes()));
            let target = normalize(target.as_bytes()).unwrap();
            assert_eq!(reason, Refusal::HardLinkTargetMissing { target });
        }

        // Through a link out of the root: its target is looked for in the root.
        symlink(scene.outside(), scene.at("out")).unwrap();
        let mut tar = Tar::new();
        tar.hard_link("h", "out/secret");
        let (_, reason) = refusal(scene.apply(&tar.bytes()));
        assert!(
            matches!(reason, Refusal::HardLinkTargetMissing { .. }),
            "{reason}"
        );

        let mut tar = Tar::new();
        tar.hard_link("h", "h");
        let (_, reason) = refusal(scene.apply(&tar.bytes()));
        assert_eq!(reason, Refusal::HardLinkToItself);

        let host_passwd = fs::metadata("/etc/passwd").ok();
        let mut tar = Tar::new();
        tar.file("etc/passwd", 0o644, "root:x:0:0::/root:/bin/sh\n")
            .hard_link("h", "/etc/passwd");
        scene.apply(&tar.bytes()).unwrap();
        let linked = fs::metadata(scene.at("h")).unwrap();
        let image = fs::metadata(scene.at("etc/passwd")).unwrap();
        assert_eq!((linked.dev(), linked.ino()), (image.dev(), image.ino()));
        assert_eq!(linked.nlink(), 2);
        if let Some(host) = host_passwd {
            assert_ne!((linked.dev(), linked.ino()), (host.dev(), host.ino()));
            let after = fs::metadata("/etc/passwd").unwrap();
            assert_eq!(after.nlink(), host.nlink());
        }
        scene.assert_host_untouched();
    }

    #[test]
    fn whiteouts_remove_lower_entries() {
        let scene = Scene::new();
        fs::write(scene.at("keep"), "").unwrap();
        fs::write(scene.at("gone.txt"), "").unwrap();
        fs::create_dir_all(scene.at("tree/a")).unwrap();
        fs::write(scene.at("tree/a/b"), "").unwrap();
        let mut tar = Tar::new();
        tar.file(".wh.gone.txt", 0o644, "")
            .file("./.wh.tree", 0o644, "")
            .file("sub/.wh.missing", 0o644, "")
            .file("sub/.wh..wh.plnk", 0o644, "");
        let applied = scene.apply(&tar.bytes()).unwrap();

        assert_eq!(applied.removed, 2);
        assert_eq!(scene.tree(), ["keep", "sub"], "no whiteout is created");
        scene.assert_host_untouched();
    }

    /// `d/.wh..wh..opq` before or after this layer's own entries in `d`.
    fn opaque_case(opaque_first: bool) {
        let scene = Scene::new();
        fs::create_dir_all(scene.at("d/olddir")).unwrap();
        fs::create_dir_all(scene.at("d/sub")).unwrap();
        for rel in ["d/old", "d/olddir/x", "d/sub/lower", "other"] {
            fs::write(scene.at(rel), "lower").unwrap();
        }
        let mut tar = Tar::new();
        tar.dir("d/", 0o755);
        if opaque_first {
            tar.file("d/.wh..wh..opq", 0o644, "");
        }
        tar.file("d/new", 0o644, "new")
            .dir("d/sub/", 0o755)
            .file("d/sub/new2", 0o644, "new");
        if !opaque_first {
            tar.file("d/.wh..wh..opq", 0o644, "");
        }
        let applied = scene.apply(&tar.bytes()).unwrap();

        assert_eq!(applied.removed, 3, "opaque first: {opaque_first}");
        let expected = ["d", "d/new", "d/sub", "d/sub/new2", "other"];
        assert_eq!(scene.tree(), expected, "opaque first: {opaque_first}");
        scene.assert_host_untouched();
    }

    #[test]
    fn opaque_whiteouts_keep_this_layers_entries_in_either_order() {
        opaque_case(true);
        opaque_case(false);
    }

    #[test]
    fn whiteouts_of_no_entry_are_refused() {
        for (name, expected) in [
            (".wh.", Refusal::BadWhiteout { name: "".into() }),
            ("a/.wh..", Refusal::BadWhiteout { name: ".".into() }),
            (".wh...", Refusal::BadWhiteout { name: "..".into() }),
            ("a/.wh...", Refusal::BadWhiteout { name: "..".into() }),
            ("../.wh.x", Refusal::Name(BadName::ParentComponent)),
            (
                "a/../../.wh.outside",
                Refusal::Name(BadName::ParentComponent),
            ),
        ] {
            let scene = Scene::new();
            fs::create_dir(scene.at("a")).unwrap();
            fs::write(scene.at("a/file"), "lower").unwrap();
            let mut tar = Tar::new();
            tar.file(name, 0o644, "");
            let layer = tar.bytes();
            assert!(has_name(&layer, name), "{name}");
            let (_, reason) = refusal(scene.apply(&layer));
            assert_eq!(reason, expected, "{name}");
            assert_eq!(scene.tree(), ["a", "a/file"], "{name}");
            scene.assert_host_untouched();
        }
    }

    #[test]
    fn whiteouts_through_links_out_stay_in_the_root() {
        let scene = Scene::new();
        symlink(scene.outside(), scene.at("abs")).unwrap();
        symlink("../outside", scene.at("rel")).unwrap();
        symlink("../../..", scene.at("up")).unwrap();
        let mut tar = Tar::new();
        tar.file("abs/.wh.secret", 0o644, "")
            .file("rel/.wh.secret", 0o644, "")
            .file("rel/.wh.dir", 0o644, "")
            .file("abs/.wh..wh..opq", 0o644, "")
            .file("up/.wh.secret", 0o644, "")
            .file("up/.wh..wh..opq", 0o644, "");
        scene.apply(&tar.bytes()).unwrap();

        // `up` is the root itself: its opaque whiteout cleared the root's lower entries.
        assert!(scene.tree().is_empty(), "{:?}", scene.tree());
        assert!(scene.outside().join("secret").exists());
        scene.assert_host_untouched();
    }

    #[test]
    fn gzip_layers_are_detected() {
        let scene = Scene::new();
        let mut tar = Tar::new();
        tar.dir("etc/", 0o755)
            .file("etc/hello", 0o600, "compressed");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar.bytes()).unwrap();
        let layer = gz.finish().unwrap();
        assert_eq!(layer[..2], GZIP_MAGIC);

        let applied = scene.apply(&layer).unwrap();
        assert_eq!((applied.files, applied.dirs), (1, 1));
        assert_eq!(
            fs::read_to_string(scene.at("etc/hello")).unwrap(),
            "compressed"
        );
        assert_eq!(mode(&scene.at("etc/hello")), 0o600);
        assert_eq!(
            scene.apply(&[]).unwrap(),
            Applied::default(),
            "an empty layer"
        );
        scene.assert_host_untouched();
    }

    #[test]
    fn devices_and_fifos_are_skipped() {
        let scene = Scene::new();
        let mut tar = Tar::new();
        tar.raw("dev/null", EntryType::Char, 0o666, "", "")
            .raw("dev/sda", EntryType::Block, 0o660, "", "")
            .raw("run/fifo", EntryType::Fifo, 0o600, "", "");
        let applied = scene.apply(&tar.bytes()).unwrap();
        assert_eq!(applied.skipped_devices, 3);
        assert!(scene.tree().is_empty());
        scene.assert_host_untouched();
    }
}
