//! Whole trees beneath a root: a copy that never follows a link, and snapshots to compare.
//!
//! A dry run gives a plugin a copy of each directory it may write ([`copy_tree`]) and tells
//! what it changed by comparing [`Snapshot`]s of the copy taken before and after.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use cap_std::fs::{FileTypeExt as _, MetadataExt as _, OpenOptions, OpenOptionsExt as _};

use crate::Root;

/// The most a tree walk takes: past either bound it stops with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// Bytes of file contents.
    pub bytes: u64,
    /// Entries of any kind.
    pub entries: u64,
}

impl Bound {
    fn check(&self, taken: &Taken, root: &Root) -> io::Result<()> {
        if taken.bytes > self.bytes || taken.entries > self.entries {
            return Err(io::Error::other(format!(
                "`{}` holds more than {} entries or {} MiB",
                root.path().display(),
                self.entries,
                self.bytes >> 20
            )));
        }
        Ok(())
    }
}

#[derive(Default)]
struct Taken {
    bytes: u64,
    entries: u64,
}

/// Copies everything beneath `from` into the empty directory `to`: directories, regular files
/// with their contents and modes, links as links (never followed). Owners are kept when davit
/// runs as root. FIFOs, sockets and devices are left out: nothing reads from them.
///
/// # Errors
///
/// When an entry cannot be read or written, or the tree is larger than `bound`.
pub fn copy_tree(from: &Root, to: &Root, bound: Bound) -> io::Result<()> {
    let mut taken = Taken::default();
    let mut dirs = Vec::new();
    copy_dir(from, to, Path::new(""), bound, &mut taken, &mut dirs)?;
    // Modes last: a read-only directory is filled before it becomes one.
    for (rel, mode) in dirs.into_iter().rev() {
        to.set_mode(&rel, mode)?;
    }
    Ok(())
}

fn copy_dir(
    from: &Root,
    to: &Root,
    rel: &Path,
    bound: Bound,
    taken: &mut Taken,
    dirs: &mut Vec<(PathBuf, u32)>,
) -> io::Result<()> {
    for (name, kind) in from.entries(rel)? {
        let path = rel.join(&name);
        taken.entries += 1;
        bound.check(taken, from)?;
        let meta = from.symlink_metadata(&path)?;
        let mode = meta.mode() & 0o7777;
        if kind.is_dir() {
            to.create_dir(&path, 0o700)?;
            dirs.push((path.clone(), mode));
            copy_dir(from, to, &path, bound, taken, dirs)?;
        } else if kind.is_file() {
            taken.bytes += meta.len();
            bound.check(taken, from)?;
            let mut source = from.open_file(&path, OpenOptions::new().read(true))?;
            let mut options = OpenOptions::new();
            options.write(true).create_new(true).mode(mode);
            let mut copy = to.open_file(&path, &options)?;
            io::copy(&mut source, &mut copy)?;
            copy.flush()?;
            to.set_mode(&path, mode)?;
        } else if kind.is_symlink() {
            to.symlink(&from.read_link(&path)?, &path)?;
        } else {
            continue;
        }
        if is_root() {
            // Best effort: an owner the copy cannot take changes nothing the run can do.
            let _ = to.chown(&path, Some(meta.uid()), Some(meta.gid()));
        }
    }
    Ok(())
}

fn is_root() -> bool {
    // SAFETY: plain syscall without arguments.
    unsafe { libc::geteuid() == 0 }
}

/// What one entry is, as far as a comparison cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    /// A regular file: its size and the blake3 digest of its contents.
    File {
        size: u64,
        digest: [u8; 32],
    },
    Link(PathBuf),
    /// A FIFO, socket or device.
    Special,
}

/// Every entry beneath a root, by its path relative to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub entries: BTreeMap<PathBuf, Entry>,
}

/// How an entry differs between two snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Removed,
    /// Its contents, or the target of a link, or what kind of entry it is.
    Modified,
    /// Only its mode or owner.
    Attributes,
}

impl Snapshot {
    /// Reads every entry beneath `root` (links are entries, never followed).
    ///
    /// # Errors
    ///
    /// When an entry cannot be read, or the tree is larger than `bound`.
    pub fn of(root: &Root, bound: Bound) -> io::Result<Snapshot> {
        let mut snapshot = Snapshot::default();
        let mut taken = Taken::default();
        snapshot.add(root, Path::new(""), bound, &mut taken)?;
        Ok(snapshot)
    }

