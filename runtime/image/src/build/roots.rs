//! The roots components and tests run on.
//!
//! Unpacking the parent (a whole Debian base) for every build was most of a rebuild's time.
//! So the parent's layers are unpacked once per parent, into `cache/roots/CHAIN` (CHAIN the
//! parent's chain of diff ids; made in a hidden sibling from blobs checked by digest, then
//! renamed into place), and a work root is an overlay mount (as containerd's overlay
//! snapshotter makes a container's root): that cached root as its read-only lower, a fresh
//! upper that takes every write, the layers above the parent applied into it. Nothing a
//! component or a test does reaches the lower; each work root, each fresh instance for the
//! tests, has a new upper.
//!
//! Where overlay cannot be mounted (no privilege, no overlayfs), or with `--keep-on-failure`
//! (a root that outlives davit must be a plain directory), a work root is a plain directory
//! with every layer unpacked into it, as before.

use std::path::{Path, PathBuf};

use davit_fsroot::{Resolve, Root};

use super::{BuildError, io};
use crate::oci::layout::{Descriptor, Layout, file_digest};

/// A root to run on, removed (and unmounted) on drop unless kept. While it lives, its
/// directory's `.lock` is locked ([`sweep`] leaves it alone); a kept one is marked `.kept`.
pub(super) struct WorkRoot {
    dir: PathBuf,
    pub(super) keep: bool,
    mounted: bool,
    _lock: std::fs::File,
}

