//! The `davit:plugin/files` host interface: owners, modes and symbolic links, which WASI lacks,
//! for image actions.
//!
//! A path is one the guest sees; it must lie under a read-write mount, and is resolved beneath
//! that mount's open directory by davit-fsroot, one component at a time: a link that leads out
//! is refused, a link at the leaf is changed itself (owners) or skipped (modes), never followed.
//! User and group names are looked up where the target keeps them: the `/etc/passwd` and
//! `/etc/group` of the image's root filesystem (`Grants::exec_root`), else the host's.

use std::path::{Path, PathBuf};

use davit_fsroot::Root;

use crate::bindings::action::davit::plugin::files::{FilesError, Host};
use crate::grants::Access;
use crate::state::HookState;

/// The most entries a recursive call visits, so that one call cannot keep the host busy for
/// good on a huge (or looping, through bind mounts) tree.
const MAX_ENTRIES: usize = 1_000_000;

impl HookState {
    /// The read-write mount that holds `guest`, and the path beneath it.
    fn writable(&self, guest: &str) -> Result<(&Root, PathBuf), FilesError> {
        let path = Path::new(guest);
        if path
            .components()
            .any(|c| c == std::path::Component::ParentDir)
        {
            return Err(self.files_denied(format!("`{guest}`: `..` is not allowed")));
        }
        self.grants
            .mounts
            .iter()
            .filter(|m| m.access == Access::ReadWrite)
            .filter_map(|m| Some((m, path.strip_prefix(&m.guest).ok()?.to_owned())))
            .max_by_key(|(m, _)| m.guest.len())
            .map(|(m, rel)| (&*m.dir, rel))
            .ok_or_else(|| {
                self.files_denied(format!(
                    "`{guest}` is not under a read-write directory of this step"
                ))
            })
    }

    fn files_denied(&self, message: String) -> FilesError {
        self.sink.line(
            crate::Stream::Warn,
            &format!("sandbox: files denied: {message}"),
        );
        FilesError::Denied(message)
    }

    fn files_error(&self, guest: &str, e: &std::io::Error) -> FilesError {
        if davit_fsroot::is_escape(e) {
            self.files_denied(format!("`{guest}`: {e}"))
        } else if e.kind() == std::io::ErrorKind::NotFound {
            FilesError::NotFound(format!("`{guest}`"))
        } else {
            FilesError::Failed(format!("`{guest}`: {e}"))
        }
    }

    /// A user or group id: a number, or a name in the target's account files.
    fn account_id(&self, name: &str, kind: Accounts) -> Result<u32, FilesError> {
        if let Ok(id) = name.parse::<u32>() {
            return Ok(id);
        }
        let found = match &self.grants.exec_root {
            Some(root) => kind.in_root(&root.root, name),
            None => kind.on_host(name),
        };
        found.ok_or_else(|| FilesError::NotFound(format!("{} `{name}`", kind.noun())))
    }
}

/// Which account database a name is looked up in.
#[derive(Clone, Copy)]
enum Accounts {
    Users,
    Groups,
}

impl Accounts {
    fn noun(self) -> &'static str {
        match self {
            Accounts::Users => "user",
            Accounts::Groups => "group",
        }
    }

    /// The id of `name` in the root filesystem's `etc/passwd` or `etc/group`, read beneath it.
    fn in_root(self, root: &Root, name: &str) -> Option<u32> {
        let file = match self {
            Accounts::Users => "etc/passwd",
            Accounts::Groups => "etc/group",
        };
        let mut text = String::new();
        let mut f = root
            .open_file(Path::new(file), davit_fsroot::OpenOptions::new().read(true))
            .ok()?;
        std::io::Read::read_to_string(&mut f, &mut text).ok()?;
        text.lines().find_map(|line| {
            let mut fields = line.split(':');
            (fields.next()? == name).then_some(())?;
            fields.nth(1)?.parse().ok()
        })
    }

    /// The id of `name` as the host's name service knows it.
    fn on_host(self, name: &str) -> Option<u32> {
        let c_name = std::ffi::CString::new(name).ok()?;
        let mut buf = vec![0u8; 16 << 10];
        // SAFETY: the reentrant lookups write only into `entry` and `buf`, both live and sized
        // as passed; `found` is set to null or to `entry`.
        unsafe {
            match self {
                Accounts::Users => {
                    let mut entry: libc::passwd = std::mem::zeroed();
                    let mut found = std::ptr::null_mut();
                    let rc = libc::getpwnam_r(
                        c_name.as_ptr(),
                        &mut entry,
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        &mut found,
                    );
                    (rc == 0 && !found.is_null()).then_some(entry.pw_uid)
                }
                Accounts::Groups => {
                    let mut entry: libc::group = std::mem::zeroed();
                    let mut found = std::ptr::null_mut();
                    let rc = libc::getgrnam_r(
                        c_name.as_ptr(),
                        &mut entry,
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        &mut found,
                    );
                    (rc == 0 && !found.is_null()).then_some(entry.gr_gid)
                }
            }
        }
    }
}

