use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _, symlink};
use std::path::Path;

use super::*;

/// A tree: `outside/secret`, and `root/` with `in/file`, for each test to plant links in.
fn tree() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir_all(tmp.path().join("outside")).unwrap();
    fs::write(tmp.path().join("outside/secret"), "secret").unwrap();
    fs::create_dir_all(tmp.path().join("root/in")).unwrap();
    fs::write(tmp.path().join("root/in/file"), "inside").unwrap();
    let root = tmp.path().join("root");
    (tmp, root)
}

fn beneath(root: &Path) -> Root {
    Root::open_ambient(root, Resolve::Beneath).unwrap()
}

#[test]
fn relative_links_inside_are_followed() {
    let (_tmp, dir) = tree();
    symlink("in", dir.join("alias")).unwrap();
    symlink("../in/file", dir.join("in/self")).unwrap();
    let root = beneath(&dir);
    let sub = root.open_dir(Path::new("alias")).unwrap();
    assert!(sub.metadata(Path::new("file")).unwrap().is_file());
    assert!(root.metadata(Path::new("in/self")).unwrap().is_file());
    assert!(
        root.symlink_metadata(Path::new("in/self"))
            .unwrap()
            .is_symlink()
    );
    assert_eq!(
        root.real_path(Path::new("alias/file")).unwrap(),
        fs::canonicalize(dir.join("in/file")).unwrap()
    );
}

#[test]
fn links_and_dot_dot_out_of_the_root_are_refused() {
    let (tmp, dir) = tree();
    symlink("../outside", dir.join("rel")).unwrap();
    symlink(tmp.path().join("outside"), dir.join("abs")).unwrap();
    symlink("../../outside", dir.join("in/deep")).unwrap();
    let root = beneath(&dir);
    for path in [
        "rel",
        "rel/secret",
        "abs/secret",
        "in/deep/secret",
        "../outside",
        "in/../../outside",
    ] {
        let err = root
            .open_dir(Path::new(path))
            .and(Ok(()))
            .and_then(|()| root.metadata(Path::new(path)).map(drop));
        let err = err.expect_err(path);
        assert!(is_escape(&err), "{path}: {err}");
    }
    let err = root.open_dir(Path::new("rel")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "`{}` leads out of `{}` through the link `rel` -> `../outside`",
            dir.join("rel").display(),
            dir.display()
        )
    );
}

#[test]
fn writes_never_follow_a_planted_link() {
    let (tmp, dir) = tree();
    symlink("../outside/secret", dir.join("in/log")).unwrap();
    let root = beneath(&dir);
    let mut append = OpenOptions::new();
    append.append(true).create(true);
    let err = root.open_file(Path::new("in/log"), &append).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{err}");
    assert!(root.set_mode(Path::new("in/log"), 0o777).is_err());
    root.remove_file(Path::new("in/log")).unwrap();
    assert_eq!(
        fs::read_to_string(tmp.path().join("outside/secret")).unwrap(),
        "secret"
    );
    let mode = fs::metadata(tmp.path().join("outside/secret"))
        .unwrap()
        .mode();
    assert_ne!(mode & 0o777, 0o777);
    // Creating through a directory link that leads out fails before anything is created.
    symlink("../outside", dir.join("out")).unwrap();
    assert!(is_escape(
        &root
            .create_dir_all(Path::new("out/new"), 0o755)
            .unwrap_err()
    ));
    assert!(is_escape(
        &root
            .symlink(Path::new("x"), Path::new("out/l"))
            .unwrap_err()
    ));
    assert!(!tmp.path().join("outside/new").exists());
    assert!(!tmp.path().join("outside/l").exists());
}

#[test]
fn create_dir_all_makes_what_is_missing_with_its_mode() {
    let (_tmp, dir) = tree();
    let root = beneath(&dir);
    let made = root.create_dir_all(Path::new("a/b/c"), 0o750).unwrap();
    made.open_file(
        Path::new("f"),
        OpenOptions::new().write(true).create_new(true),
    )
    .unwrap();
    assert!(dir.join("a/b/c/f").is_file());
    assert_eq!(fs::metadata(dir.join("a/b")).unwrap().mode() & 0o777, 0o750);
    assert_eq!(made.path(), dir.join("a/b/c"));
}

