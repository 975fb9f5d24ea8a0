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
    state: PathBuf,
}

/// v1 has `a.txt`, `old.txt`, `sub/c.txt`; v2 has a new `a.txt`, `d.txt`, `sub/e.txt` and
/// `foreign.txt`, which a file not from v1 already occupies on the host.
fn scene() -> Scene {
    let tmp = tempfile::tempdir().unwrap();
    let (root, v1, v2, backup, state) = (
        tmp.path().join("root"),
        tmp.path().join("v1"),
        tmp.path().join("v2"),
        tmp.path().join("backup"),
        tmp.path().join("state"),
    );
    for d in [&root, &backup, &state] {
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
        state,
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
    fs::create_dir_all(&s.backup).unwrap();
    install(&InstallRequest {
        bundle_dir: bundle,
        spec,
        target_root: &s.root,
        policy: &policy,
        behavior: FileExistsBehavior::Overwrite,
        previous,
        backup_dir: &s.backup,
        state_dir: &s.state,
        revision: None,
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
    let err = with_failure(Point::Permission, 2, || run(&s, &s.v2, &spec, None)).unwrap_err();
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

/// Runs `f` as if the process were killed at the `n`-th `point`: nothing is undone in-process.
/// Returns whether the kill happened (`n` was reached).
fn killed_at(
    point: Point,
    n: usize,
    f: impl FnOnce() -> Result<InstallReport, InstallError>,
) -> bool {
    FAIL_AFTER.set(Some((point, n)));
    KILL.set(true);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    FAIL_AFTER.set(None);
    KILL.set(false);
    match out {
        Ok(result) => {
            result.unwrap();
            false
        }
        Err(_) => true,
    }
}

/// Two revisions of a tree wholly davit's: `/opt/app` is a directory destination.
fn whole_tree_scene(files: usize) -> Scene {
    let s = scene();
    fs::remove_file(s.root.join("opt/app/foreign.txt")).unwrap();
    fs::remove_file(s.v2.join("app/foreign.txt")).unwrap();
    for i in 0..files {
        write(
            &s.v1.join(format!("app/many/{}/v1-{i}.txt", i % 7)),
            "v1",
            0o644,
        );
        write(
            &s.v2.join(format!("app/many/{}/v2-{i}.txt", i % 5)),
            "v2",
            0o640,
        );
    }
    s
}

fn recover_scene(s: &Scene) -> Option<Recovered> {
    recover(&s.state.join(JOURNAL), &s.state.join(RECORD)).unwrap()
}

#[test]
fn killed_at_any_point_a_directory_destination_holds_one_revision_whole() {
    let s = whole_tree_scene(40);
    let plain = spec("");
    let v1 = run(&s, &s.v1, &plain, None).unwrap();
    v1.record.save(&s.state.join(RECORD)).unwrap();
    let old = snapshot(&s.root.join("opt/app"));
    let new = {
        // What v2 looks like once installed, from a scratch copy of the scene.
        let t = whole_tree_scene(40);
        let first = run(&t, &t.v1, &plain, None).unwrap();
        run(&t, &t.v2, &plain, Some(first.record)).unwrap();
        snapshot(&t.root.join("opt/app"))
    };
    assert_ne!(old, new);
    // v2 copies 43 files: a kill after each, after the switch and just before the commit.
    let points = (1..=43)
        .map(|n| (Point::Copy, n))
        .chain([(Point::Switch, 1), (Point::Commit, 1)]);
    for (point, n) in points {
        let previous = CleanupRecord::load(&s.state.join(RECORD)).unwrap();
        let killed = killed_at(point, n, || run(&s, &s.v2, &plain, previous.clone()));
        assert!(killed, "{point:?} {n} was reached");
        // Before any recovery, what a reader of /opt/app sees is one revision, complete.
        let now = snapshot(&s.root.join("opt/app"));
        let expected_new = point != Point::Copy;
        assert_eq!(
            now,
            if expected_new { &new } else { &old }.clone(),
            "killed at {point:?} {n}"
        );
        // The next run puts back the old revision: the kill came before the commit.
        let recovered = recover_scene(&s).expect("a journal was left");
        assert!(
            !recovered.committed && recovered.failures.is_empty(),
            "{recovered:?}"
        );
        assert_eq!(
            snapshot(&s.root.join("opt/app")),
            old,
            "after recovering {point:?} {n}"
        );
        let leftovers: Vec<_> = fs::read_dir(s.root.join("opt"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            leftovers,
            ["app"],
            "no staging tree is left after {point:?} {n}"
        );
        assert!(!s.state.join(JOURNAL).exists());
    }
}

#[test]
fn killed_in_a_shared_directory_the_next_run_puts_the_previous_revision_back() {
    // `/opt/app` holds a foreign file: it is shared, each file goes in on its own.
    let s = scene();
    let plain = spec("");
    let v1 = run(&s, &s.v1, &plain, None).unwrap();
    let before = snapshot(&s.root);
    let mut kills = 0;
    for n in 1..=4 {
        assert!(killed_at(Point::Copy, n, || run(
            &s,
            &s.v2,
            &plain,
            Some(v1.record.clone())
        )));
        kills += 1;
        // No file is ever half-written or missing: each is the old one or the new one.
        for name in ["a.txt", "foreign.txt"] {
            let text = fs::read_to_string(s.root.join("opt/app").join(name)).unwrap();
            assert!(
                ["a v1", "a v2", "not ours", "foreign v2"].contains(&text.as_str()),
                "{text}"
            );
        }
        let recovered = recover_scene(&s).expect("a journal was left");
        assert!(
            !recovered.committed && recovered.failures.is_empty(),
            "{recovered:?}"
        );
        assert_eq!(
            snapshot(&s.root),
            before,
            "killed after copy {n}: v1 is back, byte for byte"
        );
    }
    assert_eq!(kills, 4);
}

#[test]
fn a_kill_after_the_commit_is_finished_not_undone() {
    let s = whole_tree_scene(3);
    let plain = spec("");
    let v1 = run(&s, &s.v1, &plain, None).unwrap();
    v1.record.save(&s.state.join(RECORD)).unwrap();
    // The record is written, then the process dies before the old tree is deleted.
    let journal = s.state.join(JOURNAL);
    let report = run(&s, &s.v2, &plain, Some(v1.record.clone())).unwrap();
    let installed = snapshot(&s.root.join("opt/app"));
    // Simulate "killed after commit": put a journal back that names the committed install and
    // an old tree still waiting beside it.
    let header = undo::header(
        report.record.install_id.as_deref().unwrap(),
        &s.root,
        Vec::new(),
        &s.backup,
    );
    let j = Journal::create(&journal, &header).unwrap();
    drop(j);
    let recovered = recover_scene(&s).unwrap();
    assert!(recovered.committed, "{recovered:?}");
    assert_eq!(snapshot(&s.root.join("opt/app")), installed);
    assert!(!journal.exists());
}

#[test]
fn a_later_cleanup_leaves_the_old_tree_beside_until_the_journal_is_finished() {
    let s = whole_tree_scene(3);
    let plain = spec("");
    let v1 = run(&s, &s.v1, &plain, None).unwrap();
    let policy = davit_spec::HostPolicy::parse(
        "policy.toml",
        "[install]\ndestinations = [\"/opt/app\", \"/srv\"]\n",
    )
    .unwrap();
    fs::create_dir_all(&s.backup).unwrap();
    let report = install_then(
        &InstallRequest {
            bundle_dir: &s.v2,
            spec: &plain,
            target_root: &s.root,
            policy: &policy,
            behavior: FileExistsBehavior::Overwrite,
            previous: Some(v1.record),
            backup_dir: &s.backup,
            state_dir: &s.state,
            revision: None,
        },
        Cleanup::Later,
    )
    .unwrap();
    assert_eq!(report.copied, 6, "3 files and 3 more in `many/`");
    // v2 is in place; v1's tree waits beside it, and the journal says so.
    assert_eq!(
        fs::read_to_string(s.root.join("opt/app/a.txt")).unwrap(),
        "a v2"
    );
    let old = s.root.join("opt/.app.davit-next");
    assert_eq!(fs::read_to_string(old.join("a.txt")).unwrap(), "a v1");
    let done = recover_scene(&s).expect("the journal stays until the cleanup");
    assert!(done.committed && done.failures.is_empty(), "{done:?}");
    assert!(!old.exists(), "the old tree is deleted");
    assert_eq!(
        fs::read_to_string(s.root.join("opt/app/a.txt")).unwrap(),
        "a v2"
    );
    assert!(!s.state.join(JOURNAL).exists());
}
