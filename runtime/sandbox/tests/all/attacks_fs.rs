//! The file system through WASI itself: links a guest plants in its read-write grant never take
//! a WASI call, or a later grant of the same directory, out of it.

use std::os::unix::fs::MetadataExt;

use davit_fsroot::{Resolve, Root};
use davit_sandbox::{Access, Grants, Mount};

use crate::hostile::*;
use crate::support::*;

/// An earlier hook empties its directory and swaps `etc` for `etc -> ../outside`; the policy
/// directory is then opened as davit opens it and `etc` beneath it is refused, and a later hook
/// granted the same directory cannot read through the link either.
#[tokio::test]
async fn a_subdirectory_swapped_for_a_link_out_is_refused_to_later_grants() {
    let site = Site::new();
    let base = site.root.path().join("app");
    std::fs::create_dir_all(base.join("etc/deep")).unwrap();
    std::fs::write(base.join("etc/conf"), "conf").unwrap();
    std::fs::write(base.join("top.txt"), "top").unwrap();
    let outside = site.outside("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret"), &site.secret).unwrap();

    let first = Grants {
        mounts: vec![mount(&base, "/app", Access::ReadWrite)],
        ..Grants::default()
    };
    let outcome = run("fs-swap-subdir-link", first, &[]).await;
    assert_contained(&outcome, "a later hook");
    assert!(
        !exists(&base.join("top.txt")),
        "the guest emptied its own directory"
    );
    let link = std::fs::symlink_metadata(base.join("etc")).unwrap();
    assert!(
        link.is_symlink(),
        "the guest planted `etc` (inside its grant: allowed)"
    );

    // The grant `/…/app/etc` of a later hook, resolved beneath the policy's directory.
    let policy_dir = Root::open_ambient(&base, Resolve::Beneath).unwrap();
    let refused = policy_dir
        .open_dir(std::path::Path::new("etc"))
        .unwrap_err();
    assert!(davit_fsroot::is_escape(&refused), "{refused}");

    let second = Grants {
        mounts: vec![Mount::new(policy_dir, "/app", Access::ReadWrite)],
        ..Grants::default()
    };
    let outcome = run("fs-swap-subdir-link", second, &[("phase", "2")]).await;
    assert_contained(&outcome, "not permitted");
    assert_contained(&outcome, "3 refused");
    assert_not_leaked(&outcome, &site.secret);
    assert!(!exists(&outside.join("planted")));
}

#[tokio::test]
async fn nothing_is_created_or_truncated_through_a_planted_link() {
    let site = Site::new();
    std::fs::write(site.outside("keep"), "original").unwrap();
    let grants = site.grants(vec![]);
    let outcome = run("fs-create-through-link", grants, &[]).await;
    assert_contained(&outcome, "5 refused");
    for name in ["pwned", "pwned-dir", "pwned-open", "pwned-link-target"] {
        assert!(
            !exists(&site.outside(name)),
            "`{name}` was created outside the grant"
        );
    }
    assert_eq!(
        std::fs::read_to_string(site.outside("keep")).unwrap(),
        "original"
    );
}

#[tokio::test]
async fn a_file_outside_cannot_be_hard_linked_in_or_out() {
    let site = Site::new();
    let outcome = run("fs-hardlink-out", site.grants(vec![]), &[]).await;
    assert_contained(&outcome, "3 refused");
    assert!(!exists(&site.work.join("stolen")));
    assert!(!exists(&site.work.join("stolen2")));
    assert!(!exists(&site.outside("planted")));
    assert_eq!(
        std::fs::metadata(site.outside("secret")).unwrap().nlink(),
        1
    );
    assert_eq!(
        std::fs::metadata(site.work.join("inside.txt"))
            .unwrap()
            .nlink(),
        1
    );
}

#[tokio::test]
async fn the_times_of_a_file_outside_cannot_be_changed_through_a_link() {
    let site = Site::new();
    let before = std::fs::metadata(site.outside("secret"))
        .unwrap()
        .modified()
        .unwrap();
    let outcome = run("fs-utimes-through-link", site.grants(vec![]), &[]).await;
    assert_contained(&outcome, "2 refused");
    let after = std::fs::metadata(site.outside("secret"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
}

#[tokio::test]
async fn files_cannot_be_moved_across_the_edge_of_the_grant() {
    let site = Site::new();
    let outcome = run("fs-rename-into-link", site.grants(vec![]), &[]).await;
    assert_contained(&outcome, "4 refused");
    assert!(!exists(&site.outside("mine")), "moved out");
    assert!(site.work.join("mine").is_file());
    assert_eq!(
        std::fs::read_to_string(site.outside("secret")).unwrap(),
        site.secret
    );
    assert!(!exists(&site.work.join("stolen")) && !exists(&site.work.join("stolen2")));
}

/// A FIFO in a granted directory blocks the guest's `open` for good (nobody writes to it): the
/// hook still ends at its timeout, and the host's call returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_that_blocks_the_guest_forever_still_ends_at_the_timeout() {
    let site = Site::new();
    let work = site.root.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let fifo =
        std::ffi::CString::new(work.join("fifo").into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let grants = Grants {
        mounts: vec![mount(&work, "/work", Access::ReadWrite)],
        limits: limits(1_000),
        ..Grants::default()
    };
    let started = std::time::Instant::now();
    let outcome = run("fs-read-fifo", grants, &[]).await;
    assert!(
        matches!(outcome.result, Err(davit_sandbox::Fault::Timeout { .. })),
        "{:?}",
        outcome.result
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // Unblock the stuck call so the test leaves no thread behind.
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .open(work.join("fifo"));
}
