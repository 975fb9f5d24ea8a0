//! The codedeploy-agent-go test bundles of the shared corpus, staged and installed into a temp
//! target root, checked for what their `scripts/validate_service.sh` checks on a real host.
//! The corpus is read in place (`$DAVIT_CORPUS`, else `../../../shared/corpus` from this
//! crate); without it these tests pass with a loud note.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use davit_lifecycle::install::{CleanupRecord, InstallReport, InstallRequest, install};
use davit_lifecycle::stage::{StagedRevision, stage};
use davit_spec::{AppSpec, FileExistsBehavior, HostPolicy};

use crate::util::{is_root, mode, read, zip_dir};

/// The corpus's bundles: a test that needs them fails when they are absent, never passes by
/// skipping.
fn bundles() -> PathBuf {
    let corpus = std::env::var_os("DAVIT_CORPUS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
        PathBuf::from,
    );
    let dir = corpus.join("appspec/bundles-gurre");
    assert!(
        dir.is_dir(),
        "the corpus is not at {} (set DAVIT_CORPUS)",
        dir.display()
    );
    dir
}

struct Host {
    tmp: crate::util::Tmp,
    root: PathBuf,
}

impl Host {
    fn new() -> Self {
        let tmp = crate::util::tempdir();
        let root = tmp.path().join("root");
        fs::create_dir(&root).unwrap();
        Self { tmp, root }
    }

    fn path(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    fn stage(&self, bundle: &Path) -> (StagedRevision, AppSpec) {
        let staged = stage(bundle, &self.tmp.path().join("revisions")).unwrap();
        let spec = AppSpec::load(&staged.dir.join("appspec.yml")).unwrap();
        (staged, spec)
    }

    fn install(
        &self,
        staged: &StagedRevision,
        spec: &AppSpec,
        previous: Option<CleanupRecord>,
    ) -> InstallReport {
        self.try_install(staged, spec, previous, "").unwrap()
    }

    /// Installs under the appspec's own suggested policy, with `extra` lines in its `[install]`.
    fn try_install(
        &self,
        staged: &StagedRevision,
        spec: &AppSpec,
        previous: Option<CleanupRecord>,
        extra: &str,
    ) -> Result<InstallReport, davit_lifecycle::install::InstallError> {
        let backup = tempfile::tempdir_in(self.tmp.path()).unwrap();
        let state = tempfile::tempdir_in(self.tmp.path()).unwrap();
        // The host allows what the appspec asks for: its own suggested policy.
        let suggested =
            HostPolicy::suggest(spec).replacen("[install]\n", &format!("[install]\n{extra}"), 1);
        let policy = HostPolicy::parse("suggested.toml", &suggested).unwrap();
        install(&InstallRequest {
            bundle_dir: &staged.dir,
            spec,
            target_root: &self.root,
            policy: &policy,
            behavior: spec
                .file_exists_behavior
                .unwrap_or(FileExistsBehavior::Disallow),
            previous,
            backup_dir: backup.path(),
            state_dir: state.path(),
            revision: None,
        })
    }
}

/// The current user's and group's names, for owners when the tests do not run as root.
fn my_names() -> (String, String) {
    // SAFETY: getpwuid and getgrgid return a pointer into static storage or null; each is read
    // at once, before the next call.
    unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        assert!(!pw.is_null(), "the current user has no name");
        let user = std::ffi::CStr::from_ptr((*pw).pw_name)
            .to_string_lossy()
            .into_owned();
        let gr = libc::getgrgid(libc::getegid());
        assert!(!gr.is_null(), "the current group has no name");
        let group = std::ffi::CStr::from_ptr((*gr).gr_name)
            .to_string_lossy()
            .into_owned();
        (user, group)
    }
}

