//! Benchmark: a recipe of 5 components on the Debian base, side by side with the same work done
//! by hand.
//!
//! - davit: `davit image build` in full (an empty layer cache; the Debian base tar is there,
//!   as mmdebstrap's output is for the hand-made build), then rebuilt after changing only the
//!   last component (every layer before it from the cache).
//! - by hand: unpack the base with `tar`, run the five scripts in the root with `chroot`,
//!   pack the root with `tar | gzip`; a change to the last script means doing it all again.
//!
//! Prints each time, the rebuild as a share of the full build (the goal is at most 15 %), and
//! the ratios to the hand-made build. Asserts nothing about time.
//!
//! Run: `cargo bench -p davit-cli --bench image` (as root: chroot and bubblewrap need it).
//! The Debian base comes from `scripts/base-rootfs`. `DAVIT_BENCH_DIR` sets where the work
//! goes (default the system's temporary directory).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const COMPONENTS: usize = 5;

/// What component `i` does: a directory of its own with a copy of part of the system's data,
/// and a file naming the build (`generation` changes it).
fn commands(i: usize, generation: usize) -> String {
    format!(
        "mkdir -p /opt/c{i} && cp -r /usr/share/zoneinfo/Europe /opt/c{i}/ && echo 'component {i} build {generation}' > /opt/c{i}/build.txt"
    )
}

fn component(i: usize, generation: usize) -> String {
    format!(
        "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Work\n        action: ExecuteBash\n        inputs:\n          commands:\n            - \"{}\"\n",
        commands(i, generation)
    )
}

fn base_tar(repo: &Path) -> PathBuf {
    let out = Command::new(repo.join("scripts/base-rootfs"))
        .output()
        .expect("scripts/base-rootfs runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn timed(what: &str, mut command: Command) -> Duration {
    let started = Instant::now();
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn davit_build(work: &Path) -> Duration {
    let mut c = Command::new(env!("CARGO_BIN_EXE_davit"));
    c.args(["image", "build", "--output", "json", "--policy"])
        .arg(work.join("policy.toml"))
        .arg("--deployment-root")
        .arg(work.join("state"))
        .arg(work.join("recipe.yml"));
    timed("davit image build", c)
}

fn by_hand(work: &Path, tar: &Path, generation: usize) -> Duration {
    let root = work.join("hand-root");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let mut script = format!(
        "set -e\ntar --numeric-owner -xpf {} -C {r}\n",
        tar.display(),
        r = root.display()
    );
    for i in 0..COMPONENTS {
        script.push_str(&format!(
            "chroot {r} /bin/bash -c \"{}\"\n",
            commands(i, generation),
            r = root.display()
        ));
    }
    script.push_str(&format!(
        "tar --numeric-owner --sort=name -C {r} -cf - . | gzip -n > {o}\n",
        r = root.display(),
        o = work.join("hand.tar.gz").display()
    ));
    let mut c = Command::new("bash");
    c.arg("-c").arg(script);
    timed("the hand-made build", c)
}

fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tar = base_tar(&repo);
    let parent = std::env::var_os("DAVIT_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(parent).unwrap();
    let work = dir.path();
    let debian = work.join("state/cache/debian");
    std::fs::create_dir_all(&debian).unwrap();
    for (from, to) in [
        (tar.clone(), debian.join("bookworm-minbase.tar")),
        (
            tar.with_extension("lock"),
            debian.join("bookworm-minbase.lock"),
        ),
    ] {
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).unwrap();
        }
    }
    std::fs::write(
        work.join("policy.toml"),
        "[[commands]]\nprogram = \"/bin/bash\"\nargs = [\"*\"]\n",
    )
    .unwrap();
    let mut recipe = String::from(
        "name: bench\nversion: 1.0.0\nparent: debian:bookworm\nsource-date-epoch: 1700000000\ncomponents:\n",
    );
    for i in 0..COMPONENTS {
        std::fs::write(work.join(format!("c{i}.yml")), component(i, 0)).unwrap();
        recipe.push_str(&format!("  - document: c{i}.yml\n"));
    }
    recipe.push_str("outputs:\n  oci-layout: out\n");
    std::fs::write(work.join("recipe.yml"), recipe).unwrap();

    // The first build also makes the Debian base's layer, once per base: timed apart.
    let first = davit_build(work);
    // A full build: every component changed, so none comes from the cache (the base does).
    for i in 0..COMPONENTS {
        std::fs::write(work.join(format!("c{i}.yml")), component(i, 1)).unwrap();
    }
    let full = davit_build(work);
    // Then only the last component changes: every layer before it is reused.
    std::fs::write(
        work.join(format!("c{}.yml", COMPONENTS - 1)),
        component(COMPONENTS - 1, 2),
    )
    .unwrap();
    let rebuild = davit_build(work);
    // Nothing changed: every layer from the cache, nothing run (the build's own floor).
    let cached = davit_build(work);
    let hand = by_hand(work, &tar, 1);
    let hand_again = by_hand(work, &tar, 2);

    let s = |d: Duration| d.as_secs_f64();
    println!("{COMPONENTS} components on Debian bookworm minbase");
    println!(
        "davit, first build (makes the Debian base's layer too): {:.2} s",
        s(first)
    );
    println!("davit, full build (every component run): {:.2} s", s(full));
    println!(
        "davit, rebuild after changing the last component: {:.2} s ({:.0} % of the full build, {:.0} % of the first; goal at most 15 %)",
        s(rebuild),
        100.0 * s(rebuild) / s(full),
        100.0 * s(rebuild) / s(first)
    );
    println!(
        "davit, the same recipe again (all cached, nothing run): {:.3} s",
        s(cached)
    );
    println!(
        "  (with {COMPONENTS} components of equal cost, one of them again is at least {:.0} % of running all of them)",
        100.0 / COMPONENTS as f64
    );
    println!(
        "by hand (tar -x, chroot x{COMPONENTS}, tar | gzip): {:.2} s",
        s(hand)
    );
    println!(
        "by hand after changing the last script (all again): {:.2} s",
        s(hand_again)
    );
    println!(
        "ratios: full build {:.2}x the hand-made one; rebuild {:.2}x the hand-made one",
        s(full) / s(hand),
        s(rebuild) / s(hand_again)
    );
}
