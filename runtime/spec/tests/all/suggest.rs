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
          - {program: /bin/cat, args: ["{path:/srv/app}", "{any}"]}
        env: ["LANG", {name: APP_MODE, value: "blue"}, LD_LIBRARY_PATH]
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
    let mut shown: Vec<String> = policy
        .check_appspec(spec)
        .err()
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect();
    let install = policy.check_install(spec).err().unwrap_or_default();
    shown.extend(install.iter().map(ToString::to_string));
    if !shown.is_empty() {
        panic!(
            "{} is refused by its own suggestion:\n{}\n{text}",
            spec.file,
            shown.join("\n")
        );
    }
    policy
}

/// `files` and `permissions` with a setuid and a world-writable mode, owners and groups.
const INSTALLS: &str = r#"version: 0.0
os: linux
files:
  - source: www
    destination: /opt/app/www
  - source: tool
    destination: /usr/local/bin
permissions:
  - object: /usr/local/bin/tool
    mode: "4755"
    owner: root
    group: staff
  - object: /opt/app/www/uploads
    mode: "0777"
    owner: www-data
  - object: /opt/app/www
    group: www-data
"#;

#[test]
fn the_suggestion_allows_exactly_what_is_installed() {
    let spec = AppSpec::parse("appspec.yml", INSTALLS).unwrap();
    let policy = allows_exactly(&spec);
    let text = HostPolicy::suggest(&spec);
    for line in [
        "[install]",
        r#"destinations = ["/opt/app/www", "/usr/local/bin"]"#,
        "allow_setuid = true",
        "allow_world_writable = true",
        r#"owners = ["root", "www-data"]"#,
        r#"groups = ["staff", "www-data"]"#,
    ] {
        assert!(text.contains(line), "`{line}` missing from:\n{text}");
    }
    let wider = INSTALLS
        .replace("destination: /usr/local/bin", "destination: /usr/local")
        .replace("owner: www-data", "owner: nobody")
        .replace("group: staff", "group: wheel");
    let wider = AppSpec::parse("wider.yml", &wider).unwrap();
    let refusals = policy.check_install(&wider).unwrap_err();
    let shown: Vec<String> = refusals.iter().map(ToString::to_string).collect();
    assert_eq!(refusals.len(), 3, "{shown:#?}");

    // Nothing to install: no `[install]` table, and an appspec without setuid gets no flag.
    let plain = AppSpec::parse("appspec.yml", "version: 0.0\nos: linux\n").unwrap();
    assert!(!HostPolicy::suggest(&plain).contains("[install]"));
    let no_flags = INSTALLS.replace("4755", "0755").replace("0777", "0775");
    let text = HostPolicy::suggest(&AppSpec::parse("a.yml", &no_flags).unwrap());
    assert!(!text.contains("allow_"), "{text}");
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
        r#"name = "LD_LIBRARY_PATH""#,
        r#"args = ["{path:/srv/app}", "{any}"]"#,
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
    files.extend(all_appspecs(&corpus()));
    let mut checked = 0;
    for file in files {
        // The malformed, placeholder and refused ones have nothing to allow.
        let Ok(spec) = AppSpec::load(&file) else {
            continue;
        };
        allows_exactly(&spec);
        checked += 1;
    }
    assert!(checked >= 20, "checked only {checked}");
}
