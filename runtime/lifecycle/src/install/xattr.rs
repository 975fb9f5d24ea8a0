//! `permissions[].acls` and `permissions[].context` on the host: POSIX ACLs and SELinux
//! contexts, written as the extended attributes they are, on the very inode Install put there.
//!
//! Nothing here hands a path to a program or to a path lookup: `setfacl PATH` or `chcon PATH`
//! would follow a link a hook planted since the copy. Each object is opened with
//! [`Root::open_path`] (`O_PATH|O_NOFOLLOW`, resolved beneath the root, a link at the leaf is
//! `ELOOP`), and its attributes are read and written through that descriptor's
//! `/proc/self/fd/N` name, which names exactly the inode that was opened.
//!
//! ACLs are the `system.posix_acl_access` and `system.posix_acl_default` attributes in the
//! kernel's format: a little-endian `u32` version 2, then `{u16 tag, u16 perm, u32 id}` entries
//! sorted by tag, then id. What is written follows the CodeDeploy agent (`setfacl --set` built in
//! its `install_instruction.rb` from the file's mode), merged with what the inode already has:
//!
//! - the owner and others entries (`u::`, `o::`) are the file's mode bits, the owning group
//!   entry (`g::`) is the one the file's ACL has, else its mode's group bits;
//! - the appspec's named entries (`u:bob:rw`, `g:ops:r`) and its mask are added, or replace the
//!   entry for the same user or group; named entries already there (inherited from a parent's
//!   default ACL) are kept, as `setfacl -m` keeps them, where the agent's `--set` drops them;
//! - the mask, when there are named entries and the appspec gives none, is the mode's group bits
//!   as the agent sets it (not the union of the group class that `setfacl -m` computes): the
//!   file's mode stays what `mode` made it, and a named entry gets at most the group bits;
//! - default entries (`d:…`) are written on directories only, and only when the appspec has
//!   some: the owner, owning group and others default entries the appspec leaves out come from
//!   the directory's default ACL, else from its access entries; a missing default mask is the
//!   default owning group's permissions, as the agent computes it.
//!
//! Apply ACLs after `mode`, as the agent does: a later `chmod` of a file with an ACL changes its
//! mask, not its owning group entry.
//!
//! SELinux contexts are the `security.selinux` attribute (`user:role:type[:range]` and a NUL).
//! The agent runs `semanage fcontext -a` and `restorecon`; davit sets the context directly, as
//! `chcon` does, which labels the file the same way at once. Two differences: no file-context
//! rule is added to the policy, so a later full relabel (`restorecon -R`, an autorelabel) puts
//! the policy's label back; and `user` and `range` are applied as written, where `restorecon`
//! without `-F` changes only the type. A `role` is ignored, as the agent ignores it: files are
//! `object_r`.

// Until the Install calls it (the lifecycle owner wires it in).

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use davit_fsroot::Root;
use davit_spec::{AclPerms, AclTag, Permission, SeContext};

use super::InstallError;
use super::perms::{Db, lookup};

const ACCESS: &CStr = c"system.posix_acl_access";
const DEFAULT: &CStr = c"system.posix_acl_default";
const SELINUX: &CStr = c"security.selinux";
/// Present when the kernel has SELinux enabled (enforcing or permissive).
const SELINUX_ENFORCE: &str = "/sys/fs/selinux/enforce";
/// `1` when the loaded policy is MLS, so that a context needs a range.
const SELINUX_MLS: &str = "/sys/fs/selinux/mls";

/// `POSIX_ACL_XATTR_VERSION`.
const VERSION: u32 = 2;
/// The id of the entries that name nobody (`ACL_UNDEFINED_ID`).
const NO_ID: u32 = u32::MAX;
const HEADER_LEN: usize = 4;
const ENTRY_LEN: usize = 8;

/// An entry's tag, with the kernel's values; declared in their order, which is the order the
/// kernel wants entries in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Tag {
    UserObj = 0x01,
    User = 0x02,
    GroupObj = 0x04,
    Group = 0x08,
    Mask = 0x10,
    Other = 0x20,
}

