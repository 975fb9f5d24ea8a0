use super::*;

const DOC: &str = "name: hello\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: a\n        action: CreateFile\n        inputs:\n          - path: /etc/hello\n            content: hi\n";

fn nesting(nested: &str) -> String {
    format!(
        "name: outer\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: n\n        action: ExecuteDocument\n        inputs:\n          document: {nested}\n"
    )
}

fn doc_in(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_pushed_version_resolves_and_loads_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ComponentStore::at(&tmp.path().join("store"));
    let doc = doc_in(tmp.path(), "src/hello.yml", DOC);
    let (meta, outcome) = store.push(&doc, "acme/hello", "1.2.0").unwrap();
    assert_eq!(outcome, PushOutcome::Stored);
    assert_eq!(meta.files, vec!["hello.yml".to_owned()]);
    let found = store.resolve("acme/hello", "1.2.0").unwrap();
    assert_eq!(found.meta, meta);
    assert_eq!(std::fs::read_to_string(&found.path).unwrap(), DOC);
    Document::load(&found.path).unwrap();
}

#[test]
fn wildcards_resolve_to_the_newest_match_numerically() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ComponentStore::at(&tmp.path().join("store"));
    for (i, v) in ["1.2.0", "1.10.0", "1.9.3", "2.0.0", "1.2.7"]
        .iter()
        .enumerate()
    {
        // Each version different content, so each is its own.
        let doc = doc_in(tmp.path(), &format!("d{i}/c.yml"), &DOC.replace("hi", v));
        store.push(&doc, "web", v).unwrap();
    }
    let got = |f: &str| store.resolve("web", f).unwrap().meta.version;
    assert_eq!(got("1.x.x"), "1.10.0");
    assert_eq!(got("1.2.x"), "1.2.7");
    assert_eq!(got("x.x.x"), "2.0.0");
    assert_eq!(got("1.9.3"), "1.9.3");
    let found = store.resolve("web", "1.x.x").unwrap();
    assert!(
        std::fs::read_to_string(found.path)
            .unwrap()
            .contains("1.10.0")
    );
    match store.resolve("web", "3.x.x") {
        Err(StoreError::NoMatch { have, .. }) => {
            assert_eq!(have, "1.2.0, 1.2.7, 1.9.3, 1.10.0, 2.0.0")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        store.resolve("nothing", "1.x.x"),
        Err(StoreError::Unknown { .. })
    ));
    assert_eq!(
        store
            .list()
            .unwrap()
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        vec!["davit/agent", "web"]
    );
}

#[test]
fn a_version_never_changes_and_the_same_push_is_a_no_op() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ComponentStore::at(&tmp.path().join("store"));
    let doc = doc_in(tmp.path(), "c.yml", DOC);
    store.push(&doc, "web", "1.0.0").unwrap();
    assert_eq!(
        store.push(&doc, "web", "1.0.0").unwrap().1,
        PushOutcome::AlreadyStored
    );
    std::fs::write(&doc, DOC.replace("hi", "changed")).unwrap();
    match store.push(&doc, "web", "1.0.0") {
        Err(StoreError::Exists { version, .. }) => assert_eq!(version, "1.0.0"),
        other => panic!("{other:?}"),
    }
    let found = store.resolve("web", "1.0.0").unwrap();
    assert_eq!(std::fs::read_to_string(found.path).unwrap(), DOC);
}

#[test]
fn nested_documents_are_stored_with_their_component() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ComponentStore::at(&tmp.path().join("store"));
    let outer = doc_in(tmp.path(), "src/outer.yml", &nesting("lib/inner.yml"));
    doc_in(tmp.path(), "src/lib/inner.yml", &nesting("./leaf.yml"));
    doc_in(tmp.path(), "src/lib/leaf.yml", DOC);
    let (meta, _) = store.push(&outer, "outer", "1.0.0").unwrap();
    assert_eq!(
        meta.files,
        vec!["outer.yml", "lib/inner.yml", "lib/leaf.yml"]
    );
    // The source can go: the store holds everything the component runs.
    std::fs::remove_dir_all(tmp.path().join("src")).unwrap();
    let found = store.resolve("outer", "1.x.x").unwrap();
    let leaf = found.path.parent().unwrap().join("lib/leaf.yml");
    assert_eq!(std::fs::read_to_string(leaf).unwrap(), DOC);
}

