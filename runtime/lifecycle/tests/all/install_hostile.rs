//! Hostile installs, on real files: links planted on the host under an install prefix, bundles
//! whose links point out of their destination, `permissions` beyond the policy, destinations
//! outside it, cleanup records that point out, image roots whose absolute links name the host.
//! Each asserts on disk that nothing outside was written, moved, chmod-ed or chowned, not even
//! created empty.
//!
//! The target root is a temporary directory (`<tmp>/root`, the "image"); `<tmp>/host` stands for
//! the rest of the machine. The host's real `/etc` is only ever looked at, for a file name no
//! one else uses.

use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use davit_lifecycle::install::{
    CleanupRecord, InstallError, InstallReport, InstallRequest, install,
};
use davit_lifecycle::{DeployError, DeployOptions, Layout, Quiet, Source, deploy};
use davit_spec::{AppSpec, FileExistsBehavior, HostPolicy, InstallGrant, Reason};

use crate::util::{Entry, read, snapshot, write};

use FileExistsBehavior::{Disallow, Overwrite};

type Tree = std::collections::BTreeMap<PathBuf, Entry>;

struct Host {
    tmp: crate::util::Tmp,
    /// The target root.
    root: PathBuf,
    /// Outside the target root: the rest of the machine.
    outside: PathBuf,
    policy: HostPolicy,
}

fn policy(text: &str) -> HostPolicy {
    HostPolicy::parse("policy.toml", text).unwrap()
}

const APP_POLICY: &str = "[install]\ndestinations = [\"/opt/app\"]\n";

impl Host {
    fn new() -> Self {
        let tmp = crate::util::tempdir();
        let root = tmp.path().join("root");
        let outside = tmp.path().join("host");
        fs::create_dir_all(root.join("opt/app")).unwrap();
        write(&outside.join("victim"), "the machine's", 0o640);
        Self {
            tmp,
            root,
            outside,
            policy: policy(APP_POLICY),
        }
    }

