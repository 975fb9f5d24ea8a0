//! Every appspec of the shared corpus that the CodeDeploy agent accepts parses, with facts we
//! know about several; the malformed one, AWS's placeholder template and the ACL bundle that sets
//! base entries (all three refused by the agent too) fail with located errors. The corpus is
//! read at test time and never copied here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use davit_spec::{
    AppSpec, Destination, Event, FileExistsBehavior, HookKind, ObjectType, Os, SpecError,
};

/// `$DAVIT_CORPUS`, or `shared/corpus` next to the repository. A test that needs it fails
/// when it is absent: it never passes by skipping.
pub fn corpus() -> PathBuf {
    let dir = std::env::var_os("DAVIT_CORPUS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
        PathBuf::from,
    );
    assert!(
        dir.is_dir(),
        "the corpus is not at {} (set DAVIT_CORPUS)",
        dir.display()
    );
    dir
}

/// Appspecs that must fail, by directory name, with the expected `line:column` and message
/// fragment of the first error: 15 has its events outside `hooks` (mis-indented); 09 is the
/// appspec-assistant's placeholder template (`destination: destination-file-location`,
/// `mode: mode-specification`, `timeout: timeout-in-seconds` …); `permissions-acl` (a
/// codedeploy-agent-go test bundle) lists the base entries `user::rwx`, `group::r-x`,
/// `other::r-x`, which the CodeDeploy agent refuses ("use mode to set the base acl entry").
const MUST_FAIL: &[(&str, &str, &str)] = &[
    (
        "15-saasscaleup-MALFORMED-hooks-indent",
        "14:1",
        "`AfterInstall` is a lifecycle event but is not under `hooks`",
    ),
    (
        "09-appspec-assistant-placeholder-template",
        "7:17",
        "`destination` must be an absolute path",
    ),
    (
        "permissions-acl",
        "14:11",
        "`acls` must not set a base entry",
    ),
];

pub fn all_appspecs(corpus: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in [corpus.join("appspec"), corpus.join("appspec/bundles-gurre")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let file = entry.unwrap().path().join("appspec.yml");
            if file.is_file() {
                out.push(file);
            }
        }
    }
    out.sort();
    out
}

fn dir_name(file: &Path) -> &str {
    file.parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
}

#[test]
fn every_corpus_appspec_the_agent_accepts_parses() {
    let corpus = corpus();
    let files = all_appspecs(&corpus);
    assert!(files.len() >= 24, "found only {} appspecs", files.len());
    for file in &files {
        let result = AppSpec::load(file);
        match MUST_FAIL.iter().find(|(dir, ..)| *dir == dir_name(file)) {
            None => {
                result.unwrap_or_else(|e| panic!("{} should parse: {e}", file.display()));
            }
            Some((_, line_col, fragment)) => {
                let err = result.expect_err("must fail");
                let shown = err.to_string();
                let at = err.location().expect("located");
                assert_eq!(format!("{}:{}", at.line, at.column), *line_col, "{shown}");
                assert!(shown.starts_with(&file.display().to_string()), "{shown}");
                assert!(shown.contains(fragment), "{shown}");
            }
        }
    }
}

fn load(name: &str) -> AppSpec {
    AppSpec::load(&find(name)).unwrap()
}

fn find(name: &str) -> PathBuf {
    let corpus = corpus();
    [
        corpus.join("appspec").join(name),
        corpus.join("appspec/bundles-gurre").join(name),
    ]
    .into_iter()
    .map(|d| d.join("appspec.yml"))
    .find(|f| f.is_file())
    .unwrap_or_else(|| panic!("no corpus appspec {name}"))
}

