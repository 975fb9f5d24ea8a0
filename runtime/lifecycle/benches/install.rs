//! Benchmark: davit's atomic Install of a 20,001-file revision next to `cp -a` of the same tree,
//! in one run. Prints a table and the ratios against the goal of issue 9 (davit within 1.5x of
//! `cp -a`); asserts nothing about time.
//!
//! Run: `cargo bench -p davit-lifecycle --bench install` (release build). `DAVIT_BENCH_FILES`
//! sets the number of files (default 20000, in 200 directories), `DAVIT_BENCH_RUNS` the runs per
//! figure (default 3; the median is shown), `DAVIT_BENCH_DIR` where the scratch space goes
//! (default the temp dir; it should be a disk, as a host's `/srv` is, not a tmpfs: the table
//! names its filesystem type).
//!
//! - The revision: `appspec.yml` and `site/` with the files, 100 to 2000 bytes each;
//!   `files: - source: site, destination: /srv/app`, policy `[install] destinations =
//!   ["/srv/app"]`, a fresh target root each run. Revision 2 has the same names, every file with
//!   other contents (and most with another size).
//! - First install: into an empty target root, next to `cp -a site <fresh dir>`.
//! - Replace: revision 1 installed (by davit, or copied by `cp -a`), then revision 2 next to
//!   `rm -rf dest && cp -a site dest`, and next to what a careful script does to never show a
//!   half-copied tree, `cp -a site dest.new && mv -T dest dest.old && mv -T dest.new dest &&
//!   rm -rf dest.old`, and next to `cp -a site` into nothing (the copy alone). davit is timed
//!   twice: as a deployment runs it, `install_then(.., Cleanup::Later)`, whose deletion of the
//!   old tree (`recover` on its journal, after the deployment's other events) is its own line,
//!   and as `install()`, which deletes the old tree before it returns.
//! - Caches cannot be dropped here: the runs alternate (cp, davit, davit, cp, ...) so both see
//!   the same cache state, and before each timed run `syncfs` flushes what the setup wrote, so
//!   davit's own `syncfs` (it flushes the new tree before it switches) flushes only its own
//!   writes. `cp -a && sync -f` is shown for reference: cp with that same flush.
//!
//! One Install on its own, for `strace -c -f` or `perf`: `DAVIT_BENCH_KEEP=1` keeps the scratch
//! directory (its path is printed); then `BENCH --install SCRATCH/v1 WORK` installs revision 1
//! into `WORK/root` (state and backup in `WORK`), and `BENCH --install SCRATCH/v2 WORK`
//! replaces it with revision 2, where `BENCH` is the binary cargo built
//! (`target/release/deps/install-*`); `BENCH --install SCRATCH/v2 WORK later` installs with
//! [`Cleanup::Later`] and leaves the deletion (and the journal) for a later [`recover`].

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use davit_lifecycle::install::{
    Cleanup, CleanupRecord, InstallRequest, JOURNAL, RECORD, install_then, precheck, recover,
};
use davit_spec::{AppSpec, FileExistsBehavior, HostPolicy};

const APPSPEC: &str =
    "version: 0.0\nos: linux\nfiles:\n  - source: site\n    destination: /srv/app\n";
