//! Golden files for the CLI's errors as a user sees them: each case runs `davit` and its exit code
//! and stderr must equal `golden/NAME.txt`, with the scratch directory shown as `<tmp>` and the
//! repository as `<repo>`. Run with `DAVIT_BLESS=1` to rewrite them after a deliberate wording
//! change, then review the diff.

use std::path::Path;

use crate::support::*;

/// Files to write under `<tmp>` before a case runs: path and contents (`-> TARGET` makes a
/// symlink instead).
type Files = &'static [(&'static str, &'static str)];

/// The cases: a name, the arguments (`<tmp>` and `<repo>` are substituted), and files.
const CASES: &[(&str, &str, Files)] = &[
    (
        "appspec-malformed",
        "appspec check <tmp>/appspec.yml",
        &[(
            "appspec.yml",
            "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - location: a.wasm\n     timeout: 5\n",
        )],
    ),
    (
        "appspec-unknown-builtin",
        "appspec check <tmp>/appspec.yml",
        &[(
            "appspec.yml",
            "version: 0.0\nos: linux\nhooks:\n  ValidateService:\n    - location: builtin:http-chek\n",
        )],
    ),
    (
        "deploy-no-policy",
        "deploy --local <repo>/examples/hello-web --deployment-root <tmp>/root --target-root <tmp>/target",
        &[],
    ),
    (
        "deploy-policy-malformed",
        "deploy --local <repo>/examples/hello-web --policy <tmp>/policy.toml --deployment-root <tmp>/root --target-root <tmp>/target",
        &[(
            "policy.toml",
            "[[directories]]\npath = \"/etc/app\"\naccess = \"write\"\n",
        )],
    ),
    (
        "deploy-missing-bundle",
        "deploy --local <tmp>/nothing-here --deployment-root <tmp>/root",
        &[],
    ),
    (
        "deploy-no-appspec",
        "deploy --local <tmp>/bundle --deployment-root <tmp>/root --target-root <tmp>/target",
        &[("bundle/index.html", "hi")],
    ),
    (
        "deploy-unknown-event",
        "deploy --local <repo>/examples/hello-web --events BeforeInstall,AfterInstal --deployment-root <tmp>/root",
        &[],
    ),
    (
        "deploy-without-local",
        "deploy --deployment-root <tmp>/root",
        &[],
    ),
    (
        "deploy-files-exist",
        "deploy --local <tmp>/bundle --policy <tmp>/policy.toml --deployment-root <tmp>/root --target-root <tmp>/target",
        &[
            (
                "bundle/appspec.yml",
                "version: 0.0\nos: linux\nfiles:\n  - source: www\n    destination: /opt/app/www\n",
            ),
            ("bundle/www/index.html", "hi"),
            ("target/opt/app/www/index.html", "someone else's"),
            ("policy.toml", "[install]\ndestinations = [\"/opt/app\"]\n"),
        ],
    ),
    (
        "deploy-duplicate-destination",
        "deploy --local <tmp>/bundle --policy <tmp>/policy.toml --deployment-root <tmp>/root --target-root <tmp>/target",
        &[
            (
                "bundle/appspec.yml",
                "version: 0.0\nos: linux\nfiles:\n  - source: www\n    destination: /opt/app\n  - source: more\n    destination: /opt/app\n",
            ),
            ("bundle/www/index.html", "hi"),
            ("bundle/more/index.html", "also hi"),
            ("target/opt/.keep", ""),
            ("policy.toml", "[install]\ndestinations = [\"/opt/app\"]\n"),
        ],
    ),
    (
        "deploy-selinux-disabled",
        "deploy --local <tmp>/bundle --policy <tmp>/policy.toml --deployment-root <tmp>/root --target-root <tmp>/target",
        &[
            (
                "bundle/appspec.yml",
                "version: 0.0\nos: linux\nfiles:\n  - source: www\n    destination: /opt/app\npermissions:\n  - object: /opt/app\n    context:\n      type: httpd_sys_content_t\n",
            ),
            ("bundle/www/index.html", "hi"),
            ("target/opt/.keep", ""),
            ("policy.toml", "[install]\ndestinations = [\"/opt/app\"]\n"),
        ],
    ),
    (
        "deploy-permissions-overlap",
        "deploy --local <tmp>/bundle --policy <tmp>/policy.toml --deployment-root <tmp>/root --target-root <tmp>/target",
        &[
            (
                "bundle/appspec.yml",
                "version: 0.0\nos: linux\nfiles:\n  - source: www\n    destination: /opt/app\npermissions:\n  - object: /opt/app\n    mode: \"0644\"\n    type: [file]\n  - object: /opt/app\n    pattern: \"*.html\"\n    mode: \"0600\"\n",
            ),
            ("bundle/www/index.html", "hi"),
            ("target/opt/.keep", ""),
            ("policy.toml", "[install]\ndestinations = [\"/opt/app\"]\n"),
        ],
    ),
    (
        "deploy-install-destination-refused",
        "deploy --local <tmp>/bundle --policy <tmp>/policy.toml --deployment-root <tmp>/root --target-root <tmp>/target",
        &[
            (
                "bundle/appspec.yml",
                "version: 0.0\nos: linux\nfiles:\n  - source: www\n    destination: /opt/app/www\n  - source: cron\n    destination: /etc/cron.d\npermissions:\n  - object: /opt/app/www\n    mode: \"4755\"\n    owner: root\n",
            ),
            ("bundle/www/index.html", "hi"),
            ("bundle/cron/job", "* * * * * root /opt/app/www/x\n"),
            (
                "policy.toml",
                "[install]\ndestinations = [\"/opt/app\"]\nowners = [\"www-data\"]\n",
            ),
        ],
    ),
    (
        "deploy-bundle-link-out",
        "deploy --local <tmp>/bundle --policy <tmp>/policy.toml --deployment-root <tmp>/root --target-root <tmp>/target",
        &[
            (
                "bundle/appspec.yml",
                "version: 0.0\nos: linux\nfiles:\n  - source: a/b/c/d\n    destination: /opt/app/www\n",
            ),
            ("bundle/a/b/c/d/index.html", "hi"),
            ("bundle/x", "outside a/b/c/d"),
            ("bundle/a/b/c/d/l", "-> ../../../../x"),
            ("policy.toml", "[install]\ndestinations = [\"/opt/app\"]\n"),
        ],
    ),
    ("hook-unknown-builtin", "hook run builtin:tcp", &[]),
    (
        "hook-bad-grant",
        "hook run builtin:tcp-check --grant dir=relative/path",
        &[],
    ),
    (
        "services-stop-none",
        "services stop -a shop -g prod --pid 4242 --deployment-root <tmp>/root",
        &[],
    ),
    (
        "fleet-deploy-uppercase-revision",
        "deploy shop prod --revision ABCDEF0123 --store <tmp>/store",
        &[],
    ),
    (
        "fleet-group-bad-name",
        "group create shop .. --hosts web-1",
        &[],
    ),
    (
        "component-invalid",
        "component validate <tmp>/c.yml",
        &[(
            "c.yml",
            "name: Broken\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: A\n        action: ExecuteBsh\n        inputs:\n          commands: [echo]\n      - name: B\n        action: CreateFile\n        timeoutSeconds: 0\n        inputs:\n          - path: /x\n",
        )],
    ),
    (
        "component-unknown-parameter",
        "component validate <tmp>/c.yml --parameters Nope=1",
        &[(
            "c.yml",
            "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: A\n        action: CreateFolder\n        inputs:\n          - path: /x\n",
        )],
    ),
    (
        "component-run-windows",
        "component run <tmp>/c.yml --target-root <tmp> --log-directory <tmp>/logs --actions <repo>/target/guests/wasm/action-echo.wasm",
        &[(
            "c.yml",
            "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Ps\n        action: ExecutePowerShell\n        inputs:\n          commands: [dir]\n",
        )],
    ),
    (
        "component-run-command-refused",
        "component run <tmp>/c.yml --target-root <tmp> --policy <tmp>/policy.toml --log-directory <tmp>/logs --actions <repo>/target/guests/wasm/action-echo.wasm",
        &[
            (
                "c.yml",
                "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Hello\n        action: ExecuteBash\n        inputs:\n          commands: [echo hi]\n",
            ),
            ("policy.toml", "[[commands]]\nprogram = \"/usr/bin/true\"\n"),
        ],
    ),
];

