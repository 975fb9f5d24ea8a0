//! Install: CodeDeploy's file semantics on a temp target root.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use davit_lifecycle::install::{
    CleanupRecord, InstallError, InstallReport, InstallRequest, install,
};
use davit_spec::{AppSpec, FileExistsBehavior, HostPolicy};

use crate::util::{is_root, mode, read, snapshot, write};

struct Scene {
    tmp: crate::util::Tmp,
    root: PathBuf,
    /// What the host allows: [`policy`] unless a test says otherwise.
    policy: HostPolicy,
}

/// The install prefixes these tests use, and `extra` lines of `[install]`.
pub fn policy(extra: &str) -> HostPolicy {
    let text = format!("[install]\ndestinations = [\"/opt/app\", \"/etc/app\", \"/srv\"]\n{extra}");
    HostPolicy::parse("policy.toml", &text).unwrap()
}

impl Scene {
    fn new() -> Self {
        let tmp = crate::util::tempdir();
        let root = tmp.path().join("root");
        fs::create_dir(&root).unwrap();
        Self {
            tmp,
            root,
            policy: policy(""),
        }
    }

    /// A bundle directory `name` with `files` (path, contents, mode).
    fn bundle(&self, name: &str, files: &[(&str, &str, u32)]) -> PathBuf {
        let dir = self.tmp.path().join(name);
        for (path, text, mode) in files {
            write(&dir.join(path), text, *mode);
        }
        dir
    }

    fn host(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
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
        let result = install(&InstallRequest {
            bundle_dir: bundle,
            spec,
            target_root: &self.root,
            policy: &self.policy,
            behavior,
            previous,
            backup_dir: backup.path(),
            state_dir: state.path(),
            revision: None,
        });
        assert_eq!(
            fs::read_dir(backup.path()).unwrap().count(),
            0,
            "backups are gone"
        );
        result
    }
}

fn appspec(body: &str) -> AppSpec {
    AppSpec::parse("appspec.yml", &format!("version: 0.0\nos: linux\n{body}")).unwrap()
}

const APP: &str = "files:\n  - source: app\n    destination: /opt/app\n";
use FileExistsBehavior::{Disallow, Overwrite, Retain};

#[test]
fn installing_v2_removes_the_files_of_v1() {
    let s = Scene::new();
    let v1 = s.bundle(
        "v1",
        &[("app/a.txt", "a1", 0o644), ("app/old/x.txt", "x1", 0o600)],
    );
    let v2 = s.bundle(
        "v2",
        &[("app/a.txt", "a2", 0o640), ("app/new.txt", "n2", 0o644)],
    );
    let spec = appspec(APP);

    let first = s.install(&v1, &spec, Disallow, None).unwrap();
    assert_eq!((first.copied, first.removed), (2, 0));
    assert_eq!(
        first.record.files,
        [s.host("/opt/app/a.txt"), s.host("/opt/app/old/x.txt")]
    );
    assert_eq!(
        first.record.dirs_created,
        [s.host("/opt/app/old")],
        "the install prefix `/opt/app` and its parent are created, not recorded"
    );
    assert_eq!(
        mode(&s.host("/opt/app/old/x.txt")),
        0o600,
        "modes come from the bundle"
    );

    let record_file = s.tmp.path().join("state/cleanup.json");
    first.record.save(&record_file).unwrap();
    let previous = CleanupRecord::load(&record_file).unwrap();
    assert_eq!(previous.as_ref(), Some(&first.record));

    // DISALLOW does not apply to v1's own files.
    let second = s.install(&v2, &spec, Disallow, previous).unwrap();
    assert_eq!((second.copied, second.removed, second.retained), (2, 2, 0));
    assert!(
        !s.host("/opt/app/old").exists(),
        "v1's emptied directory is gone"
    );
    assert_eq!(read(&s.host("/opt/app/a.txt")), "a2");
    assert_eq!(mode(&s.host("/opt/app/a.txt")), 0o640);
    let names: Vec<_> = snapshot(&s.root).into_keys().collect();
    let expected: Vec<PathBuf> = ["opt", "opt/app", "opt/app/a.txt", "opt/app/new.txt"]
        .map(PathBuf::from)
        .into();
    assert_eq!(names, expected);
    assert!(second.record.dirs_created.is_empty());
}

