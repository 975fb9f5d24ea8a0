//! The manifest's checks and the SSM agent's selection rules, case by case, and the real
//! manifests of the corpus (`$DAVIT_CORPUS`, or `shared/corpus` beside the repository).

use std::path::{Path, PathBuf};

use davit_package::{Host, Manifest, SelectError, select};

const SHA: &str = "8371ec360e27031052b62b053bc249e4cd27f8e05a776a120c73bce5558d96d8";

/// A manifest of `packages` (JSON) whose files `a.zip` … `e.zip` all have a sha256.
fn manifest(packages: &str) -> Manifest {
    let files: Vec<String> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|f| format!("\"{f}.zip\": {{\"checksums\": {{\"sha256\": \"{SHA}\"}}}}"))
        .collect();
    let text = format!(
        "{{\"schemaVersion\": \"2.0\", \"version\": \"1.0\", \"packages\": {packages}, \"files\": {{{}}}}}",
        files.join(", ")
    );
    Manifest::parse("manifest.json", &text).unwrap()
}

fn host(platform: &str, version: &str, arch: &str) -> Host {
    Host {
        platform: platform.into(),
        version: version.into(),
        arch: arch.into(),
    }
}

fn file(m: &Manifest, h: &Host) -> String {
    select(m, h)
        .map(|s| s.file.to_owned())
        .unwrap_or_else(|e| format!("error: {e}"))
}

#[test]
fn os_release_is_read_with_the_agents_renames() {
    let cases = [
        (
            "ID=\"rhel\"\nVERSION_ID=\"9.3\"\n",
            "x86_64",
            ("redhat", "9.3", "x86_64"),
        ),
        (
            "ID=ol\nVERSION_ID=8.9\n",
            "aarch64",
            ("oracle", "8.9", "arm64"),
        ),
        (
            "NAME=\"Amazon Linux\"\nID=\"amzn\"\nID_LIKE=\"centos rhel fedora\"\nVERSION_ID=\"2023\"\n",
            "x86_64",
            ("amazon", "2023", "x86_64"),
        ),
        (
            "ID=sles\nVERSION_ID=\"15.5\"\n",
            "x86_64",
            ("suse", "15.5", "x86_64"),
        ),
        (
            "ID=\"opensuse-leap\"\nVERSION_ID=\"15.5\"\n",
            "x86_64",
            ("opensuseleap", "15.5", "x86_64"),
        ),
        (
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
            "i686",
            ("debian", "12", "386"),
        ),
    ];
    for (text, machine, (platform, version, arch)) in cases {
        assert_eq!(
            Host::from_os_release(text, machine),
            host(platform, version, arch),
            "{text}"
        );
    }
}

#[test]
fn versions_exact_then_the_most_specific_wildcard_then_any_then_star() {
    let m = manifest(
        r#"{"redhat": {"6.2.4": {"_any": {"file": "a.zip"}}, "6.*": {"_any": {"file": "b.zip"}},
            "6.2.*": {"_any": {"file": "c.zip"}}, "_any": {"_any": {"file": "d.zip"}},
            "*": {"_any": {"file": "e.zip"}}}}"#,
    );
    assert_eq!(
        file(&m, &host("redhat", "6.2.4", "x86_64")),
        "a.zip",
        "exact"
    );
    assert_eq!(
        file(&m, &host("redhat", "6.2.9", "x86_64")),
        "c.zip",
        "most specific"
    );
    assert_eq!(file(&m, &host("redhat", "6.5", "x86_64")), "b.zip");
    assert_eq!(
        file(&m, &host("redhat", "7.1", "x86_64")),
        "d.zip",
        "_any before *"
    );
    let star = manifest(
        r#"{"redhat": {"6.2": {"_any": {"file": "a.zip"}}, "6.*.4": {"_any": {"file": "b.zip"}}, "*": {"_any": {"file": "e.zip"}}}}"#,
    );
    // `6.2` never matches 6.2.4, nor `6.*.4`: only `*` is left.
    assert_eq!(file(&star, &host("redhat", "6.2.4", "x86_64")), "e.zip");
    // `6.*` is not `61.x`.
    let six = manifest(r#"{"redhat": {"6.*": {"_any": {"file": "a.zip"}}}}"#);
    assert!(file(&six, &host("redhat", "61.2", "x86_64")).starts_with("error"));
}