#[test]
fn hostile_documents_and_names_are_refused_and_nothing_is_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let store_dir = tmp.path().join("store");
    let store = ComponentStore::at(&store_dir);
    std::fs::write(tmp.path().join("secret.yml"), DOC).unwrap();
    // A nested document above the component's directory, absolute, or through a link out.
    for (i, nested) in ["../secret.yml", "/etc/passwd", "out/secret.yml"]
        .iter()
        .enumerate()
    {
        let dir = tmp.path().join(format!("src{i}"));
        let doc = doc_in(&dir, "c.yml", &nesting(nested));
        std::os::unix::fs::symlink(tmp.path(), dir.join("out")).unwrap();
        let err = store.push(&doc, "web", "1.0.0").unwrap_err();
        match (i, &err) {
            (0 | 1, StoreError::Nested { .. }) => {}
            (2, StoreError::Io { source, .. }) => {
                assert!(davit_fsroot::is_escape(source), "{err:?}")
            }
            _ => panic!("{nested}: {err:?}"),
        }
    }
    // The component document itself a link out of its directory.
    let dir = tmp.path().join("linked");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("secret.yml"), dir.join("c.yml")).unwrap();
    assert!(store.push(&dir.join("c.yml"), "web", "1.0.0").is_err());
    assert!(store.versions("web").unwrap().is_empty());

    let doc = doc_in(tmp.path(), "ok/c.yml", DOC);
    for name in [
        "../web",
        "web/../../x",
        "Web",
        "/web",
        "a/b/c/d",
        "",
        "web/1.0.0",
        ".web",
    ] {
        assert!(
            matches!(store.push(&doc, name, "1.0.0"), Err(StoreError::BadName(_))),
            "{name}"
        );
    }
    assert!(matches!(
        store.push(&doc, "davit/agent", "9.0.0"),
        Err(StoreError::Reserved(_))
    ));
    for version in ["1.0", "1.0.0-rc1", "v1.0.0", "1.x.x"] {
        assert!(
            matches!(
                store.push(&doc, "web", version),
                Err(StoreError::BadVersion(_))
            ),
            "{version}"
        );
    }
    for filter in ["1.x.0", "x.1.x", "1.x", "*", "1.2.3.4"] {
        assert!(!valid_filter(filter), "{filter}");
    }
    // Nothing but empty name directories from the refused pushes.
    assert!(
        store
            .list()
            .unwrap()
            .iter()
            .all(|(n, _)| n == "davit/agent")
    );
}

#[test]
fn the_built_in_agent_component_is_a_valid_document() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ComponentStore::at(&tmp.path().join("store"));
    let found = store.resolve("davit/agent", "1.x.x").unwrap();
    let doc = Document::load(&found.path).unwrap();
    assert_eq!(doc.name.as_deref(), Some("davit/agent"));
    assert_eq!(found.meta.version, "1.0.0");
}

#[test]
fn a_stored_version_whose_meta_names_a_document_outside_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ComponentStore::at(&tmp.path().join("store"));
    let doc = doc_in(tmp.path(), "c.yml", DOC);
    store.push(&doc, "web", "1.0.0").unwrap();
    let meta_path = tmp.path().join("store/web/1.0.0/meta.json");
    let meta = std::fs::read_to_string(&meta_path).unwrap();
    for bad in ["../../../../secret.yml", "/etc/passwd", "sub/c.yml"] {
        std::fs::write(
            &meta_path,
            meta.replace(
                "\"document\": \"c.yml\"",
                &format!("\"document\": \"{bad}\""),
            ),
        )
        .unwrap();
        assert!(store.resolve("web", "1.x.x").is_err(), "{bad}");
    }
}
