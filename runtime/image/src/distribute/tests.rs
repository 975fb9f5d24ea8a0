use super::*;

fn error(text: &str) -> String {
    Distribution::parse("dist.yml", text)
        .unwrap_err()
        .to_string()
}

#[test]
fn a_distribution_parses_and_its_mistakes_are_located() {
    let d = Distribution::parse(
        "conf/dist.yml",
        "registries:\n  - repository: docker://127.0.0.1:5000/team/web\n    tags: [latest, 'v{{version}}']\n  - repository: docker://127.0.0.1:5000/mirror/web\ndisk-store: disks\ngroups: [web/prod]\n",
    )
    .unwrap();
    assert_eq!(d.registries.len(), 2);
    assert_eq!(d.registries[0].repository.repository, "team/web");
    assert_eq!(d.registries[0].tags, ["latest", "v{{version}}"]);
    assert!(d.registries[1].tags.is_empty());
    assert_eq!(d.disk_store, Some(PathBuf::from("conf/disks")));
    assert_eq!(d.groups[0].0.as_str(), "web");
    assert_eq!(d.groups[0].1.as_str(), "prod");

    let e = error("registries:\n  - repository: 127.0.0.1:5000/web\n");
    assert!(e.starts_with("dist.yml:2:17:"), "{e}");
    assert!(e.contains("`repository`") && e.contains("docker://"), "{e}");
    let e = error("registries:\n  - repository: docker://h/web\n    tags: ['bad tag']\n");
    assert!(
        e.starts_with("dist.yml:3:12:") && e.contains("not an image tag"),
        "{e}"
    );
    let e = error("disk-store: d\ngroups: [web]\n");
    assert!(e.contains("APP/GROUP") || e.contains("registry"), "{e}");
    let e = error("registries:\n  - repository: docker://h/web\ngroups: ['web/../x']\n");
    assert!(e.starts_with("dist.yml:3:10:"), "{e}");
    let e = error("disk-store: d\ngroups: [web/prod]\n");
    assert!(e.contains("name a registry"), "{e}");
    let e = error("disk-stor: d\n");
    assert!(e.contains("unknown key `disk-stor`"), "{e}");
    let e = error("groups: []\n");
    assert!(e.contains("at least one of"), "{e}");
}

#[test]
fn disks_are_stored_sparse_checked_and_never_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = Layout::create(&tmp.path().join("layout")).unwrap();
    let manifest = layout.put("application/json", b"{}").unwrap();
    // A "disk" of 8 MiB with data only at its start and end.
    let raw = tmp.path().join("web.raw");
    let mut f = std::fs::File::create(&raw).unwrap();
    f.write_all(b"boot").unwrap();
    f.seek(SeekFrom::Start((8 << 20) - 3)).unwrap();
    f.write_all(b"end").unwrap();
    drop(f);
    let store = tmp.path().join("disks");
    let artifact = |disks: Vec<PathBuf>| Artifact {
        layout: &layout,
        manifest: &manifest,
        name: "web",
        version: "1.0.0",
        tags: &[],
        disks,
    };
    let stored = store_disks(
        &DiskStore::open(&store).unwrap(),
        &artifact(vec![raw.clone()]),
    )
    .unwrap();
    assert!(!stored.already_there);
    let copy = store.join("web/1.0.0/web.raw");
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&raw).unwrap());
    use std::os::unix::fs::MetadataExt;
    let blocks = std::fs::metadata(&copy).unwrap().blocks() * 512;
    assert!(blocks < 1 << 20, "the copy is sparse: {blocks} bytes used");
    let sums = std::fs::read_to_string(store.join("web/1.0.0/SHA256SUMS")).unwrap();
    assert_eq!(sums, format!("{}  web.raw\n", file_digest(&raw).unwrap()));
    // The same bytes again: nothing changes.
    assert!(
        store_disks(
            &DiskStore::open(&store).unwrap(),
            &artifact(vec![raw.clone()])
        )
        .unwrap()
        .already_there
    );
    // Other bytes under the same version: refused, the stored version intact.
    std::fs::write(&raw, b"other").unwrap();
    let e = store_disks(
        &DiskStore::open(&store).unwrap(),
        &artifact(vec![raw.clone()]),
    )
    .unwrap_err();
    assert!(matches!(e, DistributeError::DiskChanged { .. }), "{e}");
    assert_eq!(
        std::fs::read_to_string(store.join("web/1.0.0/SHA256SUMS")).unwrap(),
        sums
    );
    let hidden: Vec<_> = std::fs::read_dir(store.join("web"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(hidden, ["1.0.0"], "no half-written version is left");
}

#[test]
fn a_store_whose_image_directory_is_a_link_out_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = Layout::create(&tmp.path().join("layout")).unwrap();
    let manifest = layout.put("application/json", b"{}").unwrap();
    let raw = tmp.path().join("web.raw");
    std::fs::write(&raw, b"disk").unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let store = tmp.path().join("disks");
    std::fs::create_dir(&store).unwrap();
    std::os::unix::fs::symlink(&outside, store.join("web")).unwrap();
    let e = store_disks(
        &DiskStore::open(&store).unwrap(),
        &Artifact {
            layout: &layout,
            manifest: &manifest,
            name: "web",
            version: "1.0.0",
            tags: &[],
            disks: vec![raw],
        },
    )
    .unwrap_err();
    assert!(matches!(e, DistributeError::Disk { .. }), "{e}");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
}