    fn add(&mut self, root: &Root, rel: &Path, bound: Bound, taken: &mut Taken) -> io::Result<()> {
        for (name, kind) in root.entries(rel)? {
            let path = rel.join(&name);
            taken.entries += 1;
            bound.check(taken, root)?;
            let meta = root.symlink_metadata(&path)?;
            let entry_kind = if kind.is_dir() {
                Kind::Dir
            } else if kind.is_file() {
                taken.bytes += meta.len();
                bound.check(taken, root)?;
                let file = root.open_file(&path, OpenOptions::new().read(true))?;
                Kind::File {
                    size: meta.len(),
                    digest: digest(file)?,
                }
            } else if kind.is_symlink() {
                Kind::Link(root.read_link(&path)?)
            } else {
                debug_assert!(kind.is_fifo() || kind.is_socket() || kind.is_char_device());
                Kind::Special
            };
            let recurse = entry_kind == Kind::Dir;
            self.entries.insert(
                path.clone(),
                Entry {
                    kind: entry_kind,
                    mode: meta.mode() & 0o7777,
                    uid: meta.uid(),
                    gid: meta.gid(),
                },
            );
            if recurse {
                self.add(root, &path, bound, taken)?;
            }
        }
        Ok(())
    }

    /// What differs in `after`, by path, in path order.
    pub fn changes(&self, after: &Snapshot) -> Vec<(PathBuf, Change)> {
        let mut out = Vec::new();
        for (path, old) in &self.entries {
            match after.entries.get(path) {
                None => out.push((path.clone(), Change::Removed)),
                Some(new) if new.kind != old.kind => out.push((path.clone(), Change::Modified)),
                Some(new) if new != old => out.push((path.clone(), Change::Attributes)),
                Some(_) => {}
            }
        }
        for path in after.entries.keys() {
            if !self.entries.contains_key(path) {
                out.push((path.clone(), Change::Created));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

fn digest(mut file: std::fs::File) -> io::Result<[u8; 32]> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(*hasher.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Resolve;
    use std::os::unix::fs::{PermissionsExt as _, symlink};

    const BIG: Bound = Bound {
        bytes: 1 << 30,
        entries: 1 << 20,
    };

    fn root(path: &Path) -> Root {
        Root::open_ambient(path, Resolve::Beneath).unwrap()
    }

    #[test]
    fn a_copy_holds_the_tree_with_its_links_unfollowed_and_compares_equal() {
        let tmp = tempfile::tempdir().unwrap();
        let (src, dst, outside) = (
            tmp.path().join("src"),
            tmp.path().join("dst"),
            tmp.path().join("outside"),
        );
        for d in [&src, &dst, &outside] {
            std::fs::create_dir(d).unwrap();
        }
        std::fs::write(outside.join("secret"), "host").unwrap();
        std::fs::create_dir(src.join("conf")).unwrap();
        std::fs::write(src.join("conf/app.ini"), "a=1").unwrap();
        std::fs::set_permissions(
            src.join("conf/app.ini"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        symlink(&outside, src.join("out")).unwrap();
        symlink("../../outside/secret", src.join("conf/up")).unwrap();
        std::fs::set_permissions(src.join("conf"), std::fs::Permissions::from_mode(0o500)).unwrap();

        copy_tree(&root(&src), &root(&dst), BIG).unwrap();
        let (a, b) = (
            Snapshot::of(&root(&src), BIG).unwrap(),
            Snapshot::of(&root(&dst), BIG).unwrap(),
        );
        assert_eq!(a.changes(&b), vec![]);
        assert_eq!(a.entries.len(), 4, "{a:?}");
        assert_eq!(std::fs::read_link(dst.join("out")).unwrap(), outside);
        std::fs::set_permissions(src.join("conf"), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(dst.join("conf"), std::fs::Permissions::from_mode(0o700)).unwrap();
    }

    #[test]
    fn changes_name_what_was_created_removed_modified_and_chmodded() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::write(d.join("same"), "1").unwrap();
        std::fs::write(d.join("edited"), "1").unwrap();
        std::fs::write(d.join("gone"), "1").unwrap();
        std::fs::write(d.join("chmodded"), "1").unwrap();
        let before = Snapshot::of(&root(d), BIG).unwrap();
        std::fs::write(d.join("edited"), "2").unwrap();
        std::fs::remove_file(d.join("gone")).unwrap();
        std::fs::set_permissions(d.join("chmodded"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        std::fs::create_dir(d.join("new")).unwrap();
        std::fs::write(d.join("new/file"), "x").unwrap();
        let after = Snapshot::of(&root(d), BIG).unwrap();
        let p = PathBuf::from;
        assert_eq!(
            before.changes(&after),
            vec![
                (p("chmodded"), Change::Attributes),
                (p("edited"), Change::Modified),
                (p("gone"), Change::Removed),
                (p("new"), Change::Created),
                (p("new/file"), Change::Created),
            ]
        );
    }

    #[test]
    fn a_tree_past_its_bound_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        for i in 0..5 {
            std::fs::write(tmp.path().join(format!("f{i}")), "12345").unwrap();
        }
        let few = Bound {
            bytes: 1 << 20,
            entries: 3,
        };
        let small = Bound {
            bytes: 10,
            entries: 100,
        };
        for bound in [few, small] {
            let e = Snapshot::of(&root(tmp.path()), bound).unwrap_err();
            assert!(e.to_string().contains("holds more than"), "{e}");
        }
    }
}
