//! Benchmark: warm sandboxed hooks next to `bash` running the same one-line script, and a
//! component's first compile next to its load from the on-disk cache. Prints a table and the
//! ratios; asserts nothing about time.
//!
//! Run: `scripts/build-guests --only tests && cargo bench -p davit-sandbox --bench hooks`
//! (release build). `DAVIT_BENCH_RUNS` sets the number of warm invocations per hook (default
//! 2000; bash gets a quarter as many, at least 100).
//!
//! Two hooks, each timed from the call to the result with a fresh store (wasm) or a fresh process
//! (bash) every time, as a deployment runs them:
//! - `log-line` (tests/guests): logs one line naming its event and deployment; bash `echo`es it.
//! - hello-web's AfterInstall (`examples/hello-web/hooks/after-install.wasm`): writes
//!   `config.json` and `hello-web.conf` into a granted directory and logs a line for each; the
//!   bash script writes the same two files with the same contents. File system calls dominate
//!   both, so the same two writes from native Rust are timed too.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use davit_sandbox::{
    Access, CacheUse, Call, Context, DeploymentInfo, Grants, Job, Mount, Plugin, Sandbox,
};

const REVISION: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const DEPLOYMENT: &str = "d-BENCH0001";

const LOG_LINE: &str = r#"echo "$LIFECYCLE_EVENT: hello from $DEPLOYMENT_ID""#;
const WRITE_CONFIG: &str = concat!(
    r#"d="$1"; "#,
    r#"printf '{\n  "port": %s,\n  "version": "%s",\n  "revision": "%s",\n  "deployment": "%s"\n}\n' 8080 1 "$REVISION" "$DEPLOYMENT_ID" > "$d/config.json" && echo "wrote $d/config.json"; "#,
    r#"printf '# Written by the hello-web AfterInstall hook, deployment %s.\nport=%s\nversion=%s\nrevision=%s\n' "$DEPLOYMENT_ID" 8080 1 "$REVISION" > "$d/hello-web.conf" && echo "wrote $d/hello-web.conf""#,
);

fn main() {
    let runs: usize = std::env::var("DAVIT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let bash_runs = (runs / 4).max(100);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let read = |path: &str| {
        let path = repo.join(path);
        std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run `scripts/build-guests --only tests` first)",
                path.display()
            )
        })
    };
    let log_line = read("target/guests/wasm/log-line.wasm");
    let after_install = read("examples/hello-web/hooks/after-install.wasm");
    let scratch = tempfile::tempdir().expect("scratch directory");
    // The runtime the `davit` binary runs hooks on.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let sandbox = Sandbox::new(None).expect("sandbox");

    println!(
        "{:<44} {:>6} {:>10} {:>10}",
        "warm hook, call to result", "runs", "p50", "p99"
    );
    let wasm = {
        let plugin = sandbox.load(&log_line).expect("component loads");
        runtime.block_on(warm_hook(&sandbox, &plugin, None, runs))
    };
    let bash = bash_hook(LOG_LINE, None, bash_runs);
    report("log-line", &wasm, &bash);

    let (wasm_dir, bash_dir) = (scratch.path().join("wasm"), scratch.path().join("bash"));
    let wasm = {
        std::fs::create_dir(&wasm_dir).unwrap();
        let plugin = sandbox.load(&after_install).expect("component loads");
        runtime.block_on(warm_hook(&sandbox, &plugin, Some(&wasm_dir), runs))
    };
    std::fs::create_dir(&bash_dir).unwrap();
    let bash = bash_hook(WRITE_CONFIG, Some(&bash_dir), bash_runs);
    for file in ["config.json", "hello-web.conf"] {
        let (w, b) = (
            std::fs::read_to_string(wasm_dir.join(file)).unwrap(),
            std::fs::read_to_string(bash_dir.join(file)).unwrap(),
        );
        assert_eq!(w, b, "the two hooks must write the same `{file}`");
    }
    report("hello-web AfterInstall (2 file writes)", &wasm, &bash);
    let native = native_writes(&wasm_dir, runs);
    row("  the same 2 writes from native Rust", runs, &native);
    let (w50, n50) = (percentile(&wasm, 50.0), percentile(&native, 50.0));
    println!(
        "  ratio wasm/native: p50 {:.1}x, p99 {:.1}x (goal 2.5x: {})",
        ratio(w50, n50),
        ratio(percentile(&wasm, 99.0), percentile(&native, 99.0)),
        if w50 * 2 <= n50 * 5 { "met" } else { "not met" }
    );

    let (compile, cached) = compile_vs_cached(&after_install, scratch.path());
    println!();
    println!(
        "{:<44} {:>10}",
        format!("component load ({} KiB)", after_install.len() / 1024),
        "median"
    );
    println!("{:<44} {:>10}", "first compile (cranelift)", fmt(compile));
    println!("{:<44} {:>10}", "from the on-disk cache", fmt(cached));
    println!("ratio compile/cached: {:.0}x", ratio(compile, cached));
}

