//! Staging: the same tree gives the same id whatever its packaging; hostile entries are refused
//! before anything is written outside the staging directory.

use std::fs;
use std::path::{Path, PathBuf};

use davit_lifecycle::digest::tree_digest;
use davit_lifecycle::stage::{
    EntryProblem, MAX_ENTRIES, StageError, StageLimits, stage, stage_with,
};
use tar::EntryType;

use crate::util::{
    RawEntry, chmod, mode, raw_tar, raw_zip, read, snapshot, tar_dir, write, zip_dir,
};

/// A small tree with nested directories, several modes and an inside symlink.
fn sample(dir: &Path) {
    write(&dir.join("appspec.yml"), "version: 0.0\nos: linux\n", 0o644);
    write(&dir.join("bin/run.sh"), "#!/bin/sh\necho hi\n", 0o755);
    write(&dir.join("conf/app/secret.toml"), "key = 1\n", 0o600);
    chmod(&dir.join("conf"), 0o750);
    std::os::unix::fs::symlink("../conf/app/secret.toml", dir.join("bin/secret")).unwrap();
}

/// The names in `revisions` (staging leftovers start with a dot).
fn listing(revisions: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(revisions)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn a_tree_has_one_id_as_a_directory_zip_tar_or_tgz() {
    let tmp = crate::util::tempdir();
    let (src, revs) = (tmp.path().join("src"), tmp.path().join("revisions"));
    sample(&src);
    let archives = [("b.zip", 0), ("b.tar", 1), ("b.tgz", 2), ("b.tar.gz", 2)];
    for (name, kind) in archives {
        let out = tmp.path().join(name);
        match kind {
            0 => zip_dir(&src, &out),
            1 => tar_dir(&src, &out, false),
            _ => tar_dir(&src, &out, true),
        }
    }

    let from_dir = stage(&src, &revs).unwrap();
    assert_eq!(from_dir.dir, revs.join(from_dir.id.as_str()));
    assert_eq!(snapshot(&from_dir.dir).len(), snapshot(&src).len());
    assert_eq!(tree_digest(&from_dir.dir).unwrap(), from_dir.id);
    for (name, _) in archives {
        let staged = stage(&tmp.path().join(name), &revs).unwrap();
        assert_eq!(staged, from_dir, "{name}");
    }
    assert_eq!(
        listing(&revs),
        [from_dir.id.to_string()],
        "one revision, no leftovers"
    );

    let dir = &from_dir.dir;
    assert_eq!(
        read(&dir.join("bin/secret")),
        "key = 1\n",
        "the symlink was kept"
    );
    assert!(
        fs::symlink_metadata(dir.join("bin/secret"))
            .unwrap()
            .is_symlink()
    );
    assert_eq!(mode(&dir.join("bin/run.sh")), 0o755);
    assert_eq!(mode(&dir.join("conf")), 0o750);
    assert_eq!(mode(&dir.join("conf/app/secret.toml")), 0o600);
}

#[test]
fn the_id_changes_with_one_byte_or_one_mode_bit() {
    let tmp = crate::util::tempdir();
    let (src, revs) = (tmp.path().join("src"), tmp.path().join("revisions"));
    sample(&src);
    let first = stage(&src, &revs).unwrap().id;
    write(&src.join("bin/run.sh"), "#!/bin/sh\necho hI\n", 0o755);
    let byte = stage(&src, &revs).unwrap().id;
    chmod(&src.join("bin/run.sh"), 0o754);
    let bit = stage(&src, &revs).unwrap().id;
    assert_ne!(first, byte);
    assert_ne!(byte, bit);
    assert_ne!(first, bit);
    assert_eq!(listing(&revs).len(), 3);
}

#[test]
fn setuid_bits_are_dropped_and_read_only_directories_staged() {
    let tmp = crate::util::tempdir();
    let (src, revs) = (tmp.path().join("src"), tmp.path().join("revisions"));
    write(&src.join("ro/tool"), "x", 0o4755);
    chmod(&src.join("ro"), 0o555);
    let staged = stage(&src, &revs).unwrap();
    assert_eq!(mode(&staged.dir.join("ro/tool")), 0o755);
    assert_eq!(mode(&staged.dir.join("ro")), 0o555);
    chmod(&src.join("ro"), 0o755);
}

/// Stages `archive` expecting `problem`; checks nothing was left in `revisions` or next to it.
fn refused(archive: &Path, problem: EntryProblem) {
    let parent = archive.parent().unwrap();
    let revs = parent.join("revisions");
    let outside = |p: &PathBuf| !p.starts_with("revisions");
    let before: Vec<PathBuf> = snapshot(parent).into_keys().filter(outside).collect();
    let err = stage(archive, &revs).unwrap_err();
    match &err {
        StageError::Entry { problem: got, .. } => assert_eq!(got, &problem, "{err}"),
        other => panic!("{}: expected {problem:?}, got {other:?}", archive.display()),
    }
    assert!(listing(&revs).is_empty(), "no staging directory is left");
    let after: Vec<PathBuf> = snapshot(parent).into_keys().filter(outside).collect();
    assert_eq!(before, after, "nothing was written next to the archive");
}

#[test]
fn traversal_and_absolute_entries_are_refused() {
    let tmp = crate::util::tempdir();
    let t = tmp.path();
    let file = |name: &'static [u8]| RawEntry {
        name,
        kind: EntryType::Regular,
        link: b"",
        data: b"evil",
    };

    raw_zip(
        &t.join("dotdot.zip"),
        &[("ok.txt", None), ("../evil.txt", None)],
    );
    refused(&t.join("dotdot.zip"), EntryProblem::ParentComponent);
    raw_zip(&t.join("abs.zip"), &[("/tmp/evil.txt", None)]);
    refused(&t.join("abs.zip"), EntryProblem::Absolute);
    raw_zip(&t.join("backslash.zip"), &[("a\\..\\..\\evil.txt", None)]);
    refused(&t.join("backslash.zip"), EntryProblem::ParentComponent);

    raw_tar(
        &t.join("dotdot.tar"),
        &[file(b"ok.txt"), file(b"a/../../evil.txt")],
    );
    refused(&t.join("dotdot.tar"), EntryProblem::ParentComponent);
    raw_tar(&t.join("abs.tar"), &[file(b"/tmp/evil.txt")]);
    refused(&t.join("abs.tar"), EntryProblem::Absolute);
}