#[test]
fn architectures_exact_then_any() {
    let m = manifest(
        r#"{"ubuntu": {"_any": {"x86_64": {"file": "a.zip"}, "_any": {"file": "b.zip"}}}}"#,
    );
    assert_eq!(file(&m, &host("ubuntu", "22.04", "x86_64")), "a.zip");
    assert_eq!(file(&m, &host("ubuntu", "22.04", "arm64")), "b.zip");
}

#[test]
fn once_a_platform_key_is_chosen_there_is_no_backtracking() {
    let m = manifest(
        r#"{"amazon": {"2016.09": {"_any": {"file": "a.zip"}}, "_any": {"x86_64": {"file": "b.zip"}}},
            "_any": {"_any": {"_any": {"file": "c.zip"}}}}"#,
    );
    assert_eq!(file(&m, &host("amazon", "2016.09", "arm64")), "a.zip");
    assert_eq!(file(&m, &host("amazon", "2018.03", "x86_64")), "b.zip");
    // `amazon/_any` has no arm64: an error, though the `_any` platform would have fitted.
    let e = select(&m, &host("amazon", "2018.03", "arm64")).unwrap_err();
    assert!(matches!(e, SelectError::Arch { .. }), "{e}");
    assert!(e.to_string().contains("`x86_64`"), "{e}");
    assert_eq!(file(&m, &host("debian", "12", "arm64")), "c.zip");
    let only = manifest(
        r#"{"amazon": {"2016.09": {"_any": {"file": "a.zip"}}}, "_any": {"_any": {"_any": {"file": "c.zip"}}}}"#,
    );
    let e = select(&only, &host("amazon", "2023", "x86_64")).unwrap_err();
    assert!(matches!(e, SelectError::Version { .. }), "{e}");
    let none = manifest(r#"{"windows": {"_any": {"_any": {"file": "a.zip"}}}}"#);
    let e = select(&none, &host("debian", "12", "x86_64")).unwrap_err();
    assert!(e.to_string().contains("`windows`"), "{e}");
}

fn refused(text: &str) -> String {
    Manifest::parse("m.json", text).unwrap_err().to_string()
}

#[test]
fn a_manifest_without_checksums_or_with_unknown_keys_is_refused_where_it_says_so() {
    let ok_file = format!("\"x.zip\": {{\"checksums\": {{\"sha256\": \"{SHA}\"}}}}");
    let pkg = r#""packages": {"_any": {"_any": {"_any": {"file": "x.zip"}}}}"#;
    let e = refused(&format!(
        "{{\"schemaVersion\": \"2.0\", \"version\": \"1\", {pkg},\n \"files\": {{\"x.zip\": {{\"checksums\": {{}}}}}}}}"
    ));
    assert!(e.starts_with("m.json:2:") && e.contains("no sha256"), "{e}");
    let e = refused(&format!(
        "{{\"schemaVersion\": \"2.0\", \"version\": \"1\", {pkg},\n \"files\": {{\"x.zip\": {{\"checksums\": {{\"sha256\": \"abc\"}}}}}}}}"
    ));
    assert!(e.contains("`abc`") && e.contains("64 hexadecimal"), "{e}");
    let e = refused(&format!(
        "{{\"schemaVersion\": \"1.2\", \"version\": \"1\", {pkg}, \"files\": {{{ok_file}}}}}"
    ));
    assert!(e.contains("\"2.0\""), "{e}");
    let e = refused(&format!(
        "{{\"schemaVersion\": \"2.0\", \"version\": \"1 0\", {pkg}, \"files\": {{{ok_file}}}}}"
    ));
    assert!(e.contains("`version`"), "{e}");
    let e = refused(&format!(
        "{{\"schemaVersion\": \"2.0\", \"version\": \"1\", \"packges\": {{}}, \"files\": {{{ok_file}}}}}"
    ));
    assert!(e.contains("unknown field `packges`"), "{e}");
    let e = refused(&format!(
        "{{\"schemaVersion\": \"2.0\", \"version\": \"1\", \"packages\": {{\"_any\": {{\"_any\": {{\"_any\": {{\"file\": \"y.zip\"}}}}}}}}, \"files\": {{{ok_file}}}}}"
    ));
    assert!(e.contains("`y.zip`, which `files` does not list"), "{e}");
    let e = refused(&format!(
        "{{\"schemaVersion\": \"2.0\", \"version\": \"1\", \"packages\": {{\"_any\": {{\"_any\": {{\"_any\": {{\"file\": \"../x.zip\"}}}}}}}}, \"files\": {{\"../x.zip\": {{\"checksums\": {{\"sha256\": \"{SHA}\"}}}}}}}}"
    ));
    assert!(e.contains("plain file name"), "{e}");
    let e = refused("{\"schemaVersion\": \"2.0\",\n  \"version\": 1}");
    assert!(e.starts_with("m.json:2:"), "{e}");
}

