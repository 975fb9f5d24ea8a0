//! `davit image build`, end to end: a recipe on the shared Debian base (`scripts/base-rootfs`)
//! becomes an OCI layout, one layer per component, reproducible, cached, tested on a fresh
//! instance.

use std::path::{Path, PathBuf};

use crate::support::*;

/// The Debian base of `scripts/base-rootfs` (built once per checkout), put where davit keeps
/// its Debian bases in `state`, so that no test runs mmdebstrap again.
fn seed_debian_base(state: &Path) {
    let script = repo().join("scripts/base-rootfs");
    let made = std::process::Command::new(&script).output().unwrap();
    assert!(made.status.success(), "{}", text(&made).1);
    let tar = PathBuf::from(String::from_utf8(made.stdout).unwrap().trim());
    let dir = state.join("cache/debian");
    std::fs::create_dir_all(&dir).unwrap();
    for (from, to) in [
        (tar.clone(), dir.join("bookworm-minbase.tar")),
        (
            tar.with_extension("lock"),
            dir.join("bookworm-minbase.lock"),
        ),
    ] {
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).unwrap();
        }
    }
}

const C1: &str = "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Greet\n        action: ExecuteBash\n        inputs:\n          commands:\n            - mkdir -p /opt/hello && echo \"hello from $(cat /etc/debian_version | cut -c1-2)\" > /opt/hello/greeting\n      - name: Conf\n        action: CreateFile\n        inputs:\n          - path: /etc/hello.conf\n            content: '{{ greeting }}'\nparameters:\n  - greeting:\n      type: string\n      default: hi\n";

const C2: &str = "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Trim\n        action: DeleteFolder\n        inputs:\n          - path: /usr/share/doc\n            force: true\n  - name: test\n    steps:\n      - name: Greeting\n        action: ExecuteBash\n        inputs:\n          commands:\n            - grep -q 'hello from 12' /opt/hello/greeting\n            - test ! -e /usr/share/doc\n            - test \"$(cat /etc/hello.conf)\" = hey\n";

/// One state directory for every image test of this process: the Debian base's layer is made
/// once and its cache shared (the cache is safe to share; each test's components differ by a
/// comment, so their layers never come from another test).
fn shared_state() -> &'static Path {
    static STATE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    STATE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            seed_debian_base(dir.path());
            dir
        })
        .path()
}

struct Build {
    dir: tempfile::TempDir,
    state: PathBuf,
}

impl Build {
    /// A recipe of two components (their text marked with `test`), on the shared state.
    fn new(test: &str) -> Build {
        Build::with_state(test, shared_state().to_path_buf())
    }

    fn with_state(test: &str, state: PathBuf) -> Build {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("policy.toml"),
            "[[commands]]\nprogram = \"/bin/bash\"\nargs = [\"*\"]\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("c")).unwrap();
        std::fs::write(dir.path().join("c/one.yml"), format!("# {test}\n{C1}")).unwrap();
        std::fs::write(dir.path().join("c/two.yml"), format!("# {test}\n{C2}")).unwrap();
        std::fs::write(
            dir.path().join("recipe.yml"),
            "name: hello\nversion: 1.0.0\nparent: debian:bookworm\nsource-date-epoch: 1700000000\ncomponents:\n  - document: c/one.yml\n    parameters:\n      - name: greeting\n        value: [hey]\n  - document: c/two.yml\noutputs:\n  oci-layout: out\n  tags: ['1.0.0', latest]\n",
        )
        .unwrap();
        Build { dir, state }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn run(&self, extra: &[&str]) -> std::process::Output {
        davit()
            .args(["image", "build", "--output", "json", "--policy"])
            .arg(self.path("policy.toml"))
            .arg("--deployment-root")
            .arg(&self.state)
            .args(extra)
            .arg(self.path("recipe.yml"))
            .output()
            .unwrap()
    }

    fn index(&self, layout: &str) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.path(layout).join("index.json")).unwrap())
            .unwrap()
    }
}

fn blob(layout: &Path, digest: &str) -> serde_json::Value {
    let hex = digest.trim_start_matches("sha256:");
    serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap()).unwrap()
}

