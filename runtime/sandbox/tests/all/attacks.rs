//! The attack suite: each hostile guest is run and its specific containment asserted.

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use davit_sandbox::{Access, Fault, Grants, Outcome, Stream, Verdict};
use davit_spec::{AbsPath, ArgPattern, CommandGrant, TcpTarget, UrlPrefix};

use crate::support::*;

/// A read-only `/data` holding a file, plus symlinks that point out of it, and a secret beside it.
fn data_dir() -> (tempfile::TempDir, Grants) {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("keep.txt"), "original").unwrap();
    std::fs::write(root.path().join("secret.txt"), "secret").unwrap();
    std::os::unix::fs::symlink("/etc/hostname", data.join("abs-link")).unwrap();
    std::os::unix::fs::symlink("..", data.join("up-link")).unwrap();
    std::os::unix::fs::symlink(root.path(), data.join("dir-link")).unwrap();
    let grants = Grants {
        mounts: vec![mount(&data, "/data", Access::Read)],
        ..Grants::default()
    };
    (root, grants)
}

#[tokio::test]
async fn path_traversal_with_dot_dot_is_refused() {
    let (_root, grants) = data_dir();
    assert_contained(&run("fs-traversal", grants, &[]).await, "not permitted");
}

#[tokio::test]
async fn an_absolute_path_outside_every_grant_is_not_found() {
    let (_root, grants) = data_dir();
    assert_no_preopen(&run("fs-absolute", grants, &[]).await);
}

#[tokio::test]
async fn a_symlink_to_an_absolute_path_is_not_followed() {
    let (_root, grants) = data_dir();
    assert_contained(
        &run("fs-symlink-absolute", grants, &[]).await,
        "not permitted",
    );
}

#[tokio::test]
async fn a_relative_symlink_climbing_out_is_not_followed() {
    let (_root, grants) = data_dir();
    assert_contained(
        &run("fs-symlink-relative", grants, &[]).await,
        "not permitted",
    );
}

#[tokio::test]
async fn a_trailing_slash_does_not_escape_through_a_symlink() {
    let (_root, grants) = data_dir();
    assert_contained(
        &run("fs-trailing-slash", grants, &[]).await,
        "not permitted",
    );
}

#[tokio::test]
async fn writing_a_read_only_grant_creates_nothing() {
    let (root, grants) = data_dir();
    assert_contained(&run("fs-write-readonly", grants, &[]).await, "ermi");
    assert!(!root.path().join("data/planted.txt").exists());
}

#[tokio::test]
async fn truncating_a_read_only_file_leaves_it_whole() {
    let (root, grants) = data_dir();
    assert_contained(&run("fs-truncate-readonly", grants, &[]).await, "ermi");
    assert_eq!(
        std::fs::read_to_string(root.path().join("data/keep.txt")).unwrap(),
        "original"
    );
}

#[tokio::test]
async fn renaming_in_a_read_only_grant_is_refused() {
    let (root, grants) = data_dir();
    assert_contained(&run("fs-rename-readonly", grants, &[]).await, "ermi");
    assert!(root.path().join("data/keep.txt").exists());
    assert!(!root.path().join("data/moved.txt").exists());
}

#[tokio::test]
async fn deleting_in_a_read_only_grant_is_refused() {
    let (root, grants) = data_dir();
    assert_contained(&run("fs-remove-readonly", grants, &[]).await, "ermi");
    assert!(root.path().join("data/keep.txt").exists());
}

#[tokio::test]
async fn a_symlink_to_an_absolute_host_path_cannot_be_planted() {
    let work = tempfile::tempdir().unwrap();
    let grants = Grants {
        mounts: vec![mount(work.path(), "/work", Access::ReadWrite)],
        ..Grants::default()
    };
    assert_contained(&run("fs-plant-symlink", grants, &[]).await, "not-permitted");
    assert!(std::fs::symlink_metadata(work.path().join("shadow-link")).is_err());
}

#[tokio::test]
async fn without_a_directory_grant_there_is_no_filesystem() {
    assert_no_preopen(&run("fs-ungranted-bundle", Grants::default(), &[]).await);
}

/// A path under no preopened directory never reaches the host: wasi-libc answers it itself, with
/// ENOENT in the wasi-libc that rustup's `wasm32-wasip2` ships and ENOTCAPABLE in Debian's.
#[track_caller]
fn assert_no_preopen(outcome: &Outcome) {
    assert_contained(outcome, "");
    let denied = ["No such file or directory", "Capabilities insufficient"];
    let Ok(Verdict::Failed(message)) = &outcome.result else {
        unreachable!()
    };
    assert!(
        denied.iter().any(|d| message.contains(d)),
        "expected ENOENT or ENOTCAPABLE in `{message}`"
    );
}

/// A listener that counts the connections it accepts.
fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, addr)
}

fn accepted(listener: &TcpListener) -> usize {
    std::iter::from_fn(|| listener.accept().ok()).count()
}

