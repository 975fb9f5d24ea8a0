//! `davit appspec check` on the real corpus.

use crate::support::*;

/// The corpus appspecs the CodeDeploy agent refuses too: the mis-indented one (first error at
/// 14:1), AWS's placeholder template (7:17) and the codedeploy-agent-go ACL bundle that sets
/// base entries like `user::rwx` (14:11).
const REFUSED: &[(&str, &str)] = &[
    ("MALFORMED", "14:1"),
    ("09-appspec-assistant-placeholder-template", "7:17"),
    ("permissions-acl", "14:11"),
];

#[test]
fn every_corpus_appspec_the_agent_accepts_passes() {
    let corpus = corpus();
    let mut checked = 0;
    let mut dirs: Vec<_> = std::fs::read_dir(corpus.join("appspec"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.extend(
        std::fs::read_dir(corpus.join("appspec/bundles-gurre"))
            .unwrap()
            .flatten()
            .map(|e| e.path()),
    );
    for dir in dirs {
        let file = dir.join("appspec.yml");
        if !file.exists() {
            continue;
        }
        let (output, out, err) = check(&file);
        checked += 1;
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if let Some((_, at)) = REFUSED.iter().find(|(n, _)| name.contains(n)) {
            assert_eq!(output.status.code(), Some(2), "{}", file.display());
            let location = format!("{}:{at}:", file.display());
            assert!(err.starts_with(&format!("error: {location}")), "{err}");
            assert!(out.is_empty(), "{out}");
        } else {
            assert_eq!(output.status.code(), Some(0), "{}:\n{err}", file.display());
            assert!(out.contains("valid appspec"), "{out}");
        }
        if dir.to_string_lossy().contains("Windows") || dir.to_string_lossy().contains("windows") {
            assert!(out.contains("runnable here: no"), "{out}");
        }
    }
    assert!(checked >= 20, "only {checked} appspecs found");
}

/// Runs `davit appspec check FILE`: the output, its stdout and its stderr.
fn check(file: &std::path::Path) -> (std::process::Output, String, String) {
    let output = davit()
        .args(["appspec", "check"])
        .arg(file)
        .output()
        .unwrap();
    let (out, err) = text(&output);
    (output, out, err)
}

#[test]
fn a_malformed_appspec_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("appspec.yml");
    std::fs::write(&file, "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - location: a.wasm\n      timeout: 7200\n").unwrap();
    let (output, _, err) = check(&file);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        err.starts_with(&format!("error: {}:6:16:", file.display())),
        "{err}"
    );
}

/// A golden case: name (`golden/appspec-NAME.txt`), the appspec (`L` is `version: 0.0\nos:
/// linux\n`), files of the bundle around it, and extra arguments.
struct Case {
    name: &'static str,
    appspec: &'static str,
    files: &'static [(&'static str, &'static str)],
    args: &'static str,
}

const L: &str = "version: 0.0\nos: linux\n";

const fn case(name: &'static str, appspec: &'static str) -> Case {
    Case {
        name,
        appspec,
        files: &[],
        args: "",
    }
}

