//! Benchmark: a warm sandboxed hook next to `bash` running the same one-line script, and a
//! component's first compile next to its load from the on-disk cache. Prints a table and the
//! ratios; asserts nothing about time.
//!
//! Run: `cargo bench -p davit-sandbox --bench hooks` (release build). `DAVIT_BENCH_RUNS` sets the
//! number of warm invocations (default 2000; bash gets a quarter as many, at least 100).
//!
//! The hook is hello-web's AfterInstall (`examples/hello-web/hooks/after-install.wasm`): it writes
//! `config.json` and `hello-web.conf` into a granted directory and logs a line for each. The bash
//! script writes the same two files with the same contents and echoes the same lines. Each side
//! is timed from the call to the result, with a fresh store (wasm) or a fresh process (bash) each
//! time, as a deployment runs them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use davit_sandbox::{
    Access, CacheUse, Call, DeploymentInfo, Grants, HookContext, Mount, Plugin, Sandbox,
};

const COMPONENT: &str = "../../examples/hello-web/hooks/after-install.wasm";
const REVISION: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const DEPLOYMENT: &str = "d-BENCH0001";

fn main() {
    let runs: usize = std::env::var("DAVIT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let bash_runs = (runs / 4).max(100);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(COMPONENT);
    let wasm = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let scratch = tempfile::tempdir().expect("scratch directory");

    let (compile, cached) = compile_vs_cached(&wasm, scratch.path());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let sandbox = Sandbox::new(None).expect("sandbox");
    let plugin = sandbox.load(&wasm).expect("component loads");
    let wasm_dir = scratch.path().join("wasm-config");
    std::fs::create_dir(&wasm_dir).unwrap();
    let wasm_times = runtime.block_on(warm_hook(&sandbox, &plugin, &wasm_dir, runs));

    let bash_dir = scratch.path().join("bash-config");
    std::fs::create_dir(&bash_dir).unwrap();
    let bash_times = bash_hook(&bash_dir, bash_runs);
    for file in ["config.json", "hello-web.conf"] {
        let (w, b) = (
            std::fs::read_to_string(wasm_dir.join(file)).unwrap(),
            std::fs::read_to_string(bash_dir.join(file)).unwrap(),
        );
        assert_eq!(w, b, "the two hooks must write the same `{file}`");
    }

    let (w50, w99) = (percentile(&wasm_times, 50.0), percentile(&wasm_times, 99.0));
    let (b50, b99) = (percentile(&bash_times, 50.0), percentile(&bash_times, 99.0));
    println!(
        "hook: hello-web AfterInstall ({} KiB component), writes 2 files, logs 2 lines",
        wasm.len() / 1024
    );
    println!("{:<34} {:>6} {:>10} {:>10}", "", "runs", "p50", "p99");
    row("davit sandbox, warm (new store)", runs, w50, w99);
    row("bash -c '<one-line script>'", bash_runs, b50, b99);
    println!(
        "ratio bash/wasm: p50 {:.1}x, p99 {:.1}x  (goal: wasm <= 1/50 of bash, p50 {})",
        ratio(b50, w50),
        ratio(b99, w99),
        if w50 * 50 <= b50 { "met" } else { "not met" }
    );
    println!();
    println!("{:<34} {:>10}", "component load", "median");
    println!("{:<34} {:>10}", "first compile (cranelift)", fmt(compile));
    println!("{:<34} {:>10}", "from the on-disk cache", fmt(cached));
    println!("ratio compile/cached: {:.0}x", ratio(compile, cached));
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

async fn warm_hook(sandbox: &Sandbox, plugin: &Plugin, dir: &Path, runs: usize) -> Vec<Duration> {
    let call = || Call {
        context: HookContext {
            event: "AfterInstall".into(),
            deployment: DeploymentInfo {
                id: DEPLOYMENT.into(),
                application: "hello-web".into(),
                deployment_group: "bench".into(),
                revision: REVISION.into(),
                last_good_revision: None,
            },
            parameters: vec![
                ("port".into(), "8080".into()),
                ("version".into(), "1".into()),
                ("config_dir".into(), "/etc/hello-web".into()),
            ],
            ..HookContext::default()
        },
        grants: Grants {
            mounts: vec![Mount {
                host: dir.to_path_buf(),
                guest: "/etc/hello-web".into(),
                access: Access::ReadWrite,
            }],
            ..Grants::default()
        },
        observer: None,
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

/// The same work as the AfterInstall hook, as the one-line bash script a CodeDeploy user writes.
fn bash_hook(dir: &Path, runs: usize) -> Vec<Duration> {
    let script = concat!(
        r#"d="$1"; "#,
        r#"printf '{\n  "port": %s,\n  "version": "%s",\n  "revision": "%s",\n  "deployment": "%s"\n}\n' 8080 1 "$REVISION" "$DEPLOYMENT_ID" > "$d/config.json" && echo "wrote $d/config.json"; "#,
        r#"printf '# Written by the hello-web AfterInstall hook, deployment %s.\nport=%s\nversion=%s\nrevision=%s\n' "$DEPLOYMENT_ID" 8080 1 "$REVISION" > "$d/hello-web.conf" && echo "wrote $d/hello-web.conf""#,
    );
    let run = || {
        let output = Command::new("bash")
            .args(["-c", script, "hook", &dir.display().to_string()])
            .env("REVISION", REVISION)
            .env("DEPLOYMENT_ID", DEPLOYMENT)
            .output()
            .expect("bash runs");
        assert!(output.status.success(), "{output:?}");
    };
    for _ in 0..10 {
        run();
    }
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

fn row(name: &str, runs: usize, p50: Duration, p99: Duration) {
    println!("{name:<34} {runs:>6} {:>10} {:>10}", fmt(p50), fmt(p99));
}