#[test]
fn sample_app_linux() {
    let spec = load("01-aws-samples-SampleApp_Linux");
    assert_eq!(spec.os, Os::Linux);
    assert!(spec.runnable_here().is_ok() || cfg!(windows));
    assert_eq!(spec.files[0].destination.to_string(), "/var/www/html");
    assert_eq!(spec.files[0].source.as_str(), "index.html");
    let before = spec.hooks_for(&Event::BeforeInstall);
    assert_eq!(before.len(), 2);
    assert_eq!(before[1].location.as_str(), "scripts/start_server");
    assert_eq!(before[1].id.index, 1);
    assert_eq!(before[0].runas.as_deref(), Some("root"));
    assert_eq!(before[0].timeout(), Duration::from_secs(300));
    assert_eq!(before[0].kind, HookKind::NativeScript);
    // Lifecycle order, not document order: ApplicationStop is written last.
    let order: Vec<_> = spec.all_hooks().map(|h| h.id.event.clone()).collect();
    assert_eq!(order[0], Event::ApplicationStop);
}

#[test]
fn windows_parses_but_does_not_run_here() {
    let spec = load("02-aws-samples-SampleApp_Windows");
    assert_eq!(spec.os, Os::Windows);
    if !cfg!(windows) {
        assert_eq!(
            spec.runnable_here(),
            Err("not runnable on this host (os: windows)".to_owned())
        );
    }
    assert_eq!(
        spec.files[0].destination,
        Destination::Windows("C:\\inetpub\\wwwroot".to_owned())
    );
    let hook = &spec.hooks_for(&Event::BeforeInstall)[0];
    assert_eq!(hook.location.as_str(), "before-install.bat");
    assert_eq!(hook.timeout(), Duration::from_secs(900));
    let ps1 = load("12-lasuillard-windows-ps1");
    let stop = &ps1.hooks_for(&Event::ApplicationStop)[0];
    assert_eq!(
        stop.location.as_str(),
        "deploy/aws-codedeploy/ApplicationStop.ps1"
    );
}

#[test]
fn missing_timeout_defaults_to_3600() {
    let spec = load("03-aws-samples-chef-solo");
    let start = &spec.hooks_for(&Event::ApplicationStart)[0];
    assert_eq!(start.requested_timeout, None);
    assert_eq!(start.timeout(), Duration::from_secs(3600));
    let install = &spec.hooks_for(&Event::BeforeInstall)[0];
    assert_eq!(install.timeout(), Duration::from_secs(1800));
    assert_eq!(spec.files.len(), 2);
}

/// Every error of `name`, after its file name.
fn errors(name: &str) -> Vec<String> {
    let file = find(name);
    let err = AppSpec::load(&file).expect_err("must fail");
    let shown = file.display().to_string();
    err.errors()
        .iter()
        .map(|e| {
            let text = e.to_string();
            assert!(text.starts_with(&shown), "{text}");
            text[shown.len() + 1..].to_owned()
        })
        .collect()
}

#[test]
fn placeholder_template_fails_with_every_error_located() {
    let errors = errors("09-appspec-assistant-placeholder-template");
    assert_eq!(
        errors,
        [
            "7:17: `destination` must be an absolute path, got `destination-file-location`",
            "10:13: `object` must be an absolute path, got `object-specification`",
            "15:11: `mode` must be an octal mode of 1 to 4 digits like `644` or `0755`, got \
             `mode-specification`",
            "17:9: `acls` must be an ACL entry like `u:bob:rw` or `d:group::r-x`, got \
             `acls-specification`",
            "21:14: `range` must be an SELinux range like `s0`, `s0-s2` or `s0:c0.c5,c9` \
             (`range` is not a sensitivity like `s0`), got `range-specification`",
            "23:9: `type` must be `file` or `directory`, got `object-type`",
            // davit's own rule: the agent would run the same script twice.
            "30:7: hook `script-location` is listed twice under `ApplicationStop` (first at line \
             27)",
            "31:16: `timeout` must be a whole number of seconds greater than 0, got \
             `timeout-in-seconds`",
        ]
    );
}

#[test]
fn acl_base_entries_fail_as_in_the_agent() {
    let errors = errors("permissions-acl");
    let entries: Vec<&str> = errors
        .iter()
        .map(|e| {
            assert!(e.contains("`acls` must not set a base entry"), "{e}");
            e.rsplit("got ").next().unwrap()
        })
        .collect();
    assert_eq!(
        entries,
        [
            "`user::rwx`",
            "`group::r-x`",
            "`other::r-x`",
            "`user::rw-`",
            "`group::r--`",
            "`other::r--`"
        ]
    );
    assert!(errors[0].starts_with("14:11: "), "{}", errors[0]);
}

