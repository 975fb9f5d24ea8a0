//! Benchmark: what davit moves for a changed revision next to rsync, a full pull next to curl
//! fetching the same bytes from the same server, and hashing and chunking speed. Prints figures
//! and ratios; asserts nothing about time.
//!
//! Run: `cargo bench -p davit-bundle --bench transfer` (needs `rsync` and `curl` on the PATH;
//! `apt-get install rsync curl`). `DAVIT_BENCH_MIB` sets the tree size (default 1024);
//! `DAVIT_BENCH_DIR` where its scratch space goes (default the temp dir; `/dev/shm` takes the
//! disk out of the figures). It needs about 6 times the tree size there.
//!
//! - The tree: 8 MiB files of pseudo-random bytes. Revision 2 rewrites 1 % of the bytes, in
//!   runs of 1 MiB spread over the tree.
//! - Delta: davit pulls revision 1, then revision 2 through the same cache, from its HTTP store
//!   on loopback; bytes moved are the chunks and the manifest fetched. rsync copies revision 1's
//!   tree, then syncs revision 2 onto it with its delta algorithm (`--no-whole-file`); bytes
//!   moved are what its sender sent (`Total bytes sent`).
//! - Full pull: davit pulls revision 2 into an empty cache (downloads, verifies every chunk,
//!   writes the cache and the tree); curl downloads the same chunk objects from the same server,
//!   8 at a time (`--parallel-max 8`, as davit), writing each to a file.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use davit_bundle::{ChunkCache, Manifest, Quiet, Store};

const FILE_MIB: usize = 8;

fn main() {
    let mib: usize = std::env::var("DAVIT_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    for tool in ["rsync", "curl"] {
        assert!(
            Command::new(tool).arg("--version").output().is_ok(),
            "`{tool}` is needed: apt-get install {tool}"
        );
    }
    let work = match std::env::var_os("DAVIT_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("scratch");
    let w = work.path();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");

    hashing(mib.min(512));

    let (v1, v2) = (w.join("v1"), w.join("v2"));
    let started = Instant::now();
    generate(&v1, mib);
    copy(&v1, &v2);
    let changed = change_one_percent(&v2, mib);
    println!(
        "tree: {mib} MiB in {} files of {FILE_MIB} MiB; revision 2 changes {} ({:.2} %) (made in {:.1} s)\n",
        mib / FILE_MIB,
        human(changed),
        100.0 * changed as f64 / (mib << 20) as f64,
        started.elapsed().as_secs_f64()
    );

    let store_dir = w.join("store");
    let local = Store::open(store_dir.to_str().unwrap()).unwrap();
    let push = |dir: &Path| {
        let started = Instant::now();
        let report = runtime
            .block_on(davit_bundle::push(dir, &local, 16, &Quiet))
            .expect("push");
        (report, started.elapsed())
    };
    let (r1, t1) = push(&v1);
    let (r2, _) = push(&v2);
    println!(
        "push revision 1 to a directory store: {} in {:.2} s ({}/s); revision 2 added {}\n",
        human(r1.total_bytes),
        t1.as_secs_f64(),
        human((r1.total_bytes as f64 / t1.as_secs_f64()) as u64),
        human(r2.new_bytes)
    );

    // The server runs on its own runtime and threads, as `davit store serve` would in its own
    // process: client and server do not share workers, for davit as for curl.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let served = store_dir.clone();
    std::thread::spawn(move || {
        let server = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("server runtime");
        server.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            davit_bundle::serve::serve(served, listener, None).await
        })
    });
    let http = Store::open(&url).unwrap();

    // Delta: revision 1 pulled, then revision 2 through the same cache.
    let cache = ChunkCache::new(w.join("cache"));
    let pull = |id, dest: &Path, cache: &ChunkCache| {
        let started = Instant::now();
        let report = runtime
            .block_on(davit_bundle::pull(id, &http, cache, dest, &Quiet))
            .expect("pull");
        (report, started.elapsed())
    };
    pull(&r1.revision, &w.join("pulled1"), &cache);
    let (delta, _) = pull(&r2.revision, &w.join("pulled2"), &cache);
    let manifest_bytes = std::fs::metadata(store_dir.join("manifests").join(r2.revision.to_hex()))
        .unwrap()
        .len();
    let davit_moved = delta.fetched_bytes + manifest_bytes;
    let rsync_moved = rsync_delta(&v1, &v2, &w.join("rsync"));
    for done in ["pulled1", "pulled2", "rsync", "v1", "cache"] {
        std::fs::remove_dir_all(w.join(done)).unwrap();
    }
    let tree = (mib as u64) << 20;
    println!("delta to revision 2                 bytes moved   % of tree");
    println!(
        "davit pull (chunks + manifest)  {:>15} {:>10.2} %",
        human(davit_moved),
        pct(davit_moved, tree)
    );
    println!(
        "rsync --no-whole-file           {:>15} {:>10.2} %",
        human(rsync_moved),
        pct(rsync_moved, tree)
    );
    println!(
        "ratio davit/rsync: {:.2}  (goal: davit <= 2 % of the tree: {})\n",
        davit_moved as f64 / rsync_moved as f64,
        if pct(davit_moved, tree) <= 2.0 {
            "met"
        } else {
            "not met"
        }
    );

    // Full pull into an empty cache, next to curl fetching the same chunk objects.
    let cold = ChunkCache::new(w.join("cold-cache"));
    let started = Instant::now();
    let fetched = runtime
        .block_on(davit_bundle::fetch(
            &r2.revision,
            &http,
            &cold,
            &davit_bundle::Limits::default(),
            davit_bundle::DEFAULT_CONCURRENCY,
            &Quiet,
        ))
        .expect("fetch");
    let fetch_time = started.elapsed();
    let full = fetched.report;
    davit_bundle::materialize(
        &fetched.manifest,
        &cold,
        &w.join("pulled-full"),
        &fetched.verified,
    )
    .expect("materialize");
    let davit_time = started.elapsed();
    let manifest = Manifest::build(&v2, |_| Ok(())).unwrap();
    let curl_time = curl_all(&url, &manifest, &w.join("curl"));
    let rate = |t: Duration| full.fetched_bytes as f64 / t.as_secs_f64();
    println!(
        "full pull of revision 2 ({} in {} chunks)   time   throughput",
        human(full.fetched_bytes),
        full.fetched_chunks
    );
    println!(
        "davit pull (verify, cache, tree)   {:>8.2} s {:>10}/s",
        davit_time.as_secs_f64(),
        human(rate(davit_time) as u64)
    );
    println!(
        "  of which download + verify + cache {:>6.2} s {:>10}/s",
        fetch_time.as_secs_f64(),
        human(rate(fetch_time) as u64)
    );
    println!(
        "curl -Z --parallel-max 8           {:>8.2} s {:>10}/s",
        curl_time.as_secs_f64(),
        human(rate(curl_time) as u64)
    );
    println!(
        "ratio davit/curl throughput: {:.2}  (goal >= 0.9: {})",
        rate(davit_time) / rate(curl_time),
        if rate(davit_time) >= 0.9 * rate(curl_time) {
            "met"
        } else {
            "not met"
        }
    );
}