/// `$DAVIT_CORPUS`, or `shared/corpus` next to the repository; missing is a failure.
fn corpus() -> PathBuf {
    let dir = std::env::var_os("DAVIT_CORPUS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
        PathBuf::from,
    );
    assert!(
        dir.is_dir(),
        "the corpus is not at {} (set DAVIT_CORPUS)",
        dir.display()
    );
    dir.join("distributor")
}

fn corpus_manifest(rel: &str) -> Result<Manifest, String> {
    let path = corpus().join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    Manifest::parse(rel, &text).map_err(|e| e.to_string())
}

#[test]
fn the_corpus_manifests_are_read_and_chosen_from_as_ssm_would() {
    // A real manifest: `_any/_any` on ten platforms.
    let m = corpus_manifest("01-atheiman-ssm-distributor-example/manifest.json").unwrap();
    assert_eq!(m.version, "1.0.4");
    for (os, want) in [
        ("ID=debian\nVERSION_ID=\"12\"\n", "linux.zip"),
        ("ID=\"rhel\"\nVERSION_ID=\"9.3\"\n", "linux.zip"),
        ("ID=\"opensuse-leap\"\nVERSION_ID=\"15.5\"\n", "linux.zip"),
    ] {
        let h = Host::from_os_release(os, "x86_64");
        assert_eq!(select(&m, &h).unwrap().file, want, "{os}");
    }
    let fedora = Host::from_os_release("ID=fedora\nVERSION_ID=40\n", "x86_64");
    assert!(matches!(
        select(&m, &fedora),
        Err(SelectError::Platform { .. })
    ));
    // The docs' example has placeholder checksums (`EXAMPLE…`): refused, located.
    let e = corpus_manifest("03-awsdocs-NewPackage-EXTRACT/manifest.json").unwrap_err();
    assert!(e.contains(":31:") && e.contains("64 hexadecimal"), "{e}");
    // A Terraform template: its `${…}` placeholders are no sha256.
    let e = corpus_manifest("02-dlundgren-crowdstrike-template/manifest.json.tpl").unwrap_err();
    assert!(
        e.contains(":21:") && e.contains("`${linux_sha256}`") && e.contains("64 hexadecimal"),
        "{e}"
    );
    // The docs' fragment of mixed exact and `_any` versions, wrapped into a manifest.
    let fragment = std::fs::read_to_string(
        corpus().join("04-awsdocs-mixed-version-wildcards-FRAGMENT.json.txt"),
    )
    .unwrap();
    let text = format!(
        "{{\"schemaVersion\": \"2.0\", \"version\": \"1\", \"packages\": {fragment}, \"files\": {{\"data1.zip\": {{\"checksums\": {{\"sha256\": \"{SHA}\"}}}}, \"data2.zip\": {{\"checksums\": {{\"sha256\": \"{SHA}\"}}}}}}}}"
    );
    let m = Manifest::parse("fragment", &text).unwrap();
    assert_eq!(file(&m, &host("amazon", "2016.09", "arm64")), "data1.zip");
    assert_eq!(file(&m, &host("amazon", "2023", "x86_64")), "data2.zip");
    assert!(file(&m, &host("amazon", "2023", "arm64")).starts_with("error"));
}