#[test]
fn links_leaving_the_tree_and_special_files_are_refused() {
    let tmp = crate::util::tempdir();
    let t = tmp.path();
    let link = |name: &'static [u8], kind, link: &'static [u8]| RawEntry {
        name,
        kind,
        link,
        data: b"",
    };
    let target = |s: &str| s.to_owned();

    raw_zip(&t.join("abs-link.zip"), &[("etc", Some("/etc"))]);
    refused(
        &t.join("abs-link.zip"),
        EntryProblem::SymlinkEscapes {
            target: target("/etc"),
        },
    );
    raw_tar(
        &t.join("up-link.tar"),
        &[link(b"d/up", EntryType::Symlink, b"../../x")],
    );
    refused(
        &t.join("up-link.tar"),
        EntryProblem::SymlinkEscapes {
            target: target("../../x"),
        },
    );
    raw_tar(
        &t.join("hard.tar"),
        &[link(b"passwd", EntryType::Link, b"/etc/passwd")],
    );
    refused(
        &t.join("hard.tar"),
        EntryProblem::HardlinkEscapes {
            target: target("/etc/passwd"),
        },
    );
    // A link inside the tree, then a file written through it.
    let through = [
        link(b"sub", EntryType::Symlink, b"."),
        RawEntry {
            name: b"sub/x",
            kind: EntryType::Regular,
            link: b"",
            data: b"x",
        },
    ];
    raw_tar(&t.join("through.tar"), &through);
    refused(&t.join("through.tar"), EntryProblem::BeneathNonDirectory);
    raw_tar(&t.join("fifo.tar"), &[link(b"pipe", EntryType::Fifo, b"")]);
    refused(&t.join("fifo.tar"), EntryProblem::Special { kind: "fifo" });
    raw_tar(&t.join("dev.tar"), &[link(b"null", EntryType::Char, b"")]);
    refused(
        &t.join("dev.tar"),
        EntryProblem::Special {
            kind: "character device",
        },
    );

    // A hard link to a file earlier in the archive is fine.
    let ok = [
        RawEntry {
            name: b"a",
            kind: EntryType::Regular,
            link: b"",
            data: b"same",
        },
        link(b"b", EntryType::Link, b"a"),
    ];
    raw_tar(&t.join("hard-ok.tar"), &ok);
    let staged = stage(&t.join("hard-ok.tar"), &t.join("revisions")).unwrap();
    assert_eq!(read(&staged.dir.join("b")), "same");
}