#[test]
fn cli_errors_match_their_golden_files() {
    let repo = repo().canonicalize().unwrap();
    let golden_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/all/golden");
    let bless = std::env::var_os("DAVIT_BLESS").is_some();
    let mut mismatches = Vec::new();
    for (name, args, files) in CASES {
        let tmp = tempfile::tempdir().unwrap();
        let tmp_path = tmp.path().to_str().unwrap();
        for (path, contents) in *files {
            let path = tmp.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            match contents.strip_prefix("-> ") {
                Some(target) => std::os::unix::fs::symlink(target, path).unwrap(),
                None => std::fs::write(path, contents).unwrap(),
            }
        }
        let repo_path = repo.to_str().unwrap();
        let output = davit()
            .args(
                args.split(' ')
                    .map(|a| a.replace("<tmp>", tmp_path).replace("<repo>", repo_path)),
            )
            .output()
            .unwrap();
        let (_, err) = text(&output);
        let actual = format!(
            "$ davit {args}\nexit: {}\n{}",
            output.status.code().unwrap_or(-1),
            err.replace(tmp_path, "<tmp>").replace(repo_path, "<repo>")
        );
        let golden = golden_dir.join(format!("{name}.txt"));
        if bless {
            std::fs::create_dir_all(&golden_dir).unwrap();
            std::fs::write(&golden, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if expected != actual {
            mismatches.push(format!(
                "{}:\n--- expected\n{expected}--- actual\n{actual}",
                golden.display()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
