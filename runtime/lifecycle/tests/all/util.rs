//! Helpers: writing trees, snapshotting them, building archives.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Kind (`d`, `f`, `l`), mode, uid, gid, and contents or link target of one path.
pub type Entry = (char, u32, u32, u32, Vec<u8>);

/// Everything observable under `root`, by relative path.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let (kind, data) = if meta.is_dir() {
                ('d', Vec::new())
            } else if meta.is_symlink() {
                let target = fs::read_link(&path).unwrap();
                ('l', target.into_os_string().into_encoded_bytes())
            } else {
                ('f', fs::read(&path).unwrap())
            };
            let rel = path.strip_prefix(root).unwrap().to_owned();
            out.insert(
                rel,
                (kind, meta.mode() & 0o7777, meta.uid(), meta.gid(), data),
            );
            if kind == 'd' {
                walk(root, &path, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Writes `text` to `path` (creating parents) with `mode`.
pub fn write(path: &Path, text: &str, mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    chmod(path, mode);
}

pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

pub fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

pub fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every path under `dir`, relative, sorted, not following symlinks.
fn tree(dir: &Path) -> Vec<PathBuf> {
    snapshot(dir).into_keys().collect()
}

/// Zips `dir` with explicit directory entries, Unix modes and symlinks.
pub fn zip_dir(dir: &Path, out: &Path) {
    let mut zip = zip::ZipWriter::new(fs::File::create(out).unwrap());
    for rel in tree(dir) {
        let abs = dir.join(&rel);
        let meta = fs::symlink_metadata(&abs).unwrap();
        let name = rel.to_str().unwrap();
        let opts = zip::write::SimpleFileOptions::default().unix_permissions(meta.mode() & 0o777);
        if meta.is_dir() {
            zip.add_directory(format!("{name}/"), opts).unwrap();
        } else if meta.is_symlink() {
            let target = fs::read_link(&abs).unwrap();
            zip.add_symlink(name, target.to_str().unwrap(), opts)
                .unwrap();
        } else {
            zip.start_file(name, opts).unwrap();
            zip.write_all(&fs::read(&abs).unwrap()).unwrap();
        }
    }
    zip.finish().unwrap();
}

/// Tars `dir` (gzipped if `gzip`), symlinks as symlinks.
pub fn tar_dir(dir: &Path, out: &Path, gzip: bool) {
    let file = fs::File::create(out).unwrap();
    let writer: Box<dyn Write> = if gzip {
        Box::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::default(),
        ))
    } else {
        Box::new(file)
    };
    let mut tar = tar::Builder::new(writer);
    tar.follow_symlinks(false);
    for rel in tree(dir) {
        tar.append_path_with_name(dir.join(&rel), &rel).unwrap();
    }
    tar.into_inner().unwrap().flush().unwrap();
}

/// One raw tar entry; the name is written as is (the tar crate refuses `..` and `/`).
pub struct RawEntry<'a> {
    pub name: &'a [u8],
    pub kind: tar::EntryType,
    pub link: &'a [u8],
    pub data: &'a [u8],
}

/// A tar archive of raw entries.
pub fn raw_tar(out: &Path, entries: &[RawEntry<'_>]) {
    let mut tar = tar::Builder::new(fs::File::create(out).unwrap());
    for e in entries {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..e.name.len()].copy_from_slice(e.name);
        header.set_entry_type(e.kind);
        header.set_mode(0o644);
        header.set_size(e.data.len() as u64);
        header.set_link_name_literal(e.link).unwrap();
        header.set_cksum();
        tar.append(&header, e.data).unwrap();
    }
    tar.finish().unwrap();
}

/// A zip archive of files named as is, and symlinks (`Some(target)`).
pub fn raw_zip(out: &Path, entries: &[(&str, Option<&str>)]) {
    let mut zip = zip::ZipWriter::new(fs::File::create(out).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    for (name, link) in entries {
        match link {
            Some(target) => zip.add_symlink(*name, *target, opts).unwrap(),
            None => {
                zip.start_file(*name, opts).unwrap();
                zip.write_all(b"payload").unwrap();
            }
        }
    }
    zip.finish().unwrap();
}

/// Whether this process runs as root (chown to others is allowed).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A temporary directory that can be removed even when a test staged read-only directories
/// into it (an unprivileged user cannot delete inside a `0555` directory).
pub struct Tmp(Option<tempfile::TempDir>);

pub fn tempdir() -> Tmp {
    Tmp(Some(tempfile::tempdir().unwrap()))
}

impl Tmp {
    pub fn path(&self) -> &Path {
        self.0.as_ref().unwrap().path()
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        fn open_up(path: &Path) {
            if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
                let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o700));
                for entry in fs::read_dir(path).into_iter().flatten().flatten() {
                    open_up(&entry.path());
                }
            }
        }
        if let Some(dir) = self.0.take() {
            open_up(dir.path());
            let _ = dir.close();
        }
    }
}