/// One case per rule of the CodeDeploy agent's appspec parser (its `AppSpecValidationException`s
/// and the checks the installer makes on a file `object`), and for each outcome.
const CASES: &[Case] = &[
    case("empty", ""),
    case("version", "version: 1.0\nos: linux\n"),
    case("version-quoted", "version: \"0.0\"\nos: linux\n"),
    case("os", "version: 0.0\nos: macos\n"),
    case(
        "os-windows",
        "version: 0.0\nos: windows\nfiles:\n  - {source: app, destination: 'C:\\app'}\n",
    ),
    case("file-exists-behavior", "L\nfile_exists_behavior: retain\n"),
    case("files-no-source", "L\nfiles:\n  - destination: /srv/app\n"),
    case("files-no-destination", "L\nfiles:\n  - source: app\n"),
    case(
        "hook-no-location",
        "L\nhooks:\n  AfterInstall:\n    - timeout: 5\n",
    ),
    case(
        "hook-empty-location",
        "L\nhooks:\n  AfterInstall:\n    - location: \"  \"\n",
    ),
    case(
        "timeout-negative",
        "L\nhooks:\n  AfterInstall:\n    - location: a.sh\n      timeout: -5\n",
    ),
    case(
        "timeout-not-a-number",
        "L\nhooks:\n  AfterInstall:\n    - location: a.sh\n      timeout: soon\n",
    ),
    case(
        "timeout-zero",
        "L\nhooks:\n  AfterInstall:\n    - location: a.sh\n      timeout: 0\n",
    ),
    case("permission-no-object", "L\npermissions:\n  - mode: 644\n"),
    case(
        "permission-empty-object",
        "L\npermissions:\n  - object: \"\"\n",
    ),
    case(
        "permissions-on-windows",
        "version: 0.0\nos: windows\npermissions:\n  - object: 'C:\\app'\n",
    ),
    case(
        "type",
        "L\npermissions:\n  - object: /srv\n    type: [link]\n",
    ),
    case(
        "mode-digit",
        "L\npermissions:\n  - object: /srv\n    mode: 9999\n",
    ),
    case(
        "mode-length",
        "L\npermissions:\n  - object: /srv\n    mode: 12345\n",
    ),
    case(
        "acl-base-entry",
        "L\npermissions:\n  - object: /srv\n    acls: [\"u::rwx\"]\n",
    ),
    case(
        "acl-shape",
        "L\npermissions:\n  - object: /srv\n    acls: [\"a:b:c:d:rw\"]\n",
    ),
    case(
        "acl-named-mask",
        "L\npermissions:\n  - object: /srv\n    acls: [\"m:bob:rw\"]\n",
    ),
    case(
        "acl-default-twice",
        "L\npermissions:\n  - object: /srv\n    acls: [\"d:default:bob:rw\"]\n",
    ),
    case(
        "acl-perms",
        "L\npermissions:\n  - object: /srv\n    acls: [\"u:bob:rwz\"]\n",
    ),
    case(
        "context-no-type",
        "L\npermissions:\n  - object: /srv\n    context: {user: system_u}\n",
    ),
    case(
        "selinux-range-order",
        "L\npermissions:\n  - object: /srv\n    context: {type: httpd_sys_content_t, range: s2-s1}\n",
    ),
    case(
        "selinux-sensitivity",
        "L\npermissions:\n  - object: /srv\n    context: {type: t, range: x0}\n",
    ),
    case(
        "selinux-category",
        "L\npermissions:\n  - object: /srv\n    context: {type: t, range: \"s0:c1024\"}\n",
    ),
    case(
        "selinux-duplicate-category",
        "L\npermissions:\n  - object: /srv\n    context: {type: t, range: \"s0:c1,c0.c3\"}\n",
    ),
    Case {
        files: &[("conf/app.conf", "x")],
        ..case(
            "pattern-on-file",
            "L\nfiles:\n  - {source: conf/app.conf, destination: /etc/app}\npermissions:\n  - object: /etc/app/app.conf\n    pattern: \"*.conf\"\n    type: [file]\n",
        )
    },
    Case {
        files: &[("conf/app.conf", "x")],
        ..case(
            "except-on-file",
            "L\nfiles:\n  - {source: conf, destination: /etc/app}\npermissions:\n  - object: /etc/app/app.conf\n    except: [\"*.bak\"]\n",
        )
    },
    Case {
        files: &[("www/index.html", "x")],
        ..case(
            "default-acl-on-file",
            "L\nfiles:\n  - {source: www, destination: /srv/www}\npermissions:\n  - object: /srv/www\n    acls: [\"d:u:bob:rwx\"]\n",
        )
    },
    Case {
        files: &[("www/index.html", "x"), ("www/css/site.css", "x")],
        ..case(
            "default-acl-on-matched-file",
            "L\nfiles:\n  - {source: www, destination: /srv/www}\npermissions:\n  - object: /srv/www\n    pattern: \"*.html\"\n    acls: [\"d:g:www:r-x\"]\n",
        )
    },
    case(
        "several",
        "L\npermissions:\n  - object: /srv\n    mode: 9999\nhooks:\n  AfterInstall:\n    - location: a.sh\n      timeout: -5\n    - location: b.sh\n      timeout: soon\n",
    ),
    Case {
        args: "--output json",
        ..case(
            "several-json",
            "L\npermissions:\n  - object: /srv\n    mode: 9999\nhooks:\n  AfterInstall:\n    - location: a.sh\n      timeout: -5\n",
        )
    },
    Case {
        args: "--output json",
        ..case(
            "os-windows-json",
            "version: 0.0\nos: windows\nhooks:\n  AfterInstall:\n    - location: a.ps1\n",
        )
    },
];

