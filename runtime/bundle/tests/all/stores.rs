//! Push and pull through each store: the same tree comes back, a second push sends nothing, a
//! small change moves a few chunks, and an interrupted pull resumes.

use davit_bundle::{BundleError, ChunkCache, Quiet, Store, StoreError, push};

use crate::support::*;

/// The whole round trip against one store.
async fn round_trip(store: Store) {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    sample_tree(&tree);

    let first = push(&tree, &store, 8, &Quiet).await.unwrap();
    assert_eq!(first.files, 5);
    assert!(first.new_manifest);
    assert_eq!(first.new_chunks, first.chunks);
    assert!(first.total_bytes > 3 << 20);
    let again = push(&tree, &store, 8, &Quiet).await.unwrap();
    assert_eq!(
        again.revision, first.revision,
        "same tree, same revision id"
    );
    assert_eq!((again.new_chunks, again.new_bytes), (0, 0));
    assert!(!again.new_manifest);

    let cache = ChunkCache::new(work.path().join("cache"));
    let out = work.path().join("out");
    let pulled = davit_bundle::pull(&first.revision, &store, &cache, &out, &Quiet)
        .await
        .unwrap();
    assert_eq!(pulled.fetched_chunks, pulled.chunks);
    assert_same_tree(&tree, &out);

    // Change 4 KiB in the middle of the 3 MiB file: only the chunks around it move.
    let mut big = std::fs::read(tree.join("www/big.bin")).unwrap();
    big[1_500_000..1_504_096].copy_from_slice(&noise(4096, 99));
    std::fs::write(tree.join("www/big.bin"), &big).unwrap();
    let second = push(&tree, &store, 8, &Quiet).await.unwrap();
    assert_ne!(second.revision, first.revision);
    assert!((1..=3).contains(&second.new_chunks), "{second:?}");
    let out2 = work.path().join("out2");
    let delta = davit_bundle::pull(&second.revision, &store, &cache, &out2, &Quiet)
        .await
        .unwrap();
    assert_eq!(delta.fetched_chunks, second.new_chunks);
    assert!(delta.fetched_bytes * 10 < delta.total_bytes, "{delta:?}");
    assert_same_tree(&tree, &out2);

    // The destination must be new: an existing directory is never overwritten.
    let err = davit_bundle::pull(&second.revision, &store, &cache, &out2, &Quiet)
        .await
        .unwrap_err();
    assert!(matches!(err, BundleError::Io { .. }), "{err}");
}

#[tokio::test]
async fn a_directory_store_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    round_trip(Store::open(dir.path().to_str().unwrap()).unwrap()).await;
}

#[tokio::test]
async fn the_http_store_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    round_trip(http_store(dir.path()).await).await;
}

#[tokio::test]
async fn an_s3_store_round_trips() {
    if let Some(store) = s3_store("round-trip") {
        round_trip(store).await;
    }
}

#[tokio::test]
async fn an_interrupted_pull_resumes_without_downloading_again() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    sample_tree(&tree);
    let store_dir = work.path().join("store");
    let store = Store::open(store_dir.to_str().unwrap()).unwrap();
    let pushed = push(&tree, &store, 8, &Quiet).await.unwrap();

    // Take one chunk away: the pull stops on it, keeping what it fetched.
    let chunks_dir = store_dir.join("chunks");
    let first_shard = std::fs::read_dir(&chunks_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let victim = std::fs::read_dir(&first_shard)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let saved = std::fs::read(&victim).unwrap();
    std::fs::remove_file(&victim).unwrap();
    let cache = ChunkCache::new(work.path().join("cache"));
    let out = work.path().join("out");
    let err = davit_bundle::pull(&pushed.revision, &store, &cache, &out, &Quiet)
        .await
        .unwrap_err();
    assert!(
        matches!(err, BundleError::Store(StoreError::NotFound { .. })),
        "{err}"
    );
    assert!(!out.exists(), "nothing materialized");

    let kept = count_files(&work.path().join("cache/chunks"));
    assert!(kept < pushed.chunks);

    std::fs::write(&victim, saved).unwrap();
    let resumed = davit_bundle::pull(&pushed.revision, &store, &cache, &out, &Quiet)
        .await
        .unwrap();
    assert_eq!(resumed.fetched_chunks, pushed.chunks - kept, "{resumed:?}");
    assert!(resumed.manifest_cached);
    assert_same_tree(&tree, &out);
}