impl Tag {
    fn from_raw(raw: u16) -> Option<Tag> {
        Some(match raw {
            0x01 => Tag::UserObj,
            0x02 => Tag::User,
            0x04 => Tag::GroupObj,
            0x08 => Tag::Group,
            0x10 => Tag::Mask,
            0x20 => Tag::Other,
            _ => return None,
        })
    }

    fn is_named(self) -> bool {
        matches!(self, Tag::User | Tag::Group)
    }
}

/// One ACL entry with its user or group resolved to an id ([`NO_ID`] unless it is named).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    tag: Tag,
    id: u32,
    /// `r` 4, `w` 2, `x` 1.
    perms: u16,
}

impl Entry {
    fn base(tag: Tag, perms: u16) -> Entry {
        Entry {
            tag,
            id: NO_ID,
            perms,
        }
    }
}

/// The `acls` of one `permissions` entry with every name resolved to an id, ready to apply to
/// each object the entry matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Acl {
    /// Entries of the access ACL (named users and groups, the mask).
    access: Vec<Entry>,
    /// `d:` entries, for directories only.
    default: Vec<Entry>,
}

/// Whether this host can apply ACLs to what is under `dir`: its filesystem has POSIX ACLs
/// (asking for `system.posix_acl_access` of `dir` itself is answered, or says it has none).
pub(super) fn acls_supported(dir: &Root) -> bool {
    let Ok(fd) = dir.open_path(Path::new("")) else {
        return false;
    };
    get(fd.as_fd(), ACCESS).is_ok()
}

/// Whether the kernel has SELinux enabled (`/sys/fs/selinux/enforce` exists), so that contexts
/// can be set.
pub(super) fn selinux_enabled() -> bool {
    Path::new(SELINUX_ENFORCE).exists()
}

/// Resolves the users and groups of `entry.acls` (`None` when it has none), before anything
/// is written.
///
/// # Errors
///
/// [`InstallError::UnknownOwner`] / [`InstallError::UnknownGroup`] at `entry.at` for a user or
/// group that does not exist on this host.
pub(super) fn resolve_acl(entry: &Permission) -> Result<Option<Acl>, InstallError> {
    if entry.acls.is_empty() {
        return Ok(None);
    }
    let mut acl = Acl {
        access: Vec::new(),
        default: Vec::new(),
    };
    for ace in &entry.acls {
        let (tag, id) = match &ace.tag {
            AclTag::User(name) => {
                let id = lookup(name, Db::User).ok_or_else(|| InstallError::UnknownOwner {
                    at: entry.at.clone(),
                    name: name.clone(),
                })?;
                (Tag::User, id)
            }
            AclTag::Group(name) => {
                let id = lookup(name, Db::Group).ok_or_else(|| InstallError::UnknownGroup {
                    at: entry.at.clone(),
                    name: name.clone(),
                })?;
                (Tag::Group, id)
            }
            AclTag::Mask => (Tag::Mask, NO_ID),
            AclTag::Other => (Tag::Other, NO_ID),
            AclTag::UserObj => (Tag::UserObj, NO_ID),
            AclTag::GroupObj => (Tag::GroupObj, NO_ID),
        };
        let list = if ace.default {
            &mut acl.default
        } else {
            &mut acl.access
        };
        // A second entry for the same user or group replaces the first, as in `setfacl`.
        put(
            list,
            Entry {
                tag,
                id,
                perms: bits(ace.perms),
            },
        );
    }
    Ok(Some(acl))
}