#[test]
fn all_nine_scriptable_events() {
    let spec = load("06-codedeploy-agent-all-lifecycle-linux");
    let events: Vec<_> = spec.hooks.keys().cloned().collect();
    let mut scriptable: Vec<_> = Event::KNOWN
        .into_iter()
        .filter(Event::is_scriptable)
        .collect();
    scriptable.sort();
    assert_eq!(events, scriptable);
    assert_eq!(events.len(), 9);
    assert!(spec.files.is_empty());
}

#[test]
fn file_exists_behaviors() {
    let cases = [
        (
            "07-codedeploy-agent-feb-disallow",
            Some(FileExistsBehavior::Disallow),
        ),
        (
            "11-bielosx-multi-files-overwrite",
            Some(FileExistsBehavior::Overwrite),
        ),
        ("file-exists-retain", Some(FileExistsBehavior::Retain)),
        ("file-exists-initial", None),
    ];
    for (name, expected) in cases {
        let spec = load(name);
        assert_eq!(spec.file_exists_behavior, expected, "{name}");
    }
}

#[test]
fn custom_event() {
    let spec = load("08-codedeploy-agent-custom-event");
    let custom = Event::Custom("CustomEvent".to_owned());
    assert_eq!(
        spec.hooks_for(&custom)[0].location.as_str(),
        "scripts/custom_event.sh"
    );
    assert_eq!(spec.hooks.keys().last(), Some(&custom));
}

#[test]
fn many_hooks_keep_their_order() {
    let spec = load("10-talosdigital-magento2-many-hooks");
    let after = spec.hooks_for(&Event::AfterInstall);
    assert_eq!(after.len(), 8);
    assert_eq!(
        after[0].location.as_str(),
        "deployment/scripts/system_configure.sh"
    );
    assert_eq!(
        after[7].location.as_str(),
        "deployment/scripts/deployment.sh"
    );
    assert_eq!(after[7].timeout(), Duration::from_secs(700));
}

#[test]
fn permissions() {
    let spec = load("13-magreiner-per-file-permissions");
    assert_eq!(spec.permissions.len(), 4);
    assert_eq!(spec.permissions[0].mode.map(|m| m.bits()), Some(0o644));
    assert_eq!(spec.permissions[3].mode.map(|m| m.bits()), Some(0o744));
    assert_eq!(spec.permissions[0].pattern, "**");
    assert_eq!(
        spec.permissions[0].types,
        [ObjectType::File, ObjectType::Directory]
    );

    let basic = load("files-basic");
    assert_eq!(basic.permissions[1].mode.map(|m| m.bits()), Some(0o600));
    assert_eq!(basic.permissions[2].types, [ObjectType::Directory]);

    let selinux = load("permissions-selinux");
    let context = selinux.permissions[0].context.as_ref().unwrap();
    assert_eq!(context.kind, "httpd_sys_content_t");
    assert_eq!(context.user.as_deref(), Some("system_u"));
    assert_eq!(context.role.as_deref(), Some("object_r"));
    assert_eq!(context.range.as_deref(), Some("s0"));
}

#[test]
fn files_only_and_blank_lines() {
    let spec = load("17-0num4-files-only-no-hooks");
    assert!(spec.hooks.is_empty());
    assert_eq!(
        spec.summary().to_string(),
        "os linux, 1 files, 0 permissions, no hooks"
    );
    let spec = load("16-techtacles-overwrite-blank-lines");
    assert_eq!(spec.hooks_for(&Event::BeforeInstall).len(), 2);
    let spec = load("11-bielosx-multi-files-overwrite");
    assert_eq!(spec.files.len(), 6);
    assert_eq!(spec.hooks_for(&Event::ValidateService).len(), 1);
}

#[test]
fn read_errors_name_the_file() {
    let err = AppSpec::load(Path::new("/nonexistent/appspec.yml")).unwrap_err();
    assert!(matches!(err, SpecError::Read { .. }));
    assert!(
        err.to_string()
            .starts_with("cannot read `/nonexistent/appspec.yml`: ")
    );
}
