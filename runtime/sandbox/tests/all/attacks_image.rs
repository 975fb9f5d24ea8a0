//! Attacks from an image build: commands run inside the image's root filesystem
//! (`Grants::exec_root`) and the `files` interface of image actions. Each test checks on the
//! host that nothing outside the root was read, written, reached or changed.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use davit_fsroot::{Resolve, Root};
use davit_sandbox::{Access, ExecRoot, Grants, Verdict};
use davit_spec::{AbsPath, ArgPattern, CommandGrant};

use crate::support::{limits, mount, probe_op, run};

/// A root filesystem holding the host's bash and the libraries it needs, an `/etc/passwd` and
/// `/etc/group` of its own, and `/tmp`.
pub(crate) fn mini_root(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    for sub in ["bin", "etc", "tmp", "proc", "dev"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    std::fs::copy("/bin/bash", root.join("bin/bash")).unwrap();
    let ldd = std::process::Command::new("ldd")
        .arg("/bin/bash")
        .output()
        .unwrap();
    for lib in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        let to = root.join(lib.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(lib, to).unwrap();
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0::/:/bin/bash\nbuilder:x:4242:4343::/:/bin/bash\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nbuilders:x:4343:\n").unwrap();
    root
}

fn exec_grants(root: &Path, network: bool) -> Grants {
    let any = ArgPattern::try_from("{any}").unwrap();
    let dash_c = ArgPattern::try_from("-c").unwrap();
    Grants {
        commands: vec![
            CommandGrant::new(AbsPath::try_from("/bin/bash").unwrap(), vec![dash_c, any]).unwrap(),
        ],
        exec_root: Some(ExecRoot {
            root: Arc::new(Root::open_ambient(root, Resolve::InRoot).unwrap()),
            network,
        }),
        limits: limits(30_000),
        ..Grants::default()
    }
}

/// Runs `script` with bash inside `root`; its status and the lines it printed.
async fn in_root(root: &Path, script: &str, network: bool) -> (String, Vec<String>) {
    let outcome = run(
        "exec-probe",
        exec_grants(root, network),
        &[("script", script)],
    )
    .await;
    assert_eq!(outcome.result, Ok(Verdict::Succeeded), "{:?}", outcome.logs);
    let lines: Vec<String> = outcome.logs.iter().map(|l| l.text.clone()).collect();
    let status = lines
        .iter()
        .find_map(|l| l.strip_prefix("status="))
        .expect("a status line")
        .to_owned();
    let out = lines
        .iter()
        .filter_map(|l| l.strip_prefix("out: ").map(str::to_owned))
        .collect();
    (status, out)
}

#[tokio::test]
async fn a_command_runs_the_roots_own_programs_as_pid_1_and_writes_only_inside_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = mini_root(dir.path());
    let marker = format!("/davit-image-marker-{}", std::process::id());
    let script = format!("echo $$; echo inside > {marker}; echo /proc/[0-9]*");
    let (status, out) = in_root(&root, &script, false).await;
    assert_eq!(status, "0", "{out:?}");
    // Its own pid namespace: bubblewrap is its init.
    assert!(out[0].parse::<u32>().unwrap() <= 2, "pid {}", out[0]);
    // Only its own processes are there to see.
    assert!(out[1].split(' ').count() <= 3, "{}", out[1]);
    let made = root.join(marker.trim_start_matches('/'));
    assert_eq!(std::fs::read_to_string(made).unwrap(), "inside\n");
    assert!(
        !Path::new(&marker).exists(),
        "nothing was written on the host"
    );
}

#[tokio::test]
async fn a_command_cannot_read_the_hosts_files_by_path_proc_or_chroot() {
    let dir = tempfile::tempdir().unwrap();
    let root = mini_root(dir.path());
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "host-secret").unwrap();
    let secret = secret.display().to_string();
    let davit = std::process::id();
    let script = format!(
        "cat() {{ local l; while IFS= read -r l; do echo \"$l\"; done < \"$1\"; }}\n\
         cat {secret}; cat /proc/1/root{secret}; cat /proc/{davit}/root{secret}\n\
         for f in /proc/*/root{secret} /proc/*/cwd{secret}; do cat \"$f\"; done\n\
         echo done"
    );
    let (status, out) = in_root(&root, &script, false).await;
    assert_eq!(status, "0", "{out:?}");
    assert!(out.iter().all(|l| !l.contains("host-secret")), "{out:?}");
    assert_eq!(out.last().map(String::as_str), Some("done"));
}

#[tokio::test]
async fn a_command_has_no_network_unless_granted() {
    let dir = tempfile::tempdir().unwrap();
    let root = mini_root(dir.path());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!("echo hello > /dev/tcp/127.0.0.1/{port} && echo sent");
    let (status, out) = in_root(&root, &script, false).await;
    assert_ne!(status, "0", "{out:?}");
    assert!(out.is_empty(), "{out:?}");
    assert!(listener.accept().is_err(), "no connection reached the host");
    // With the network granted, the same command reaches it.
    let (status, out) = in_root(&root, &script, true).await;
    assert_eq!(
        (status.as_str(), out.as_slice()),
        ("0", ["sent".to_owned()].as_slice())
    );
    assert!(listener.accept().is_ok());
}