#[test]
fn disallow_names_every_conflict_before_writing_anything() {
    let s = Scene::new();
    let bundle = s.bundle(
        "b",
        &[
            ("app/a.txt", "new", 0o644),
            ("app/sub/b.txt", "new", 0o644),
            ("app/z.txt", "new", 0o644),
        ],
    );
    write(&s.host("/opt/app/a.txt"), "theirs", 0o644);
    write(&s.host("/opt/app/z.txt"), "theirs", 0o644);
    let before = snapshot(&s.root);

    let err = s
        .install(&bundle, &appspec(APP), Disallow, None)
        .unwrap_err();
    let InstallError::FilesExist { paths } = &err else {
        panic!("{err}")
    };
    assert_eq!(paths, &[s.host("/opt/app/a.txt"), s.host("/opt/app/z.txt")]);
    assert_eq!(
        err.to_string(),
        format!(
            "2 files already exist and `file_exists_behavior` is `DISALLOW`: `{}`, `{}`",
            paths[0].display(),
            paths[1].display()
        )
    );
    assert_eq!(snapshot(&s.root), before, "not even `sub` was created");
}

#[test]
fn overwrite_replaces_and_records_the_file() {
    let s = Scene::new();
    let bundle = s.bundle("b", &[("app/a.txt", "new", 0o644)]);
    write(&s.host("/opt/app/a.txt"), "theirs", 0o600);
    let report = s.install(&bundle, &appspec(APP), Overwrite, None).unwrap();
    assert_eq!(read(&s.host("/opt/app/a.txt")), "new");
    assert_eq!(mode(&s.host("/opt/app/a.txt")), 0o644);
    assert_eq!((report.copied, report.retained), (1, 0));
    assert_eq!(report.record.files, [s.host("/opt/app/a.txt")]);
    assert!(
        report.record.dirs_created.is_empty(),
        "`/opt/app` was there already"
    );
}

#[test]
fn retain_keeps_the_file_and_leaves_it_out_of_the_record() {
    let s = Scene::new();
    let bundle = s.bundle(
        "b",
        &[("app/a.txt", "new", 0o644), ("app/b.txt", "new", 0o644)],
    );
    write(&s.host("/opt/app/a.txt"), "theirs", 0o600);
    let report = s.install(&bundle, &appspec(APP), Retain, None).unwrap();
    assert_eq!(read(&s.host("/opt/app/a.txt")), "theirs");
    assert_eq!(mode(&s.host("/opt/app/a.txt")), 0o600);
    assert_eq!(read(&s.host("/opt/app/b.txt")), "new");
    assert_eq!((report.copied, report.retained), (1, 1));
    assert_eq!(report.record.files, [s.host("/opt/app/b.txt")]);
}

#[test]
fn file_sources_land_under_their_name_and_symlinks_stay_links() {
    let s = Scene::new();
    let bundle = s.bundle(
        "b",
        &[
            ("conf/app.toml", "k = 1", 0o644),
            ("web/index.html", "<h1>", 0o644),
        ],
    );
    std::os::unix::fs::symlink("index.html", bundle.join("web/home.html")).unwrap();
    let spec = appspec(
        "files:\n  - source: conf/app.toml\n    destination: /etc/app\n  - source: /\n    destination: /srv/whole\n",
    );
    let report = s.install(&bundle, &spec, Disallow, None).unwrap();
    assert_eq!(read(&s.host("/etc/app/app.toml")), "k = 1");
    assert_eq!(read(&s.host("/srv/whole/web/index.html")), "<h1>");
    let link = s.host("/srv/whole/web/home.html");
    assert_eq!(fs::read_link(&link).unwrap(), Path::new("index.html"));
    assert_eq!(report.copied, 4);
}

