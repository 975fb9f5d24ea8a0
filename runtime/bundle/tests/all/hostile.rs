//! Hostile manifests and chunks: each is refused with its own error before anything is written.
//! A hostile manifest is stored under its true digest, so the digest check passes and the
//! manifest's own rules must catch it.

use davit_bundle::{
    BundleError, ChunkCache, Digest, EntryProblem, Limits, Manifest, ManifestError, Quiet, Store,
    StoreError,
};
use serde_json::json;

/// Stores `manifest` (JSON) in a fresh directory store under its digest, pulls it, and returns
/// the error; asserts nothing was materialized.
async fn pull_hostile(manifest: serde_json::Value) -> BundleError {
    let work = tempfile::tempdir().unwrap();
    let store = Store::open(work.path().join("store").to_str().unwrap()).unwrap();
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let id = Digest::of(&bytes);
    store.put_manifest(&id, bytes.into()).await.unwrap();
    let cache = ChunkCache::new(work.path().join("cache"));
    let out = work.path().join("out");
    let err = davit_bundle::pull(&id, &store, &cache, &out, &Quiet)
        .await
        .unwrap_err();
    assert!(!out.exists());
    assert!(
        !work.path().join("cache").exists(),
        "a refused manifest is not even cached"
    );
    err
}

fn manifest(entries: serde_json::Value) -> serde_json::Value {
    json!({"schema_version": 1, "chunking": "fastcdc-2020/16384/65536/262144", "entries": entries})
}

fn chunk(data: &[u8]) -> serde_json::Value {
    json!([Digest::of(data).to_hex(), data.len()])
}

#[track_caller]
fn entry_problem(err: BundleError) -> (String, EntryProblem) {
    match err {
        BundleError::Manifest(ManifestError::Entry { path, problem }) => (path, problem),
        other => panic!("expected an entry problem, got: {other}"),
    }
}

async fn refused(entries: serde_json::Value) -> (String, EntryProblem) {
    entry_problem(pull_hostile(manifest(entries)).await)
}

#[tokio::test]
async fn an_absolute_path_is_refused() {
    let (path, problem) = refused(json!([{"type": "dir", "path": "/etc", "mode": 493}])).await;
    assert_eq!((path.as_str(), problem), ("/etc", EntryProblem::BadPath));
}

#[tokio::test]
async fn dot_dot_is_refused() {
    let entries = json!([{"type": "file", "path": "a/../../etc/cron.d/x", "mode": 420, "size": 0, "chunks": []}]);
    assert_eq!(refused(entries).await.1, EntryProblem::BadPath);
}

#[tokio::test]
async fn empty_and_dot_components_are_refused() {
    for path in ["", "a//b", "./a", "a/."] {
        let entries = json!([{"type": "dir", "path": path, "mode": 493}]);
        assert_eq!(refused(entries).await.1, EntryProblem::BadPath, "{path:?}");
    }
}

#[tokio::test]
async fn a_duplicate_path_is_refused() {
    let entries = json!([
        {"type": "file", "path": "a", "mode": 420, "size": 0, "chunks": []},
        {"type": "file", "path": "a", "mode": 420, "size": 0, "chunks": []}
    ]);
    assert_eq!(
        refused(entries).await,
        ("a".into(), EntryProblem::Duplicate)
    );
}

#[tokio::test]
async fn entries_out_of_order_are_refused() {
    let entries = json!([
        {"type": "dir", "path": "b", "mode": 493},
        {"type": "dir", "path": "a", "mode": 493}
    ]);
    assert_eq!(refused(entries).await.1, EntryProblem::Duplicate);
}

#[tokio::test]
async fn a_symlink_to_an_absolute_path_is_refused() {
    let entries = json!([{"type": "symlink", "path": "passwd", "target": "/etc/passwd"}]);
    assert_eq!(
        refused(entries).await.1,
        EntryProblem::LinkEscapes("/etc/passwd".into())
    );
}

#[tokio::test]
async fn a_symlink_climbing_out_is_refused() {
    let entries = json!([
        {"type": "dir", "path": "a", "mode": 493},
        {"type": "symlink", "path": "a/up", "target": "../../etc"}
    ]);
    assert_eq!(refused(entries).await.0, "a/up");
}

#[tokio::test]
async fn a_symlink_through_another_link_is_refused() {
    // `here -> .` is inside; `out -> here/../etc` reads as inside but resolves to ../etc.
    let entries = json!([
        {"type": "symlink", "path": "here", "target": "."},
        {"type": "symlink", "path": "out", "target": "here/../etc"}
    ]);
    assert_eq!(
        refused(entries).await,
        (
            "out".into(),
            EntryProblem::LinkEscapes("here/../etc".into())
        )
    );
}