const POLICY: &str = "[install]\ndestinations = [\"/srv/app\"]\n";
const DIRS: usize = 200;
const GOAL: f64 = 1.5;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--install") {
        let (bundle, work) = (Path::new(&args[at + 1]), Path::new(&args[at + 2]));
        let when = match args.get(at + 3).map(String::as_str) {
            Some("later") => Cleanup::Later,
            _ => Cleanup::Now,
        };
        let took = davit_install_then(bundle, work, when);
        println!(
            "installed {} in {:.3} s",
            bundle.display(),
            took.as_secs_f64()
        );
        return;
    }
    let files = env_usize("DAVIT_BENCH_FILES", 20_000).max(DIRS);
    let runs = env_usize("DAVIT_BENCH_RUNS", 3).max(1);
    let scratch = match std::env::var_os("DAVIT_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("scratch directory");
    let w = scratch.path();

    let started = Instant::now();
    let (v1, v2) = (w.join("v1"), w.join("v2"));
    let bytes = generate(&v1, files, 1);
    generate(&v2, files, 2);
    println!(
        "revision: {} files ({files} in {DIRS} directories + appspec.yml), {:.1} MiB, on {} at `{}` (made in {:.1} s)",
        files + 1,
        bytes as f64 / (1 << 20) as f64,
        fs_type(w),
        w.display(),
        started.elapsed().as_secs_f64()
    );
    println!("load: {}", load());
    // Warm the page cache with both revisions, as a staged revision is before its Install.
    for v in [&v1, &v2] {
        run_timed(Command::new("cp").arg("-a").arg(v).arg(w.join("warm")));
        std::fs::remove_dir_all(w.join("warm")).unwrap();
    }
    let spec = AppSpec::parse("appspec.yml", APPSPEC).expect("appspec");
    let policy = HostPolicy::parse("policy.toml", POLICY).expect("policy");
    let pre = {
        let started = Instant::now();
        let refused = precheck(&v1, &spec, &policy).expect("precheck");
        assert!(refused.is_empty(), "{refused:?}");
        started.elapsed()
    };

    // First install.
    let (mut davit, mut cp, mut cp_sync) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let dir = w.join(format!("first-{run}"));
        std::fs::create_dir(&dir).unwrap();
        let mut timed = |which: usize| match which {
            0 => {
                settle(w);
                cp.push(run_timed(
                    Command::new("cp")
                        .arg("-a")
                        .arg(v1.join("site"))
                        .arg(dir.join("cp")),
                ));
            }
            1 => {
                settle(w);
                davit.push(davit_install(&v1, &dir.join("davit")));
                check(&dir.join("davit/root/srv/app"), files, 1);
            }
            _ => {
                settle(w);
                let dest = dir.join("cp-sync");
                cp_sync.push(run_timed(
                    Command::new("sh")
                        .arg("-c")
                        .arg(r#"cp -a "$1" "$2" && sync -f "$2""#)
                        .arg("sh")
                        .arg(v1.join("site"))
                        .arg(dest),
                ));
            }
        };
        // Alternate the order, so neither always runs right after the other.
        let order = if run % 2 == 0 { [0, 1, 2] } else { [1, 0, 2] };
        for which in order {
            timed(which);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let (d, c, s) = (median(&davit), median(&cp), median(&cp_sync));
    println!(
        "\n{:<58} {:>9} {:>9}   runs",
        "first install (empty destination)", "median", "fastest"
    );
    row("davit install", d, &davit);
    row("cp -a site dest", c, &cp);
    row("cp -a site dest && sync -f dest (reference)", s, &cp_sync);
    let first = ratio("first install", &davit, &cp);
    println!(
        "davit: {:.0} files/s; its precheck alone (reading the bundle): {:.3} s",
        files as f64 / d.as_secs_f64(),
        pre.as_secs_f64()
    );

    // Replace revision 1 with revision 2.
    let (mut later, mut cleanup, mut now) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cp, mut rm_cp, mut cp_mv) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let dir = w.join(format!("replace-{run}"));
        std::fs::create_dir(&dir).unwrap();
        for into in ["davit-later", "davit-now"] {
            davit_install(&v1, &dir.join(into));
        }
        for into in ["rm-cp", "cp-mv"] {
            run_timed(
                Command::new("cp")
                    .arg("-a")
                    .arg(v1.join("site"))
                    .arg(dir.join(into)),
            );
        }
        let mut timed = |which: usize| {
            settle(w);
            match which {
                0 => cp.push(run_timed(
                    Command::new("cp")
                        .arg("-a")
                        .arg(v2.join("site"))
                        .arg(dir.join("cp")),
                )),
                1 => rm_cp.push(run_timed(
                    Command::new("sh")
                        .arg("-c")
                        .arg(r#"rm -rf "$1" && cp -a "$2" "$1""#)
                        .arg("sh")
                        .arg(dir.join("rm-cp"))
                        .arg(v2.join("site")),
                )),
                2 => {
                    let work = dir.join("davit-later");
                    later.push(davit_install_then(&v2, &work, Cleanup::Later));
                    check(&work.join("root/srv/app"), files, 2);
                    // The deletion a deployment runs after its other events, timed on its own.
                    settle(w);
                    cleanup.push(davit_cleanup(&work));
                }
                3 => {
                    let work = dir.join("davit-now");
                    now.push(davit_install(&v2, &work));
                    check(&work.join("root/srv/app"), files, 2);
                }
                _ => cp_mv.push(run_timed(
                    Command::new("sh")
                        .arg("-c")
                        .arg(concat!(
                            r#"cp -a "$2" "$1.new" && mv -T "$1" "$1.old" && "#,
                            r#"mv -T "$1.new" "$1" && rm -rf "$1.old""#
                        ))
                        .arg("sh")
                        .arg(dir.join("cp-mv"))
                        .arg(v2.join("site")),
                )),
            }
        };
        let order = if run % 2 == 0 {
            [0, 1, 2, 3, 4]
        } else {
            [4, 3, 2, 1, 0]
        };
        for which in order {
            timed(which);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
    println!(
        "\n{:<58} {:>9} {:>9}   runs",
        "replace (revision 1 installed, install revision 2)", "median", "fastest"
    );
    row(
        "davit install, cleanup later (what a deployment pays)",
        median(&later),
        &later,
    );
    row(
        "  its later cleanup (the old tree deleted)",
        median(&cleanup),
        &cleanup,
    );
    row(
        "davit install (old tree deleted before it returns)",
        median(&now),
        &now,
    );
    row(
        "cp -a site dest (into nothing: the copy alone)",
        median(&cp),
        &cp,
    );
    row("rm -rf dest && cp -a site dest", median(&rm_cp), &rm_cp);
    row(
        "cp -a site dest.new && mv (old tree deleted)",
        median(&cp_mv),
        &cp_mv,
    );
    println!(
        "\n{:<58} {:>9} {:>9}",
        "replace ratios (davit / other)", "median", "fastest"
    );
    let replace = ratio_row("cleanup later / cp -a", &later, &cp);
    ratio_row("cleanup later / rm -rf && cp -a", &later, &rm_cp);
    ratio_row("cleanup later / cp -a && mv", &later, &cp_mv);
    ratio_row("install() / cp -a", &now, &cp);
    let replace_now = ratio_row("install() / rm -rf && cp -a", &now, &rm_cp);
    ratio_row("install() / cp -a && mv", &now, &cp_mv);
    let d = median(&later);
    println!("davit: {:.0} files/s", files as f64 / d.as_secs_f64());
    println!("load: {}", load());
    println!(
        "\ngoal (issue 9): the atomic Install within {GOAL}x of cp -a: first install {}, replace (cleanup later, against cp -a) {}, replace (install(), against rm -rf && cp -a) {}",
        verdict(first),
        verdict(replace),
        verdict(replace_now)
    );
    if std::env::var_os("DAVIT_BENCH_KEEP").is_some() {
        println!("kept the scratch directory `{}`", scratch.keep().display());
    }
}

/// Installs the revision at `bundle` into `work/root`, its state and backup in `work`,
/// replacing what the last Install there put, if any, with [`install`]: what it replaced is
/// deleted before it returns.
fn davit_install(bundle: &Path, work: &Path) -> Duration {
    davit_install_then(bundle, work, Cleanup::Now)
}

/// [`davit_install`], deleting what it replaced `when` asked: `davit deploy` asks
/// [`Cleanup::Later`], then [`davit_cleanup`] does the deletion.
fn davit_install_then(bundle: &Path, work: &Path, when: Cleanup) -> Duration {
    let spec = AppSpec::parse("appspec.yml", APPSPEC).expect("appspec");
    let policy = HostPolicy::parse("policy.toml", POLICY).expect("policy");
    let (root, state, backup) = (work.join("root"), work.join("state"), work.join("backup"));
    for dir in [&root, &state, &backup] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let previous = CleanupRecord::load(&state.join(RECORD)).expect("cleanup record");
    let started = Instant::now();
    let report = install_then(
        &InstallRequest {
            bundle_dir: bundle,
            spec: &spec,
            target_root: &root,
            policy: &policy,
            behavior: FileExistsBehavior::Disallow,
            previous,
            backup_dir: &backup,
            state_dir: &state,
            revision: None,
        },
        when,
    )
    .unwrap_or_else(|e| panic!("install of `{}`: {e}", bundle.display()));
    let took = started.elapsed();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    took
}

/// The deletion an Install with [`Cleanup::Later`] left, as a deployment runs it once its
/// other events are done: [`recover`] on the journal in `work/state`.
fn davit_cleanup(work: &Path) -> Duration {
    let state = work.join("state");
    let started = Instant::now();
    let done = recover(&state.join(JOURNAL), &state.join(RECORD))
        .expect("cleanup")
        .expect("a journal to finish");
    let took = started.elapsed();
    assert!(done.committed && done.failures.is_empty(), "{done:?}");
    took
}

/// Writes a revision of `files` files under `dir/site` (and its appspec): file `i` has
/// 100 to 2000 bytes, other bytes and mostly another length for each `version`. Returns the bytes.
fn generate(dir: &Path, files: usize, version: u64) -> u64 {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("appspec.yml"), APPSPEC).unwrap();
    let mut total = 0;
    let per_dir = files.div_ceil(DIRS);
    for d in 0..DIRS {
        let sub = dir.join("site").join(format!("d{d:03}"));
        std::fs::create_dir_all(&sub).unwrap();
        for f in (d * per_dir)..((d + 1) * per_dir).min(files) {
            let text = contents(f, version);
            std::fs::write(dir.join("site").join(name(f, per_dir)), &text).unwrap();
            total += text.len() as u64;
        }
    }
    total
}

/// File `f`'s path under `site`.
fn name(f: usize, per_dir: usize) -> String {
    format!("d{:03}/f{f:05}.txt", f / per_dir)
}

/// File `f`'s bytes in revision `version`: 100 to 2000 letters.
fn contents(f: usize, version: u64) -> Vec<u8> {
    let mut x = (f as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ version;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let len = 100 + (next() % 1901) as usize;
    (0..len).map(|_| b'a' + (next() % 26) as u8).collect()
}

/// That the tree at `dest` holds `version`'s files: the count, and the last file's contents.
fn check(dest: &Path, files: usize, version: u64) {
    let count: usize = std::fs::read_dir(dest)
        .unwrap()
        .map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count())
        .sum();
    assert_eq!(count, files, "files installed at `{}`", dest.display());
    let last = name(files - 1, files.div_ceil(DIRS));
    let got = std::fs::read(dest.join(&last)).unwrap();
    assert!(
        got == contents(files - 1, version),
        "`{last}` is revision {version}'s"
    );
}

/// Flushes what is dirty on the scratch filesystem, outside the timed part.
fn settle(dir: &Path) {
    run_timed(Command::new("sync").arg("-f").arg(dir));
}

fn run_timed(cmd: &mut Command) -> Duration {
    let started = Instant::now();
    let status = cmd.status().expect("run");
    let took = started.elapsed();
    assert!(status.success(), "{cmd:?}: {status}");
    took
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn row(what: &str, median: Duration, runs: &[Duration]) {
    let all: Vec<String> = runs
        .iter()
        .map(|t| format!("{:.2}", t.as_secs_f64()))
        .collect();
    let min = runs.iter().min().copied().unwrap_or_default();
    println!(
        "{what:<58} {:>7.2} s {:>7.2} s   {}",
        median.as_secs_f64(),
        min.as_secs_f64(),
        all.join(" ")
    );
}

/// The ratio of the medians (returned), and of the fastest runs: the least disturbed by the
/// other work on the machine.
fn ratio(what: &str, davit: &[Duration], other: &[Duration]) -> f64 {
    let (d, o) = (median(davit), median(other));
    let r = d.as_secs_f64() / o.as_secs_f64();
    let fastest = |runs: &[Duration]| runs.iter().min().copied().unwrap_or_default().as_secs_f64();
    println!(
        "{what}: davit {:.2} s, cp {:.2} s, ratio {r:.2}x; fastest runs {:.2} s and {:.2} s, {:.2}x (target <= {GOAL}x)",
        d.as_secs_f64(),
        o.as_secs_f64(),
        fastest(davit),
        fastest(other),
        fastest(davit) / fastest(other)
    );
    r
}

/// One line of the ratios table: davit's median over the other's, and fastest over fastest.
/// Returns the ratio of the medians.
fn ratio_row(what: &str, davit: &[Duration], other: &[Duration]) -> f64 {
    let fastest = |runs: &[Duration]| runs.iter().min().copied().unwrap_or_default().as_secs_f64();
    let r = median(davit).as_secs_f64() / median(other).as_secs_f64();
    println!(
        "{what:<58} {r:>8.2}x {:>8.2}x",
        fastest(davit) / fastest(other)
    );
    r
}

fn verdict(ratio: f64) -> String {
    let met = if ratio <= GOAL { "met" } else { "not met" };
    format!("{ratio:.2}x, {met}")
}

fn fs_type(dir: &Path) -> String {
    Command::new("findmnt")
        .args(["-n", "-o", "FSTYPE,SOURCE", "-T"])
        .arg(dir)
        .output()
        .ok()
        .map(|o| {
            let out = String::from_utf8_lossy(&o.stdout);
            out.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "an unknown filesystem".to_owned())
}

/// The load average and the number of CPUs, which the figures depend on.
fn load() -> String {
    let avg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let avg: Vec<&str> = avg.split_whitespace().take(3).collect();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("load average {} on {cpus} CPUs", avg.join(" "))
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