#[tokio::test]
async fn a_command_cannot_make_device_nodes_or_mount() {
    let dir = tempfile::tempdir().unwrap();
    let root = mini_root(dir.path());
    for tool in ["/usr/bin/mknod", "/usr/bin/mount"] {
        let to = root.join(tool.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(tool, &to).unwrap();
    }
    let ldd = std::process::Command::new("ldd")
        .args(["/usr/bin/mount", "/usr/bin/mknod"])
        .output()
        .unwrap();
    for lib in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/') && !w.ends_with(':'))
    {
        let to = root.join(lib.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        let _ = std::fs::copy(lib, to);
    }
    let script = "/usr/bin/mknod /tmp/disk b 8 0; echo mknod=$?; \
                  /usr/bin/mount -t tmpfs none /tmp; echo mount=$?";
    let (status, out) = in_root(&root, script, false).await;
    assert_eq!(status, "0", "{out:?}");
    assert!(out.contains(&"mknod=1".to_owned()), "{out:?}");
    assert!(
        out.iter()
            .any(|l| l.starts_with("mount=") && l != "mount=0"),
        "{out:?}"
    );
    assert!(!root.join("tmp/disk").exists());
}

#[tokio::test]
async fn an_image_build_starts_no_services() {
    let dir = tempfile::tempdir().unwrap();
    let root = mini_root(dir.path());
    let params = [("first", "600"), ("second", "601")];
    let outcome = run("svc-pids-reported", exec_grants(&root, false), &params).await;
    assert!(outcome.services.is_empty(), "{:?}", outcome.services);
    assert!(
        outcome
            .logs
            .iter()
            .any(|l| l.text.contains("an image build starts no services")),
        "{:?}",
        outcome.logs
    );
}

/// Calls the `files` probe with `op` under a read-write mount of `dir` at `/`, in an image
/// build rooted at `dir`; the host's answer.
async fn files_op(dir: &Path, op: &str) -> String {
    let grants = Grants {
        mounts: vec![mount(dir, "/", Access::ReadWrite)],
        exec_root: Some(ExecRoot {
            root: Arc::new(Root::open_ambient(dir, Resolve::InRoot).unwrap()),
            network: false,
        }),
        ..Grants::default()
    };
    probe_op("files-probe", grants, op).await
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

#[tokio::test]
async fn files_sets_owners_by_the_images_own_names_and_modes_and_makes_links() {
    let dir = tempfile::tempdir().unwrap();
    let root = mini_root(dir.path());
    std::fs::create_dir_all(root.join("opt/app/sub")).unwrap();
    std::fs::write(root.join("opt/app/sub/run.sh"), "x").unwrap();
    let ok = files_op(&root, "set-owner /opt/app builder builders true").await;
    assert_eq!(ok, "ok");
    let meta = std::fs::metadata(root.join("opt/app/sub/run.sh")).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid()),
        (4242, 4343),
        "names from the image's /etc"
    );
    assert_eq!(files_op(&root, "set-mode /opt/app 750 true").await, "ok");
    assert_eq!(mode(&root.join("opt/app/sub/run.sh")), 0o750);
    assert_eq!(
        files_op(&root, "symlink /etc/passwd /opt/app/passwd").await,
        "ok"
    );
    let target = std::fs::read_link(root.join("opt/app/passwd")).unwrap();
    assert_eq!(target, Path::new("/etc/passwd"), "kept as written");
    // A name the image does not know is not looked up on the host.
    let missing = files_op(&root, "set-owner /opt/app nobody - false").await;
    assert!(missing.starts_with("not-found: user `nobody`"), "{missing}");
}

#[tokio::test]
async fn files_never_follows_a_link_out_of_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = mini_root(dir.path());
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("host-file"), "host").unwrap();
    std::fs::set_permissions(outside.join("host-file"), PermissionsExt::from_mode(0o600)).unwrap();
    let before = std::fs::metadata(outside.join("host-file")).unwrap();
    // Links a step (or the image) planted: relative, climbing out, and to a host path.
    std::os::unix::fs::symlink("../outside", root.join("climb")).unwrap();
    std::os::unix::fs::symlink(outside.join("host-file"), root.join("host-file")).unwrap();
    std::fs::create_dir(root.join("tree")).unwrap();
    std::os::unix::fs::symlink(outside.join("host-file"), root.join("tree/link")).unwrap();
    for op in [
        "set-mode /climb/host-file 777 false",
        "set-owner /climb/host-file 4242 4343 false",
        "symlink /x /climb/new-link",
    ] {
        let answer = files_op(&root, op).await;
        assert!(
            answer.starts_with("denied") || answer.starts_with("not-found"),
            "{op}: {answer}"
        );
    }
    // A link at the leaf: its own owner changes, its mode is skipped, the file it names is
    // never touched; in a tree, the same.
    assert_eq!(
        files_op(&root, "set-owner /host-file 4242 4343 false").await,
        "ok"
    );
    assert_eq!(files_op(&root, "set-mode /host-file 777 false").await, "ok");
    assert_eq!(files_op(&root, "set-mode /tree 777 true").await, "ok");
    assert_eq!(
        files_op(&root, "set-owner /tree 4242 4343 true").await,
        "ok"
    );
    let after = std::fs::metadata(outside.join("host-file")).unwrap();
    assert_eq!(
        (after.mode(), after.uid(), after.gid()),
        (before.mode(), before.uid(), before.gid())
    );
    assert!(!outside.join("new-link").exists());
    let link = std::fs::symlink_metadata(root.join("tree/link")).unwrap();
    assert_eq!((link.uid(), link.gid()), (4242, 4343), "the link itself");
    // `..` and paths outside every read-write mount are refused.
    let up = files_op(&root, "set-mode /../outside/host-file 777 false").await;
    assert!(up.starts_with("denied"), "{up}");
}