/// A two-component recipe on Debian: three layers (the base, then one per component, the
/// second with whiteouts), tests passed on a fresh instance, tagged; built again, the same
/// digest with every layer from the cache; after changing only the second component, the
/// first component's layer is reused and only the last is made.
#[test]
fn a_recipe_builds_a_reproducible_tested_image_and_rebuilds_only_what_changed() {
    let b = Build::new("rebuild");
    let recipe = std::fs::read_to_string(b.path("recipe.yml")).unwrap();
    std::fs::write(
        b.path("recipe.yml"),
        format!("{recipe}  disk: {{raw: disk/hello.raw, qcow2: disk/hello.qcow2}}\n"),
    )
    .unwrap();
    let first = json_ok(&b.run(&[]));
    check_disks(&b.path("disk"));
    // The components ran over the parent's root, unpacked once into the cache as the
    // overlay's lower: what they wrote and deleted never reached it.
    let roots: Vec<PathBuf> = std::fs::read_dir(b.state.join("cache/roots"))
        .expect("the parent's root is cached (the tests run as root, where overlay works)")
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!roots.is_empty());
    assert!(
        roots.iter().any(|r| r.join("usr/share/doc").is_dir()),
        "the deleted folder is still in the lower"
    );
    for r in &roots {
        assert!(r.join("etc/debian_version").is_file(), "{}", r.display());
        assert!(
            !r.join("opt/hello").exists(),
            "a component wrote into the lower"
        );
    }
    let layers = first["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3, "{first}");
    assert_eq!(layers[0]["source"], "parent");
    assert_eq!(layers[1]["cached"], false);
    assert_eq!(layers[2]["cached"], false);
    assert_eq!(first["tests"].as_array().unwrap().len(), 1, "{first}");
    let digest = first["digest"].as_str().unwrap().to_owned();
    let index = b.index("out");
    let tags: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(&tags[..2], ["1.0.0", "latest"]);
    // The SBOM, kept beside it: the Debian packages of its dpkg status.
    let sbom_tag = format!("{}.sbom", digest.replace(':', "-"));
    assert_eq!(tags[2], sbom_tag);
    assert!(first["sbom"]["packages"].as_u64().unwrap() > 50, "{first}");
    let artifact = blob(&b.path("out"), first["sbom"]["digest"].as_str().unwrap());
    assert_eq!(artifact["subject"]["digest"], digest.as_str());
    let spdx = blob(
        &b.path("out"),
        artifact["layers"][0]["digest"].as_str().unwrap(),
    );
    assert!(
        spdx["packages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "bash"),
        "{spdx}"
    );
    let manifest = blob(&b.path("out"), &digest);
    let config = blob(
        &b.path("out"),
        manifest["config"]["digest"].as_str().unwrap(),
    );
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 3);
    assert_eq!(config["history"].as_array().unwrap().len(), 3);
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    // The second component's layer holds the whiteout of the folder it deleted.
    let listing = std::process::Command::new("tar")
        .arg("-tzf")
        .arg(
            b.path("out/blobs/sha256").join(
                layers[2]["digest"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("sha256:"),
            ),
        )
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert_eq!(
        listing.trim(),
        "usr/\nusr/share/\nusr/share/.wh.doc",
        "{listing}"
    );

    // The same recipe again: the same image, nothing run.
    let again = json_ok(&b.run(&["--oci-layout", b.path("again").to_str().unwrap()]));
    assert_eq!(again["digest"], digest.as_str(), "reproducible");
    assert!(
        again["layers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["cached"] == true),
        "{again}"
    );

    // Only the last component changed: its layer is new, the one before is reused.
    std::fs::write(
        b.path("c/two.yml"),
        C2.replace("/usr/share/doc", "/usr/share/man"),
    )
    .unwrap();
    let changed = json_ok(&b.run(&[]));
    let layers = changed["layers"].as_array().unwrap();
    assert_eq!(layers[1]["cached"], true, "{changed}");
    assert_eq!(layers[2]["cached"], false, "{changed}");
    assert_ne!(changed["digest"], digest.as_str());
}

/// The raw disk holds a GPT that sfdisk reads, with one Linux partition at 1 MiB whose ext4
/// filesystem is clean and holds the image's files; the qcow2 is the same disk.
fn check_disks(dir: &Path) {
    let raw = dir.join("hello.raw");
    let table = std::process::Command::new("sfdisk")
        .arg("--json")
        .arg(&raw)
        .output()
        .expect("sfdisk (scripts/setup installs fdisk)");
    assert!(table.status.success(), "{}", text(&table).1);
    let table: serde_json::Value = serde_json::from_slice(&table.stdout).unwrap();
    let parts = table["partitiontable"]["partitions"].as_array().unwrap();
    assert_eq!(table["partitiontable"]["label"], "gpt");
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0]["start"], 2048);
    assert_eq!(parts[0]["type"], "0FC63DAF-8483-4772-8E79-3D69D8477DE4");
    let part = dir.join("root.ext4");
    let cut = std::process::Command::new("dd")
        .arg(format!("if={}", raw.display()))
        .arg(format!("of={}", part.display()))
        .args(["bs=1M", "skip=1", "status=none"])
        .status()
        .unwrap();
    assert!(cut.success());
    let fsck = std::process::Command::new("e2fsck")
        .arg("-fn")
        .arg(&part)
        .output()
        .unwrap();
    assert!(fsck.status.success(), "{}", text(&fsck).0);
    let cat = std::process::Command::new("debugfs")
        .args(["-R", "cat /etc/hello.conf"])
        .arg(&part)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&cat.stdout), "hey");
    let info = std::process::Command::new("qemu-img")
        .args(["info", "--output", "json"])
        .arg(dir.join("hello.qcow2"))
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["format"], "qcow2");
    assert_eq!(info["virtual-size"], std::fs::metadata(&raw).unwrap().len());
}