#[test]
fn copying_a_directory_does_not_follow_links_out_of_it() {
    let tmp = crate::util::tempdir();
    let (src, revs) = (tmp.path().join("src"), tmp.path().join("revisions"));
    write(&src.join("a.txt"), "a", 0o644);
    std::os::unix::fs::symlink("/etc", src.join("etc")).unwrap();
    let err = stage(&src, &revs).unwrap_err();
    assert!(
        matches!(
            &err,
            StageError::Entry {
                problem: EntryProblem::SymlinkEscapes { .. },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "`{}`: entry `etc` is a symlink to `/etc`, which may point outside the bundle",
            src.display()
        )
    );
    assert!(listing(&revs).is_empty());

    fs::remove_file(src.join("etc")).unwrap();
    let fifo =
        std::ffi::CString::new(src.join("pipe").into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let err = stage(&src, &revs).unwrap_err();
    assert!(matches!(
        err,
        StageError::Entry {
            problem: EntryProblem::Special { kind: "fifo" },
            ..
        }
    ));
}

#[test]
fn formats_are_named_and_checked() {
    let tmp = crate::util::tempdir();
    let t = tmp.path();
    let revs = t.join("revisions");
    let src = t.join("src");
    sample(&src);
    tar_dir(&src, &t.join("really-a-tar.zip"), false);
    let err = stage(&t.join("really-a-tar.zip"), &revs).unwrap_err();
    assert!(matches!(err, StageError::FormatMismatch { .. }), "{err}");
    assert!(
        err.to_string()
            .ends_with("is named like a zip archive but its contents are not one")
    );

    fs::write(t.join("notes.txt"), "hello").unwrap();
    let err = stage(&t.join("notes.txt"), &revs).unwrap_err();
    assert!(matches!(err, StageError::UnknownFormat { .. }), "{err}");

    // No known extension: the first bytes decide.
    zip_dir(&src, &t.join("bundle.bin"));
    let by_magic = stage(&t.join("bundle.bin"), &revs).unwrap();
    assert_eq!(by_magic, stage(&src, &revs).unwrap());

    let err = stage(&t.join("missing.zip"), &revs).unwrap_err();
    assert!(matches!(err, StageError::Io { .. }), "{err}");

    let err = stage(t, &revs).unwrap_err();
    assert!(
        matches!(err, StageError::SourceContainsRevisions { .. }),
        "{err}"
    );
}

#[test]
fn too_many_entries_are_refused() {
    let tmp = crate::util::tempdir();
    let out = tmp.path().join("many.zip");
    let mut zip = zip::ZipWriter::new(fs::File::create(&out).unwrap());
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..=MAX_ENTRIES {
        zip.start_file(format!("{i}"), opts).unwrap();
    }
    zip.finish().unwrap();
    let err = stage(&out, &tmp.path().join("revisions")).unwrap_err();
    assert!(
        matches!(
            err,
            StageError::TooManyEntries {
                limit: MAX_ENTRIES,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_duplicate_path_is_refused() {
    let tmp = crate::util::tempdir();
    let t = tmp.path();
    let file = |data: &'static [u8]| RawEntry {
        name: b"app/config",
        kind: EntryType::Regular,
        link: b"",
        data,
    };
    // The second copy would silently replace what a reviewer saw in the first.
    raw_tar(&t.join("twice.tar"), &[file(b"reviewed"), file(b"evil")]);
    refused(&t.join("twice.tar"), EntryProblem::Duplicate);
    // zip writers refuse the same name twice; `./a.txt` names the same path.
    raw_zip(&t.join("twice.zip"), &[("a.txt", None), ("./a.txt", None)]);
    refused(&t.join("twice.zip"), EntryProblem::Duplicate);
}

#[test]
fn a_decompression_bomb_stops_at_the_size_limit() {
    // 64 MiB of zeros gzip to about 64 KiB; the limit here is 8 MiB.
    let tmp = crate::util::tempdir();
    let src = tmp.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("zeros"), vec![0u8; 64 << 20]).unwrap();
    let bomb = tmp.path().join("bomb.tgz");
    tar_dir(&src, &bomb, true);
    assert!(fs::metadata(&bomb).unwrap().len() < 1 << 20);
    let revs = tmp.path().join("revisions");
    let limits = StageLimits {
        max_unpacked_bytes: 8 << 20,
        ..StageLimits::default()
    };
    let err = stage_with(&bomb, &revs, limits).unwrap_err();
    assert!(
        matches!(err, StageError::TooLarge { limit, .. } if limit == 8 << 20),
        "{err}"
    );
    assert!(listing(&revs).is_empty(), "the partial tree is removed");

    let zip = tmp.path().join("bomb.zip");
    zip_dir(&src, &zip);
    let err = stage_with(&zip, &revs, limits).unwrap_err();
    assert!(matches!(err, StageError::TooLarge { .. }), "{err}");
    assert!(listing(&revs).is_empty());
}