/// Prints the two rows of a hook and their ratios, against the goal of 1/50.
fn report(name: &str, wasm: &[Duration], bash: &[Duration]) {
    row(&format!("{name}: davit sandbox"), wasm.len(), wasm);
    row(&format!("{name}: bash -c"), bash.len(), bash);
    let (w50, b50) = (percentile(wasm, 50.0), percentile(bash, 50.0));
    println!(
        "  ratio bash/wasm: p50 {:.1}x, p99 {:.1}x (goal 50x: {})",
        ratio(b50, w50),
        ratio(percentile(bash, 99.0), percentile(wasm, 99.0)),
        if w50 * 50 <= b50 { "met" } else { "not met" }
    );
}

/// Median times of compiling the component into a fresh cache, and of loading it back from
/// that cache in a new sandbox (each sandbox keeps loaded components in memory, so every
/// measurement needs its own).
fn compile_vs_cached(wasm: &[u8], scratch: &Path) -> (Duration, Duration) {
    let mut compiled = Vec::new();
    let mut cached = Vec::new();
    for i in 0..5 {
        let dir: PathBuf = scratch.join(format!("cache-{i}"));
        for (expect, into) in [
            (CacheUse::Compiled, &mut compiled),
            (CacheUse::Cached, &mut cached),
        ] {
            let sandbox = Sandbox::new(Some(dir.clone())).expect("sandbox");
            let (used, took) = sandbox.load(wasm).expect("component loads").load_stats();
            assert_eq!(used, expect);
            into.push(took);
        }
    }
    (percentile(&compiled, 50.0), percentile(&cached, 50.0))
}

async fn warm_hook(
    sandbox: &Sandbox,
    plugin: &Plugin,
    config_dir: Option<&Path>,
    runs: usize,
) -> Vec<Duration> {
    let call = || Call {
        context: Context {
            job: Job::deployment(
                "AfterInstall",
                DeploymentInfo {
                    id: DEPLOYMENT.into(),
                    application: "hello-web".into(),
                    deployment_group: "bench".into(),
                    revision: REVISION.into(),
                    last_good_revision: None,
                },
            ),
            parameters: vec![
                ("port".into(), "8080".into()),
                ("version".into(), "1".into()),
                ("config_dir".into(), "/etc/hello-web".into()),
            ],
            ..Context::default()
        },
        grants: Grants {
            mounts: config_dir
                .map(|dir| {
                    Mount::open(dir, "/etc/hello-web", Access::ReadWrite).expect("mount opens")
                })
                .into_iter()
                .collect(),
            ..Grants::default()
        },
        observer: None,
        action: None,
        query_actions: false,
    };
    // Warm up: the first calls touch fresh pooling-allocator slots.
    for _ in 0..20 {
        sandbox.invoke(plugin, call()).await.expect("invoke");
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let call = call();
        let started = Instant::now();
        let outcome = sandbox.invoke(plugin, call).await.expect("invoke");
        times.push(started.elapsed());
        assert!(outcome.succeeded(), "{:?}", outcome.result);
    }
    times
}

/// `script` run by a fresh `bash -c` with CodeDeploy's variables and `dir` as `$1`.
fn bash_hook(script: &str, dir: Option<&Path>, runs: usize) -> Vec<Duration> {
    let dir = dir.map(|d| d.display().to_string()).unwrap_or_default();
    let run = || {
        let output = Command::new("bash")
            .args(["-c", script, "hook", &dir])
            .env("LIFECYCLE_EVENT", "AfterInstall")
            .env("REVISION", REVISION)
            .env("DEPLOYMENT_ID", DEPLOYMENT)
            .output()
            .expect("bash runs");
        assert!(output.status.success(), "{output:?}");
    };
    for _ in 0..10 {
        run();
    }
    timed(runs, run)
}

/// The file system work of the AfterInstall hook, without a sandbox or a process.
fn native_writes(dir: &Path, runs: usize) -> Vec<Duration> {
    let json = std::fs::read(dir.join("config.json")).unwrap();
    let conf = std::fs::read(dir.join("hello-web.conf")).unwrap();
    timed(runs, || {
        std::fs::write(dir.join("config.json"), &json).unwrap();
        std::fs::write(dir.join("hello-web.conf"), &conf).unwrap();
    })
}

fn timed(runs: usize, mut run: impl FnMut()) -> Vec<Duration> {
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed()
        })
        .collect()
}

fn percentile(times: &[Duration], p: f64) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank]
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

fn row(name: &str, runs: usize, times: &[Duration]) {
    println!(
        "{name:<44} {runs:>6} {:>10} {:>10}",
        fmt(percentile(times, 50.0)),
        fmt(percentile(times, 99.0))
    );
}