/// Applies `acl` to `rel` in `root` itself (`rel` empty: the root), merged with the ACL it has
/// (see the module docs); default entries only when `is_dir`.
///
/// # Errors
///
/// As [`Root::open_path`] (`ELOOP` for a link, an escape error for a path leading out);
/// `InvalidInput` when `rel` is a directory and `is_dir` says otherwise, or the reverse;
/// `EOPNOTSUPP` where the filesystem has no ACLs; `InvalidData` for an ACL there that is not
/// in the kernel's format.
pub(super) fn apply_acl(root: &Root, rel: &Path, acl: &Acl, is_dir: bool) -> io::Result<()> {
    let fd = root.open_path(rel)?;
    let mode = stat_mode(fd.as_fd())?;
    if (mode & libc::S_IFMT == libc::S_IFDIR) != is_dir {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "`{}` is {}a directory",
                root.display(rel).display(),
                if is_dir { "not " } else { "" }
            ),
        ));
    }
    let owner = ((mode >> 6) & 7) as u16;
    let group = ((mode >> 3) & 7) as u16;
    let other = (mode & 7) as u16;
    let current = get(fd.as_fd(), ACCESS)?
        .map(|raw| decode(&raw))
        .transpose()?;
    let access = merge(
        current.unwrap_or_default(),
        [owner, group, other],
        &acl.access,
        |_| group,
    );
    if !acl.access.is_empty() {
        set(fd.as_fd(), ACCESS, &encode(&access))?;
    }
    if is_dir && !acl.default.is_empty() {
        let current = get(fd.as_fd(), DEFAULT)?
            .map(|raw| decode(&raw))
            .transpose()?;
        let base = |tag| perms_of(&access, tag).unwrap_or(0);
        let default = merge(
            current.unwrap_or_default(),
            [base(Tag::UserObj), base(Tag::GroupObj), base(Tag::Other)],
            &acl.default,
            |merged| perms_of(merged, Tag::GroupObj).unwrap_or(0),
        );
        set(fd.as_fd(), DEFAULT, &encode(&default))?;
    }
    Ok(())
}

/// `current` with `given` added; the base entries it lacks are `[owner, group, other]` (an
/// access ACL that exists has them, equal to the mode bits, which the kernel keeps in step); a
/// mask of `mask(merged)` when there are named entries and `given` has no mask.
fn merge(
    current: Vec<Entry>,
    [owner, group, other]: [u16; 3],
    given: &[Entry],
    mask: impl Fn(&[Entry]) -> u16,
) -> Vec<Entry> {
    let mut merged = current;
    for (tag, perms) in [
        (Tag::UserObj, owner),
        (Tag::GroupObj, group),
        (Tag::Other, other),
    ] {
        if perms_of(&merged, tag).is_none() {
            merged.push(Entry::base(tag, perms));
        }
    }
    for entry in given {
        put(&mut merged, *entry);
    }
    let named = merged.iter().any(|e| e.tag.is_named());
    if named && given.iter().all(|e| e.tag != Tag::Mask) {
        let perms = mask(&merged);
        put(&mut merged, Entry::base(Tag::Mask, perms));
    }
    merged.sort_by_key(|e| (e.tag, e.id));
    merged
}

/// Adds `entry` to `list`, replacing the entry with the same tag and id.
fn put(list: &mut Vec<Entry>, entry: Entry) {
    match list
        .iter_mut()
        .find(|e| e.tag == entry.tag && e.id == entry.id)
    {
        Some(old) => old.perms = entry.perms,
        None => list.push(entry),
    }
}

fn perms_of(list: &[Entry], tag: Tag) -> Option<u16> {
    list.iter().find(|e| e.tag == tag).map(|e| e.perms)
}

fn bits(perms: AclPerms) -> u16 {
    u16::from(perms.read) << 2 | u16::from(perms.write) << 1 | u16::from(perms.execute)
}

/// The kernel's binary form of `entries` (already sorted).
fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + ENTRY_LEN * entries.len());
    out.extend_from_slice(&VERSION.to_le_bytes());
    for e in entries {
        out.extend_from_slice(&(e.tag as u16).to_le_bytes());
        out.extend_from_slice(&e.perms.to_le_bytes());
        out.extend_from_slice(&e.id.to_le_bytes());
    }
    out
}

/// Reads the kernel's binary form.
fn decode(raw: &[u8]) -> io::Result<Vec<Entry>> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, format!("bad ACL: {why}"));
    let (header, body) = raw
        .split_first_chunk::<HEADER_LEN>()
        .ok_or_else(|| bad("shorter than its header"))?;
    if u32::from_le_bytes(*header) != VERSION {
        return Err(bad("not version 2"));
    }
    if body.len() % ENTRY_LEN != 0 {
        return Err(bad("a partial entry"));
    }
    body.chunks_exact(ENTRY_LEN)
        .map(|c| {
            let tag = u16::from_le_bytes([c[0], c[1]]);
            Ok(Entry {
                tag: Tag::from_raw(tag).ok_or_else(|| bad(&format!("unknown tag {tag:#x}")))?,
                perms: u16::from_le_bytes([c[2], c[3]]),
                id: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            })
        })
        .collect()
}

