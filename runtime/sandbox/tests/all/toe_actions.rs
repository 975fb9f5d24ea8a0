//! The built-in `toe-actions` (AWSTOE's Linux action modules), run on a scratch root mounted at
//! `/` as an image build mounts one: every effect is checked on the host, and so is that
//! nothing outside the root changed when a step tries to reach out.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use davit_fsroot::{Resolve, Root};
use davit_sandbox::{
    Access, ActionInput, ActionNext, Call, ComponentStep, Context, ExecRoot, Grants, Job, Outcome,
    Plugin, Verdict,
};
use davit_spec::{AbsPath, ArgPattern, CommandGrant, UrlPrefix};

use crate::support::{limits, mount, sandbox};

fn plugin() -> Plugin {
    let builtin = davit_plugins::find("toe-actions").expect("toe-actions is built in");
    assert_eq!(builtin.world, davit_plugins::World::Action);
    sandbox().load(builtin.wasm).expect("toe-actions loads")
}

fn root_grants(root: &Path) -> Grants {
    Grants {
        mounts: vec![mount(root, "/", Access::ReadWrite)],
        limits: limits(30_000),
        ..Grants::default()
    }
}

async fn act(grants: Grants, action: &str, inputs: &str) -> Outcome {
    let call = Call {
        context: Context {
            job: Job::Component(ComponentStep {
                run_id: "run-1".into(),
                document: "doc".into(),
                phase: "build".into(),
                step: action.into(),
                iteration: None,
                attempt: 1,
            }),
            ..Context::default()
        },
        grants,
        observer: None,
        action: Some(ActionInput {
            name: action.into(),
            inputs: inputs.into(),
        }),
        query_actions: false,
    };
    sandbox()
        .invoke(&plugin(), call)
        .await
        .expect("invocation set up")
}

/// Runs `action` on `root` and returns its outputs; panics unless it proceeded.
async fn ok(root: &Path, action: &str, inputs: &str) -> String {
    let outcome = act(root_grants(root), action, inputs).await;
    match outcome.result {
        Ok(Verdict::Action {
            outputs,
            next: ActionNext::Proceed,
        }) => outputs,
        other => panic!("{action} {inputs}: {other:?}\nlogs: {:?}", outcome.logs),
    }
}