#[tokio::test]
async fn a_file_beneath_a_symlink_is_refused() {
    // Writing `etc/cron.d/x` would follow the link `etc -> ...` out of the tree.
    let entries = json!([
        {"type": "symlink", "path": "etc", "target": "inside"},
        {"type": "file", "path": "etc/cron.d", "mode": 420, "size": 0, "chunks": []}
    ]);
    assert_eq!(
        refused(entries).await,
        (
            "etc/cron.d".into(),
            EntryProblem::BeneathNonDirectory("etc".into())
        )
    );
}

#[tokio::test]
async fn a_file_beneath_a_file_is_refused() {
    let entries = json!([
        {"type": "file", "path": "a", "mode": 420, "size": 0, "chunks": []},
        {"type": "file", "path": "a/b", "mode": 420, "size": 0, "chunks": []}
    ]);
    assert_eq!(
        refused(entries).await.1,
        EntryProblem::BeneathNonDirectory("a".into())
    );
}

#[tokio::test]
async fn setuid_and_sticky_modes_are_refused() {
    for mode in [0o4755, 0o2755, 0o1777] {
        let entries = json!([{"type": "file", "path": "x", "mode": mode, "size": 0, "chunks": []}]);
        assert_eq!(refused(entries).await.1, EntryProblem::Mode(mode));
    }
}

#[tokio::test]
async fn a_size_that_is_not_the_sum_of_its_chunks_is_refused() {
    let entries =
        json!([{"type": "file", "path": "x", "mode": 420, "size": 10, "chunks": [chunk(b"abc")]}]);
    assert_eq!(
        refused(entries).await.1,
        EntryProblem::Size { size: 10, sum: 3 }
    );
}

#[tokio::test]
async fn an_oversized_chunk_is_refused() {
    let big = json!([Digest::of(b"x").to_hex(), 2 << 20]);
    let entries =
        json!([{"type": "file", "path": "x", "mode": 420, "size": 2 << 20, "chunks": [big]}]);
    assert!(matches!(
        refused(entries).await.1,
        EntryProblem::ChunkSize(_, 2097152)
    ));
}

#[tokio::test]
async fn unknown_fields_and_types_are_refused() {
    let err =
        pull_hostile(json!({"schema_version": 1, "chunking": "x", "entries": [], "setuid": true}))
            .await;
    assert!(
        matches!(err, BundleError::Manifest(ManifestError::Malformed(_))),
        "{err}"
    );
    let err = pull_hostile(manifest(
        json!([{"type": "device", "path": "sda", "major": 8}]),
    ))
    .await;
    assert!(
        matches!(err, BundleError::Manifest(ManifestError::Malformed(_))),
        "{err}"
    );
}

#[tokio::test]
async fn another_schema_is_refused() {
    let err = pull_hostile(json!({"schema_version": 2, "chunking": "x", "entries": []})).await;
    assert!(
        matches!(err, BundleError::Manifest(ManifestError::Schema { got: 2 })),
        "{err}"
    );
}