/// Takes the lock of a work root's `.lock`, without waiting; whether it was free.
fn try_lock(file: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor this process holds open.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

impl WorkRoot {
    /// An empty plain root under `parent`.
    pub(super) fn create(parent: &Path) -> Result<WorkRoot, BuildError> {
        let dir = parent.join(uuid::Uuid::new_v4().to_string());
        let made = io(format!(
            "making the build root under `{}`",
            parent.display()
        ));
        std::fs::create_dir_all(dir.join("root")).map_err(made)?;
        let lock =
            std::fs::File::create(dir.join(".lock")).map_err(io("making the build root's lock"))?;
        if !try_lock(&lock) {
            return Err(io("locking the build root")(std::io::Error::last_os_error()));
        }
        Ok(WorkRoot {
            dir,
            keep: false,
            mounted: false,
            _lock: lock,
        })
    }

    /// A root under `parent` whose lower is `lower`; `None` when overlay cannot be mounted
    /// here (nothing is left behind then).
    pub(super) fn overlay(parent: &Path, lower: &Path) -> Result<Option<WorkRoot>, BuildError> {
        let mut work = WorkRoot::create(parent)?;
        for d in ["upper", "work"] {
            std::fs::create_dir(work.dir.join(d))
                .map_err(io(format!("making the overlay's {d} directory")))?;
        }
        match mount_overlay(lower, &work.dir) {
            Ok(()) => {
                work.mounted = true;
                Ok(Some(work))
            }
            Err(_) => Ok(None),
        }
    }

    pub(super) fn root_dir(&self) -> PathBuf {
        self.dir.join("root")
    }

    pub(super) fn open(&self) -> Result<Root, BuildError> {
        Root::open_ambient(&self.root_dir(), Resolve::InRoot).map_err(io("opening the build root"))
    }
}

impl Drop for WorkRoot {
    fn drop(&mut self) {
        if self.mounted {
            let target = std::ffi::CString::new(self.root_dir().as_os_str().as_encoded_bytes())
                .expect("a path without NUL");
            // SAFETY: `target` is a valid C string; MNT_DETACH has no other precondition.
            unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        }
        if self.keep {
            let _ = std::fs::write(self.dir.join(".kept"), b"");
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Removes the work roots under `parent` that a build killed on the way left (their lock
/// free, not kept): unmounted first, so nothing is removed through a mount. The number
/// removed.
pub(super) fn sweep(parent: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return 0;
    };
    let mut swept = 0;
    for entry in entries.flatten() {
        let dir = entry.path();
        if !entry.file_type().is_ok_and(|t| t.is_dir()) || dir.join(".kept").exists() {
            continue;
        }
        let Ok(lock) = std::fs::File::open(dir.join(".lock")) else {
            continue;
        };
        if !try_lock(&lock) {
            continue; // a build is using it
        }
        if let Ok(target) = std::ffi::CString::new(dir.join("root").as_os_str().as_encoded_bytes())
        {
            // SAFETY: a valid C string; unmounting what is not mounted fails harmlessly.
            unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        }
        if std::fs::remove_dir_all(&dir).is_ok() {
            swept += 1;
        }
    }
    swept
}

/// Whether an overlay can be mounted under `parent` (tried once per process, on an empty
/// lower).
pub(super) fn overlay_works(parent: &Path) -> bool {
    static WORKS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WORKS.get_or_init(|| {
        let probe = || -> Result<bool, BuildError> {
            let lower = parent.join(format!(".overlay-probe-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&lower).map_err(io("probing overlay"))?;
            let works = WorkRoot::overlay(parent, &lower)?.is_some();
            let _ = std::fs::remove_dir(&lower);
            Ok(works)
        };
        probe().unwrap_or(false)
    })
}

/// Mounts `dir/root` as an overlay of `lower` with `dir/upper` and `dir/work`.
fn mount_overlay(lower: &Path, dir: &Path) -> std::io::Result<()> {
    let text = |p: &Path| {
        let s = p.to_str().unwrap_or_default();
        // The option string's separators cannot be escaped for every kernel: such a path
        // gets a plain root instead.
        (!s.is_empty() && !s.contains([',', ':', '\\'])).then(|| s.to_owned())
    };
    let (Some(lower), Some(upper), Some(work)) = (
        text(lower),
        text(&dir.join("upper")),
        text(&dir.join("work")),
    ) else {
        return Err(std::io::Error::other("a path overlay options cannot hold"));
    };
    let options = format!("lowerdir={lower},upperdir={upper},workdir={work}");
    let c = |s: &str| std::ffi::CString::new(s).map_err(std::io::Error::other);
    let target = c(dir.join("root").to_str().unwrap_or_default())?;
    let (fstype, options) = (c("overlay")?, c(&options)?);
    // SAFETY: every pointer is a valid C string that outlives the call.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            // No devices (none is ever unpacked or made); setuid programs behave as on a
            // plain root.
            libc::MS_NODEV,
            options.as_ptr().cast(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The cached, unpacked roots of parents.
pub(super) struct BaseRoots {
    dir: PathBuf,
}

impl BaseRoots {
    pub(super) fn at(deployment_root: &Path) -> BaseRoots {
        BaseRoots {
            dir: deployment_root.join("cache").join("roots"),
        }
    }

    /// The unpacked root of the parent `chain` (its `layers`, from `blobs`), made now if it
    /// is not there yet.
    pub(super) fn get(
        &self,
        chain: &str,
        layers: &[Descriptor],
        blobs: &Layout,
        work_parent: &Path,
    ) -> Result<PathBuf, BuildError> {
        let name = chain.trim_start_matches("sha256:");
        let done = self.dir.join(name);
        if done.is_dir() {
            return Ok(done);
        }
        std::fs::create_dir_all(&self.dir).map_err(io("making the roots cache"))?;
        let mut made = WorkRoot::create(work_parent)?;
        let root = made.open()?;
        for layer in layers {
            apply_checked(&root, blobs, layer)?;
        }
        drop(root);
        match std::fs::rename(made.root_dir(), &done) {
            Ok(()) => {}
            // Another build made it first: theirs is the same.
            Err(_) if done.is_dir() => {}
            Err(e) => return Err(io("putting the parent's root in the cache")(e)),
        }
        made.keep = false;
        Ok(done)
    }
}

/// Applies `layer` of `blobs` onto `root`, its bytes checked against its digest first.
pub(super) fn apply_checked(
    root: &Root,
    blobs: &Layout,
    layer: &Descriptor,
) -> Result<(), BuildError> {
    let path = blobs
        .blob_path(&layer.digest)
        .map_err(io("a layer's digest"))?;
    let digest = file_digest(&path).map_err(io(format!("reading layer {}", layer.digest)))?;
    if digest != layer.digest {
        return Err(BuildError::Io {
            what: format!("layer {}", layer.digest),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("its bytes hash to {digest}"),
            ),
        });
    }
    super::apply_file(root, &path, &format!("layer {}", layer.digest))
}

#[cfg(test)]
impl WorkRoot {
    /// What a SIGKILL leaves: the directory and its mount, the lock released.
    fn abandon(self) -> PathBuf {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so the lock is moved out (and closed) once.
        drop(unsafe { std::ptr::read(&this._lock) });
        this.dir.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mounted(path: &Path) -> bool {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let path = path.to_str().unwrap();
        info.lines().any(|l| l.split(' ').nth(4) == Some(path))
    }

    /// A build killed with its root mounted leaves it; the next build's sweep unmounts and
    /// removes it, and leaves a root in use and a kept one alone.
    #[test]
    fn a_killed_builds_root_is_swept_and_others_are_left() {
        let tmp = tempfile::tempdir().unwrap();
        let parent = tmp.path().join("image-builds");
        let lower = tmp.path().join("lower");
        std::fs::create_dir_all(&lower).unwrap();
        std::fs::write(lower.join("base"), b"base").unwrap();
        let Some(killed) = WorkRoot::overlay(&parent, &lower).unwrap() else {
            panic!("overlay cannot be mounted here: the image tests run as root");
        };
        std::fs::write(killed.root_dir().join("written"), b"x").unwrap();
        let killed_dir = killed.abandon();
        assert!(mounted(&killed_dir.join("root")));
        let live = WorkRoot::create(&parent).unwrap();
        let mut kept = WorkRoot::create(&parent).unwrap();
        kept.keep = true;
        let kept_dir = kept.dir.clone();
        drop(kept);

        assert_eq!(sweep(&parent), 1);
        assert!(!killed_dir.exists());
        assert!(!mounted(&killed_dir.join("root")));
        assert_eq!(std::fs::read(lower.join("base")).unwrap(), b"base");
        assert!(
            !lower.join("written").exists(),
            "the lower was never written"
        );
        assert!(live.dir.exists() && kept_dir.exists());
        drop(live);
        let _ = std::fs::remove_dir_all(kept_dir);
    }
}