/// Sets the SELinux context of `rel` in `root` itself (`rel` empty: the root): `type` always,
/// `user` and `range` where given, the rest kept from the label it has (see the module docs).
///
/// # Errors
///
/// `Unsupported` when SELinux is not enabled on this host; as [`Root::open_path`]; `EINVAL`
/// (with the context in the message) for a context the loaded policy does not know.
pub(super) fn apply_context(root: &Root, rel: &Path, context: &SeContext) -> io::Result<()> {
    if !selinux_enabled() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "cannot set the SELinux context of `{}`: SELinux is not enabled on this host (no `{SELINUX_ENFORCE}`)",
                root.display(rel).display()
            ),
        ));
    }
    let fd = root.open_path(rel)?;
    let current = get(fd.as_fd(), SELINUX)?.map(|raw| {
        let text = raw.strip_suffix(b"\0").unwrap_or(&raw);
        String::from_utf8_lossy(text).into_owned()
    });
    let label = label(current.as_deref(), context, mls());
    let mut value = label.clone().into_bytes();
    value.push(0);
    set(fd.as_fd(), SELINUX, &value).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot set the SELinux context `{label}` on `{}`: {e}",
                root.display(rel).display()
            ),
        )
    })
}

/// The context to write: `context`'s parts over those of `current` (`user:role:type[:range]`).
fn label(current: Option<&str>, context: &SeContext, mls: bool) -> String {
    let mut parts = current.unwrap_or("").splitn(4, ':');
    let (user, _role, _kind, range) = (parts.next(), parts.next(), parts.next(), parts.next());
    let user = context
        .user
        .as_deref()
        .or(user.filter(|u| !u.is_empty()))
        .unwrap_or("system_u");
    let range = context.range.as_deref().or(range).or(mls.then_some("s0"));
    let mut label = format!("{user}:object_r:{}", context.kind);
    if let Some(range) = range {
        label.push(':');
        label.push_str(range);
    }
    label
}

fn mls() -> bool {
    std::fs::read(SELINUX_MLS).is_ok_and(|v| v.trim_ascii() == b"1")
}

fn stat_mode(fd: BorrowedFd<'_>) -> io::Result<u32> {
    // SAFETY: `stat` is plain old data; all-zero is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on a descriptor open for the call, into a stat buffer.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.st_mode)
}

fn proc_name(fd: BorrowedFd<'_>) -> CString {
    let path = davit_fsroot::fd_path_of(fd);
    CString::new(path.as_os_str().as_bytes()).expect("a /proc/self/fd path has no NUL")
}