#[test]
fn a_bomb_is_refused_by_its_limits_before_any_chunk_is_fetched() {
    // Many entries, or a declared size beyond the limit: both refused on the manifest alone.
    let limits = Limits {
        max_entries: 1000,
        max_total_size: 1 << 30,
        max_manifest_size: 1 << 20,
    };
    let many: Vec<_> = (0..1001)
        .map(|i| json!({"type": "dir", "path": format!("d{i:05}"), "mode": 493}))
        .collect();
    let bytes = serde_json::to_vec(&manifest(json!(many))).unwrap();
    let err = Manifest::decode(&bytes, &Digest::of(&bytes), &limits).unwrap_err();
    assert!(
        matches!(
            err,
            ManifestError::Limit {
                what: "the number of entries",
                got: 1001,
                max: 1000
            }
        ),
        "{err}"
    );

    // 2 GiB of one repeated 1 MiB chunk: a few bytes of manifest, a huge tree.
    let one = json!([Digest::of(b"z").to_hex(), 1 << 20]);
    let chunks: Vec<_> = (0..2048).map(|_| one.clone()).collect();
    let bomb = manifest(
        json!([{"type": "file", "path": "bomb", "mode": 420, "size": 2u64 << 30, "chunks": chunks}]),
    );
    let bytes = serde_json::to_vec(&bomb).unwrap();
    let err = Manifest::decode(&bytes, &Digest::of(&bytes), &limits).unwrap_err();
    assert!(
        matches!(
            err,
            ManifestError::Limit {
                what: "the size of all files",
                ..
            }
        ),
        "{err}"
    );

    let err = Manifest::decode(&vec![b' '; (1 << 20) + 1], &Digest::of(b""), &limits).unwrap_err();
    assert!(
        matches!(
            err,
            ManifestError::Limit {
                what: "the manifest size",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_manifest_that_does_not_hash_to_the_revision_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let store_dir = work.path().join("store");
    let store = Store::open(store_dir.to_str().unwrap()).unwrap();
    let good = serde_json::to_vec(&manifest(json!([]))).unwrap();
    let id = Digest::of(&good);
    let evil = serde_json::to_vec(&manifest(
        json!([{"type": "dir", "path": "x", "mode": 511}]),
    ))
    .unwrap();
    store.put_manifest(&id, evil.clone().into()).await.unwrap();
    let cache = ChunkCache::new(work.path().join("cache"));
    let err = davit_bundle::pull(&id, &store, &cache, &work.path().join("out"), &Quiet)
        .await
        .unwrap_err();
    match err {
        BundleError::Manifest(ManifestError::DigestMismatch { expected, actual }) => {
            assert_eq!((expected, actual), (id, Digest::of(&evil)));
        }
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn a_chunk_that_does_not_hash_to_its_name_is_refused_and_not_cached() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("app.txt"), "the real content").unwrap();
    let store_dir = work.path().join("store");
    let store = Store::open(store_dir.to_str().unwrap()).unwrap();
    let pushed = davit_bundle::push(&tree, &store, 4, &Quiet).await.unwrap();
    let digest = Digest::of(b"the real content");
    let path = store_dir.join(davit_bundle::chunk_key(&digest).to_string());
    std::fs::write(&path, "the evil content").unwrap();
    let cache = ChunkCache::new(work.path().join("cache"));
    let out = work.path().join("out");
    let err = davit_bundle::pull(&pushed.revision, &store, &cache, &out, &Quiet)
        .await
        .unwrap_err();
    match err {
        BundleError::ChunkMismatch {
            digest: d,
            actual,
            size,
        } => {
            assert_eq!(
                (d, actual, size),
                (digest, Digest::of(b"the evil content"), 16)
            );
        }
        other => panic!("{other}"),
    }
    assert!(!cache.has_chunk(&digest));
    assert!(!out.exists());
}

#[tokio::test]
async fn a_corrupted_cache_chunk_is_removed_and_downloaded_again() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("app.txt"), "cached content").unwrap();
    let store = Store::open(work.path().join("store").to_str().unwrap()).unwrap();
    let pushed = davit_bundle::push(&tree, &store, 4, &Quiet).await.unwrap();
    let cache = ChunkCache::new(work.path().join("cache"));
    davit_bundle::pull(
        &pushed.revision,
        &store,
        &cache,
        &work.path().join("one"),
        &Quiet,
    )
    .await
    .unwrap();
    let digest = Digest::of(b"cached content");
    // Torn by a crash, or changed on disk: same name, other bytes.
    std::fs::write(cache.chunk_path(&digest), "poisoned cache").unwrap();
    let out = work.path().join("two");
    let pulled = davit_bundle::pull(&pushed.revision, &store, &cache, &out, &Quiet)
        .await
        .unwrap();
    assert_eq!(pulled.fetched_chunks, 1);
    assert_eq!(
        std::fs::read_to_string(out.join("app.txt")).unwrap(),
        "cached content"
    );
    assert_eq!(
        std::fs::read(cache.chunk_path(&digest)).unwrap(),
        b"cached content"
    );
}

#[tokio::test]
async fn a_path_longer_than_path_max_is_refused() {
    let long = vec!["a"; 2100].join("/");
    let entries = json!([{"type": "dir", "path": long, "mode": 493}]);
    assert_eq!(refused(entries).await.1, EntryProblem::BadPath);
}

#[tokio::test]
async fn a_tree_with_an_escaping_link_is_refused_before_anything_is_uploaded() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("big.bin"), vec![7u8; 1 << 20]).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", tree.join("zz-link")).unwrap();
    let store_dir = work.path().join("store");
    let store = Store::open(store_dir.to_str().unwrap()).unwrap();
    let err = davit_bundle::push(&tree, &store, 4, &Quiet)
        .await
        .unwrap_err();
    match err {
        BundleError::Manifest(ManifestError::Entry { path, problem }) => {
            assert_eq!(path, "zz-link");
            assert_eq!(problem, EntryProblem::LinkEscapes("/etc/shadow".into()));
        }
        other => panic!("{other}"),
    }
    assert!(!store_dir.join("chunks").exists(), "no chunk was sent");
}

#[tokio::test]
async fn an_oversized_object_is_refused_before_it_is_read_whole() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("app.txt"), "twelve bytes").unwrap();
    let store_dir = work.path().join("store");
    let store = Store::open(store_dir.to_str().unwrap()).unwrap();
    let pushed = davit_bundle::push(&tree, &store, 4, &Quiet).await.unwrap();
    let path = store_dir.join(davit_bundle::chunk_key(&Digest::of(b"twelve bytes")).to_string());
    std::fs::write(&path, vec![0u8; 64 << 20]).unwrap();
    let cache = ChunkCache::new(work.path().join("cache"));
    let err = davit_bundle::pull(
        &pushed.revision,
        &store,
        &cache,
        &work.path().join("out"),
        &Quiet,
    )
    .await
    .unwrap_err();
    match err {
        BundleError::Store(StoreError::TooLarge { max, .. }) => assert_eq!(max, 12),
        other => panic!("{other}"),
    }
}
