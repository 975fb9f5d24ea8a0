//! Debian bases: `debian:SUITE` made by mmdebstrap from Debian's packages, kept in the
//! deployment root's `cache/debian/` as `SUITE-minbase.tar` with its lock `SUITE-minbase.lock`:
//!
//! ```text
//! # davit Debian base lock 2
//! suite bookworm
//! source-date-epoch 1764680000
//! package base-files 12.4+deb12u12 amd64
//! deb base-files_12.4+deb12u12_amd64.deb sha256:…
//! ```
//!
//! Every `.deb` the base was made from is kept by its sha256 in `cache/debs/sha256/`. The
//! first make needs Debian's archive; when the tar is gone but the lock and its `.deb`s are
//! there, the base is made again from them alone, in a network namespace of its own (so the
//! network cannot be used even by mistake), from a flat repository of exactly the locked
//! files (each checked against its sha256), with the lock's `SOURCE_DATE_EPOCH`: mmdebstrap
//! is reproducible, so the tar has the same bytes and the image the same digest.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{BuildError, io as io_error};
use crate::oci::layout::file_digest;

/// Where the Debian base of `suite` is kept: `cache/debian/SUITE-minbase.tar` and `.lock`.
pub(super) fn paths(deployment_root: &Path, suite: &str) -> (PathBuf, PathBuf) {
    let dir = deployment_root.join("cache").join("debian");
    (
        dir.join(format!("{suite}-minbase.tar")),
        dir.join(format!("{suite}-minbase.lock")),
    )
}

fn debs_dir(deployment_root: &Path) -> PathBuf {
    deployment_root.join("cache").join("debs").join("sha256")
}

fn parent_error(suite: &str, what: impl Into<String>) -> BuildError {
    BuildError::Parent {
        parent: format!("debian:{suite}"),
        source: io::Error::other(what.into()),
    }
}

/// What the base's files say of where it was made, restored as they were when it is made
/// again (mmdebstrap writes the mirror it used into the first; naming every package marks
/// them all manual in the second).
const KEPT_FILES: &[&str] = &["/etc/apt/sources.list", "/var/lib/apt/extended_states"];

/// A lock's packages, `.deb`s (`(file name, sha256:hex)`), kept files and
/// `SOURCE_DATE_EPOCH`.
struct Lock {
    epoch: Option<u64>,
    packages: Vec<String>,
    debs: Vec<(String, String)>,
    files: Vec<(String, Vec<u8>)>,
}

fn read_lock(text: &str) -> Lock {
    let mut lock = Lock {
        epoch: None,
        packages: Vec::new(),
        debs: Vec::new(),
        files: Vec::new(),
    };
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("source-date-epoch"), Some(n), None) => lock.epoch = n.parse().ok(),
            (Some("package"), Some(name), Some(_)) => lock.packages.push(name.to_owned()),
            (Some("deb"), Some(file), Some(digest)) => {
                lock.debs.push((file.to_owned(), digest.to_owned()))
            }
            (Some("file"), Some(path), hex) => {
                if let Some(bytes) = unhex(hex.unwrap_or("")) {
                    lock.files.push((path.to_owned(), bytes));
                }
            }
            _ => {}
        }
    }
    lock
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    text.len()
        .is_multiple_of(2)
        .then(|| {
            (0..text.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
                .collect()
        })
        .flatten()
}

/// Makes sure the base of `suite` is there: made with the network the first time, made again
/// from its lock and `.deb`s when only the tar is gone.
pub(super) fn ensure(suite: &str, deployment_root: &Path) -> Result<(), BuildError> {
    let (tar, lock) = paths(deployment_root, suite);
    if tar.exists() && lock.exists() {
        return Ok(());
    }
    let dir = tar.parent().expect("under the cache");
    std::fs::create_dir_all(dir).map_err(io_error("making the Debian base cache"))?;
    if let Ok(text) = std::fs::read_to_string(&lock) {
        let locked = read_lock(&text);
        if locked.epoch.is_some() && !locked.debs.is_empty() && !locked.packages.is_empty() {
            return rebuild(suite, deployment_root, &tar, &locked);
        }
    }
    make(suite, deployment_root, &tar, &lock)
}

/// mmdebstrap's run: `--variant=minbase SUITE`, the tar written to `out`, with `epoch`.
fn mmdebstrap(suite: &str, epoch: u64, extra: &[String], out: &Path) -> Command {
    let mut c = Command::new("mmdebstrap");
    c.env("SOURCE_DATE_EPOCH", epoch.to_string())
        .args(["--quiet", "--variant=minbase", "--format=tar"])
        .args(extra)
        .arg(suite)
        .arg(out);
    c
}