#[tokio::test]
async fn tcp_without_a_grant_is_refused_before_connecting() {
    let (listener, addr) = listener();
    assert_contained(
        &run("tcp-no-grant", Grants::default(), &[("address", &addr)]).await,
        "access-denied",
    );
    assert_eq!(accepted(&listener), 0);
}

#[tokio::test]
async fn tcp_to_a_port_beside_the_granted_one_is_refused() {
    let (granted, granted_addr) = listener();
    let (other, other_addr) = listener();
    let grants = Grants {
        tcp: vec![TcpTarget::try_from(granted_addr.as_str()).unwrap()],
        ..Grants::default()
    };
    let outcome = run(
        "tcp-other-port",
        grants,
        &[("granted", &granted_addr), ("other", &other_addr)],
    )
    .await;
    assert_contained(&outcome, "access-denied");
    assert_eq!(accepted(&granted), 1, "the granted connection went through");
    assert_eq!(accepted(&other), 0);
}

#[tokio::test]
async fn name_lookup_without_a_grant_is_refused() {
    assert_contained(
        &run("dns-no-grant", Grants::default(), &[]).await,
        "permanent-resolver-failure",
    );
}

#[tokio::test]
async fn udp_is_never_granted() {
    assert_contained(
        &run("udp-no-grant", Grants::default(), &[]).await,
        "access-denied",
    );
}

/// A tiny HTTP server that answers 200 to everything and counts requests.
fn http_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::Write;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    (addr, hits)
}