    fn at(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    fn bundle(&self, name: &str, files: &[(&str, &str, u32)]) -> PathBuf {
        let dir = self.tmp.path().join(name);
        fs::create_dir_all(&dir).unwrap();
        for (path, text, mode) in files {
            write(&dir.join(path), text, *mode);
        }
        dir
    }

    fn install(
        &self,
        bundle: &Path,
        spec: &AppSpec,
        behavior: FileExistsBehavior,
        previous: Option<CleanupRecord>,
    ) -> Result<InstallReport, InstallError> {
        let backup = tempfile::tempdir_in(self.tmp.path()).unwrap();
        let state = tempfile::tempdir_in(self.tmp.path()).unwrap();
        install(&InstallRequest {
            bundle_dir: bundle,
            spec,
            target_root: &self.root,
            policy: &self.policy,
            behavior,
            previous,
            backup_dir: backup.path(),
            state_dir: state.path(),
            revision: None,
        })
    }

    /// Everything in the target root and outside it.
    fn everything(&self) -> (Tree, Tree) {
        (snapshot(&self.root), snapshot(&self.outside))
    }
}

fn appspec(body: &str) -> AppSpec {
    AppSpec::parse("appspec.yml", &format!("version: 0.0\nos: linux\n{body}")).unwrap()
}

const WWW: &str = "files:\n  - source: www\n    destination: /opt/app/www\n";

/// A name no file on this machine has.
fn unique_name() -> String {
    format!("davit-hostile-{}.conf", uuid::Uuid::new_v4().simple())
}

fn escape_of(err: &InstallError) -> &davit_fsroot::Escape {
    match err {
        InstallError::Escape { escape, .. } => escape,
        other => panic!("expected an escape, got: {other}"),
    }
}

#[test]
fn a_relative_link_planted_under_the_prefix_does_not_lead_the_copy_out() {
    let h = Host::new();
    // A hook with read-write on /opt/app planted `www -> ../../outside` since the last Install.
    write(
        &h.at("/outside/keep.txt"),
        "the image's, outside the prefix",
        0o644,
    );
    symlink("../../outside", h.at("/opt/app/www")).unwrap();
    let bundle = h.bundle("b", &[("www/index.html", "hi", 0o644)]);
    let before = h.everything();
    for (spec, behavior) in [
        (appspec(WWW), Overwrite),
        (appspec(WWW), Disallow),
        (
            appspec("files:\n  - source: www\n    destination: /opt/app/www/static\n"),
            Overwrite,
        ),
    ] {
        let err = h.install(&bundle, &spec, behavior, None).unwrap_err();
        let escape = escape_of(&err);
        assert_eq!(escape.link.as_ref().unwrap().1, Path::new("../../outside"));
        assert!(
            err.to_string()
                .starts_with("appspec.yml:4:5: refused to read `"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("through the link `www` -> `../../outside`"),
            "{err}"
        );
        assert_eq!(
            h.everything(),
            before,
            "nothing written, in or out of the image"
        );
    }
}

#[test]
fn an_absolute_link_planted_under_the_prefix_does_not_lead_the_copy_out() {
    let h = Host::new();
    let name = unique_name();
    let bundle = h.bundle("b", &[(&format!("www/{name}"), "hi", 0o644)]);
    let spec = appspec(WWW);
    // Into the rest of the machine, and to `/etc` (inside the image: its `/etc`).
    fs::create_dir_all(h.at("/etc")).unwrap();
    for target in [h.outside.clone(), PathBuf::from("/etc")] {
        let _ = fs::remove_file(h.at("/opt/app/www"));
        symlink(&target, h.at("/opt/app/www")).unwrap();
        let before = h.everything();
        let err = h.install(&bundle, &spec, Overwrite, None).unwrap_err();
        assert_eq!(escape_of(&err).link.as_ref().unwrap().1, target);
        assert_eq!(h.everything(), before);
        assert!(!Path::new("/etc").join(&name).exists());
    }
}

#[test]
fn a_hook_that_replaced_the_prefix_itself_with_a_link_does_not_redirect_the_install() {
    // The policy lets hooks write in /opt, and bundles install under /opt/app: a hook replaced
    // /opt/app with a link out of /opt (into the image's /etc, and into the machine).
    let mut h = Host::new();
    h.policy = policy(
        "[[directories]]\npath = \"/opt\"\naccess = \"read-write\"\n\n[install]\ndestinations = [\"/opt/app\"]\n",
    );
    fs::create_dir_all(h.at("/etc/cron.d")).unwrap();
    let bundle = h.bundle("b", &[("www/index.html", "hi", 0o644)]);
    for target in [
        PathBuf::from("../etc/cron.d"),
        PathBuf::from("/etc/cron.d"),
        h.outside.clone(),
    ] {
        let _ = fs::remove_dir_all(h.at("/opt/app"));
        let _ = fs::remove_file(h.at("/opt/app"));
        symlink(&target, h.at("/opt/app")).unwrap();
        let before = h.everything();
        let err = h
            .install(&bundle, &appspec(WWW), Overwrite, None)
            .unwrap_err();
        assert!(
            err.to_string().contains("leads out of"),
            "{}: {err}",
            target.display()
        );
        assert_eq!(
            h.everything(),
            before,
            "{}: nothing written",
            target.display()
        );
    }
    // The same prefix as a link that stays in /opt is followed.
    fs::remove_file(h.at("/opt/app")).unwrap();
    fs::create_dir_all(h.at("/opt/app-1")).unwrap();
    symlink("app-1", h.at("/opt/app")).unwrap();
    h.install(&bundle, &appspec(WWW), Overwrite, None).unwrap();
    assert_eq!(read(&h.at("/opt/app-1/www/index.html")), "hi");
}

#[test]
fn a_link_planted_where_a_file_goes_is_replaced_not_written_through() {
    let mut h = Host::new();
    h.policy = policy(&format!("{APP_POLICY}owners = [\"65534\"]\n"));
    write(&h.at("/outside/victim"), "the image's", 0o640);
    fs::create_dir_all(h.at("/opt/app/www")).unwrap();
    symlink("../../../outside/victim", h.at("/opt/app/www/index.html")).unwrap();
    symlink(h.outside.join("victim"), h.at("/opt/app/www/about.html")).unwrap();
    let bundle = h.bundle(
        "b",
        &[
            ("www/index.html", "new", 0o644),
            ("www/about.html", "new", 0o644),
        ],
    );
    let owner = if crate::util::is_root() {
        "    owner: \"65534\"\n"
    } else {
        ""
    };
    let spec = appspec(&format!(
        "{WWW}permissions:\n  - object: /opt/app/www\n    mode: \"0600\"\n    type: [file]\n{owner}"
    ));
    let victims = [h.at("/outside/victim"), h.outside.join("victim")];
    let before: Vec<_> = victims
        .iter()
        .map(|v| snapshot(v.parent().unwrap()))
        .collect();
    let report = h.install(&bundle, &spec, Overwrite, None).unwrap();
    assert_eq!(report.copied, 2);
    for name in ["index.html", "about.html"] {
        let path = h.at(&format!("/opt/app/www/{name}"));
        let meta = fs::symlink_metadata(&path).unwrap();
        assert!(meta.is_file(), "{name} is a file now, not the link");
        assert_eq!(meta.mode() & 0o7777, 0o600);
        assert_eq!(read(&path), "new");
    }
    let after: Vec<_> = victims
        .iter()
        .map(|v| snapshot(v.parent().unwrap()))
        .collect();
    assert_eq!(
        after, before,
        "what the links pointed at was not written, chmod-ed or chowned"
    );
}

#[tokio::test]
async fn a_bundle_link_that_leaves_its_destination_is_refused_before_any_hook() {
    let h = Host::new();
    let marker = h.tmp.path().join("a-hook-ran");
    // Inside the bundle (`a/x`), outside `a/b/c/d` once that is installed at /opt/app/www.
    let bundle = h.bundle(
        "bundle",
        &[
            ("x", "the bundle's root", 0o644),
            ("a/b/c/d/index.html", "hi", 0o644),
            (
                "scripts/mark.sh",
                &format!("#!/bin/sh\ntouch {}\n", marker.display()),
                0o755,
            ),
        ],
    );
    symlink("../../../../x", bundle.join("a/b/c/d/l")).unwrap();
    fs::write(
        bundle.join("appspec.yml"),
        "version: 0.0\nos: linux\nfiles:\n  - source: a/b/c/d\n    destination: /opt/app/www\n\
         hooks:\n  BeforeInstall:\n    - location: scripts/mark.sh\n",
    )
    .unwrap();
    let before = h.everything();

    let sandbox = davit_sandbox::Sandbox::new(None).unwrap();
    let opts = DeployOptions {
        application: "app".into(),
        deployment_group: "g".into(),
        events: None,
        file_exists_behavior: None,
        appspec_filename: "appspec.yml".into(),
        layout: Layout::new(h.tmp.path().join("davit")),
        target_root: h.root.clone(),
        policy: policy(&format!("allow_native_scripts = true\n{APP_POLICY}")),
        keep_revisions: 2,
        max_reboots: davit_lifecycle::MAX_REBOOTS,
    };
    let err = deploy(&sandbox, Source::Local(&bundle), &opts, Arc::new(Quiet))
        .await
        .unwrap_err();
    let DeployError::Refused { refusals, install } = &err else {
        panic!("{err}")
    };
    assert!(refusals.is_empty());
    let shown: Vec<String> = install.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [format!(
            "{}:4:5: `files` entry requests bundle link `a/b/c/d/l` -> `../../../../x` at \
             `/opt/app/www/l`, but once installed it would point outside `/opt/app/www`",
            bundle.join("appspec.yml").display()
        )]
    );
    assert_eq!(
        err.to_string(),
        "the host policy refuses 1 install request (no hook has run)"
    );
    assert!(!marker.exists(), "no hook ran");
    assert_eq!(h.everything(), before);

    // The Install step refuses it on its own too.
    let spec = AppSpec::load(&bundle.join("appspec.yml")).unwrap();
    let err = h.install(&bundle, &spec, Overwrite, None).unwrap_err();
    assert!(
        matches!(&err, InstallError::Refused { refusals } if refusals.len() == 1),
        "{err}"
    );
    assert_eq!(h.everything(), before);
}

#[test]
fn permissions_beyond_the_policy_are_refused_before_anything_is_touched() {
    let h = Host::new();
    write(&h.at("/opt/app/tool"), "theirs", 0o755);
    let bundle = h.bundle("b", &[("app/tool", "#!/bin/sh\n", 0o755)]);
    let before = h.everything();
    for (perm, expected) in [
        (
            "mode: \"4755\"",
            "`permissions` entry requests mode `4755` for `/opt/app/tool`, but policy.toml does not set `allow_setuid = true` in `[install]`",
        ),
        (
            "mode: \"2755\"",
            "`permissions` entry requests mode `2755` for `/opt/app/tool`, but policy.toml does not set `allow_setuid = true` in `[install]`",
        ),
        (
            "mode: \"0757\"",
            "`permissions` entry requests mode `0757` for `/opt/app/tool`, but policy.toml does not set `allow_world_writable = true` in `[install]`",
        ),
        (
            "owner: root",
            "`permissions` entry requests owner `root` for `/opt/app/tool`, but no rule in policy.toml allows it",
        ),
        (
            "group: root",
            "`permissions` entry requests group `root` for `/opt/app/tool`, but no rule in policy.toml allows it",
        ),
    ] {
        let spec = appspec(&format!(
            "files:\n  - source: app\n    destination: /opt/app\npermissions:\n  - object: /opt/app/tool\n    {perm}\n"
        ));
        let err = h.install(&bundle, &spec, Overwrite, None).unwrap_err();
        let InstallError::Refused { refusals } = &err else {
            panic!("{err}")
        };
        assert_eq!(
            refusals[0].to_string(),
            format!("appspec.yml:7:5: {expected}")
        );
        assert_eq!(
            h.everything(),
            before,
            "{perm}: nothing copied, chmod-ed or chowned"
        );
    }
    // Allowed by name, another owner is still refused.
    let mut h = h;
    h.policy = policy(&format!("{APP_POLICY}owners = [\"www-data\"]\n"));
    let spec = appspec(
        "files:\n  - source: app\n    destination: /opt/app\npermissions:\n  - object: /opt/app\n    owner: root\n",
    );
    let err = h.install(&bundle, &spec, Overwrite, None).unwrap_err();
    let InstallError::Refused { refusals } = &err else {
        panic!("{err}")
    };
    assert!(matches!(
        &refusals[0].reason,
        Reason::InstallNames { key: "owners", .. }
    ));
    assert_eq!(h.everything(), before);
}

#[test]
fn a_destination_outside_the_prefixes_is_refused() {
    let mut h = Host::new();
    let bundle = h.bundle("b", &[("cron/job", "* * * * * root sh /tmp/x\n", 0o644)]);
    let spec = appspec("files:\n  - source: cron\n    destination: /etc/cron.d\n");
    let prefix_like = appspec("files:\n  - source: cron\n    destination: /opt/application\n");
    let before = h.everything();
    for (policy_text, spec) in [
        (APP_POLICY, &spec),
        (APP_POLICY, &prefix_like),
        ("", &spec),
        ("[install]\ndestinations = []\n", &spec),
    ] {
        h.policy = policy(policy_text);
        let err = h.install(&bundle, spec, Overwrite, None).unwrap_err();
        let InstallError::Refused { refusals } = &err else {
            panic!("{err}")
        };
        assert!(
            matches!(&refusals[0].grant, InstallGrant::Destination(_)),
            "{err}"
        );
        assert_eq!(
            h.everything(),
            before,
            "`/etc` of the image is not even created"
        );
    }
    assert!(!h.at("/etc").exists());
}

#[test]
fn a_cleanup_record_listing_paths_outside_every_prefix_leaves_them() {
    let h = Host::new();
    write(&h.at("/etc/shadow"), "the image's", 0o600);
    let bundle = h.bundle("b", &[("www/index.html", "hi", 0o644)]);
    let record = CleanupRecord {
        files: vec![
            h.at("/etc/shadow"),
            h.at("/opt/app/../../etc/shadow"),
            h.outside.join("victim"),
        ],
        dirs_created: vec![h.at("/etc"), h.outside.clone(), h.at("/opt")],
        ..CleanupRecord::default()
    };
    let before = snapshot(h.tmp.path());
    let report = h
        .install(&bundle, &appspec(WWW), Disallow, Some(record))
        .unwrap();
    assert_eq!(report.removed, 0);
    assert_eq!(read(&h.at("/etc/shadow")), "the image's");
    assert_eq!(read(&h.outside.join("victim")), "the machine's");
    let mut after = snapshot(h.tmp.path());
    after.retain(|p, _| !p.starts_with("root/opt/app/www"));
    assert_eq!(after, before, "only the new revision was added");
    let warnings = report.warnings.join("\n");
    for line in [
        format!(
            "`{}` of the previous revision lies under no `[install] destinations` of the host policy and was left in place",
            h.at("/etc/shadow").display()
        ),
        format!(
            "`{}` of the previous revision is not inside the target root",
            h.outside.join("victim").display()
        ),
        format!(
            "`{}` of the previous revision was left in place: lies under no",
            h.at("/etc").display()
        ),
    ] {
        assert!(
            warnings.contains(&line),
            "`{line}` missing from:\n{warnings}"
        );
    }
    assert!(warnings.contains("opt/app/../../etc/shadow"), "{warnings}");
}

#[test]
fn a_cleanup_record_path_whose_parent_is_now_a_link_is_left_in_place() {
    let h = Host::new();
    let v1 = h.bundle("v1", &[("app/sub/x.txt", "v1", 0o644)]);
    let spec = appspec("files:\n  - source: app\n    destination: /opt/app\n");
    let first = h.install(&v1, &spec, Disallow, None).unwrap();
    assert_eq!(first.record.files, [h.at("/opt/app/sub/x.txt")]);
    write(&h.at("/outside/x.txt"), "the image's", 0o644);
    write(&h.outside.join("x.txt"), "the machine's", 0o644);
    let v2 = h.bundle("v2", &[("app/y.txt", "v2", 0o644)]);
    for target in [PathBuf::from("../../outside"), h.outside.clone()] {
        // Since v1, `sub` was replaced by a link out of the prefix.
        let sub = h.at("/opt/app/sub");
        if fs::symlink_metadata(&sub).unwrap().is_dir() {
            fs::remove_dir_all(&sub).unwrap();
        } else {
            fs::remove_file(&sub).unwrap();
        }
        let _ = fs::remove_file(h.at("/opt/app/y.txt"));
        symlink(&target, &sub).unwrap();
        let before = (snapshot(&h.at("/outside")), snapshot(&h.outside));
        let report = h
            .install(&v2, &spec, Disallow, Some(first.record.clone()))
            .unwrap();
        assert_eq!(report.removed, 0);
        assert_eq!((snapshot(&h.at("/outside")), snapshot(&h.outside)), before);
        assert_eq!(
            fs::read_link(&sub).unwrap(),
            target,
            "the link itself is left too"
        );
        let warnings = report.warnings.join("\n");
        assert!(
            warnings.contains("was left in place: it leads out of the install prefix"),
            "{warnings}"
        );
    }
}

#[test]
fn an_absolute_link_in_an_image_root_resolves_inside_it() {
    let h = Host::new();
    fs::remove_dir(h.at("/opt/app")).unwrap();
    fs::create_dir_all(h.at("/opt/real")).unwrap();
    symlink("/opt/real", h.at("/opt/app")).unwrap();
    let host_had_it = Path::new("/opt/real").exists();
    let v1 = h.bundle("v1", &[("www/index.html", "v1", 0o644)]);
    let first = h.install(&v1, &appspec(WWW), Disallow, None).unwrap();
    assert_eq!(read(&h.at("/opt/real/www/index.html")), "v1");
    assert_eq!(first.record.files, [h.at("/opt/app/www/index.html")]);
    assert_eq!(
        Path::new("/opt/real").exists(),
        host_had_it,
        "the host's /opt is untouched"
    );

    // The next revision removes v1's files through the same link, inside the image.
    let v2 = h.bundle("v2", &[("www/other.html", "v2", 0o644)]);
    let second = h
        .install(&v2, &appspec(WWW), Disallow, Some(first.record))
        .unwrap();
    assert_eq!(second.removed, 1);
    assert!(!h.at("/opt/real/www/index.html").exists());
    assert_eq!(read(&h.at("/opt/real/www/other.html")), "v2");
}

#[test]
fn an_image_link_to_the_hosts_etc_never_touches_it() {
    let h = Host::new();
    let name = unique_name();
    let bundle = h.bundle("b", &[(&format!("www/{name}"), "image config", 0o644)]);
    fs::remove_dir(h.at("/opt/app")).unwrap();
    for target in [PathBuf::from("/etc"), h.outside.clone()] {
        let _ = fs::remove_file(h.at("/opt/app"));
        symlink(&target, h.at("/opt/app")).unwrap();
        let outside_before = snapshot(&h.outside);
        let report = h.install(&bundle, &appspec(WWW), Disallow, None).unwrap();
        assert_eq!(report.copied, 1);
        let in_image = h
            .root
            .join(target.strip_prefix("/").unwrap())
            .join("www")
            .join(&name);
        assert_eq!(read(&in_image), "image config");
        assert!(!Path::new("/etc/www").join(&name).exists());
        assert!(!Path::new("/etc").join(&name).exists());
        assert_eq!(
            snapshot(&h.outside),
            outside_before,
            "the machine's directory is untouched"
        );
    }
}

#[test]
fn at_the_live_root_a_link_planted_under_the_prefix_reaches_neither_etc_nor_its_neighbours() {
    // Target root `/`, as on a live host; the prefix is a temporary directory of this machine.
    let tmp = crate::util::tempdir();
    let prefix = tmp.path().join("app");
    let neighbour = tmp.path().join("neighbour");
    write(&neighbour.join("keep.txt"), "not the app's", 0o644);
    fs::create_dir_all(&prefix).unwrap();
    let policy = policy(&format!(
        "[install]\ndestinations = [\"{}\"]\n",
        prefix.display()
    ));
    let name = unique_name();
    let bundle = tmp.path().join("bundle");
    write(&bundle.join("www").join(&name), "payload", 0o644);
    write(&bundle.join("v1.txt"), "v1", 0o644);
    let run = |spec: &AppSpec, previous| {
        let backup = tempfile::tempdir_in(tmp.path()).unwrap();
        let state = tempfile::tempdir_in(tmp.path()).unwrap();
        install(&InstallRequest {
            bundle_dir: &bundle,
            spec,
            target_root: Path::new("/"),
            policy: &policy,
            behavior: Overwrite,
            previous,
            backup_dir: backup.path(),
            state_dir: state.path(),
            revision: None,
        })
    };
    let www = appspec(&format!(
        "files:\n  - source: www\n    destination: {}/www\n",
        prefix.display()
    ));
    for target in [PathBuf::from("/etc"), PathBuf::from("../neighbour")] {
        let _ = fs::remove_file(prefix.join("www"));
        symlink(&target, prefix.join("www")).unwrap();
        let before = snapshot(&neighbour);
        let err = run(&www, None).unwrap_err();
        assert_eq!(escape_of(&err).link.as_ref().unwrap().1, target, "{err}");
        assert!(!Path::new("/etc").join(&name).exists());
        assert_eq!(snapshot(&neighbour), before);
    }

    // The cleanup of a previous revision whose directory became such a link leaves it alone.
    fs::remove_file(prefix.join("www")).unwrap();
    let top = appspec(&format!(
        "files:\n  - source: v1.txt\n    destination: {}/conf\n",
        prefix.display()
    ));
    let first = run(&top, None).unwrap();
    assert_eq!(first.record.files, [prefix.join("conf/v1.txt")]);
    fs::rename(prefix.join("conf"), tmp.path().join("moved")).unwrap();
    symlink("../neighbour", prefix.join("conf")).unwrap();
    write(&neighbour.join("v1.txt"), "the neighbour's", 0o644);
    let before = snapshot(&neighbour);
    fs::remove_file(prefix.join("www")).ok();
    let www_ok = appspec(&format!(
        "files:\n  - source: www\n    destination: {}/www\n",
        prefix.display()
    ));
    let second = run(&www_ok, Some(first.record)).unwrap();
    assert_eq!(second.removed, 0);
    assert_eq!(snapshot(&neighbour), before);
    assert_eq!(read(&prefix.join("www").join(&name)), "payload");
}