#[test]
fn in_root_absolute_links_stay_in_the_root() {
    let (tmp, dir) = tree();
    // As in an image: /etc/alternatives/editor -> /in/file, and a `..` storm.
    fs::create_dir_all(dir.join("etc/alternatives")).unwrap();
    symlink("/in/file", dir.join("etc/alternatives/editor")).unwrap();
    symlink("/outside", dir.join("etc/host-link")).unwrap();
    symlink("../../../../../../outside", dir.join("etc/up")).unwrap();
    let root = Root::open_ambient(&dir, Resolve::InRoot).unwrap();
    assert_eq!(
        root.real_path(Path::new("etc/alternatives/editor"))
            .unwrap(),
        fs::canonicalize(dir.join("in/file")).unwrap()
    );
    // `/outside` inside the root does not exist: the host's is never reached.
    assert!(root.open_dir(Path::new("etc/host-link")).is_err());
    assert!(root.open_dir(Path::new("etc/up")).is_err());
    let _ = tmp;
}

#[test]
fn rename_and_chown_act_on_the_entry_itself() {
    let (tmp, dir) = tree();
    symlink("../outside/secret", dir.join("in/l")).unwrap();
    let root = beneath(&dir);
    root.rename(Path::new("in/l"), &root, Path::new("moved"))
        .unwrap();
    assert!(
        fs::symlink_metadata(dir.join("moved"))
            .unwrap()
            .is_symlink()
    );
    let me = fs::symlink_metadata(dir.join("moved")).unwrap();
    root.chown(Path::new("moved"), Some(me.uid()), Some(me.gid()))
        .unwrap();
    root.set_mode(Path::new("in/file"), 0o640).unwrap();
    assert_eq!(
        fs::metadata(dir.join("in/file"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640
    );
    assert_eq!(
        fs::read_to_string(tmp.path().join("outside/secret")).unwrap(),
        "secret"
    );
}

#[test]
fn fd_path_names_the_open_directory_even_after_a_swap() {
    let (tmp, dir) = tree();
    let root = beneath(&dir);
    let granted = root.open_dir(Path::new("in")).unwrap();
    // Swap the name for a link out after the grant was opened.
    fs::rename(dir.join("in"), dir.join("in.old")).unwrap();
    symlink(tmp.path().join("outside"), dir.join("in")).unwrap();
    let seen = fs::read_to_string(granted.fd_path().join("file")).unwrap();
    assert_eq!(seen, "inside");
}

#[test]
fn hard_links_stay_beneath_on_both_ends() {
    let (tmp, dir) = tree();
    symlink("../outside", dir.join("out")).unwrap();
    let root = beneath(&dir);
    root.hard_link(Path::new("in/file"), Path::new("in/again"))
        .unwrap();
    assert_eq!(fs::read_to_string(dir.join("in/again")).unwrap(), "inside");
    for (from, to) in [("in/file", "out/stolen"), ("out/secret", "in/stolen")] {
        let err = root.hard_link(Path::new(from), Path::new(to)).unwrap_err();
        assert!(is_escape(&err), "{from} -> {to}: {err}");
    }
    assert!(!tmp.path().join("outside/stolen").exists());
    assert!(!dir.join("in/stolen").exists());
}

#[test]
fn entries_give_each_type_as_listed_and_a_link_as_a_link() {
    let (_tmp, dir) = tree();
    symlink("../../outside", dir.join("in/out")).unwrap();
    symlink("file", dir.join("in/alias")).unwrap();
    fs::create_dir(dir.join("in/sub")).unwrap();
    let root = beneath(&dir);
    let kinds = |rel: &str| -> Vec<(String, char)> {
        root.entries(Path::new(rel))
            .unwrap()
            .into_iter()
            .map(|(name, kind)| {
                let c = match (kind.is_dir(), kind.is_file(), kind.is_symlink()) {
                    (true, _, _) => 'd',
                    (_, true, _) => 'f',
                    (_, _, true) => 'l',
                    _ => '?',
                };
                (name.to_string_lossy().into_owned(), c)
            })
            .collect()
    };
    let want = [("alias", 'l'), ("file", 'f'), ("out", 'l'), ("sub", 'd')];
    let want: Vec<(String, char)> = want.iter().map(|(n, c)| (n.to_string(), *c)).collect();
    assert_eq!(kinds("in"), want);
    // The root itself, from a handle borrowed for the walk, and a sub-root's own.
    assert_eq!(kinds("")[0], ("in".to_owned(), 'd'));
    let sub = root.open_dir(Path::new("in")).unwrap();
    assert_eq!(sub.entries(Path::new("")).unwrap().len(), 4);
    // A link out is refused as ever, listing through it too.
    assert!(is_escape(&root.entries(Path::new("in/out")).unwrap_err()));
}
