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
        "access-denied",
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
    assert_eq!(
        texts[..2],
        ["first", "(hook) sandbox: hook succeeded[2J[31mred"]
    );
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

// ---------------------------------------------------------------------------------------------
// Network and resources outside linear memory (issue 8, points 4 and 7): name lookups only for
// granted names, https to the checked address, and bounds on handles, connections, requests and
// bytes written, each ending the hook with a typed fault.
// ---------------------------------------------------------------------------------------------

mod bounded {
    use std::io::Read;
    use std::net::{IpAddr, TcpListener};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, OnceLock};
    use std::time::Duration;

    use davit_sandbox::{
        Access, Fault, Grants, Limits, Outcome, Resolver, ResourceKind, Sandbox, SandboxError,
    };
    use davit_spec::{TcpTarget, UrlPrefix};

    use super::{accepted, listener};
    use crate::support::{assert_contained, call, guest_dir, limits, mount, run, sandbox};

    /// Names only this test process knows, and every name the host asked about.
    struct TableResolver {
        asked: Arc<Mutex<Vec<String>>>,
    }

    const TABLE: &[(&str, &[&str])] = &[
        ("localhost", &["127.0.0.1"]),
        ("svc.davit.test", &["127.0.0.1", "127.0.0.2"]),
        ("rebind.davit.test", &["127.0.0.1"]),
    ];

    impl Resolver for TableResolver {
        fn lookup(
            &self,
            name: &str,
        ) -> std::pin::Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
            self.asked.lock().unwrap().push(name.to_string());
            let found = TABLE
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, ips)| ips.iter().map(|ip| ip.parse().unwrap()).collect());
            Box::pin(async move {
                found.ok_or_else(|| std::io::Error::other("not in the test's table"))
            })
        }
    }

    /// A second sandbox whose grant names resolve through [`TableResolver`].
    fn resolving() -> &'static (Sandbox, Arc<Mutex<Vec<String>>>) {
        static SANDBOX: OnceLock<(Sandbox, Arc<Mutex<Vec<String>>>)> = OnceLock::new();
        SANDBOX.get_or_init(|| {
            let asked = Arc::new(Mutex::new(Vec::new()));
            let resolver = TableResolver {
                asked: asked.clone(),
            };
            let sandbox = Sandbox::new(None).expect("sandbox").with_resolver(resolver);
            (sandbox, asked)
        })
    }

    fn asked() -> Vec<String> {
        resolving().1.lock().unwrap().clone()
    }

    async fn run_resolving(name: &str, grants: Grants, params: &[(&str, &str)]) -> Outcome {
        let wasm = std::fs::read(guest_dir().join(format!("{name}.wasm"))).expect("guest built");
        let sandbox = &resolving().0;
        let plugin = sandbox.load(&wasm).expect("guest loads");
        sandbox
            .invoke(&plugin, call(grants, params))
            .await
            .expect("invocation set up")
    }

    fn logged(outcome: &Outcome, needle: &str) -> bool {
        outcome.logs.iter().any(|l| l.text.contains(needle))
    }

    #[track_caller]
    fn assert_bound(outcome: &Outcome, resource: ResourceKind, limit: u64) {
        assert_eq!(
            outcome.result,
            Err(Fault::ResourceLimit { resource, limit }),
            "logs: {:?}",
            outcome.logs
        );
        let line = format!("sandbox: hook hit its limit of {limit} {resource}");
        assert!(logged(outcome, &line), "no `{line}` in {:?}", outcome.logs);
    }

    #[tokio::test]
    async fn a_tcp_grant_by_name_lets_the_hook_resolve_no_other_name() {
        let (_listener, addr) = listener();
        let port = addr.rsplit(':').next().unwrap();
        let other = "exfil-a1b2c3.davit.test";
        let grants = Grants {
            tcp: vec![TcpTarget::try_from(format!("localhost:{port}").as_str()).unwrap()],
            ..Grants::default()
        };
        let outcome = run_resolving(
            "dns-other-name",
            grants,
            &[("granted", "localhost"), ("other", other)],
        )
        .await;
        assert_contained(&outcome, "access-denied");
        assert!(
            logged(&outcome, r#"granted: ["127.0.0.1"]"#),
            "{:?}",
            outcome.logs
        );
        assert!(logged(
            &outcome,
            &format!("sandbox: name lookup denied: `{other}` is not the name")
        ));
        let asked = asked();
        assert!(asked.iter().any(|n| n == "localhost"));
        assert!(
            !asked.iter().any(|n| n.contains("exfil-a1b2c3")),
            "the host looked up {asked:?}"
        );
    }

    /// The system resolver knows nothing of `svc.davit.test`: the guest's answer is the one the
    /// host got at set-up, in its order, and nothing was looked up for the guest.
    #[tokio::test]
    async fn a_granted_name_answers_exactly_its_set_up_addresses() {
        let grants = Grants {
            tcp: vec![TcpTarget::try_from("svc.davit.test:9").unwrap()],
            ..Grants::default()
        };
        let before = asked().iter().filter(|n| *n == "svc.davit.test").count();
        let outcome = run_resolving(
            "dns-other-name",
            grants,
            &[
                ("granted", "SVC.davit.test"),
                ("other", "svc.davit.test.evil"),
            ],
        )
        .await;
        assert_contained(&outcome, "access-denied");
        assert!(
            logged(&outcome, r#"granted: ["127.0.0.1", "127.0.0.2"]"#),
            "{:?}",
            outcome.logs
        );
        let after = asked().iter().filter(|n| *n == "svc.davit.test").count();
        assert_eq!(after, before + 1, "resolved once, at set-up");
        assert!(!asked().iter().any(|n| n.contains("evil")));
    }

    #[tokio::test]
    async fn https_to_a_granted_name_resolving_to_a_private_address_is_refused() {
        let (listener, addr) = listener();
        let port = addr.rsplit(':').next().unwrap();
        let authority = format!("rebind.davit.test:{port}");
        let grants = Grants {
            urls: vec![UrlPrefix::try_from(format!("https://{authority}/").as_str()).unwrap()],
            ..Grants::default()
        };
        let outcome = run_resolving("https-rebind", grants, &[("authority", &authority)]).await;
        assert_contained(&outcome, "HttpRequestDenied");
        assert!(logged(
            &outcome,
            "`rebind.davit.test` resolves to 127.0.0.1, which a name grant may not reach"
        ));
        assert_eq!(
            accepted(&listener),
            0,
            "nothing reached the private address"
        );
        assert!(asked().iter().any(|n| n == "rebind.davit.test"));
    }

    #[tokio::test]
    async fn tcp_connections_past_the_limit_are_refused_and_fault_the_hook() {
        let (listener, addr) = listener();
        let grants = Grants {
            tcp: vec![TcpTarget::try_from(addr.as_str()).unwrap()],
            limits: Limits {
                tcp_connections: 3,
                ..limits(10_000)
            },
            ..Grants::default()
        };
        let outcome = run("tcp-connect-flood", grants, &[("address", &addr)]).await;
        assert_bound(&outcome, ResourceKind::TcpConnections, 3);
        assert!(logged(
            &outcome,
            &format!("sandbox: refused a tcp connection to {addr}: the hook reached its limit")
        ));
        assert_eq!(
            accepted(&listener),
            3,
            "the fourth connection never reached it"
        );
    }

    /// An HTTP server that answers 200 to each request and counts them.
    fn answering_server() -> (String, Arc<AtomicUsize>) {
        use std::io::Write;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
            }
        });
        (addr, hits)
    }

    #[tokio::test]
    async fn http_requests_past_the_total_are_denied_and_fault_the_hook() {
        let (addr, hits) = answering_server();
        let grants = Grants {
            urls: vec![UrlPrefix::try_from(format!("http://{addr}/").as_str()).unwrap()],
            limits: Limits {
                http_requests: 4,
                ..limits(10_000)
            },
            ..Grants::default()
        };
        let outcome = run("http-request-flood", grants, &[("granted", &addr)]).await;
        assert_bound(&outcome, ResourceKind::HttpRequests, 4);
        assert!(logged(
            &outcome,
            &format!("sandbox: refused `GET http://{addr}/flood`: the hook reached its limit")
        ));
        assert_eq!(hits.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn http_requests_in_flight_are_bounded() {
        // A server that accepts and never answers, holding every connection.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                held.push(stream);
            }
        });
        let grants = Grants {
            urls: vec![UrlPrefix::try_from(format!("http://{addr}/").as_str()).unwrap()],
            limits: Limits {
                http_in_flight: 3,
                ..limits(10_000)
            },
            ..Grants::default()
        };
        let outcome = run(
            "http-in-flight",
            grants,
            &[("granted", &addr), ("count", "4")],
        )
        .await;
        assert_bound(&outcome, ResourceKind::HttpInFlight, 3);
        std::thread::sleep(Duration::from_millis(100));
        assert!(seen.load(Ordering::SeqCst) <= 3, "more than 3 connections");
    }

    #[tokio::test]
    async fn open_handles_are_bounded_by_a_typed_fault() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("keep.txt"), "x").unwrap();
        let grants = Grants {
            mounts: vec![mount(root.path(), "/data", Access::Read)],
            limits: Limits {
                handles: 64,
                ..limits(10_000)
            },
            ..Grants::default()
        };
        let outcome = run("handle-flood", grants, &[]).await;
        assert_eq!(
            outcome.result,
            Err(Fault::ResourceLimit {
                resource: ResourceKind::Handles,
                limit: 64
            }),
            "logs: {:?}",
            outcome.logs
        );
    }

    fn scratch(disk_write: u64) -> (tempfile::TempDir, Grants) {
        let dir = tempfile::tempdir().unwrap();
        let grants = Grants {
            mounts: vec![mount(dir.path(), "/scratch", Access::ReadWrite)],
            limits: Limits {
                disk_write,
                ..limits(30_000)
            },
            ..Grants::default()
        };
        (dir, grants)
    }

    #[tokio::test]
    async fn streamed_writes_past_the_disk_limit_fail_and_fault_the_hook() {
        let (dir, grants) = scratch(1 << 20);
        let outcome = run("disk-fill-stream", grants, &[]).await;
        assert_bound(&outcome, ResourceKind::DiskWrite, 1 << 20);
        assert!(logged(&outcome, "sandbox: refused a write of "));
        let size = std::fs::metadata(dir.path().join("fill.bin"))
            .unwrap()
            .len();
        assert!(size <= 1 << 20, "{size} bytes on disk");
    }

    #[tokio::test]
    async fn positioned_writes_past_the_disk_limit_fail_and_fault_the_hook() {
        let (dir, grants) = scratch(1 << 20);
        let outcome = run("disk-fill-pwrite", grants, &[]).await;
        assert_bound(&outcome, ResourceKind::DiskWrite, 1 << 20);
        let size = std::fs::metadata(dir.path().join("fill.bin"))
            .unwrap()
            .len();
        assert!(size <= 1 << 20, "{size} bytes on disk");
    }

    #[tokio::test]
    async fn growing_a_file_past_the_disk_limit_is_refused() {
        let (dir, grants) = scratch(1 << 20);
        let outcome = run("disk-fill-set-size", grants, &[]).await;
        assert_bound(&outcome, ResourceKind::DiskWrite, 1 << 20);
        assert!(logged(
            &outcome,
            "sandbox: refused growing a file from 0 to 1099511627776 bytes"
        ));
        let size = std::fs::metadata(dir.path().join("sparse.bin"))
            .unwrap()
            .len();
        assert_eq!(size, 0);
    }

    #[test]
    fn a_component_over_the_size_limit_is_refused_before_compiling() {
        let wasm = std::fs::read(guest_dir().join("log-line.wasm")).expect("guest built");
        let limits = Limits {
            component_size: 1024,
            ..Limits::default()
        };
        match sandbox().load_limited(&wasm, &limits) {
            Err(SandboxError::ComponentTooLarge { size, limit }) => {
                assert_eq!((size, limit), (wasm.len() as u64, 1024));
            }
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("loaded"),
        }
    }

    #[test]
    fn a_compile_past_its_deadline_is_a_typed_error() {
        let mut wasm = std::fs::read(guest_dir().join("log-line.wasm")).expect("guest built");
        // A custom section makes the digest new, so nothing is reused from an earlier load.
        let name = b"davit-compile-deadline-test";
        wasm.extend_from_slice(&[0, name.len() as u8 + 1, name.len() as u8]);
        wasm.extend_from_slice(name);
        let limits = Limits {
            compile_time: Duration::from_micros(1),
            ..Limits::default()
        };
        match sandbox().load_limited(&wasm, &limits) {
            Err(SandboxError::CompileTimeout { limit, .. }) => {
                assert_eq!(limit, Duration::from_micros(1));
            }
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("compiled within a microsecond"),
        }
    }
}