fn run(suite: &str, mut command: Command) -> Result<(), BuildError> {
    let status = command.status().map_err(|e| BuildError::Parent {
        parent: format!("debian:{suite}"),
        source: io::Error::new(
            e.kind(),
            format!("cannot run `mmdebstrap` (install it: apt-get install mmdebstrap): {e}"),
        ),
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(parent_error(
            suite,
            format!("mmdebstrap {suite} failed ({status})"),
        ))
    }
}

/// The first make, from Debian's archive: the tar, the lock, every `.deb` kept by digest.
fn make(suite: &str, deployment_root: &Path, tar: &Path, lock: &Path) -> Result<(), BuildError> {
    let dir = tar.parent().expect("under the cache");
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let tmp_tar = tar.with_extension("tar.tmp");
    let packages = dir.join(format!(".{suite}-packages.tmp"));
    let incoming = dir.join(format!(".{suite}-debs.tmp"));
    let _ = std::fs::remove_dir_all(&incoming);
    std::fs::create_dir_all(&incoming).map_err(io_error("making the .deb staging directory"))?;
    let hooks = vec![
        r#"--customize-hook=chroot "$1" dpkg-query -W -f='${Package} ${Version} ${Architecture}\n' > "$1/tmp/davit.packages""#.to_owned(),
        format!("--customize-hook=download /tmp/davit.packages {}", packages.display()),
        r#"--customize-hook=rm "$1/tmp/davit.packages""#.to_owned(),
        format!("--customize-hook=sync-out /var/cache/apt/archives {}", incoming.display()),
        format!(
            "--customize-hook=download /etc/apt/sources.list {}",
            incoming.join("sources.list").display()
        ),
        format!(
            "--customize-hook=download /var/lib/apt/extended_states {}",
            incoming.join("extended_states").display()
        ),
        // Keep the essential packages' .debs until the hook above has copied them.
        "--skip=essential/unlink".to_owned(),
    ];
    run(suite, mmdebstrap(suite, epoch, &hooks, &tmp_tar))?;
    let mut text =
        format!("# davit Debian base lock 2\nsuite {suite}\nsource-date-epoch {epoch}\n");
    let listed =
        std::fs::read_to_string(&packages).map_err(io_error("reading the base's packages"))?;
    let mut lines: Vec<&str> = listed.lines().filter(|l| !l.trim().is_empty()).collect();
    lines.sort();
    for l in lines {
        text.push_str(&format!("package {l}\n"));
    }
    for path in KEPT_FILES {
        let name = Path::new(path).file_name().expect("a file");
        let bytes =
            std::fs::read(incoming.join(name)).map_err(io_error("reading the base's apt files"))?;
        text.push_str(&format!("file {path} {}\n", hex(&bytes)));
    }
    let store = debs_dir(deployment_root);
    std::fs::create_dir_all(&store).map_err(io_error("making the .deb cache"))?;
    let mut debs: Vec<PathBuf> = std::fs::read_dir(&incoming)
        .map_err(io_error("reading the base's .debs"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    debs.sort();
    if debs.is_empty() {
        return Err(parent_error(
            suite,
            "mmdebstrap kept no .deb: the base could not be made again without the network",
        ));
    }
    for deb in &debs {
        let digest = file_digest(deb).map_err(io_error("reading a .deb"))?;
        let kept = store.join(digest.trim_start_matches("sha256:"));
        if !kept.exists() {
            std::fs::rename(deb, &kept).map_err(io_error("keeping a .deb"))?;
        }
        let name = deb.file_name().unwrap_or_default().to_string_lossy();
        text.push_str(&format!("deb {name} {digest}\n"));
    }
    let _ = std::fs::remove_dir_all(&incoming);
    let _ = std::fs::remove_file(&packages);
    let tmp_lock = lock.with_extension("lock.tmp");
    std::fs::write(&tmp_lock, text).map_err(io_error("writing the Debian base's lock"))?;
    std::fs::rename(&tmp_lock, lock).map_err(io_error("keeping the Debian base's lock"))?;
    std::fs::rename(&tmp_tar, tar).map_err(io_error("keeping the Debian base"))
}

/// The base made again from the lock's `.deb`s alone, without the network.
fn rebuild(suite: &str, deployment_root: &Path, tar: &Path, lock: &Lock) -> Result<(), BuildError> {
    let (epoch, debs) = (lock.epoch.unwrap_or(0), &lock.debs);
    let dir = tar.parent().expect("under the cache");
    // apt's `copy://` takes an absolute path.
    let dir = std::path::absolute(dir).map_err(io_error("the Debian base cache"))?;
    let repo = dir.join(format!(".{suite}-repo-{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        std::fs::create_dir_all(&repo).map_err(io_error("making the local repository"))?;
        let store = debs_dir(deployment_root);
        let mut index = String::new();
        for (file, digest) in debs {
            if file.contains('/') || !file.ends_with(".deb") {
                return Err(parent_error(suite, format!("the lock names `{file}`")));
            }
            let kept = store.join(digest.trim_start_matches("sha256:"));
            let found = file_digest(&kept).map_err(|e| {
                parent_error(
                    suite,
                    format!(
                        "`{file}` ({digest}) of the lock is not in `{}`: {e}",
                        store.display()
                    ),
                )
            })?;
            if found != *digest {
                return Err(parent_error(
                    suite,
                    format!("`{}` hashes to {found}, not {digest}", kept.display()),
                ));
            }
            let linked = repo.join(file);
            if std::fs::hard_link(&kept, &linked).is_err() {
                std::fs::copy(&kept, &linked).map_err(io_error("filling the local repository"))?;
            }
            let control = Command::new("dpkg-deb")
                .arg("-f")
                .arg(&linked)
                .output()
                .map_err(io_error("running dpkg-deb"))?;
            if !control.status.success() {
                return Err(parent_error(
                    suite,
                    format!("dpkg-deb cannot read `{file}`"),
                ));
            }
            let size = std::fs::metadata(&linked)
                .map_err(io_error("a .deb"))?
                .len();
            index.push_str(String::from_utf8_lossy(&control.stdout).trim_end());
            index.push_str(&format!(
                "\nFilename: ./{file}\nSize: {size}\nSHA256: {}\n\n",
                digest.trim_start_matches("sha256:")
            ));
        }
        // A flat repository; its Release names the suite, which mmdebstrap selects by.
        let release = format!(
            "Origin: davit\nLabel: davit\nSuite: {suite}\nCodename: {suite}\nArchitectures: amd64 all\nSHA256:\n {} {} Packages\n",
            crate::oci::layer::sha256(index.as_bytes()).trim_start_matches("sha256:"),
            index.len()
        );
        std::fs::write(repo.join("Packages"), &index).map_err(io_error("writing Packages"))?;
        std::fs::write(repo.join("Release"), release).map_err(io_error("writing Release"))?;
        // Exactly the locked packages (the archive's priorities are not in the .debs), then
        // the files that say where the base came from, as they were.
        let mut extra = vec![format!("--include={}", lock.packages.join(","))];
        for (i, (path, bytes)) in lock.files.iter().enumerate() {
            let local = repo.join(format!(".kept-{i}"));
            std::fs::write(&local, bytes).map_err(io_error("writing a kept file"))?;
            extra.push(format!(
                "--customize-hook=upload {} {path}",
                local.display()
            ));
        }
        let tmp_tar = tar.with_extension("tar.tmp");
        let mirror = format!("deb [trusted=yes] copy://{} ./", repo.display());
        let mut offline = Command::new("unshare");
        let inner = mmdebstrap(suite, epoch, &extra, &tmp_tar);
        offline
            .arg("--net")
            .arg(inner.get_program())
            .args(inner.get_args())
            .arg(&mirror)
            .envs(inner.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
        run(suite, offline)?;
        std::fs::rename(&tmp_tar, tar).map_err(io_error("keeping the Debian base"))
    })();
    let _ = std::fs::remove_dir_all(&repo);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_reads_back_what_was_written() {
        let text = format!(
            "# davit Debian base lock 2\nsuite bookworm\nsource-date-epoch 1700000000\npackage apt 2.6.1 amd64\ndeb apt_2.6.1_amd64.deb sha256:{}\nfile /etc/apt/sources.list {}\n",
            "ab".repeat(32),
            hex(b"deb http://deb.debian.org/debian bookworm main\n")
        );
        let lock = read_lock(&text);
        assert_eq!(lock.epoch, Some(1_700_000_000));
        assert_eq!(lock.packages, ["apt"]);
        assert_eq!(lock.debs[0].0, "apt_2.6.1_amd64.deb");
        assert_eq!(
            lock.files[0].1,
            b"deb http://deb.debian.org/debian bookworm main\n"
        );
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
        // A lock of the first format (versions only) is no lock to make the base again from.
        let old = read_lock("apt 2.6.1\nbash 5.2.15-2+b2\n");
        assert!(old.epoch.is_none() && old.debs.is_empty());
    }
}