#[test]
fn files_basic() {
    let bundles = bundles();
    let host = Host::new();
    let bundle = bundles.join("files-basic");
    let (staged, mut spec) = host.stage(&bundle);

    // The same bundle zipped stages to the same revision.
    let zip = host.tmp.path().join("files-basic.zip");
    zip_dir(&bundle, &zip);
    assert_eq!(host.stage(&zip).0.id, staged.id);

    // Unprivileged, `root` cannot be given away: own the files ourselves instead.
    if !is_root() {
        let (user, group) = my_names();
        for p in &mut spec.permissions {
            p.owner = p.owner.as_ref().map(|_| user.clone());
            p.group = p.group.as_ref().map(|_| group.clone());
        }
    }
    let report = host.install(&staged, &spec, None);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(report.copied, 3);

    // validate_service.sh: the three files exist, modes 644, 600 and 755, config.txt root:root.
    for f in ["config.txt", "data.json", "nested/deep.log"] {
        assert!(host.path("/opt/cdagent-test").join(f).is_file(), "{f}");
    }
    assert_eq!(mode(&host.path("/opt/cdagent-test/config.txt")), 0o644);
    assert_eq!(mode(&host.path("/opt/cdagent-test/data.json")), 0o600);
    assert_eq!(mode(&host.path("/opt/cdagent-test/nested")), 0o755);
    let meta = fs::metadata(host.path("/opt/cdagent-test/config.txt")).unwrap();
    let mine = fs::metadata(&host.root).unwrap();
    let expected = if is_root() {
        (0, 0)
    } else {
        (mine.uid(), mine.gid())
    };
    assert_eq!((meta.uid(), meta.gid()), expected);
    assert_eq!(
        read(&host.path("/opt/cdagent-test/nested/deep.log")),
        "LOG_ENTRY"
    );
}

#[test]
fn file_exists_sequence() {
    let bundles = bundles();
    let host = Host::new();
    let testfile = host.path("/opt/cdagent-test-feb/testfile.txt");

    // initial (DISALLOW by default, into an empty host): INITIAL.
    let (initial, spec) = host.stage(&bundles.join("file-exists-initial"));
    assert_eq!(spec.file_exists_behavior, None);
    let first = host.install(&initial, &spec, None);
    assert_eq!(read(&testfile), "INITIAL");

    // overwrite, same deployment group: OVERWRITTEN.
    let (overwrite, spec) = host.stage(&bundles.join("file-exists-overwrite"));
    assert_eq!(
        spec.file_exists_behavior,
        Some(FileExistsBehavior::Overwrite)
    );
    let second = host.install(&overwrite, &spec, Some(first.record));
    assert_eq!(read(&testfile), "OVERWRITTEN");
    assert_eq!(second.removed, 1);

    // retain: validate_service.sh expects OVERWRITTEN to survive. It does when the file is
    // not from this group's previous revision (another deployment group put it there)...
    let (retain, spec) = host.stage(&bundles.join("file-exists-retain"));
    assert_eq!(spec.file_exists_behavior, Some(FileExistsBehavior::Retain));
    let third = host.install(&retain, &spec, None);
    assert_eq!(read(&testfile), "OVERWRITTEN");
    assert_eq!((third.copied, third.retained), (0, 1));
    assert!(third.record.files.is_empty(), "a retained file is not ours");

    // ...while in the same group, as in the CodeDeploy agent, the previous revision's files are
    // removed before anything is copied, so there is nothing left to retain.
    let same_group = host.install(&retain, &spec, Some(second.record));
    assert_eq!(read(&testfile), "SHOULD_NOT_APPEAR");
    assert_eq!((same_group.removed, same_group.retained), (1, 0));
}

#[test]
fn a_selinux_bundle_fails_on_a_host_without_selinux_unless_the_policy_skips_contexts() {
    let bundles = bundles();
    let host = Host::new();
    let (staged, spec) = host.stage(&bundles.join("permissions-selinux"));
    let err = host.try_install(&staged, &spec, None, "").unwrap_err();
    assert!(
        err.to_string()
            .contains("SELinux `context` for `/opt/cdagent-test-selinux` cannot be applied"),
        "{err}"
    );
    let skip = "selinux_contexts = \"skip\"\n";
    let report = host.try_install(&staged, &spec, None, skip).unwrap();
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(report.warnings[0].contains("SELinux `context` for `/opt/cdagent-test-selinux`"));
    assert_eq!(
        mode(&host.path("/opt/cdagent-test-selinux/index.html")),
        0o755
    );
}