/// Calls `each` on `rel` and, when `recursive` and it is a directory (not a link to one), on
/// everything beneath it, depth first; at most [`MAX_ENTRIES`] entries.
fn visit(
    root: &Root,
    rel: &Path,
    recursive: bool,
    each: &mut dyn FnMut(&Path, bool) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut pending = vec![rel.to_path_buf()];
    let mut seen = 0usize;
    while let Some(path) = pending.pop() {
        seen += 1;
        if seen > MAX_ENTRIES {
            return Err(std::io::Error::other(format!(
                "more than {MAX_ENTRIES} entries: not changed past them"
            )));
        }
        let meta = root.symlink_metadata(&path)?;
        let is_link = meta.file_type().is_symlink();
        each(&path, is_link)?;
        if recursive && meta.is_dir() {
            for name in root.read_dir(&path)? {
                pending.push(path.join(name));
            }
        }
    }
    Ok(())
}

impl Host for HookState {
    async fn set_owner(
        &mut self,
        path: String,
        owner: Option<String>,
        group: Option<String>,
        recursive: bool,
    ) -> wasmtime::Result<Result<(), FilesError>> {
        let uid = match owner
            .map(|o| self.account_id(&o, Accounts::Users))
            .transpose()
        {
            Ok(uid) => uid,
            Err(e) => return Ok(Err(e)),
        };
        let gid = match group
            .map(|g| self.account_id(&g, Accounts::Groups))
            .transpose()
        {
            Ok(gid) => gid,
            Err(e) => return Ok(Err(e)),
        };
        let (root, rel) = match self.writable(&path) {
            Ok(found) => found,
            Err(e) => return Ok(Err(e)),
        };
        let done = visit(root, &rel, recursive, &mut |p, _| root.chown(p, uid, gid));
        Ok(done.map_err(|e| self.files_error(&path, &e)))
    }

    async fn set_mode(
        &mut self,
        path: String,
        mode: u32,
        recursive: bool,
    ) -> wasmtime::Result<Result<(), FilesError>> {
        if mode > 0o7777 {
            return Ok(Err(FilesError::Failed(format!(
                "mode {mode:o} is more than 7777"
            ))));
        }
        let (root, rel) = match self.writable(&path) {
            Ok(found) => found,
            Err(e) => return Ok(Err(e)),
        };
        // Linux has no modes on links: a link is skipped, never followed.
        let done = visit(root, &rel, recursive, &mut |p, is_link| match is_link {
            true => Ok(()),
            false => root.set_mode(p, mode),
        });
        Ok(done.map_err(|e| self.files_error(&path, &e)))
    }

    async fn symlink(
        &mut self,
        target: String,
        path: String,
    ) -> wasmtime::Result<Result<(), FilesError>> {
        let (root, rel) = match self.writable(&path) {
            Ok(found) => found,
            Err(e) => return Ok(Err(e)),
        };
        if rel.as_os_str().is_empty() {
            return Ok(Err(FilesError::Failed(format!(
                "`{path}` is the directory granted itself"
            ))));
        }
        let done = root.symlink(Path::new(&target), &rel);
        Ok(done.map_err(|e| self.files_error(&path, &e)))
    }
}