fn count_files(dir: &std::path::Path) -> usize {
    let Ok(shards) = std::fs::read_dir(dir) else {
        return 0;
    };
    shards
        .map(|s| std::fs::read_dir(s.unwrap().path()).unwrap().count())
        .sum()
}

#[tokio::test]
async fn gc_keeps_exactly_the_chunks_of_kept_revisions() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    sample_tree(&tree);
    let store = Store::open(work.path().join("store").to_str().unwrap()).unwrap();
    let cache = ChunkCache::new(work.path().join("cache"));
    let mut ids = Vec::new();
    for (i, seed) in [3u64, 5, 9].iter().enumerate() {
        std::fs::write(tree.join("www/big.bin"), noise(1 << 20, *seed)).unwrap();
        let pushed = push(&tree, &store, 8, &Quiet).await.unwrap();
        let out = work.path().join(format!("out{i}"));
        davit_bundle::pull(&pushed.revision, &store, &cache, &out, &Quiet)
            .await
            .unwrap();
        ids.push(pushed.revision);
    }
    let keep: std::collections::HashSet<_> = ids[1..].iter().copied().collect();
    let report = cache.gc(&keep).unwrap();
    assert_eq!(report.kept_manifests, 2);
    assert_eq!(report.removed_manifests, 1);
    assert!(
        report.removed_chunks > 0 && report.removed_bytes >= 900 << 10,
        "{report:?}"
    );

    // The kept revisions pull with nothing to download; the dropped one downloads its own.
    for (id, fetched) in [(ids[1], false), (ids[2], false), (ids[0], true)] {
        let out = work.path().join(format!("again-{id}"));
        let pulled = davit_bundle::pull(&id, &store, &cache, &out, &Quiet)
            .await
            .unwrap();
        assert_eq!(pulled.fetched_chunks > 0, fetched, "{pulled:?}");
    }
    // Collecting again with nothing kept empties the cache.
    let report = cache.gc(&Default::default()).unwrap();
    assert_eq!((report.kept_chunks, report.kept_manifests), (0, 0));
    assert_eq!(count_files(&work.path().join("cache/chunks")), 0);
}

#[tokio::test]
async fn an_http_store_with_a_token_takes_uploads_only_with_it() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("a.txt"), "content").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let served = work.path().join("served");
    tokio::spawn(davit_bundle::serve::serve(
        served.clone(),
        listener,
        Some("s3cret".into()),
    ));

    let anonymous = Store::open_with_token(&url, None).unwrap();
    let err = push(&tree, &anonymous, 2, &Quiet).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    let wrong = Store::open_with_token(&url, Some("guess")).unwrap();
    assert!(push(&tree, &wrong, 2, &Quiet).await.is_err());
    assert!(!served.join("manifests").exists(), "nothing was stored");

    let holder = Store::open_with_token(&url, Some("s3cret")).unwrap();
    let pushed = push(&tree, &holder, 2, &Quiet).await.unwrap();
    // Reading needs no token.
    let out = work.path().join("out");
    let cache = ChunkCache::new(work.path().join("cache"));
    davit_bundle::pull(&pushed.revision, &anonymous, &cache, &out, &Quiet)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("a.txt")).unwrap(),
        "content"
    );
}

#[tokio::test]
async fn the_http_store_refuses_uploads_beyond_an_objects_size() {
    let work = tempfile::tempdir().unwrap();
    let store = http_store(work.path()).await;
    // A genuine chunk name, but more bytes than any chunk may have.
    let big = noise(2 << 20, 11);
    let err = store
        .put_chunk(&davit_bundle::Digest::of(&big), big.into())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("413"), "{err}");
    assert!(!work.path().join("chunks").exists(), "nothing was stored");
    let small = noise(1000, 12);
    let digest = davit_bundle::Digest::of(&small);
    store.put_chunk(&digest, small.into()).await.unwrap();
    assert!(
        store.has_chunk(&digest).await.unwrap(),
        "HEAD answers from the file's size"
    );
}
