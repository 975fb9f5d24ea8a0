//! `HostPolicy::suggest`: the policy it writes allows exactly the appspec it was written for.

use std::path::Path;

use davit_spec::{AppSpec, HostPolicy, Reason};

use crate::corpus::{all_appspecs, corpus};

/// Every kind of grant, limits above the defaults, a native script with `runas`, and the same
/// directory asked read-only by one hook and read-write by another.
const EVERYTHING: &str = r#"version: 0.0
os: linux
hooks:
  BeforeInstall:
    - location: hooks/a.wasm
      timeout: 90
      grants:
        directories:
          - {path: /srv/app, access: read}
          - {path: /var/log/app}
        tcp: ["127.0.0.1:5432", "[::1]:6379", "db.internal.example:5432"]
        urls: ["https://api.example.com/v1/", "http://127.0.0.1:8080/health"]
        commands:
          - {program: /usr/bin/systemctl, args: ["restart", "app-*.service"]}
          - {program: /usr/bin/logger, args: ["-t", "app", "**"]}
        env: ["LANG", {name: APP_MODE, value: "blue"}]
        limits: {memory: 256MiB, output: 4MiB}
  AfterInstall:
    - location: hooks/b.wasm
      grants:
        directories:
          - {path: /srv/app, access: read-write}
    - location: scripts/migrate.sh
      runas: deploy
"#;

fn allows_exactly(spec: &AppSpec) -> HostPolicy {
    let text = HostPolicy::suggest(spec);
    let policy = HostPolicy::parse("suggested.toml", &text)
        .unwrap_or_else(|e| panic!("the suggestion for {} must parse: {e}\n{text}", spec.file));
    if let Err(refusals) = policy.check_appspec(spec) {
        let shown: Vec<String> = refusals.iter().map(ToString::to_string).collect();
        panic!(
            "{} is refused by its own suggestion:\n{}\n{text}",
            spec.file,
            shown.join("\n")
        );
    }
    policy
}

#[test]
fn the_suggestion_for_every_grant_kind_allows_it() {
    let spec = AppSpec::parse("appspec.yml", EVERYTHING).unwrap();
    allows_exactly(&spec);
    let text = HostPolicy::suggest(&spec);
    for line in [
        "allow_native_scripts = true",
        r#"native_script_users = ["deploy"]"#,
        r#"max_timeout = "1h""#,
        r#"max_memory = "256MiB""#,
        r#"max_output = "4MiB""#,
        r#"path = "/srv/app""#,
        r#"access = "read-write""#,
        r#"host = "::1""#,
        r#"prefix = "https://api.example.com/v1/""#,
        r#"args = ["restart", "app-*.service"]"#,
        r#"name = "APP_MODE""#,
    ] {
        assert!(text.contains(line), "`{line}` missing from:\n{text}");
    }
    assert_eq!(text.matches("[[directories]]").count(), 2, "{text}");
}

#[test]
fn the_suggestion_allows_nothing_more() {
    let spec = AppSpec::parse("appspec.yml", EVERYTHING).unwrap();
    let policy = allows_exactly(&spec);
    let wider = EVERYTHING
        .replace("{path: /var/log/app}", "{path: /var/log, access: read}")
        .replace("127.0.0.1:5432", "127.0.0.1:5433")
        .replace("https://api.example.com/v1/", "https://api.example.com/")
        .replace("app-*.service", "*")
        .replace("runas: deploy", "runas: root")
        .replace("memory: 256MiB", "memory: 257MiB");
    let wider = AppSpec::parse("wider.yml", &wider).unwrap();
    let refusals = policy.check_appspec(&wider).unwrap_err();
    let shown: Vec<String> = refusals.iter().map(ToString::to_string).collect();
    assert_eq!(refusals.len(), 6, "{shown:#?}");
    assert!(
        refusals
            .iter()
            .all(|r| !matches!(r.reason, Reason::NativeScripts { .. })),
        "{shown:#?}"
    );
}

#[test]
fn the_suggestion_for_each_corpus_appspec_and_hello_web_allows_it() {
    let hello = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello-web/appspec.yml");
    let mut files = vec![hello];
    if let Some(corpus) = corpus() {
        files.extend(all_appspecs(&corpus));
    }
    let mut checked = 0;
    for file in files {
        // The malformed and placeholder ones have nothing to allow.
        let Ok(spec) = AppSpec::load(&file) else {
            continue;
        };
        if !spec.problems.is_empty() {
            continue;
        }
        allows_exactly(&spec);
        checked += 1;
    }
    assert!(
        checked >= 20 || corpus().is_none(),
        "checked only {checked}"
    );
}