#[test]
fn every_agent_rule_matches_its_golden_file() {
    let golden_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/all/golden");
    let bless = std::env::var_os("DAVIT_BLESS").is_some();
    let mut mismatches = Vec::new();
    for case in CASES {
        let tmp = tempfile::tempdir().unwrap();
        let tmp_path = tmp.path().to_str().unwrap();
        for (path, contents) in case.files {
            let path = tmp.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
        let appspec = case.appspec.replacen("L\n", L, 1);
        std::fs::write(tmp.path().join("appspec.yml"), &appspec).unwrap();
        let mut args = vec!["appspec".to_owned(), "check".to_owned()];
        args.push(format!("{tmp_path}/appspec.yml"));
        args.extend(case.args.split_whitespace().map(str::to_owned));
        let output = davit().args(&args).env("NO_COLOR", "1").output().unwrap();
        let (out, err) = text(&output);
        let shown_args = args.join(" ").replace(tmp_path, "<tmp>");
        let mut actual = format!(
            "$ davit {shown_args}\n--- appspec.yml\n{appspec}--- exit: {}\n{}",
            output.status.code().unwrap_or(-1),
            err.replace(tmp_path, "<tmp>")
        );
        if !out.is_empty() {
            actual.push_str("--- stdout\n");
            actual.push_str(&out.replace(tmp_path, "<tmp>"));
        }
        let golden = golden_dir.join(format!("appspec-{}.txt", case.name));
        match std::fs::read_to_string(&golden) {
            _ if bless => std::fs::write(&golden, &actual).unwrap(),
            Ok(expected) if expected == actual => {}
            expected => mismatches.push(format!(
                "{}: expected\n{}\nactual\n{actual}",
                golden.display(),
                expected.unwrap_or_default()
            )),
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn what_the_agent_tolerates_passes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("appspec.yml");
    // A pattern with `type: [file]` on a directory object, the mask, default and named entries,
    // octal ACL permissions, a range with categories, `version: 0`, `timeout` at its maximum.
    std::fs::create_dir_all(dir.path().join("www")).unwrap();
    std::fs::write(dir.path().join("www/a.php"), "x").unwrap();
    std::fs::write(
        &file,
        "version: 0\nos: linux\nfiles:\n  - {source: www, destination: /srv/www}\npermissions:\n  - object: /srv/www\n    pattern: \"*.php\"\n    except: [b.php]\n    type: [file]\n    acls: [\"u:bob:7\", \"g:ops:r-x\", \"m::rx\"]\n  - object: /srv/www\n    type: [directory]\n    acls: [\"d:u::rwx\", \"d:g::r-x\", \"d:o::---\", \"d:bob:rw\"]\n    context: {type: httpd_sys_content_t, range: \"s0-s0:c0.c255,c300\"}\nhooks:\n  AfterInstall:\n    - {location: a.sh, timeout: 3600}\n",
    )
    .unwrap();
    let (output, out, err) = check(&file);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(out.contains(": valid appspec (os: linux)"), "{out}");
}