#[test]
fn permissions_apply_mode_by_object_pattern_except_and_type() {
    let mut s = Scene::new();
    let bundle = s.bundle(
        "b",
        &[
            ("app/a.txt", "a", 0o644),
            ("app/b.log", "b", 0o644),
            ("app/keep.txt", "k", 0o644),
            ("app/sub/c.txt", "c", 0o644),
        ],
    );
    write(&s.host("/opt/app/unrelated.txt"), "theirs", 0o644);
    let uid = fs::metadata(&s.root).unwrap().uid();
    s.policy = policy(&format!("owners = [\"{uid}\"]\n"));
    let spec = appspec(&format!(
        "{APP}permissions:
  - object: /opt/app
    pattern: \"*.txt\"
    except: [keep.txt]
    owner: \"{uid}\"
    mode: \"0600\"
    type: [file]
  - object: /opt/app
    mode: \"0700\"
    type: [directory]
"
    ));
    let report = s.install(&bundle, &spec, Disallow, None).unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(mode(&s.host("/opt/app/a.txt")), 0o600);
    assert_eq!(mode(&s.host("/opt/app/sub/c.txt")), 0o600);
    assert_eq!(mode(&s.host("/opt/app/b.log")), 0o644, "pattern");
    assert_eq!(mode(&s.host("/opt/app/keep.txt")), 0o644, "except");
    assert_eq!(
        mode(&s.host("/opt/app/unrelated.txt")),
        0o644,
        "not installed by us"
    );
    assert_eq!(mode(&s.host("/opt/app")), 0o700);
    assert_eq!(mode(&s.host("/opt/app/sub")), 0o700);
    assert_eq!(mode(&s.host("/opt")), 0o755, "not under the object");
}

#[test]
fn owners_and_groups_are_set_by_name_or_number() {
    let mut s = Scene::new();
    let bundle = s.bundle("b", &[("app/a.txt", "a", 0o644)]);
    let (uid, gid) = if is_root() {
        (65534, 65534)
    } else {
        let meta = fs::metadata(&s.root).unwrap();
        (meta.uid(), meta.gid())
    };
    s.policy = policy(&format!("owners = [\"{uid}\"]\ngroups = [\"{gid}\"]\n"));
    let spec = appspec(&format!(
        "{APP}permissions:\n  - object: /opt/app/a.txt\n    owner: \"{uid}\"\n    group: \"{gid}\"\n    type: [file]\n"
    ));
    s.install(&bundle, &spec, Disallow, None).unwrap();
    let meta = fs::metadata(s.host("/opt/app/a.txt")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (uid, gid));
}

/// The POSIX access ACL of `path` as the kernel keeps it (`system.posix_acl_access`), if any.
fn access_acl(path: &Path) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let name = c"system.posix_acl_access";
    let mut buf = vec![0u8; 1024];
    // SAFETY: NUL-terminated strings and a buffer of the length given.
    let n = unsafe {
        libc::getxattr(
            c_path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n > 0).then(|| buf[..n as usize].to_vec())
}

#[test]
fn acls_are_applied_and_a_context_without_selinux_fails_unless_the_policy_skips_it() {
    let mut s = Scene::new();
    let bundle = s.bundle("b", &[("app/a.txt", "a", 0o644)]);
    let spec = appspec(&format!(
        "{APP}permissions:
  - object: /opt/app
    mode: \"0750\"
    type: [directory]
    acls:
      - u:nobody:rw
  - object: /opt/app
    type: [file]
    context:
      type: httpd_sys_content_t
"
    ));
    // This host has no SELinux: the context cannot be applied, and nothing is written.
    let err = s.install(&bundle, &spec, Disallow, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "appspec.yml:12:5: SELinux `context` for `/opt/app` cannot be applied: SELinux is not enabled on this host"
    );
    assert!(!s.host("/opt/app").exists());
    // The policy may say to skip contexts: then the ACL is applied and the context is a warning.
    s.policy = policy("selinux_contexts = \"skip\"\n");
    let report = s.install(&bundle, &spec, Disallow, None).unwrap();
    assert_eq!(
        report.warnings,
        [
            "appspec.yml:12:5: SELinux `context` for `/opt/app` was not applied: the host policy says `selinux_contexts = \"skip\"` in `[install]`"
        ]
    );
    assert_eq!(mode(&s.host("/opt/app")), 0o750, "the mode is applied");
    let acl = access_acl(&s.host("/opt/app")).expect("an access ACL is set");
    // A named-user entry (tag 2) for nobody (65534) is in it.
    let nobody = 65534u32.to_le_bytes();
    assert!(
        acl[4..]
            .chunks(8)
            .any(|e| e[0..2] == [2, 0] && e[4..8] == nobody),
        "{acl:?}"
    );
    assert!(
        access_acl(&s.host("/opt/app/a.txt")).is_none(),
        "files are not under that entry"
    );
}