/// The attribute `name` of the inode `fd` (an `O_PATH` descriptor), `None` when it has none.
fn get(fd: BorrowedFd<'_>, name: &CStr) -> io::Result<Option<Vec<u8>>> {
    let path = proc_name(fd);
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: NUL-terminated strings and a buffer of `buf.len()` bytes, valid for the call.
        // `getxattr` follows the /proc magic link to the inode that is open, nothing else.
        let n = unsafe {
            libc::getxattr(
                path.as_ptr(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n >= 0 {
            buf.truncate(n as usize);
            return Ok(Some(buf));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ENODATA) => return Ok(None),
            Some(libc::ERANGE) if buf.len() < (1 << 20) => buf.resize(buf.len() * 4, 0),
            _ => return Err(err),
        }
    }
}

/// Sets the attribute `name` of the inode `fd` (an `O_PATH` descriptor) to `value`.
fn set(fd: BorrowedFd<'_>, name: &CStr, value: &[u8]) -> io::Result<()> {
    let path = proc_name(fd);
    // SAFETY: NUL-terminated strings and a buffer of `value.len()` bytes, valid for the call.
    let rc = unsafe {
        libc::setxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};
    use std::process::Command;

    use davit_fsroot::{Resolve, is_escape};
    use davit_spec::{AbsPath, AclEntry, Location};

    use super::*;

    const NOBODY: u32 = 65534;
    const NOGROUP: u32 = 65534;

    fn permission(acls: &[&str]) -> Permission {
        Permission {
            object: AbsPath::try_from("/app").unwrap(),
            pattern: "**".into(),
            pattern_at: None,
            except: Vec::new(),
            except_at: None,
            owner: None,
            group: None,
            mode: None,
            acls: acls
                .iter()
                .map(|a| AclEntry::try_from(*a).unwrap())
                .collect(),
            context: None,
            types: Vec::new(),
            at: Location::new("appspec.yml", 7, 5),
        }
    }

    fn acl(acls: &[&str]) -> Acl {
        resolve_acl(&permission(acls)).unwrap().unwrap()
    }

    fn apply(root: &Root, rel: &str, acls: &[&str], is_dir: bool) -> io::Result<()> {
        apply_acl(root, Path::new(rel), &acl(acls), is_dir)
    }

    /// A tempdir with the file `f` (mode 0644) and the directory `d` (0755), and a root on it.
    fn tree() -> (tempfile::TempDir, Root) {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("f"), "f").unwrap();
        chmod(&tmp.path().join("f"), 0o644);
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        chmod(&tmp.path().join("d"), 0o755);
        let root = Root::open_ambient(tmp.path(), Resolve::Beneath).unwrap();
        (tmp, root)
    }

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    fn read(root: &Root, rel: &str, name: &CStr) -> Option<Vec<Entry>> {
        let fd = root.open_path(Path::new(rel)).unwrap();
        get(fd.as_fd(), name)
            .unwrap()
            .map(|raw| decode(&raw).unwrap())
    }

    fn e(tag: Tag, perms: u16) -> Entry {
        Entry::base(tag, perms)
    }

    fn named(tag: Tag, id: u32, perms: u16) -> Entry {
        Entry { tag, id, perms }
    }

    #[test]
    fn named_entries_get_a_mask_of_the_group_bits() {
        let (tmp, root) = tree();
        apply(&root, "f", &["u:nobody:rw", "g:nogroup:r"], false).unwrap();
        assert_eq!(
            read(&root, "f", ACCESS).unwrap(),
            [
                e(Tag::UserObj, 6),
                named(Tag::User, NOBODY, 6),
                e(Tag::GroupObj, 4),
                named(Tag::Group, NOGROUP, 4),
                e(Tag::Mask, 4),
                e(Tag::Other, 4),
            ]
        );
        assert_eq!(
            mode(&tmp.path().join("f")),
            0o644,
            "the mode stays as it was"
        );
        assert_eq!(read(&root, "f", DEFAULT), None);

        // A mask the appspec gives is the mask, and the group bits of the mode show it.
        apply(&root, "f", &["m::rw"], false).unwrap();
        let got = read(&root, "f", ACCESS).unwrap();
        assert_eq!(got[4], e(Tag::Mask, 6), "{got:?}");
        assert_eq!(mode(&tmp.path().join("f")), 0o664);
    }

    #[test]
    fn default_entries_on_directories_only() {
        let (tmp, root) = tree();
        let both = acl(&["u:nobody:rw", "d:u:nobody:rwx"]);
        apply_acl(&root, Path::new("d"), &both, true).unwrap();
        assert_eq!(
            read(&root, "d", ACCESS).unwrap(),
            [
                e(Tag::UserObj, 7),
                named(Tag::User, NOBODY, 6),
                e(Tag::GroupObj, 5),
                e(Tag::Mask, 5),
                e(Tag::Other, 5),
            ]
        );
        assert_eq!(
            read(&root, "d", DEFAULT).unwrap(),
            [
                e(Tag::UserObj, 7),
                named(Tag::User, NOBODY, 7),
                e(Tag::GroupObj, 5),
                e(Tag::Mask, 5),
                e(Tag::Other, 5),
            ]
        );
        assert_eq!(mode(&tmp.path().join("d")), 0o755);

        // What is created in it inherits the default ACL.
        std::fs::create_dir(tmp.path().join("d/sub")).unwrap();
        assert_eq!(read(&root, "d/sub", DEFAULT), read(&root, "d", DEFAULT));

        // The base default entries the appspec gives win; on a file, default entries are
        // not applied.
        apply(&root, "d", &["d:o::---", "d:g::rwx"], true).unwrap();
        let got = read(&root, "d", DEFAULT).unwrap();
        assert_eq!(got[2], e(Tag::GroupObj, 7), "{got:?}");
        assert_eq!(got[3], e(Tag::Mask, 7), "the default mask follows `d:g::`");
        assert_eq!(got[4], e(Tag::Other, 0), "{got:?}");
        apply_acl(&root, Path::new("f"), &both, false).unwrap();
        assert_eq!(read(&root, "f", DEFAULT), None);
        assert_eq!(read(&root, "f", ACCESS).unwrap().len(), 5);
    }

    #[test]
    fn is_dir_must_say_what_is_there() {
        let (_tmp, root) = tree();
        let acl = acl(&["u:nobody:r"]);
        for (rel, is_dir) in [("f", true), ("d", false)] {
            let err = apply_acl(&root, Path::new(rel), &acl, is_dir).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{rel}: {err}");
        }
        // The root itself.
        apply_acl(&root, Path::new(""), &acl, true).unwrap();
        assert_eq!(read(&root, "", ACCESS).unwrap().len(), 5);
    }

    #[test]
    fn merging_keeps_other_named_entries() {
        let (tmp, root) = tree();
        chmod(&tmp.path().join("f"), 0o640);
        apply(&root, "f", &["u:12345:rwx", "g:nogroup:rw"], false).unwrap();
        apply(&root, "f", &["u:nobody:r", "g:nogroup:r"], false).unwrap();
        assert_eq!(
            read(&root, "f", ACCESS).unwrap(),
            [
                e(Tag::UserObj, 6),
                named(Tag::User, 12345, 7),
                named(Tag::User, NOBODY, 4),
                e(Tag::GroupObj, 4),
                named(Tag::Group, NOGROUP, 4),
                e(Tag::Mask, 4),
                e(Tag::Other, 0),
            ]
        );
        assert_eq!(mode(&tmp.path().join("f")), 0o640);
    }

    /// Hostile: a hook replaced what Install put there with links.
    #[test]
    fn links_are_never_followed() {
        let (tmp, root) = tree();
        std::fs::write(tmp.path().join("target"), "secret").unwrap();
        chmod(&tmp.path().join("target"), 0o600);
        symlink("target", tmp.path().join("link")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("x"), "x").unwrap();
        symlink(outside.path(), tmp.path().join("out")).unwrap();
        let acl = acl(&["u:nobody:rwx", "m::rwx"]);

        let err = apply_acl(&root, Path::new("link"), &acl, false).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{err}");
        let err = apply_acl(&root, Path::new("out/x"), &acl, false).unwrap_err();
        assert!(is_escape(&err), "{err}");
        let err = apply_acl(&root, Path::new("out"), &acl, true).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{err}");

        assert_eq!(read(&root, "target", ACCESS), None);
        assert_eq!(mode(&tmp.path().join("target")), 0o600);
        let outside_root = Root::open_ambient(outside.path(), Resolve::Beneath).unwrap();
        assert_eq!(read(&outside_root, "x", ACCESS), None);
        assert_eq!(read(&outside_root, "", ACCESS), None);
    }

    #[test]
    fn unknown_names_are_errors_naming_them() {
        let err = resolve_acl(&permission(&["u:nobody:r", "u:no-such-user-davit:rw"])).unwrap_err();
        assert!(
            matches!(&err, InstallError::UnknownOwner { name, .. } if name == "no-such-user-davit"),
            "{err:?}"
        );
        assert!(err.to_string().starts_with("appspec.yml:7:5: "), "{err}");
        assert!(err.to_string().contains("`no-such-user-davit`"), "{err}");
        let err = resolve_acl(&permission(&["d:g:no-such-group-davit:r"])).unwrap_err();
        assert!(
            matches!(&err, InstallError::UnknownGroup { name, .. } if name == "no-such-group-davit"),
            "{err:?}"
        );
        assert_eq!(resolve_acl(&permission(&[])).unwrap(), None);
    }

    #[test]
    fn support_is_probed_on_the_directory() {
        let (_tmp, root) = tree();
        assert!(acls_supported(&root), "this machine's ext4 has ACLs");
        let proc = Root::open_ambient(Path::new("/proc"), Resolve::Beneath).unwrap();
        assert!(!acls_supported(&proc), "procfs has no ACLs");
    }

    #[test]
    fn contexts_fail_clearly_without_selinux() {
        let (tmp, root) = tree();
        let context = SeContext {
            user: None,
            role: None,
            kind: "httpd_sys_content_t".into(),
            range: None,
        };
        if Path::new("/sys/fs/selinux").exists() {
            // An SELinux host: relabel with the type the file has, and read it back.
            let fd = root.open_path(Path::new("f")).unwrap();
            let current = String::from_utf8(get(fd.as_fd(), SELINUX).unwrap().unwrap()).unwrap();
            let kind = current.trim_end_matches('\0').split(':').nth(2).unwrap();
            let same = SeContext {
                kind: kind.into(),
                ..context
            };
            apply_context(&root, Path::new("f"), &same).unwrap();
            assert!(selinux_enabled());
            return;
        }
        // This machine: no selinuxfs.
        assert!(!selinux_enabled());
        let err = apply_context(&root, Path::new("f"), &context).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{err}");
        let shown = err.to_string();
        assert!(
            shown.contains("SELinux is not enabled on this host"),
            "{shown}"
        );
        assert!(
            shown.contains(&tmp.path().join("f").display().to_string()),
            "{shown}"
        );
        assert_eq!(read(&root, "f", SELINUX), None, "nothing written");
    }

    #[test]
    fn labels() {
        let context = |user: Option<&str>, range: Option<&str>| SeContext {
            user: user.map(Into::into),
            role: Some("ignored_r".into()),
            kind: "httpd_sys_content_t".into(),
            range: range.map(Into::into),
        };
        let current = Some("unconfined_u:object_r:var_t:s0-s0:c0.c1023");
        assert_eq!(
            label(current, &context(None, None), true),
            "unconfined_u:object_r:httpd_sys_content_t:s0-s0:c0.c1023"
        );
        assert_eq!(
            label(current, &context(Some("system_u"), Some("s0")), true),
            "system_u:object_r:httpd_sys_content_t:s0"
        );
        assert_eq!(
            label(None, &context(None, None), false),
            "system_u:object_r:httpd_sys_content_t"
        );
        assert_eq!(
            label(None, &context(None, None), true),
            "system_u:object_r:httpd_sys_content_t:s0"
        );
    }

    #[test]
    fn the_kernel_format() {
        let entries = [e(Tag::UserObj, 6), named(Tag::User, 7, 4), e(Tag::Other, 0)];
        let raw = encode(&entries);
        assert_eq!(
            raw,
            [
                2, 0, 0, 0, 1, 0, 6, 0, 255, 255, 255, 255, 2, 0, 4, 0, 7, 0, 0, 0, 32, 0, 0, 0,
                255, 255, 255, 255
            ]
        );
        assert_eq!(decode(&raw).unwrap(), entries);
        for bad in [
            &raw[..3],
            &raw[..7],
            &[1, 0, 0, 0][..],
            &[2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0],
        ] {
            let err = decode(bad).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{bad:?}");
        }
    }

    /// What `getfacl` reads back is what was meant, where it is installed (`scripts/setup`
    /// installs the `acl` package).
    #[test]
    fn getfacl_agrees() {
        if Command::new("getfacl").arg("--version").output().is_err() {
            eprintln!("getfacl is not installed, not compared");
            return;
        }
        let (tmp, root) = tree();
        apply(&root, "f", &["u:nobody:rw", "g:nogroup:r"], false).unwrap();
        let dir_acl = acl(&["g:nogroup:rwx", "d:u:nobody:rwx", "d:m::r"]);
        apply_acl(&root, Path::new("d"), &dir_acl, true).unwrap();
        let getfacl = |rel: &str| {
            let out = Command::new("getfacl")
                .args(["--omit-header", "--numeric", "--no-effective", "--"])
                .arg(tmp.path().join(rel))
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        assert_eq!(
            getfacl("f"),
            "user::rw-\nuser:65534:rw-\ngroup::r--\ngroup:65534:r--\nmask::r--\nother::r--\n\n"
        );
        assert_eq!(
            getfacl("d"),
            "user::rwx\ngroup::r-x\ngroup:65534:rwx\nmask::r-x\nother::r-x\n\
             default:user::rwx\ndefault:user:65534:rwx\ndefault:group::r-x\n\
             default:mask::r--\ndefault:other::r-x\n\n"
        );
    }
}
