//! Benchmark: a component document of 200 file-action steps (CreateFolder, CreateFile,
//! AppendFile, CopyFile, SetFilePermissions, 40 times) run by `davit component run` against a
//! scratch root, side by side with a bash script doing the same file work; prints the times,
//! the ratio, and the first run (which compiles the action component) apart from the warm ones
//! (which load it from the compiled-component cache). Checks that both made the same tree;
//! asserts nothing about time.
//!
//! Run: `cargo bench -p davit-cli --bench component`. `DAVIT_BENCH_RUNS` sets the warm runs
//! (default 5).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const GROUPS: usize = 40;

fn document() -> String {
    let mut doc =
        String::from("name: Bench\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n");
    for i in 0..GROUPS {
        let d = format!("/work/d{i}");
        doc.push_str(&format!(
            "      - name: Folder{i}\n        action: CreateFolder\n        inputs:\n          - path: {d}\n\
             \x20     - name: Create{i}\n        action: CreateFile\n        inputs:\n          - path: {d}/a.txt\n            content: 'line one {i}'\n\
             \x20     - name: Append{i}\n        action: AppendFile\n        inputs:\n          - path: {d}/a.txt\n            content: 'line two {i}'\n\
             \x20     - name: Copy{i}\n        action: CopyFile\n        inputs:\n          - source: {d}/a.txt\n            destination: {d}/b.txt\n\
             \x20     - name: Mode{i}\n        action: SetFilePermissions\n        inputs:\n          - path: {d}/b.txt\n            permissions: '0640'\n"
        ));
    }
    doc
}

fn script(root: &Path) -> String {
    let mut s = String::from("set -e\n");
    for i in 0..GROUPS {
        let d = format!("{}/work/d{i}", root.display());
        s.push_str(&format!(
            "mkdir -p {d}\nprintf '%s' 'line one {i}' > {d}/a.txt\nprintf '%s' 'line two {i}' >> {d}/a.txt\ncp {d}/a.txt {d}/b.txt\nchmod 0640 {d}/b.txt\n"
        ));
    }
    s
}

fn davit_run(doc: &Path, root: &Path, state: &Path) -> Duration {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_davit"))
        .args(["component", "run", "--output", "json", "--target-root"])
        .arg(root)
        .arg("--deployment-root")
        .arg(state)
        .arg("--log-directory")
        .arg(state.join("logs"))
        .arg(doc)
        .output()
        .expect("davit runs");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn bash_run(script: &Path) -> Duration {
    let started = Instant::now();
    let status = Command::new("bash")
        .arg(script)
        .status()
        .expect("bash runs");
    let took = started.elapsed();
    assert!(status.success());
    took
}

/// Every file under `root/work`, with its content and mode.
fn tree(root: &Path) -> Vec<(String, String, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut files = Vec::new();
    for i in 0..GROUPS {
        for name in ["a.txt", "b.txt"] {
            let path = root.join(format!("work/d{i}/{name}"));
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            files.push((
                format!("d{i}/{name}"),
                std::fs::read_to_string(&path).unwrap(),
                mode,
            ));
        }
    }
    files
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let runs: usize = std::env::var("DAVIT_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let tmp = tempfile::tempdir().unwrap();
    let doc = tmp.path().join("bench.yml");
    std::fs::write(&doc, document()).unwrap();
    let state = tmp.path().join("state");

    let fresh = |name: String| {
        let root = tmp.path().join(name);
        std::fs::create_dir_all(root.join("work")).unwrap();
        root
    };
    let first_root = fresh("first".into());
    let first = davit_run(&doc, &first_root, &state);
    let (mut davit, mut bash) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let root = fresh(format!("davit-{run}"));
        davit.push(davit_run(&doc, &root, &state));
        let bash_root = fresh(format!("bash-{run}"));
        let sh = tmp.path().join(format!("bench-{run}.sh"));
        std::fs::write(&sh, script(&bash_root)).unwrap();
        bash.push(bash_run(&sh));
        assert_eq!(tree(&root), tree(&bash_root), "both made the same files");
    }
    let (fastest_d, fastest_b) = (*davit.iter().min().unwrap(), *bash.iter().min().unwrap());
    let (median_d, median_b) = (median(&mut davit), median(&mut bash));
    println!(
        "{} file-action steps, {runs} warm runs each (load: {})",
        GROUPS * 5,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!("{:<52} {:>10} {:>10}", "", "median", "fastest");
    println!(
        "{:<52} {:>9.3}s {:>9.3}s",
        "davit component run (actions from the cache)",
        median_d.as_secs_f64(),
        fastest_d.as_secs_f64()
    );
    println!(
        "{:<52} {:>9.3}s {:>9.3}s",
        "bash script doing the same file work",
        median_b.as_secs_f64(),
        fastest_b.as_secs_f64()
    );
    println!(
        "{:<52} {:>9.1}x {:>9.1}x",
        "ratio davit / bash",
        median_d.as_secs_f64() / median_b.as_secs_f64(),
        fastest_d.as_secs_f64() / fastest_b.as_secs_f64()
    );
    println!(
        "first run (compiles the action component): {:.3}s; per step warm: {:.1} ms",
        first.as_secs_f64(),
        median_d.as_secs_f64() * 1000.0 / (GROUPS * 5) as f64
    );
}
