//! The intersection of hook requests and host policies, one grant kind at a time.

use std::path::Path;
use std::time::Duration;

use davit_spec::{
    Access, AppSpec, ByteSize, EffectiveGrant, Event, Grant, HostPolicy, Reason, Refusal,
};

/// An appspec whose only hook is a Wasm `AfterInstall` hook with these `grants` (YAML, indented
/// by 8) and hook keys (indented by 6).
fn spec(hook_keys: &str, grants: &str) -> AppSpec {
    let text = format!(
        "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - location: hooks/a.wasm\n{hook_keys}      grants:\n{grants}"
    );
    AppSpec::parse("appspec.yml", &text).unwrap_or_else(|e| panic!("{e}"))
}

fn policy(text: &str) -> HostPolicy {
    HostPolicy::parse("policy.toml", text).unwrap_or_else(|e| panic!("{e}"))
}

fn check(policy_text: &str, grants: &str) -> Result<EffectiveGrant, Vec<Refusal>> {
    let spec = spec("", grants);
    let hook = &spec.hooks_for(&Event::AfterInstall)[0];
    policy(policy_text).check(&hook.hook_ref(), &hook.grants)
}

fn refused(policy_text: &str, grants: &str) -> Vec<String> {
    match check(policy_text, grants) {
        Ok(g) => panic!("allowed: {g:?}"),
        Err(r) => r.iter().map(|r| r.reason.to_string()).collect(),
    }
}

const DIRS: &str = "[[directories]]\npath = \"/opt/app\"\naccess = \"read-write\"\n\n[[directories]]\npath = \"/etc/app\"\n";

#[test]
fn directories() {
    let ok = check(DIRS, "        directories: [{path: /opt/app/www, access: read-write}, {path: /etc/app/conf.d}]\n").unwrap();
    assert_eq!(ok.directories.len(), 2);
    assert_eq!(ok.directories[0].access, Access::ReadWrite);
    assert_eq!(ok.directories[1].access, Access::Read);
    assert_eq!(
        refused(
            DIRS,
            "        directories: [{path: /etc/app, access: read-write}]\n"
        ),
        ["[[directories]] at policy.toml:5:1 allows only `read`"]
    );
    assert_eq!(
        refused(
            DIRS,
            "        directories: [{path: /opt/apple}, {path: /opt}]\n"
        ),
        [
            "no rule in policy.toml allows it",
            "no rule in policy.toml allows it"
        ]
    );
}

const TCP: &str = "[[tcp]]\nhost = \"10.0.0.0/8\"\nports = \"*\"\n\n[[tcp]]\nhost = \"DB.internal\"\nports = 5432\n";

#[test]
fn tcp() {
    let ok = check(
        TCP,
        "        tcp: [\"10.1.2.3:443\", \"db.INTERNAL:5432\"]\n",
    )
    .unwrap();
    assert_eq!(ok.tcp.len(), 2);
    assert_eq!(
        refused(
            TCP,
            "        tcp: [\"db.internal:5433\", \"11.0.0.1:443\", \"[::1]:80\"]\n"
        ),
        [
            "[[tcp]] at policy.toml:5:1 allows only ports `5432`",
            "no rule in policy.toml allows it",
            "no rule in policy.toml allows it",
        ]
    );
}

const URLS: &str = "[[urls]]\nprefix = \"https://api.example.com/v1\"\n";

#[test]
fn urls() {
    let ok = check(
        URLS,
        "        urls: [\"https://API.example.com:443/v1/items\"]\n",
    )
    .unwrap();
    assert!(ok.urls[0].matches("https://api.example.com/v1/items/7?full=1"));
    assert_eq!(
        refused(
            URLS,
            "        urls: [\"https://api.example.com/v10\", \"http://api.example.com/v1\"]\n"
        ),
        [
            "[[urls]] at policy.toml:1:1 allows only `https://api.example.com/v1`",
            "no rule in policy.toml allows it",
        ]
    );
}

const COMMANDS: &str = r#"
[[commands]]
program = "/usr/bin/python3"
args = ["-m", "http.server", "*", "--directory", "{target-root}/opt/hello-web/**"]

[[commands]]
program = "/usr/bin/systemctl"
args = ["restart", "hello-*.service"]

[[commands]]
program = "/bin/echo"
args = ["**"]
"#;