#[test]
fn an_unknown_owner_or_group_fails_before_anything_is_written() {
    let mut s = Scene::new();
    // The policy allows the name: the host has no such user or group.
    s.policy = policy("owners = [\"no-such-name-davit\"]\ngroups = [\"no-such-name-davit\"]\n");
    let v1 = s.bundle("v1", &[("app/a.txt", "a1", 0o644)]);
    let v2 = s.bundle("v2", &[("app/b.txt", "b2", 0o644)]);
    let first = s.install(&v1, &appspec(APP), Disallow, None).unwrap();
    let before = snapshot(&s.root);
    for (key, message) in [("owner", "unknown owner"), ("group", "unknown group")] {
        let spec = appspec(&format!(
            "{APP}permissions:\n  - object: /opt/app\n    {key}: no-such-name-davit\n"
        ));
        let err = s
            .install(&v2, &spec, Disallow, Some(first.record.clone()))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "appspec.yml:7:5: {message} `no-such-name-davit`, there is no such {key_noun} on this host",
                key_noun = if key == "owner" { "user" } else { "group" }
            )
        );
        assert_eq!(snapshot(&s.root), before, "v1 is untouched");
    }
}

#[test]
fn a_file_where_a_directory_must_go_fails_before_anything_is_written() {
    let s = Scene::new();
    let v1 = s.bundle("v1", &[("app/a.txt", "a1", 0o644)]);
    let first = s.install(&v1, &appspec(APP), Disallow, None).unwrap();
    write(&s.host("/srv/data"), "a file, not a directory", 0o644);
    let before = snapshot(&s.root);
    let v2 = s.bundle(
        "v2",
        &[("app/a.txt", "a2", 0o644), ("web/i.html", "i", 0o644)],
    );
    let spec = appspec(&format!(
        "{APP}  - source: web\n    destination: /srv/data/web\n"
    ));
    let err = s
        .install(&v2, &spec, Overwrite, Some(first.record))
        .unwrap_err();
    assert!(
        matches!(&err, InstallError::NotADirectory { path, .. } if *path == s.host("/srv/data")),
        "{err}"
    );
    assert!(err.to_string().starts_with("appspec.yml:6:5: `"), "{err}");
    assert_eq!(snapshot(&s.root), before);
}

#[test]
fn mapping_mistakes_are_named_with_their_line() {
    let s = Scene::new();
    let bundle = s.bundle("b", &[("app/a.txt", "a", 0o644), ("a.txt", "top", 0o644)]);
    let twice = appspec(&format!(
        "{APP}  - source: a.txt\n    destination: /opt/app\n"
    ));
    let err = s.install(&bundle, &twice, Overwrite, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "appspec.yml:6:5: `{}` would be installed twice (also by the `files` entry at appspec.yml:4:5)",
            s.host("/opt/app/a.txt").display()
        )
    );
    let missing = appspec("files:\n  - source: nope/\n    destination: /srv\n");
    let err = s.install(&bundle, &missing, Overwrite, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "appspec.yml:4:5: `files` source `nope` is not in the bundle"
    );
    assert!(snapshot(&s.root).is_empty());
}

#[test]
fn the_cleanup_does_not_follow_a_symlink_out_of_the_target_root() {
    let s = Scene::new();
    let v1 = s.bundle("v1", &[("app/a.txt", "a1", 0o644)]);
    let first = s.install(&v1, &appspec(APP), Disallow, None).unwrap();
    // Since v1, `/opt` of the image became a link to a directory of the machine outside it.
    let outside = s.tmp.path().join("outside");
    write(&outside.join("app/a.txt"), "not the image's", 0o644);
    let before = snapshot(&outside);
    fs::remove_dir_all(s.host("/opt")).unwrap();
    std::os::unix::fs::symlink(&outside, s.host("/opt")).unwrap();

    let v2 = s.bundle("v2", &[("web/i.html", "i", 0o644)]);
    let spec = appspec("files:\n  - source: web\n    destination: /srv\n");
    let report = s.install(&v2, &spec, Disallow, Some(first.record)).unwrap();
    // The link is absolute: inside the target root it names `<root><outside>`, which does not
    // exist, so there is nothing of v1 to remove and the machine's directory is untouched.
    assert_eq!(snapshot(&outside), before);
    assert_eq!(report.removed, 0);
    assert!(!s.root.join(outside.strip_prefix("/").unwrap()).exists());
    assert_eq!(read(&s.host("/srv/i.html")), "i");
}