/// A test that fails on the fresh instance fails the build (exit 1, naming the test) and tags
/// nothing; a failing component keeps its root with `--keep-on-failure` and says where.
#[test]
fn a_failed_test_tags_nothing_and_a_failed_component_keeps_its_root_on_request() {
    let b = Build::new("failures");
    let two = std::fs::read_to_string(b.path("c/two.yml")).unwrap();
    std::fs::write(b.path("c/two.yml"), two.replace("= hey", "= nope")).unwrap();
    let out = b.run(&[]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("failed on a fresh instance of the image") && stderr.contains("two.yml"),
        "{stderr}"
    );
    assert!(
        !b.path("out/index.json").exists()
            || b.index("out")["manifests"].as_array().unwrap().is_empty(),
        "nothing tagged"
    );
    std::fs::write(
        b.path("c/two.yml"),
        "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Fail\n        action: ExecuteBash\n        inputs:\n          commands: ['exit 3']\n",
    )
    .unwrap();
    let out = b.run(&["--keep-on-failure"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let kept = stderr
        .split("its root is kept at ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        Path::new(kept).join("opt/hello/greeting").exists(),
        "the kept root holds what the first component made: {kept}"
    );
}

/// A recipe field of the wrong type is an error at its line and column, before anything runs.
#[test]
fn a_bad_recipe_is_located() {
    let state = tempfile::tempdir().unwrap();
    let b = Build::with_state("bad", state.path().to_path_buf());
    std::fs::write(
        b.path("recipe.yml"),
        "name: hello\nversion: 1.0\nparent: debian:bookworm\ncomponents:\n  - document: c/one.yml\n",
    )
    .unwrap();
    let out = b.run(&[]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("recipe.yml:2:10: `version`: `1.0` is not a semantic version"),
        "{stderr}"
    );
    assert!(!state.path().join("image-builds").exists(), "nothing ran");
}

/// The registry of the test run (`scripts/services start`).
fn test_registry() -> String {
    std::env::var("DAVIT_TEST_REGISTRY").expect(
        "DAVIT_TEST_REGISTRY is not set: run `eval \"$(scripts/services start)\"` first (scripts/test does)",
    )
}

fn skopeo_inspect(reference: &str) -> serde_json::Value {
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(reference)
        .output()
        .expect("skopeo (scripts/setup installs it)");
    assert!(out.status.success(), "{}", text(&out).1);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `--push` sends the tested image to a real registry (Debian's docker-registry), where
/// skopeo reads the same manifest; a recipe whose parent is that pushed image pulls it and
/// builds on it, its layers the pushed ones; pushing again after a change sends only the new
/// layer and config; an unreachable registry is a clear error that leaves it untagged.
#[test]
fn an_image_is_pushed_to_a_registry_and_builds_on_as_a_parent() {
    let registry = test_registry();
    let repo = format!("davit-test/hello-{}", std::process::id());
    let b = Build::new("push");
    let recipe = std::fs::read_to_string(b.path("recipe.yml")).unwrap();
    let with_registry = |to: &str| {
        std::fs::write(
            b.path("recipe.yml"),
            format!("{recipe}  registry: docker://{to}\n"),
        )
        .unwrap();
    };
    with_registry(&format!("{registry}/{repo}"));
    let built = json_ok(&b.run(&["--push"]));
    assert_eq!(built["pushed"]["blobs_sent"], 4, "{built}");
    let manifest = skopeo_inspect(&format!("docker://{registry}/{repo}:1.0.0"));
    let pushed_layers: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    let built_layers: Vec<&str> = built["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    assert_eq!(pushed_layers, built_layers);
    let raw = std::fs::read(
        b.path("out/blobs/sha256").join(
            built["digest"]
                .as_str()
                .unwrap()
                .trim_start_matches("sha256:"),
        ),
    )
    .unwrap();
    assert_eq!(
        manifest,
        serde_json::from_slice::<serde_json::Value>(&raw).unwrap()
    );

    // A child of the pushed image: pulled, its three layers kept, one more on top.
    let child = tempfile::tempdir().unwrap();
    std::fs::write(
        child.path().join("c3.yml"),
        "# push child\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Mark\n        action: CreateFile\n        inputs:\n          - path: /etc/child\n            content: child\n",
    )
    .unwrap();
    std::fs::write(
        child.path().join("recipe.yml"),
        format!("name: child\nversion: 0.1.0\nparent: docker://{registry}/{repo}:1.0.0\ncomponents:\n  - document: c3.yml\noutputs:\n  oci-layout: out\n"),
    )
    .unwrap();
    let out = davit()
        .args(["image", "build", "--output", "json", "--deployment-root"])
        .arg(&b.state)
        .arg(child.path().join("recipe.yml"))
        .output()
        .unwrap();
    let grown = json_ok(&out);
    let grown_layers: Vec<&str> = grown["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    assert_eq!(grown_layers.len(), 4, "{grown}");
    assert_eq!(grown_layers[..3], built_layers[..]);

    // After a change to the last component, only its layer and the config go up.
    let two = std::fs::read_to_string(b.path("c/two.yml")).unwrap();
    std::fs::write(
        b.path("c/two.yml"),
        two.replace("/usr/share/doc", "/usr/share/man"),
    )
    .unwrap();
    let again = json_ok(&b.run(&["--push"]));
    assert_eq!(again["pushed"]["blobs_sent"], 2, "{again}");
    assert_eq!(again["pushed"]["blobs_present"], 2, "{again}");

    // A registry that does not answer: exit 3, the registry named, nothing tagged there.
    with_registry(&format!("127.0.0.1:1/{repo}"));
    let out = b.run(&["--push"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("built and tested, but not pushed")
            && stderr.contains(&format!("registry `127.0.0.1:1/{repo}`")),
        "{stderr}"
    );
}

/// Issue 11, points 1 and 7: components from the store, by wildcard, and the built-in
/// `davit/agent` baking the agent in. The store's newest `1.x.x` (with its nested document) is
/// the one built; the agent's layer holds the server's own executable, its settings and its
/// enabled unit; and two hosts started from what the image holds (its binary, with the
/// environment it wrote) both enroll with the one reusable token, with the image's tags.
#[test]
fn store_components_resolve_by_wildcard_and_the_baked_agent_enrolls_its_hosts() {
    let work = tempfile::tempdir().unwrap();
    let w = |rel: &str| work.path().join(rel);
    let (mut server, url) = crate::server::start_server(&w("server"));
    let operator_token = std::fs::read_to_string(w("server/operator-token")).unwrap();
    let operator = |args: &[&str]| crate::server::operator(&url, operator_token.trim(), args);
    let issued = operator(&["enroll-token", "create", "--reusable"]);
    let token = text(&issued).0.trim().to_owned();
    assert!(token.starts_with("dve_"), "{}", text(&issued).1);

    // Two versions of one component; 1.1.0 runs a nested document, stored with it.
    let hello = |v: &str, step: &str| {
        format!(
            "# store test\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Version\n        action: CreateFile\n        inputs:\n          - path: /etc/acme-hello\n            content: '{v}'\n{step}"
        )
    };
    let nested = "      - name: More\n        action: ExecuteDocument\n        inputs:\n          document: more/extra.yml\n";
    std::fs::create_dir_all(w("src/v2/more")).unwrap();
    std::fs::create_dir_all(w("src/v1")).unwrap();
    std::fs::write(w("src/v1/hello.yml"), hello("1.0.0", "")).unwrap();
    std::fs::write(w("src/v2/hello.yml"), hello("1.1.0", nested)).unwrap();
    std::fs::write(
        w("src/v2/more/extra.yml"),
        "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Extra\n        action: CreateFile\n        inputs:\n          - path: /etc/acme-extra\n            content: nested\n",
    )
    .unwrap();
    for (doc, version) in [("src/v2/hello.yml", "1.1.0"), ("src/v1/hello.yml", "1.0.0")] {
        let pushed = davit()
            .args([
                "component",
                "push",
                "--name",
                "acme/hello",
                "--version",
                version,
            ])
            .arg("--store")
            .arg(w("store"))
            .arg(w(doc))
            .output()
            .unwrap();
        assert!(pushed.status.success(), "{}", text(&pushed).1);
    }
    std::fs::remove_dir_all(w("src")).unwrap();

    std::fs::write(
        w("recipe.yml"),
        format!(
            "name: baked\nversion: 1.0.0\nparent: debian:bookworm\nsource-date-epoch: 1700000000\ncomponents:\n  - component: acme/hello@1.x.x\n  - component: davit/agent@1.x.x\n    parameters:\n      - name: server\n        value: ['{url}']\n      - name: enrollment-token\n        value: ['{token}']\n      - name: tags\n        value: ['role=img,env=test']\noutputs:\n  oci-layout: out\n"
        ),
    )
    .unwrap();
    std::fs::write(
        w("policy.toml"),
        format!("[[urls]]\nprefix = \"{url}/v1/dist/davit\"\n"),
    )
    .unwrap();
    let built = davit()
        .args(["image", "build", "--output", "json", "--policy"])
        .arg(w("policy.toml"))
        .arg("--deployment-root")
        .arg(shared_state())
        .arg("--store")
        .arg(w("store"))
        .arg(w("recipe.yml"))
        .output()
        .unwrap();
    let report = json_ok(&built);
    let layers = report["layers"].as_array().unwrap();
    let sources: Vec<&str> = layers
        .iter()
        .map(|l| l["source"].as_str().unwrap())
        .collect();
    assert_eq!(
        sources,
        ["parent", "acme/hello@1.1.0", "davit/agent@1.0.0"],
        "{report}"
    );
    assert_eq!(
        report["from_store"][0]["files"][1], "more/extra.yml",
        "{report}"
    );

    // What the two component layers hold.
    let unpack = |layer: &serde_json::Value, into: &str| {
        let hex = layer["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:");
        std::fs::create_dir_all(w(into)).unwrap();
        let status = std::process::Command::new("tar")
            .arg("-xzf")
            .arg(w("out/blobs/sha256").join(hex))
            .arg("-C")
            .arg(w(into))
            .status()
            .unwrap();
        assert!(status.success());
    };
    unpack(&layers[1], "hello");
    assert_eq!(
        std::fs::read_to_string(w("hello/etc/acme-hello")).unwrap(),
        "1.1.0"
    );
    assert_eq!(
        std::fs::read_to_string(w("hello/etc/acme-extra")).unwrap(),
        "nested"
    );
    unpack(&layers[2], "agent");
    let baked = w("agent/usr/local/bin/davit");
    assert!(
        std::fs::read(&baked).unwrap() == std::fs::read(env!("CARGO_BIN_EXE_davit")).unwrap(),
        "the image holds the server's own executable"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&baked).unwrap().permissions().mode() & 0o777,
        0o755
    );
    let env_file = std::fs::read_to_string(w("agent/etc/davit/agent.env")).unwrap();
    assert_eq!(
        env_file,
        format!("DAVIT_SERVER={url}\nDAVIT_ENROLL_TOKEN={token}\nDAVIT_TAGS=role=img,env=test\n")
    );
    assert_eq!(
        std::fs::metadata(w("agent/etc/davit/agent.env"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::read_link(w(
            "agent/etc/systemd/system/multi-user.target.wants/davit-agent.service"
        ))
        .unwrap(),
        Path::new("/etc/systemd/system/davit-agent.service")
    );
    let unit = std::fs::read_to_string(w("agent/etc/systemd/system/davit-agent.service")).unwrap();
    assert!(
        unit.contains("EnvironmentFile=/etc/davit/agent.env"),
        "{unit}"
    );
    assert!(
        unit.contains("ExecStart=/usr/local/bin/davit agent\n"),
        "{unit}"
    );

    // Two hosts from the image: its binary, its environment, nothing else.
    std::fs::write(w("empty-policy.toml"), "").unwrap();
    let mut agents: Vec<std::process::Child> = ["img-a", "img-b"]
        .iter()
        .map(|host| {
            let mut cmd = std::process::Command::new(&baked);
            cmd.env_clear()
                .env("PATH", "/usr/bin:/bin")
                .env("NO_COLOR", "1");
            for line in env_file.lines() {
                let (k, v) = line.split_once('=').unwrap();
                cmd.env(k, v);
            }
            cmd.args(["agent", "--hostname", host, "--policy"])
                .arg(w("empty-policy.toml"))
                .arg("--deployment-root")
                .arg(w(&format!("{host}/state")))
                .arg("--target-root")
                .arg(w(&format!("{host}/root")))
                .stdout(std::process::Stdio::null())
                .stderr(std::fs::File::create(w(&format!("{host}.log"))).unwrap())
                .spawn()
                .unwrap()
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let enrolled = loop {
        let listed = operator(&["agents", "--output", "json"]);
        let agents: Vec<davit_api::Agent> =
            serde_json::from_str(&text(&listed).0).unwrap_or_default();
        if agents.len() >= 2 || std::time::Instant::now() > deadline {
            break agents;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    for a in &mut agents {
        a.kill().unwrap();
        a.wait().unwrap();
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let mut names: Vec<&str> = enrolled.iter().map(|a| a.hostname.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["img-a", "img-b"],
        "{}",
        std::fs::read_to_string(w("img-a.log")).unwrap_or_default()
    );
    for a in &enrolled {
        assert_eq!(a.tags["role"], "img");
        assert_eq!(a.tags["env"], "test");
    }
}

/// Issue 11, point 5: `image build --distribution` sends the tested image to two repositories
/// of the real registry (the image's tags on one, the configuration's templated tags on the
/// other, each read back by skopeo as the built digest), copies its raw disk into the disk
/// store (checked by sha256, kept sparse) and records it on the group through a real server.
/// Distributing the same image again changes nothing; a configuration whose second registry
/// does not answer fails with exit 3 and leaves the first registry without the new tag.
#[test]
fn a_tested_image_is_distributed_to_every_target_and_recorded_on_its_groups() {
    let registry = test_registry();
    let id = std::process::id();
    let b = Build::new("distribution");
    let recipe = std::fs::read_to_string(b.path("recipe.yml")).unwrap();
    std::fs::write(
        b.path("recipe.yml"),
        format!("{recipe}  disk: {{raw: disks/hello.raw}}\n"),
    )
    .unwrap();
    let (mut server, url) = crate::server::start_server(&b.path("server"));
    let token = std::fs::read_to_string(b.path("server/operator-token")).unwrap();
    let operator = |args: &[&str]| {
        let out = crate::server::operator(&url, token.trim(), args);
        assert!(out.status.success(), "{args:?}: {}", text(&out).1);
        out
    };
    operator(&["app", "create", "web"]);
    operator(&["group", "create", "web", "prod", "--tags", "env=prod"]);
    let (main, mirror) = (
        format!("{registry}/davit-test/dist-{id}"),
        format!("{registry}/davit-test/mirror-{id}"),
    );
    std::fs::write(
        b.path("dist.yml"),
        format!(
            "registries:\n  - repository: docker://{main}\n  - repository: docker://{mirror}\n    tags: ['v{{{{version}}}}', stable]\ndisk-store: store\ngroups: [web/prod]\n"
        ),
    )
    .unwrap();
    let dist = b.path("dist.yml").display().to_string();
    let out = davit()
        .env("DAVIT_TOKEN", token.trim())
        .args(["image", "build", "--output", "json", "--policy"])
        .arg(b.path("policy.toml"))
        .arg("--deployment-root")
        .arg(&b.state)
        .args(["--server", &url, "--distribution", &dist])
        .arg(b.path("recipe.yml"))
        .output()
        .unwrap();
    let built = json_ok(&out);
    let digest = built["digest"].as_str().unwrap().to_owned();
    let d = &built["distribution"];
    assert_eq!(
        d["registries"][0]["tags"],
        serde_json::json!(["1.0.0", "latest"]),
        "{d}"
    );
    assert_eq!(
        d["registries"][1]["tags"],
        serde_json::json!(["v1.0.0", "stable"]),
        "{d}"
    );
    // Every tag of both repositories reads back as the built image.
    for reference in [
        format!("{main}:1.0.0"),
        format!("{main}:latest"),
        format!("{mirror}:v1.0.0"),
        format!("{mirror}:stable"),
    ] {
        let inspected = std::process::Command::new("skopeo")
            .args(["inspect", "--tls-verify=false"])
            .arg(format!("docker://{reference}"))
            .output()
            .unwrap();
        assert!(
            inspected.status.success(),
            "{reference}: {}",
            text(&inspected).1
        );
        let inspected: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
        assert_eq!(inspected["Digest"], digest.as_str(), "{reference}");
    }
    let stored = b.path("store/hello/1.0.0/hello.raw");
    assert_eq!(
        file_sha256(&stored),
        file_sha256(&b.path("disks/hello.raw")),
        "the stored disk is the built one"
    );
    let sums = std::fs::read_to_string(b.path("store/hello/1.0.0/SHA256SUMS")).unwrap();
    assert_eq!(sums, format!("{}  hello.raw\n", file_sha256(&stored)));
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&stored).unwrap();
    assert!(
        meta.blocks() * 512 < meta.len(),
        "the stored disk stays sparse"
    );
    assert_eq!(d["reference"], format!("docker://{main}:1.0.0"));
    let groups = json_ok(&operator(&["group", "list", "web", "--output", "json"]));
    assert_eq!(groups[0]["image"]["digest"], digest.as_str(), "{groups}");
    assert_eq!(
        groups[0]["image"]["reference"],
        format!("docker://{main}:1.0.0")
    );
    assert_eq!(groups[0]["image"]["version"], "1.0.0");

    // Again, from the layout: the same bytes everywhere, nothing changes.
    let distribute = |config: &str| {
        davit()
            .env("DAVIT_TOKEN", token.trim())
            .args(["image", "distribute", "--output", "json", "--server", &url])
            .arg("--oci-layout")
            .arg(b.path("out"))
            .args(["--tag", "latest", "--disk"])
            .arg(b.path("disks/hello.raw"))
            .arg(config)
            .output()
            .unwrap()
    };
    let again = json_ok(&distribute(&dist));
    assert_eq!(again["disks"]["already_there"], true, "{again}");
    assert_eq!(again["registries"][0]["blobs_sent"], 0, "{again}");

    // A second registry that does not answer: exit 3, and the first has no new tag.
    std::fs::write(
        b.path("broken.yml"),
        format!(
            "registries:\n  - repository: docker://{main}\n    tags: [never]\n  - repository: docker://127.0.0.1:1/davit-test/down\n"
        ),
    )
    .unwrap();
    let out = distribute(&b.path("broken.yml").display().to_string());
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("registry `127.0.0.1:1/davit-test/down`"),
        "{stderr}"
    );
    let never = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("docker://{main}:never"))
        .output()
        .unwrap();
    assert!(
        !never.status.success(),
        "a tag was put before every registry had the blobs"
    );
    server.kill().unwrap();
    let _ = server.wait();
}

/// `sha256:…` of a file, by sha256sum.
fn file_sha256(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    let hex = String::from_utf8(out.stdout).unwrap();
    format!("sha256:{}", hex.split_whitespace().next().unwrap())
}

/// Issue 11, point 6, end to end: a pipeline on a real server, built by a real builder agent
/// (`davit agent --builder`) with a component from its store. A run asked for builds,
/// distributes to the registry and the server records the image on the group; a run that
/// applies the start condition is skipped while nothing changed; after a new version of the
/// component is pushed, it builds a new image. The history holds the three runs with their
/// digests and logs.
#[test]
fn a_pipeline_builds_on_a_builder_agent_and_skips_what_did_not_change() {
    let registry = test_registry();
    let work = tempfile::tempdir().unwrap();
    let w = |rel: &str| work.path().join(rel);
    let (mut server, url) = crate::server::start_server(&w("server"));
    let token = std::fs::read_to_string(w("server/operator-token")).unwrap();
    let token = token.trim();
    let operator = |args: &[&str]| crate::server::operator(&url, token, args);
    let ok = |args: &[&str]| {
        let out = operator(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out).1);
        out
    };
    ok(&["app", "create", "web"]);
    ok(&["group", "create", "web", "prod", "--tags", "env=prod"]);

    // The builder's store is under its deployment root (the shared state: its Debian base).
    let store = shared_state().join("components");
    let push = |version: &str| {
        std::fs::write(
            w("hello.yml"),
            format!("# pipeline test\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Version\n        action: CreateFile\n        inputs:\n          - path: /etc/pipe-hello\n            content: '{version}'\n"),
        )
        .unwrap();
        let pushed = davit()
            .args([
                "component",
                "push",
                "--name",
                "pipe/hello",
                "--version",
                version,
            ])
            .arg("--store")
            .arg(&store)
            .arg(w("hello.yml"))
            .output()
            .unwrap();
        assert!(pushed.status.success(), "{}", text(&pushed).1);
    };
    push("1.0.0");
    let repo = format!("{registry}/davit-test/piped-{}", std::process::id());
    std::fs::write(
        w("recipe.yml"),
        "name: piped\nversion: 1.0.0\nparent: debian:bookworm\nsource-date-epoch: 1700000000\ncomponents:\n  - component: pipe/hello@1.x.x\noutputs:\n  oci-layout: out\n  tags: ['1.0.0']\n",
    )
    .unwrap();
    std::fs::write(
        w("dist.yml"),
        format!("registries:\n  - repository: docker://{repo}\ngroups: [web/prod]\n"),
    )
    .unwrap();
    // The builder reaches the registry only under its policy's URL rule.
    std::fs::write(
        w("policy.toml"),
        format!("[[urls]]\nprefix = \"http://{registry}/v2/davit-test/\"\n"),
    )
    .unwrap();

    let enroll = ok(&["enroll-token", "create"]);
    let mut agent = davit()
        .args([
            "agent",
            "--builder",
            "--server",
            &url,
            "--hostname",
            "builder-1",
        ])
        .args([
            "--tags",
            "role=builder",
            "--enroll-token",
            text(&enroll).0.trim(),
        ])
        .arg("--policy")
        .arg(w("policy.toml"))
        .arg("--deployment-root")
        .arg(shared_state())
        .arg("--data-dir")
        .arg(w("agent"))
        .arg("--target-root")
        .arg(w("target"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(w("agent.log")).unwrap())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(w("agent.log")).unwrap_or_default();

    let recipe = w("recipe.yml").display().to_string();
    let dist = w("dist.yml").display().to_string();
    let created = ok(&[
        "image",
        "pipeline",
        "create",
        "piped",
        "--recipe",
        &recipe,
        "--distribution",
        &dist,
        "--builder-tags",
        "role=builder",
        "--max-failures",
        "3",
        "--output",
        "json",
    ]);
    let created: davit_api::Pipeline = serde_json::from_str(&text(&created).0).unwrap();
    // A recipe that names a path on the builder is refused before it reaches the server.
    std::fs::write(
        w("by-path.yml"),
        "name: p\nversion: 1.0.0\nparent: debian:bookworm\ncomponents:\n  - document: /etc/shadow\n",
    )
    .unwrap();
    let by_path = w("by-path.yml").display().to_string();
    let out = operator(&["image", "pipeline", "create", "p", "--recipe", &by_path]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);
    assert!(text(&out).1.contains("builder's store"), "{}", text(&out).1);
    assert_eq!(created.groups[0].group.as_str(), "prod");
    assert_eq!(
        created.next_run_at, None,
        "no schedule: runs only when asked"
    );

    let run = |extra: &[&str]| -> davit_api::PipelineRun {
        let mut args = vec![
            "image", "pipeline", "run", "piped", "--wait", "--output", "json",
        ];
        args.extend_from_slice(extra);
        let out = operator(&args);
        assert!(out.status.success(), "{}\n{}", text(&out).1, log());
        serde_json::from_str(&text(&out).0).unwrap()
    };
    let first = run(&[]);
    assert_eq!(
        first.status,
        davit_api::RunStatus::Succeeded,
        "{first:?}\n{}",
        log()
    );
    let digest = first.digest.clone().unwrap();
    assert_eq!(
        first.reference.as_deref(),
        Some(format!("docker://{repo}:1.0.0").as_str())
    );
    let inspected = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false"])
        .arg(format!("docker://{repo}:1.0.0"))
        .output()
        .unwrap();
    assert!(inspected.status.success(), "{}", text(&inspected).1);
    let inspected: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
    assert_eq!(inspected["Digest"], digest.as_str());
    let groups = ok(&["group", "list", "web", "--output", "json"]);
    let groups: Vec<davit_api::Group> = serde_json::from_str(&text(&groups).0).unwrap();
    assert_eq!(groups[0].image.as_ref().unwrap().digest, digest);

    let skipped = run(&["--if-changed"]);
    assert_eq!(skipped.status, davit_api::RunStatus::Skipped, "{skipped:?}");
    assert_eq!(skipped.inputs, first.inputs);
    assert_eq!(skipped.digest, None, "nothing was built");

    push("1.1.0");
    let rebuilt = run(&["--if-changed"]);
    assert_eq!(
        rebuilt.status,
        davit_api::RunStatus::Succeeded,
        "{rebuilt:?}\n{}",
        log()
    );
    assert_ne!(rebuilt.inputs, first.inputs);
    assert_ne!(rebuilt.digest.as_deref(), Some(digest.as_str()));
    assert!(
        rebuilt.log.contains("build.Version (CreateFile)"),
        "{}",
        rebuilt.log
    );

    let history = ok(&["image", "pipeline", "history", "piped", "--output", "json"]);
    let history: Vec<davit_api::PipelineRun> = serde_json::from_str(&text(&history).0).unwrap();
    let seen: Vec<(i64, davit_api::RunStatus)> =
        history.iter().map(|r| (r.seq, r.status)).collect();
    use davit_api::RunStatus::{Skipped, Succeeded};
    assert_eq!(seen, [(3, Succeeded), (2, Skipped), (1, Succeeded)]);
    assert!(
        history
            .iter()
            .all(|r| r.agent.is_some() && r.ended_at.is_some())
    );
    let text_history = ok(&["image", "pipeline", "history", "piped"]);
    assert!(
        text(&text_history).0.contains("#2 Skipped manual"),
        "{}",
        text(&text_history).0
    );
    let deleted = ok(&["image", "pipeline", "delete", "piped"]);
    assert!(text(&deleted).0.contains("deleted pipeline piped"));
    let gone = operator(&["image", "pipeline", "show", "piped"]);
    assert_eq!(gone.status.code(), Some(2), "{}", text(&gone).1);

    agent.kill().unwrap();
    agent.wait().unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
}

/// Issue 11, point 1: a Debian base is made from Debian's packages with a lock of every
/// package and `.deb` by sha256; with the tar gone, the lock and the kept `.deb`s make it
/// again inside a network namespace (no network at all), byte for byte, so the image has the
/// same digest. A kept `.deb` that no longer matches its sha256 is refused, named.
#[test]
fn a_debian_base_is_made_again_from_its_lock_without_network() {
    let work = tempfile::tempdir().unwrap();
    let w = |rel: &str| work.path().join(rel);
    std::fs::write(
        w("c.yml"),
        "# offline test\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Mark\n        action: CreateFile\n        inputs:\n          - path: /etc/offline\n            content: made\n",
    )
    .unwrap();
    std::fs::write(
        w("recipe.yml"),
        "name: offline\nversion: 1.0.0\nparent: debian:bookworm\nsource-date-epoch: 1700000000\ncomponents:\n  - document: c.yml\noutputs:\n  oci-layout: out\n",
    )
    .unwrap();
    std::fs::write(w("policy.toml"), "").unwrap();
    let build = |offline: bool| {
        let mut c = if offline {
            let mut c = std::process::Command::new("unshare");
            c.arg("--net").arg(env!("CARGO_BIN_EXE_davit"));
            c
        } else {
            davit()
        };
        c.args(["image", "build", "--output", "json", "--policy"])
            .arg(w("policy.toml"))
            .arg("--deployment-root")
            .arg(w("state"))
            .arg(w("recipe.yml"))
            .output()
            .unwrap()
    };
    let first = json_ok(&build(false));
    let tar = w("state/cache/debian/bookworm-minbase.tar");
    let tar_digest = file_sha256(&tar);
    let lock = std::fs::read_to_string(w("state/cache/debian/bookworm-minbase.lock")).unwrap();
    let debs: Vec<(&str, &str)> = lock
        .lines()
        .filter_map(|l| l.strip_prefix("deb "))
        .map(|l| l.split_once(' ').unwrap())
        .collect();
    let packages = lock.lines().filter(|l| l.starts_with("package ")).count();
    assert!(packages > 50 && debs.len() >= packages, "{lock}");
    assert!(lock.contains("\nsource-date-epoch "), "{lock}");
    for (file, digest) in &debs {
        let kept = w("state/cache/debs/sha256").join(digest.trim_start_matches("sha256:"));
        assert_eq!(file_sha256(&kept), *digest, "{file}");
    }

    // The tar and every cache made from it gone: made again offline, the same bytes.
    let forget = || {
        for gone in ["cache/layers", "cache/roots", "cache/dpkg-status", "../out"] {
            let _ = std::fs::remove_dir_all(w("state").join(gone));
        }
        std::fs::remove_file(&tar).unwrap();
        let _ = std::fs::remove_file(tar.with_extension("tar.sha256"));
    };
    forget();
    let again = json_ok(&build(true));
    assert_eq!(file_sha256(&tar), tar_digest, "the same tar");
    assert_eq!(again["digest"], first["digest"], "the same image");

    // A kept .deb changed: refused before anything is made.
    forget();
    let (file, digest) = debs[0];
    let kept = w("state/cache/debs/sha256").join(digest.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&kept).unwrap();
    bytes.push(0);
    std::fs::write(&kept, bytes).unwrap();
    let out = build(true);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("hashes to") && stderr.contains(digest),
        "{file}: {stderr}"
    );
    assert!(!tar.exists());
}