#[test]
fn commands() {
    let grants = r#"        commands:
          - {program: /usr/bin/python3, args: ["-m", "http.server", "*", "--directory", "{target-root}/opt/hello-web/www"]}
          - {program: /usr/bin/systemctl, args: [restart, hello-web.service]}
          - {program: /bin/echo, args: [a, "**"]}
"#;
    let ok = check(COMMANDS, grants).unwrap();
    let resolved = ok.resolve(Path::new("/"));
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let python = &resolved.commands[0];
    assert!(
        python
            .allows(
                "/usr/bin/python3",
                &args(&[
                    "-m",
                    "http.server",
                    "8080",
                    "--directory",
                    "/opt/hello-web/www"
                ])
            )
            .is_some()
    );
    assert!(
        python
            .allows(
                "/usr/bin/python3",
                &args(&[
                    "-m",
                    "http.server",
                    "8080",
                    "--directory",
                    "/opt/hello-web/www/x"
                ])
            )
            .is_none()
    );
    let staged = ok.resolve(Path::new("/var/lib/davit/root"));
    assert!(
        staged.commands[0]
            .allows(
                "/usr/bin/python3",
                &args(&[
                    "-m",
                    "http.server",
                    "1",
                    "--directory",
                    "/var/lib/davit/root/opt/hello-web/www"
                ])
            )
            .is_some()
    );

    let bad = r#"        commands:
          - {program: /usr/bin/systemctl, args: [stop, hello-web.service]}
          - {program: /usr/bin/systemctl, args: [restart, "*"]}
          - {program: /usr/bin/systemctl, args: [restart]}
          - {program: /usr/bin/systemctl, args: [restart, hello-web.service, now]}
          - {program: /usr/bin/python3, args: ["-m", "http.server", "*", "--directory", "**"]}
          - {program: /usr/local/bin/python3, args: []}
"#;
    assert_eq!(
        refused(COMMANDS, bad),
        [
            "[[commands]] at policy.toml:6:1 allows `restart` as argument 1, not `stop`",
            "[[commands]] at policy.toml:6:1 allows `hello-*.service` as argument 2, not `*`",
            "[[commands]] at policy.toml:6:1 requires `hello-*.service` as argument 2",
            "[[commands]] at policy.toml:6:1 allows only 2 arguments",
            "[[commands]] at policy.toml:2:1 allows `{target-root}/opt/hello-web/**` as argument 5, not `**`",
            "no rule in policy.toml allows it",
        ]
    );
}

const ENV: &str = "[[env]]\nname = \"LANG\"\n\n[[env]]\nname = \"APP_*\"\n";

#[test]
fn env() {
    let ok = check(
        ENV,
        "        env: [LANG, {name: APP_MODE, value: production}]\n",
    )
    .unwrap();
    assert_eq!(ok.env[0].value, None);
    assert_eq!(ok.env[1].value.as_deref(), Some("production"));
    assert_eq!(
        refused(ENV, "        env: [LC_ALL, APPMODE]\n"),
        [
            "no rule in policy.toml allows it",
            "no rule in policy.toml allows it"
        ]
    );
}

const LIMITS: &str = "[limits]\nmax_timeout = 600\nmax_memory = \"64MiB\"\nmax_output = \"4MiB\"\n";

#[test]
fn limits() {
    // Unset: min(default, policy max). Set: as asked, if within the max.
    let spec_unset = spec("", "        limits: {output: 2MiB}\n");
    let hook = &spec_unset.hooks_for(&Event::AfterInstall)[0];
    let ok = policy(LIMITS)
        .check(&hook.hook_ref(), &hook.grants)
        .unwrap();
    assert_eq!(ok.limits.timeout, Duration::from_secs(600));
    assert_eq!(ok.limits.memory, ByteSize::mib(64));
    assert_eq!(ok.limits.output, ByteSize::mib(2));

    let ok = policy("").check(&hook.hook_ref(), &hook.grants);
    assert!(ok.is_err(), "default max_output is 1MiB");

    let ok = check("", "        {}\n").unwrap();
    assert_eq!(ok.limits.timeout, Duration::from_secs(3600));
    assert_eq!(ok.limits.memory, ByteSize::mib(128));
    assert_eq!(ok.limits.output, ByteSize::mib(1));

    let over = spec(
        "      timeout: 900\n",
        "        limits: {memory: 65MiB, output: 4MiB}\n",
    );
    let hook = &over.hooks_for(&Event::AfterInstall)[0];
    let refusals = policy(LIMITS)
        .check(&hook.hook_ref(), &hook.grants)
        .unwrap_err();
    let shown: Vec<String> = refusals.iter().map(|r| r.grant.to_string()).collect();
    assert_eq!(shown, ["timeout 15m", "memory 65MiB"]);
    assert!(matches!(
        refusals[1].reason,
        Reason::AboveMax {
            key: "max_memory",
            ..
        }
    ));
    assert_eq!(
        refusals[1].reason.to_string(),
        "`max_memory` at policy.toml:3:14 is 64MiB"
    );
}

