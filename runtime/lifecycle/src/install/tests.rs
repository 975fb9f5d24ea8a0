//! Undo tests: failures injected after the host was changed must leave it as it was.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use davit_spec::{AppSpec, FileExistsBehavior};

use super::*;

/// Everything observable under `root`: kind, mode, owner, contents or link target.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (char, u32, u32, u32, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, (char, u32, u32, u32, Vec<u8>)>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let (kind, data) = if meta.is_dir() {
                ('d', Vec::new())
            } else if meta.is_symlink() {
                (
                    'l',
                    fs::read_link(&path)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                )
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

fn write(path: &Path, text: &str, mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

struct Scene {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    v1: PathBuf,
    v2: PathBuf,
    backup: PathBuf,
}

/// v1 has `a.txt`, `old.txt`, `sub/c.txt`; v2 has a new `a.txt`, `d.txt`, `sub/e.txt` and
/// `foreign.txt`, which a file not from v1 already occupies on the host.
fn scene() -> Scene {
    let tmp = tempfile::tempdir().unwrap();
    let (root, v1, v2, backup) = (
        tmp.path().join("root"),
        tmp.path().join("v1"),
        tmp.path().join("v2"),
        tmp.path().join("backup"),
    );
    for d in [&root, &backup] {
        fs::create_dir_all(d).unwrap();
    }
    write(&v1.join("app/a.txt"), "a v1", 0o644);
    write(&v1.join("app/old.txt"), "old v1", 0o600);
    write(&v1.join("app/sub/c.txt"), "c v1", 0o755);
    write(&v2.join("app/a.txt"), "a v2", 0o644);
    write(&v2.join("app/d.txt"), "d v2", 0o644);
    write(&v2.join("app/sub/e.txt"), "e v2", 0o644);
    write(&v2.join("app/foreign.txt"), "foreign v2", 0o644);
    write(&root.join("opt/app/foreign.txt"), "not ours", 0o640);
    Scene {
        _tmp: tmp,
        root,
        v1,
        v2,
        backup,
    }
}

fn spec(extra: &str) -> AppSpec {
    let text = format!(
        "version: 0.0\nos: linux\nfiles:\n  - source: app\n    destination: /opt/app\n{extra}"
    );
    AppSpec::parse("appspec.yml", &text).unwrap()
}

fn run(
    s: &Scene,
    bundle: &Path,
    spec: &AppSpec,
    previous: Option<CleanupRecord>,
) -> Result<InstallReport, InstallError> {
    let policy = davit_spec::HostPolicy::parse(
        "policy.toml",
        "[install]\ndestinations = [\"/opt/app\", \"/srv\"]\n",
    )
    .unwrap();
    install(&InstallRequest {
        bundle_dir: bundle,
        spec,
        target_root: &s.root,
        policy: &policy,
        behavior: FileExistsBehavior::Overwrite,
        previous,
        backup_dir: &s.backup,
    })
}

fn with_failure<T>(point: Point, n: usize, f: impl FnOnce() -> T) -> T {
    FAIL_AFTER.set(Some((point, n)));
    let out = f();
    FAIL_AFTER.set(None);
    out
}

#[test]
fn a_failure_after_copies_puts_the_previous_revision_back() {
    let s = scene();
    let plain = spec("");
    let v1 = run(&s, &s.v1, &plain, None).unwrap();
    let before = snapshot(&s.root);

    // Copy order: a.txt, d.txt, foreign.txt (over the foreign file), then sub/e.txt: fail
    // after the third, when v1's files are gone, one file was overwritten and three copied.
    let err = with_failure(Point::Copy, 3, || {
        run(&s, &s.v2, &plain, Some(v1.record.clone()))
    });
    let err = err.unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    assert_eq!(
        snapshot(&s.root),
        before,
        "the host is back on v1, byte for byte"
    );
    assert_eq!(
        fs::read_dir(&s.backup).unwrap().count(),
        0,
        "backups were moved back"
    );

    // And the same install, without the failure, succeeds from there.
    let v2 = run(&s, &s.v2, &plain, Some(v1.record)).unwrap();
    assert_eq!(v2.removed, 3);
    assert_eq!(
        fs::read_to_string(s.root.join("opt/app/foreign.txt")).unwrap(),
        "foreign v2"
    );
    assert!(!s.root.join("opt/app/old.txt").exists());
}

#[test]
fn a_failure_while_applying_permissions_restores_owner_and_mode() {
    let s = scene();
    // `/opt/app` exists (it holds the foreign file) with mode 0700: a target we change.
    fs::set_permissions(s.root.join("opt/app"), fs::Permissions::from_mode(0o700)).unwrap();
    let perms = "permissions:\n  - object: /opt/app\n    mode: \"0750\"\n    type: [directory]\n  - object: /opt/app\n    pattern: \"*.txt\"\n    mode: \"0600\"\n    type: [file]\n";
    let spec = spec(perms);
    let before = snapshot(&s.root);
    let err = with_failure(Point::Permission, 3, || run(&s, &s.v2, &spec, None)).unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    assert_eq!(snapshot(&s.root), before);

    let report = run(&s, &s.v2, &spec, None).unwrap();
    let mode = |p: &str| fs::metadata(s.root.join(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("opt/app"), 0o750);
    assert_eq!(mode("opt/app/sub"), 0o750);
    assert_eq!(mode("opt/app/sub/e.txt"), 0o600);
    assert_eq!(report.copied, 4);
}

#[test]
fn a_failure_before_any_copy_restores_the_removed_directories() {
    let s = scene();
    let plain = spec("");
    let v1 = run(&s, &s.v1, &plain, None).unwrap();
    assert_eq!(v1.record.dirs_created, [s.root.join("opt/app/sub")]);
    let before = snapshot(&s.root);
    // v2 copies only into a new place: v1's `sub` is emptied and removed, then the first copy fails.
    let other = AppSpec::parse(
        "appspec.yml",
        "version: 0.0\nos: linux\nfiles:\n  - source: app/d.txt\n    destination: /srv\n",
    )
    .unwrap();
    let err = with_failure(Point::Copy, 1, || {
        run(&s, &s.v2, &other, Some(v1.record.clone()))
    });
    assert!(err.is_err());
    assert_eq!(snapshot(&s.root), before);
}
