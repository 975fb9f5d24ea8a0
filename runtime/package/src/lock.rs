//! One lock per package: an advisory lock (`flock`) on `packages/NAME/lock`. The kernel lets
//! it go when its holder dies, so it is never stale (SSM's lock file sticks until an agent
//! restart: amazon-ssm-agent #189). A second action on the package waits its turn, up to a
//! deadline, and says who holds it.

use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::PackageError;

/// A held package lock; dropping it lets the next waiter in.
#[derive(Debug)]
pub struct PackageLock {
    _file: std::fs::File,
}

/// How often a waiter tries again.
const POLL: Duration = Duration::from_millis(50);

/// Takes the lock at `path` for `what` (`install 2.0.0`), waiting up to `deadline`;
/// `waiting` is told once who holds it when it must wait.
///
/// # Errors
///
/// [`PackageError::Busy`] past the deadline, naming the holder.
pub async fn acquire(
    name: &str,
    path: &Path,
    what: &str,
    deadline: Duration,
    waiting: impl FnOnce(&str),
) -> Result<PackageLock, PackageError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| PackageError::io("create", dir, e))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| PackageError::io("open", path, e))?;
    let started = Instant::now();
    let mut waiting = Some(waiting);
    loop {
        // SAFETY: flock on a descriptor this function owns.
        let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if taken {
            break;
        }
        let holder = holder(&mut file);
        if let Some(tell) = waiting.take() {
            tell(&holder);
        }
        if started.elapsed() >= deadline {
            return Err(PackageError::Busy {
                name: name.to_owned(),
                holder,
                waited_s: started.elapsed().as_secs(),
            });
        }
        tokio::time::sleep(POLL).await;
    }
    let line = format!(
        "pid {} is running `{what}` since {}\n",
        std::process::id(),
        crate::state::now()
    );
    let written = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(line.as_bytes()));
    written.map_err(|e| PackageError::io("write", path, e))?;
    Ok(PackageLock { _file: file })
}

fn holder(file: &mut std::fs::File) -> String {
    let mut text = String::new();
    let _ = file.rewind().and_then(|()| file.read_to_string(&mut text));
    let text = text.trim();
    if text.is_empty() {
        "another davit holds its lock".to_owned()
    } else {
        text.to_owned()
    }
}