fn native(runas: Option<&str>, policy_text: &str) -> Result<EffectiveGrant, Vec<Refusal>> {
    let runas = runas
        .map(|r| format!("      runas: {r}\n"))
        .unwrap_or_default();
    let text = format!(
        "version: 0.0\nos: linux\nhooks:\n  BeforeInstall:\n    - location: scripts/install.sh\n{runas}"
    );
    let spec = AppSpec::parse("appspec.yml", &text).unwrap();
    let hook = &spec.hooks_for(&Event::BeforeInstall)[0];
    policy(policy_text).check(&hook.hook_ref(), &hook.grants)
}

#[test]
fn native_scripts() {
    let refusal = &native(None, "").unwrap_err()[0];
    assert_eq!(refusal.grant, Grant::NativeScript { runas: None });
    assert_eq!(
        refusal.to_string(),
        "appspec.yml:5:7: `BeforeInstall` hook `scripts/install.sh` requests to run as a native \
         script, but policy.toml does not set `allow_native_scripts = true`"
    );
    assert!(native(Some("root"), "allow_native_scripts = false").is_err());
    assert!(native(Some("deploy"), "allow_native_scripts = true").is_ok());
    let users = "allow_native_scripts = true\nnative_script_users = [\"root\"]";
    assert!(native(None, users).is_ok(), "a missing runas is root");
    assert!(native(Some("root"), users).is_ok());
    assert!(native(Some("deploy"), users).is_err());
}

#[test]
fn wasm_runas_is_ignored_and_default_policy_runs_plain_wasm() {
    let spec = spec("      runas: nobody\n", "        {}\n");
    let granted = HostPolicy::default().check_appspec(&spec).unwrap();
    let grant = granted.values().next().unwrap();
    assert!(grant.directories.is_empty() && grant.commands.is_empty());
    let asking = self::spec("", "        env: [LANG]\n");
    let refusals = HostPolicy::default().check_appspec(&asking).unwrap_err();
    assert_eq!(
        refusals[0].reason.to_string(),
        "no rule in (default policy) allows it"
    );
}

#[test]
fn all_refusals_of_all_hooks_are_collected_with_rule_locations() {
    let text = r#"version: 0.0
os: linux
hooks:
  BeforeInstall:
    - location: scripts/a.sh
  AfterInstall:
    - location: hooks/b.wasm
      grants:
        directories: [{path: /opt/app/data, access: read-write}]
        tcp: ["127.0.0.1:9999"]
  ValidateService:
    - location: hooks/c.wasm
      grants:
        urls: ["http://127.0.0.1:8080/health"]
    - location: hooks/d.wasm
      grants:
        directories: [{path: /etc/app}]
"#;
    let spec = AppSpec::parse("appspec.yml", text).unwrap();
    let policy = policy(
        "[[directories]]\npath = \"/opt/app\"\n\n[[tcp]]\nhost = \"127.0.0.1\"\nports = \"8000-9000\"\n\n[[directories]]\npath = \"/etc/app\"\n",
    );
    let refusals = policy.check_appspec(&spec).unwrap_err();
    let summary: Vec<String> = refusals
        .iter()
        .map(|r| format!("{} {} {}", r.subject.hook().unwrap().id, r.at, r.grant))
        .collect();
    assert_eq!(
        summary,
        [
            "BeforeInstall[0] appspec.yml:5:7 to run as a native script",
            "AfterInstall[0] appspec.yml:9:23 directory `/opt/app/data` read-write",
            "AfterInstall[0] appspec.yml:10:15 tcp `127.0.0.1:9999`",
            "ValidateService[0] appspec.yml:14:16 url `http://127.0.0.1:8080/health`",
        ]
    );
    let Reason::Access { rule, .. } = &refusals[1].reason else {
        panic!("{:?}", refusals[1].reason)
    };
    assert_eq!(
        rule.to_string(),
        "policy.toml:1:1 ([[directories]] /opt/app, read)"
    );
    let Reason::Ports { rule, .. } = &refusals[2].reason else {
        panic!("{:?}", refusals[2].reason)
    };
    assert_eq!(rule.at.to_string(), "policy.toml:4:1");
    assert_eq!(refusals[0].subject.at().to_string(), "appspec.yml:5:7");
}