/// Runs `action` on `root` and returns its error; panics unless it failed.
async fn fails(root: &Path, action: &str, inputs: &str) -> String {
    match act(root_grants(root), action, inputs).await.result {
        Ok(Verdict::Failed(message)) => message,
        other => panic!("{action} {inputs} should fail: {other:?}"),
    }
}

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[tokio::test]
async fn toe_actions_file_modules_create_append_copy_move_list_read_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    ok(root, "CreateFile", r#"[{"path":"/etc/app/a.conf","content":"a=1\n"},{"path":"/etc/app/b.conf","content":"b"}]"#).await;
    assert_eq!(read(root.join("etc/app/a.conf")), "a=1\n");
    ok(
        root,
        "AppendFile",
        r#"[{"path":"/etc/app/a.conf","content":"c=2\n"}]"#,
    )
    .await;
    assert_eq!(read(root.join("etc/app/a.conf")), "a=1\nc=2\n");
    let err = fails(
        root,
        "CreateFile",
        r#"[{"path":"/etc/app/a.conf","overwrite":"false"}]"#,
    )
    .await;
    assert!(
        err.contains("already exists and `overwrite` is false"),
        "{err}"
    );

    ok(
        root,
        "CopyFile",
        r#"[{"source":"/etc/app/a.conf","destination":"/opt/copy/"}]"#,
    )
    .await;
    assert_eq!(read(root.join("opt/copy/a.conf")), "a=1\nc=2\n");
    ok(
        root,
        "MoveFile",
        r#"[{"source":"/opt/copy/a.conf","destination":"/opt/moved.conf"}]"#,
    )
    .await;
    assert!(!root.join("opt/copy/a.conf").exists());
    assert_eq!(read(root.join("opt/moved.conf")), "a=1\nc=2\n");
    ok(
        root,
        "CopyFile",
        r#"[{"source":"/etc/app/*.conf","destination":"/srv/all"}]"#,
    )
    .await;
    assert_eq!(read(root.join("srv/all/b.conf")), "b");

    ok(root, "CreateFolder", r#"[{"path":"/etc/app/sub/deeper"}]"#).await;
    assert!(root.join("etc/app/sub/deeper").is_dir());
    ok(
        root,
        "CopyFolder",
        r#"[{"source":"/etc/app","destination":"/srv/app"}]"#,
    )
    .await;
    assert_eq!(read(root.join("srv/app/b.conf")), "b");
    assert!(root.join("srv/app/sub/deeper").is_dir());
    ok(
        root,
        "MoveFolder",
        r#"[{"source":"/srv/app","destination":"/srv/app2"}]"#,
    )
    .await;
    assert!(!root.join("srv/app").exists() && root.join("srv/app2/a.conf").is_file());

    let listed = ok(
        root,
        "ListFiles",
        r#"[{"path":"/etc/app","fileNamePattern":"*.conf"}]"#,
    )
    .await;
    assert_eq!(listed, r#"{"files":"/etc/app/a.conf,/etc/app/b.conf"}"#);
    std::fs::write(root.join("etc/app/sub/c.conf"), "").unwrap();
    let listed = ok(
        root,
        "ListFiles",
        r#"[{"path":"/etc/app","recursive":true}]"#,
    )
    .await;
    assert_eq!(
        listed,
        r#"{"files":"/etc/app/a.conf,/etc/app/b.conf,/etc/app/sub/c.conf"}"#
    );
    let content = ok(root, "ReadFile", r#"[{"path":"/etc/app/a.conf"}]"#).await;
    assert_eq!(content, r#"{"content":"a=1\nc=2\n"}"#);

    ok(root, "DeleteFile", r#"[{"path":"/srv/all/*.conf"}]"#).await;
    assert_eq!(std::fs::read_dir(root.join("srv/all")).unwrap().count(), 0);
    let err = fails(root, "DeleteFolder", r#"[{"path":"/srv/app2"}]"#).await;
    assert!(err.contains("is not empty"), "{err}");
    ok(
        root,
        "DeleteFolder",
        r#"[{"path":"/srv/app2","force":true}]"#,
    )
    .await;
    assert!(!root.join("srv/app2").exists());
}

#[tokio::test]
async fn toe_actions_encodings_owners_modes_and_links() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    ok(
        root,
        "CreateFile",
        r#"[{"path":"/t.txt","content":"hé","encoding":"utf-16-BE"}]"#,
    )
    .await;
    assert_eq!(
        std::fs::read(root.join("t.txt")).unwrap(),
        [0, b'h', 0, 0xE9]
    );
    let read_back = ok(
        root,
        "ReadFile",
        r#"[{"path":"/t.txt","encoding":"UTF16BE"}]"#,
    )
    .await;
    assert_eq!(read_back, r#"{"content":"hé"}"#);
    std::fs::write(root.join("u.txt"), "A").unwrap();
    ok(
        root,
        "SetFileEncoding",
        r#"[{"path":"/u.txt","encoding":"utf32"}]"#,
    )
    .await;
    assert_eq!(std::fs::read(root.join("u.txt")).unwrap(), [b'A', 0, 0, 0]);
    let err = fails(root, "CreateFile", r#"[{"path":"/v","encoding":"latin1"}]"#).await;
    assert!(err.starts_with("CreateFile: `encoding`: `latin1`"), "{err}");

    ok(
        root,
        "SetFilePermissions",
        r#"[{"path":"/u.txt","permissions":"0640"}]"#,
    )
    .await;
    assert_eq!(
        std::fs::metadata(root.join("u.txt"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o640
    );
    ok(
        root,
        "CreateFile",
        r#"[{"path":"/bin/run","content":"x","permissions":"0755"}]"#,
    )
    .await;
    assert_eq!(
        std::fs::metadata(root.join("bin/run"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o755
    );
    ok(
        root,
        "SetFolderPermissions",
        r#"[{"path":"/bin","permissions":"0700"}]"#,
    )
    .await;
    assert_eq!(
        std::fs::metadata(root.join("bin/run"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o700
    );

    // The owner's primary group comes from the target's own /etc/passwd.
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/passwd"), "builder:x:4242:4343::/:/bin/sh\n").unwrap();
    ok(
        root,
        "SetFileOwner",
        r#"[{"path":"/u.txt","owner":"4242"}]"#,
    )
    .await;
    let meta = std::fs::metadata(root.join("u.txt")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (4242, 4343));

    ok(
        root,
        "CreateSymlink",
        r#"[{"path":"/current","target":"/opt/app-1.2"}]"#,
    )
    .await;
    assert_eq!(
        std::fs::read_link(root.join("current")).unwrap(),
        Path::new("/opt/app-1.2")
    );
    let err = fails(
        root,
        "CreateSymlink",
        r#"[{"path":"/current","target":"/x"}]"#,
    )
    .await;
    assert!(err.contains("`force` is false"), "{err}");
    ok(
        root,
        "CreateSymlink",
        r#"[{"path":"/current","target":"/x","force":true}]"#,
    )
    .await;
    assert_eq!(
        std::fs::read_link(root.join("current")).unwrap(),
        Path::new("/x")
    );
}

#[tokio::test]
async fn toe_actions_assert_and_reboot_and_bad_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("f"), "abc").unwrap();
    ok(root, "Assert", r#"{"and":[{"stringEquals":"A","value":"a"},{"fileExists":"/f"},{"fileMD5Equals":"900150983cd24fb0d6963f7d28e17f72","path":"/f"},{"patternMatches":"^a+b","value":"aab"}]}"#).await;
    let err = fails(root, "Assert", r#"{"not":{"folderExists":"/"}}"#).await;
    assert!(err.starts_with("Assert: assertion does not hold"), "{err}");

    let outcome = act(root_grants(root), "Reboot", "").await;
    assert!(
        matches!(
            outcome.result,
            Ok(Verdict::Action {
                next: ActionNext::Reboot,
                ..
            })
        ),
        "{:?}",
        outcome.result
    );

    let err = fails(root, "CreateFile", r#"[{"path":"/a","colour":"red"}]"#).await;
    assert!(
        err.starts_with("CreateFile: input 1: unknown field `colour`"),
        "{err}"
    );
    let err = fails(root, "CopyFile", r#"[{"source":"/f"}]"#).await;
    assert!(err.contains("missing field `destination`"), "{err}");
    let err = fails(root, "ExecuteBash", r#"["echo"]"#).await;
    assert!(
        err.starts_with("ExecuteBash: inputs must be a mapping"),
        "{err}"
    );
    let err = fails(
        root,
        "S3Download",
        r#"[{"source":"s3://b/k","destination":"/k"}]"#,
    )
    .await;
    assert_eq!(
        err, "S3Download: `s3://b/k`: this call was not given S3 access",
        "the host signs nothing for a call without S3 access"
    );
    let err = fails(root, "Frobnicate", "{}").await;
    assert!(
        err.starts_with("Frobnicate: is not an AWSTOE action module"),
        "{err}"
    );
}

/// Serves `body` to every request (after 301 from `/old`), counting requests.
fn http_server(body: &'static [u8]) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).into_owned();
            let reply = if head.starts_with("GET /old ") {
                b"HTTP/1.1 301 Moved\r\nlocation: /files/hello.txt\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_vec()
            } else {
                let mut r = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                r.extend_from_slice(body);
                r
            };
            let _ = stream.write_all(&reply);
        }
    });
    addr
}

#[tokio::test]
async fn toe_actions_web_download_checks_digests_and_overwrite() {
    let addr = http_server(b"hello davit\n");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let grants = || Grants {
        urls: vec![UrlPrefix::try_from(format!("http://{addr}/").as_str()).unwrap()],
        ..root_grants(root)
    };
    let sums = [
        ("MD5", "c38879f5360ecd7d8734abc9cff7cfe7"),
        ("SHA1", "e64fcb63fd0437beb24d1bf57453186e0baea3f7"),
        (
            "SHA256",
            "8a026cdc779bbfcbf44f1a365fb7257d17a7569fe581389c227fd5e69af320d1",
        ),
        (
            "SHA512",
            "e30c9d187374c818f2c2c4871b0392ae85dafec9fc9e2c4a3cfda51bfd6aa1650fb82e83375ba435798f68bdf840b283b40bb203b0570eaf14ebbd5dd8de240e",
        ),
    ];
    for (algorithm, sum) in sums {
        let inputs = format!(
            r#"[{{"source":"http://{addr}/files/hello.txt","destination":"/dl/{algorithm}/","checksum":"{sum}","algorithm":"{algorithm}"}}]"#
        );
        let outcome = act(grants(), "WebDownload", &inputs).await;
        let want = format!(r#"{{"destination":"/dl/{algorithm}/hello.txt"}}"#);
        assert!(
            matches!(&outcome.result, Ok(Verdict::Action { outputs, .. }) if *outputs == want),
            "{algorithm}: {:?}",
            outcome.result
        );
        assert_eq!(
            read(root.join(format!("dl/{algorithm}/hello.txt"))),
            "hello davit\n"
        );
    }
    // A redirect is followed; a wrong digest leaves no file; overwrite false keeps the old one.
    let inputs = format!(
        r#"[{{"source":"http://{addr}/old","destination":"/r.txt","checksum":"00","algorithm":"sha256"}}]"#
    );
    let outcome = act(grants(), "WebDownload", &inputs).await;
    assert!(
        matches!(&outcome.result, Ok(Verdict::Failed(m)) if m.contains("checksum is 8a026cdc")),
        "{:?}",
        outcome.result
    );
    assert!(!root.join("r.txt").exists() && !root.join("r.txt.davit-part").exists());
    std::fs::write(root.join("keep.txt"), "old").unwrap();
    let inputs = format!(
        r#"[{{"source":"http://{addr}/old","destination":"/keep.txt","overwrite":false}}]"#
    );
    let outcome = act(grants(), "WebDownload", &inputs).await;
    assert!(
        matches!(&outcome.result, Ok(Verdict::Failed(m)) if m.contains("`overwrite` is false")),
        "{:?}",
        outcome.result
    );
    assert_eq!(read(root.join("keep.txt")), "old");
    // Without the url grant, nothing is fetched.
    let inputs =
        format!(r#"[{{"source":"http://{addr}/files/hello.txt","destination":"/no.txt"}}]"#);
    let err = fails(root, "WebDownload", &inputs).await;
    assert!(err.contains("denied by the sandbox"), "{err}");
    assert!(!root.join("no.txt").exists());
}

fn exec_grants(root: &Path) -> Grants {
    let any = ArgPattern::try_from("{any}").unwrap();
    Grants {
        commands: vec![
            CommandGrant::new(AbsPath::try_from("/bin/bash").unwrap(), vec![any]).unwrap(),
        ],
        exec_root: Some(ExecRoot {
            root: Arc::new(Root::open_ambient(root, Resolve::InRoot).unwrap()),
            network: false,
        }),
        ..root_grants(root)
    }
}

#[tokio::test]
async fn toe_actions_execute_bash_runs_in_the_root_and_maps_194_to_a_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let root = crate::attacks_image::mini_root(dir.path());
    let outcome = act(
        exec_grants(&root),
        "ExecuteBash",
        r#"{"commands":["echo hi > /tmp/out","echo $(</tmp/out)","echo $((1+2))"]}"#,
    )
    .await;
    assert_eq!(
        outcome.result,
        Ok(Verdict::Action {
            outputs: r#"{"stdout":"hi\n3\n"}"#.into(),
            next: ActionNext::Proceed
        }),
        "{:?}",
        outcome.logs
    );
    assert_eq!(read(root.join("tmp/out")), "hi\n");
    let leftover: Vec<_> = std::fs::read_dir(root.join("tmp"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name() != "out")
        .collect();
    assert!(leftover.is_empty(), "the script is removed: {leftover:?}");

    let outcome = act(
        exec_grants(&root),
        "ExecuteBash",
        r#"{"commands":["echo again","exit 194"]}"#,
    )
    .await;
    assert_eq!(
        outcome.result,
        Ok(Verdict::Action {
            outputs: r#"{"stdout":"again\n"}"#.into(),
            next: ActionNext::RebootAndRerun
        })
    );
    let outcome = act(
        exec_grants(&root),
        "ExecuteBash",
        r#"{"commands":["echo broken >&2","exit 3"]}"#,
    )
    .await;
    assert_eq!(
        outcome.result,
        Ok(Verdict::Failed(
            "ExecuteBash: `/bin/bash` failed with exit status 3: broken".into()
        ))
    );
}

#[tokio::test]
async fn toe_actions_stay_inside_the_root_through_dot_dot_and_planted_links() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let secret = outside.join("secret");
    std::fs::write(&secret, "host secret").unwrap();
    std::fs::write(root.join("etc/ok"), "inside").unwrap();
    std::os::unix::fs::symlink(&secret, root.join("evil")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("evildir")).unwrap();
    let unchanged = || {
        assert_eq!(read(&secret), "host secret");
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            1,
            "nothing new outside"
        );
    };

    fails(
        &root,
        "CreateFile",
        r#"[{"path":"/../outside/new","content":"x"}]"#,
    )
    .await;
    unchanged();
    fails(
        &root,
        "CreateFile",
        r#"[{"path":"/evil","content":"pwned"}]"#,
    )
    .await;
    unchanged();
    fails(
        &root,
        "AppendFile",
        r#"[{"path":"/evil","content":"pwned"}]"#,
    )
    .await;
    unchanged();
    fails(
        &root,
        "CreateFile",
        r#"[{"path":"/evildir/new","content":"x"}]"#,
    )
    .await;
    unchanged();
    // Copying onto the link replaces the link inside the root, never the file it names.
    let _ = act(
        root_grants(&root),
        "CopyFile",
        r#"[{"source":"/etc/ok","destination":"/evil"}]"#,
    )
    .await;
    unchanged();
    std::fs::remove_file(root.join("evil")).ok();
    std::os::unix::fs::symlink(&secret, root.join("evil")).unwrap();
    let err = fails(
        &root,
        "CopyFile",
        r#"[{"source":"/../outside/secret","destination":"/stolen"}]"#,
    )
    .await;
    assert!(!root.join("stolen").exists(), "{err}");
    fails(
        &root,
        "CopyFile",
        r#"[{"source":"/evil","destination":"/stolen"}]"#,
    )
    .await;
    assert!(!root.join("stolen").exists());
    fails(&root, "ReadFile", r#"[{"path":"/evil"}]"#).await;
    // A mode is set on the link itself (or skipped), never on the file it names.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    let before = mode(&secret);
    let _ = act(
        root_grants(&root),
        "SetFilePermissions",
        r#"[{"path":"/evil","permissions":"0777"}]"#,
    )
    .await;
    assert_eq!(mode(&secret), before);
    fails(&root, "DeleteFile", r#"[{"path":"/evildir/secret"}]"#).await;
    unchanged();
    // Deleting the planted link removes the link itself.
    ok(&root, "DeleteFile", r#"[{"path":"/evil"}]"#).await;
    assert!(std::fs::symlink_metadata(root.join("evil")).is_err());
    unchanged();
}

/// A bucket whose listing names keys that climb out of the prefix (a hostile or broken S3
/// server; a real one is not made to answer this, so a local one does): S3Download refuses the
/// whole step before writing anything, inside the root or out of it.
#[tokio::test]
async fn toe_actions_s3_download_refuses_listed_keys_that_climb_out() {
    let listing: &'static [u8] =
        b"<?xml version=\"1.0\"?><ListBucketResult><IsTruncated>false</IsTruncated>\
        <Contents><Key>p/fine.txt</Key></Contents>\
        <Contents><Key>p/../../etc/evil</Key></Contents></ListBucketResult>";
    let addr = http_server(listing);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let access = davit_sandbox::S3Access::from_vars(|k| {
        (k == "AWS_ENDPOINT_URL").then(|| format!("http://{addr}"))
    })
    .unwrap();
    let grants = Grants {
        urls: vec![UrlPrefix::try_from(format!("http://{addr}/bucket/p").as_str()).unwrap()],
        s3: Some(access),
        ..root_grants(&root)
    };
    let outcome = act(
        grants,
        "S3Download",
        r#"[{"source":"s3://bucket/p/*","destination":"/opt/dl"}]"#,
    )
    .await;
    assert!(
        matches!(&outcome.result, Ok(Verdict::Failed(m))
            if m.contains("`p/../../etc/evil` does not name a path below the prefix")),
        "{:?}",
        outcome.result
    );
    assert!(!root.join("opt/dl").exists(), "nothing was written");
    assert!(!root.join("etc/evil").exists() && !dir.path().join("etc/evil").exists());
}