/// blake3 and FastCDC speed on one core, in memory.
fn hashing(mib: usize) {
    let data = noise(mib << 20, 42);
    let started = Instant::now();
    let digest = blake3::hash(&data);
    let hash = started.elapsed();
    let started = Instant::now();
    let chunks = davit_bundle::chunks(&data[..]).count();
    let chunking = started.elapsed();
    let rate = |t: Duration| human(((mib << 20) as f64 / t.as_secs_f64()) as u64);
    println!(
        "one core, {mib} MiB in memory: blake3 {}/s (goal >= 1 GB/s: {}); FastCDC cut + blake3 per chunk {}/s ({chunks} chunks)",
        rate(hash),
        if (mib << 20) as f64 / hash.as_secs_f64() >= 1e9 {
            "met"
        } else {
            "not met"
        },
        rate(chunking),
    );
    std::hint::black_box(digest);
}

fn generate(dir: &Path, mib: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..mib / FILE_MIB {
        let sub = dir.join(format!("d{}", i % 16));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(
            sub.join(format!("f{i:04}.bin")),
            noise(FILE_MIB << 20, i as u64 + 1),
        )
        .unwrap();
    }
}

/// Rewrites 1 % of the tree in runs of 1 MiB, spread evenly over the files; returns the bytes.
fn change_one_percent(dir: &Path, mib: usize) -> u64 {
    let runs = (mib / 100).max(1);
    let files = mib / FILE_MIB;
    for r in 0..runs {
        let i = r * files / runs;
        let path = dir
            .join(format!("d{}", i % 16))
            .join(format!("f{i:04}.bin"));
        let mut data = std::fs::read(&path).unwrap();
        let at = (r * 7919 % (FILE_MIB - 1)) << 20;
        data[at..at + (1 << 20)].copy_from_slice(&noise(1 << 20, 1_000_000 + r as u64));
        std::fs::write(&path, data).unwrap();
    }
    (runs as u64) << 20
}

fn copy(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

/// rsync's bytes sent to bring a copy of `v1` to `v2`.
fn rsync_delta(v1: &Path, v2: &Path, dest: &Path) -> u64 {
    copy(v1, dest);
    let output = Command::new("rsync")
        .args(["-a", "--no-whole-file", "--stats"])
        .arg(format!("{}/", v2.display()))
        .arg(format!("{}/", dest.display()))
        .output()
        .expect("rsync runs");
    assert!(output.status.success(), "{output:?}");
    let stats = String::from_utf8_lossy(&output.stdout);
    stats
        .lines()
        .find_map(|l| l.strip_prefix("Total bytes sent: "))
        .map(|n| n.replace(',', "").trim().parse().unwrap())
        .expect("rsync --stats prints Total bytes sent")
}

/// Time for curl to download every chunk of `manifest` from the store at `url`, 8 at a time.
fn curl_all(url: &str, manifest: &Manifest, dir: &Path) -> Duration {
    std::fs::create_dir_all(dir).unwrap();
    let mut config = String::new();
    for (i, chunk) in manifest.unique_chunks().iter().enumerate() {
        let key = davit_bundle::chunk_key(&chunk.0);
        config.push_str(&format!(
            "url = \"{url}{key}\"\noutput = \"{}/{i}\"\n",
            dir.display()
        ));
    }
    let list = dir.join("curl.config");
    std::fs::write(&list, config).unwrap();
    let started = Instant::now();
    let status = Command::new("curl")
        .args([
            "-s",
            "--no-progress-meter",
            "-f",
            "-Z",
            "--parallel-max",
            "8",
            "-K",
        ])
        .arg(&list)
        .status()
        .expect("curl runs");
    let elapsed = started.elapsed();
    assert!(status.success(), "curl failed");
    elapsed
}

fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn pct(part: u64, whole: u64) -> f64 {
    100.0 * part as f64 / whole as f64
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= (1 << 30) as f64 {
        format!("{:.2} GiB", b / (1u64 << 30) as f64)
    } else if b >= (1 << 20) as f64 {
        format!("{:.1} MiB", b / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", b / 1024.0)
    }
}