#[tokio::test]
async fn http_outside_the_url_grant_is_denied() {
    let (granted, granted_hits) = http_server();
    let (other, other_hits) = http_server();
    let grants = Grants {
        urls: vec![UrlPrefix::try_from(format!("http://{granted}/").as_str()).unwrap()],
        ..Grants::default()
    };
    let outcome = run(
        "http-outside-grant",
        grants,
        &[("granted", &granted), ("other", &other)],
    )
    .await;
    assert_contained(&outcome, "HttpRequestDenied");
    assert_eq!(granted_hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(other_hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert!(
        outcome
            .logs
            .iter()
            .any(|l| l.text.contains("not under any of the hook's url grants"))
    );
}

#[tokio::test]
async fn dot_dot_in_a_url_does_not_climb_out_of_the_granted_path() {
    let (granted, hits) = http_server();
    let grants = Grants {
        urls: vec![UrlPrefix::try_from(format!("http://{granted}/allowed/").as_str()).unwrap()],
        ..Grants::default()
    };
    assert_contained(
        &run("http-path-escape", grants, &[("granted", &granted)]).await,
        "HttpRequestDenied",
    );
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_cloud_metadata_address_is_not_reachable() {
    assert_contained(
        &run("http-metadata", Grants::default(), &[]).await,
        "HttpRequestDenied",
    );
}

fn command(program: &str, args: &[&str]) -> CommandGrant {
    let args = args
        .iter()
        .map(|a| ArgPattern::try_from(*a).unwrap())
        .collect();
    CommandGrant::new(AbsPath::try_from(program).unwrap(), args).unwrap()
}

#[tokio::test]
async fn a_command_outside_the_allow_list_is_denied() {
    let outcome = run("cmd-not-granted", Grants::default(), &[]).await;
    assert_contained(&outcome, "Denied");
    assert!(!std::path::Path::new("/tmp/davit-pwned").exists());
}

#[tokio::test]
async fn an_argument_outside_the_granted_pattern_is_denied() {
    let grants = Grants {
        commands: vec![command("/bin/echo", &["hello"])],
        ..Grants::default()
    };
    let outcome = run("cmd-arg-injection", grants, &[]).await;
    assert_contained(&outcome, "Denied");
    assert!(
        outcome.logs.iter().any(|l| l.text == "granted: hello"),
        "{:?}",
        outcome.logs
    );
}

#[tokio::test]
async fn a_log_file_outside_a_read_write_grant_is_refused() {
    let grants = Grants {
        commands: vec![command("/bin/sleep", &["1"])],
        ..Grants::default()
    };
    assert_contained(
        &run("spawn-log-outside", grants, &[]).await,
        "not under a read-write directory grant",
    );
    assert!(!std::path::Path::new("/etc/davit-pwned.log").exists());
}

#[tokio::test]
async fn a_hook_blocked_in_a_command_times_out_and_the_command_is_killed() {
    let marker = "4242";
    let grants = Grants {
        commands: vec![command("/bin/sleep", &[marker])],
        limits: limits(1000),
        ..Grants::default()
    };
    let started = Instant::now();
    let outcome = run("cmd-hang", grants, &[("seconds", marker)]).await;
    assert_eq!(
        outcome.result,
        Err(Fault::Timeout {
            limit: Duration::from_secs(1)
        })
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(200));
    let ps = std::process::Command::new("ps")
        .args(["-eo", "args"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&ps.stdout).contains("sleep 4242"),
        "the command outlived its hook"
    );
}

#[tokio::test]
async fn environment_variables_are_not_inherited() {
    // SAFETY: set before any guest reads it; no other thread of this test reads it.
    unsafe { std::env::set_var("DAVIT_TEST_SECRET", "hunter2") };
    let grants = Grants {
        env: vec![("GRANTED".into(), "yes".into())],
        ..Grants::default()
    };
    let outcome = run("env-not-granted", grants, &[]).await;
    assert_contained(&outcome, "environment variable not found");
    assert!(
        outcome
            .logs
            .iter()
            .any(|l| l.text == r#"visible: ["GRANTED"]"#),
        "{:?}",
        outcome.logs
    );
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_at_the_timeout() {
    let grants = Grants {
        limits: limits(500),
        ..Grants::default()
    };
    let started = Instant::now();
    let outcome = run("infinite-loop", grants, &[]).await;
    assert_eq!(
        outcome.result,
        Err(Fault::Timeout {
            limit: Duration::from_millis(500)
        })
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_hook_asleep_in_a_host_call_is_stopped_at_the_timeout() {
    let grants = Grants {
        limits: limits(500),
        ..Grants::default()
    };
    let started = Instant::now();
    let outcome = run("sleep-forever", grants, &[]).await;
    assert_eq!(
        outcome.result,
        Err(Fault::Timeout {
            limit: Duration::from_millis(500)
        })
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_memory_bomb_hits_the_memory_limit() {
    let grants = Grants {
        limits: davit_sandbox::Limits {
            memory: 64 << 20,
            ..limits(10_000)
        },
        ..Grants::default()
    };
    let outcome = run("memory-bomb", grants, &[]).await;
    match outcome.result {
        Err(Fault::MemoryLimit { limit, requested }) => {
            assert_eq!(limit, 64 << 20);
            assert!(requested > limit);
        }
        other => panic!("expected the memory limit, got {other:?}"),
    }
    assert!(outcome.peak_memory <= 64 << 20);
}

#[tokio::test]
async fn deep_recursion_overflows_the_wasm_stack_not_the_host() {
    let outcome = run("deep-recursion", Grants::default(), &[]).await;
    assert_eq!(outcome.result, Err(Fault::StackOverflow));
}

#[tokio::test]
async fn an_output_flood_is_cut_not_fatal() {
    let grants = Grants {
        limits: davit_sandbox::Limits {
            output: 64 << 10,
            ..limits(30_000)
        },
        ..Grants::default()
    };
    let outcome = run("output-flood", grants, &[]).await;
    assert_eq!(outcome.result, Ok(Verdict::Succeeded));
    let kept: usize = outcome.logs.iter().map(|l| l.text.len() + 1).sum();
    assert!(kept <= 64 << 10, "kept {kept} bytes");
    assert!(
        outcome.dropped_output > 90_000_000,
        "dropped {}",
        outcome.dropped_output
    );
}

#[tokio::test]
async fn a_panic_is_a_trap_with_its_message_in_the_log() {
    let outcome = run("trap-panic", Grants::default(), &[]).await;
    assert!(
        matches!(&outcome.result, Err(Fault::Trap { message }) if message.contains("unreachable")),
        "{:?}",
        outcome.result
    );
    assert!(
        outcome
            .logs
            .iter()
            .any(|l| l.stream == Stream::Stderr && l.text.contains("boom from the guest"))
    );
}

#[tokio::test]
async fn exit_instead_of_a_result_is_a_fault_not_a_success() {
    // WASI 0.2 `exit` carries only ok/err, so `exit(7)` arrives as status 1.
    let outcome = run("exit-early", Grants::default(), &[]).await;
    assert_eq!(outcome.result, Err(Fault::Exit { code: 1 }));
}

#[tokio::test]
async fn log_lines_cannot_forge_lines_or_escapes() {
    let outcome = run("log-injection", Grants::default(), &[]).await;
    let texts: Vec<&str> = outcome.logs.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts[..2], ["first", "sandbox: hook succeeded[2J[31mred"]);
    assert!(outcome.logs.iter().all(|l| !l.text.contains('\x1b')));
}

#[test]
fn malformed_components_are_refused_with_a_typed_error() {
    for (bytes, what) in [
        (b"not wasm at all".to_vec(), "garbage"),
        (b"\0asm\x01\0\0\0".to_vec(), "a core module"),
        (
            b"\0asm\x0d\0\x01\0\x01\x02".to_vec(),
            "a truncated component",
        ),
    ] {
        match sandbox().load(&bytes) {
            Err(davit_sandbox::SandboxError::InvalidComponent { reason, .. }) => {
                assert!(!reason.is_empty(), "{what}")
            }
            Err(other) => panic!("{what}: unexpected error {other}"),
            Ok(_) => panic!("{what} loaded"),
        }
    }
}
