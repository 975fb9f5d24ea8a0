//! `davit bundle push|pull` and `davit store serve`: revisions as chunks in a store.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use davit_bundle::sign::SecretKey;
use davit_bundle::{ChunkCache, Digest, Store};
use indicatif::{ProgressBar, ProgressStyle};

use crate::Exit;
use crate::output::{self, Format};
use crate::render::hint;

#[derive(Subcommand)]
pub enum BundleCommand {
    /// Turn a revision (directory, .zip, .tar, .tgz) into chunks and a manifest in a store; prints
    /// the revision id and the bytes that were new to the store
    Push {
        /// The revision
        source: PathBuf,
        /// The store: a directory, http://HOST:PORT (davit store serve) or s3://BUCKET/PREFIX
        #[arg(long)]
        store: String,
        /// Uploads in flight at once
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Sign the revision with this secret key (from `davit key generate`)
        #[arg(long, value_name = "KEY")]
        sign: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t)]
        output: Format,
    },
    /// Fetch a revision into a new directory, downloading only the chunks the cache lacks
    Pull {
        /// The revision id (64 hex digits, as `push` printed)
        revision: String,
        /// The store it is in
        #[arg(long)]
        store: String,
        /// Where to put the tree (must not exist)
        #[arg(long)]
        dest: PathBuf,
        /// The host's chunk cache [default: ~/.cache/davit/chunks, /var/cache/davit as root]
        #[arg(long)]
        cache: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t)]
        output: Format,
    },
}

#[derive(Subcommand)]
pub enum CacheCommand {
    /// Remove chunks and manifests that no kept revision uses (deployments do this after
    /// they finish)
    Gc {
        /// The deployment root whose cache to collect [default: as `davit deploy`]
        #[arg(long)]
        deployment_root: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t)]
        output: Format,
    },
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create an ed25519 signing key; prints its public key for host policies' `trusted_keys`
    Generate {
        /// Where to write the secret key (mode 0600; never overwritten)
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum StoreCommand {
    /// Serve a directory store over HTTP, for `--store http://HOST:PORT`
    Serve {
        /// The store's directory (created if missing)
        #[arg(long)]
        dir: PathBuf,
        /// Address to listen on
        #[arg(long, default_value = "127.0.0.1:7878")]
        listen: SocketAddr,
        /// Environment variable holding a token that uploads must present (`Authorization:
        /// Bearer TOKEN`); clients read it from DAVIT_STORE_TOKEN
        #[arg(long, value_name = "VAR")]
        token_env: Option<String>,
    },
}

pub async fn run(cmd: BundleCommand) -> Result<(), Exit> {
    match cmd {
        BundleCommand::Push {
            source,
            store,
            concurrency,
            sign,
            output,
        } => {
            let key = match &sign {
                Some(path) => Some(SecretKey::load(path).map_err(Exit::invalid)?),
                None => None,
            };
            let store = open(&store)?;
            let bar = Bar::new(output, "chunking");
            let report = push_any(&source, &store, concurrency, &bar).await?;
            bar.done();
            if let Some(key) = key {
                let record = serde_json::to_vec(&key.sign(&report.revision))?;
                store
                    .put_signature(&report.revision, &key.public().id(), record.into())
                    .await
                    .context("cannot store the signature")?;
                if output == Format::Text {
                    eprintln!("signed by {}", key.public());
                }
            }
            match output {
                Format::Json => output::json(&report)?,
                Format::Text => println!(
                    "revision {}\n{} files, {} in {} chunks; new to the store: {} in {} chunks{}",
                    report.revision,
                    report.files,
                    bytes(report.total_bytes),
                    report.chunks,
                    bytes(report.new_bytes),
                    report.new_chunks,
                    if report.new_manifest {
                        ""
                    } else {
                        " (revision already there)"
                    }
                ),
            }
            Ok(())
        }
        BundleCommand::Pull {
            revision,
            store,
            dest,
            cache,
            output,
        } => {
            let id = revision_id(&revision)?;
            let store = open(&store)?;
            let cache = ChunkCache::new(cache.unwrap_or_else(default_cache));
            let bar = Bar::new(output, "downloading");
            let report = davit_bundle::pull(&id, &store, &cache, &dest, &bar)
                .await
                .context("pull failed")?;
            bar.done();
            match output {
                Format::Json => output::json(&report)?,
                Format::Text => println!(
                    "revision {} in {}\n{} files, {}; downloaded {} in {} of {} chunks",
                    report.revision.short(),
                    dest.display(),
                    report.files,
                    bytes(report.total_bytes),
                    bytes(report.fetched_bytes),
                    report.fetched_chunks,
                    report.chunks
                ),
            }
            Ok(())
        }
    }
}

pub fn cache(cmd: CacheCommand) -> Result<(), Exit> {
    let CacheCommand::Gc {
        deployment_root,
        output,
    } = cmd;
    let root = deployment_root.unwrap_or_else(super::deploy::default_root);
    let layout = davit_lifecycle::Layout::new(root);
    let report = davit_lifecycle::collect_garbage(&layout).map_err(super::deploy::deploy_error)?;
    match output {
        Format::Json => output::json(&report)?,
        Format::Text => println!(
            "removed {} chunks ({}) and {} manifests; kept {} chunks ({}) of {} revisions",
            report.removed_chunks,
            bytes(report.removed_bytes),
            report.removed_manifests,
            report.kept_chunks,
            bytes(report.kept_bytes),
            report.kept_manifests
        ),
    }
    Ok(())
}

pub fn key(cmd: KeyCommand) -> Result<(), Exit> {
    let KeyCommand::Generate { out } = cmd;
    let key = SecretKey::generate().map_err(anyhow::Error::new)?;
    key.save(&out).map_err(Exit::invalid)?;
    let public = key.public();
    let public_file = out.with_extension("pub");
    std::fs::write(&public_file, format!("{public}\n"))
        .with_context(|| format!("cannot write `{}`", public_file.display()))?;
    println!("{public}");
    eprintln!(
        "secret key in {}, public key in {}; trust it with `[signatures] trusted_keys = [\"{public}\"]`",
        out.display(),
        public_file.display()
    );
    Ok(())
}

pub async fn serve(cmd: StoreCommand) -> Result<(), Exit> {
    let StoreCommand::Serve {
        dir,
        listen,
        token_env,
    } = cmd;
    let token = match token_env {
        Some(var) => Some(std::env::var(&var).map_err(|_| {
            Exit::invalid(anyhow::anyhow!(
                "`--token-env {var}`: the variable is not set"
            ))
        })?),
        None => None,
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the store directory `{}`", dir.display()))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    eprintln!(
        "serving store {} on http://{}",
        dir.display(),
        listener.local_addr()?
    );
    davit_bundle::serve::serve(dir, listener, token).await?;
    Ok(())
}

/// Pushes a directory as it is, or an archive after unpacking it safely into a scratch directory.
async fn push_any(
    source: &Path,
    store: &Store,
    concurrency: usize,
    bar: &Bar,
) -> Result<davit_bundle::PushReport, Exit> {
    let scratch;
    let dir = if source.is_dir() {
        source.to_path_buf()
    } else {
        scratch = tempfile::tempdir().context("cannot create a scratch directory")?;
        davit_lifecycle::stage::stage(source, scratch.path())
            .map_err(Exit::invalid)?
            .dir
    };
    davit_bundle::push(&dir, store, concurrency, bar)
        .await
        .map_err(|e| match e {
            e @ davit_bundle::BundleError::Manifest(_) => Exit::invalid(e),
            e => Exit::from(anyhow::Error::new(e).context("push failed")),
        })
}

pub fn open(url: &str) -> Result<Store, Exit> {
    Store::open(url).map_err(|e| {
        Exit::invalid(hint(
            e,
            "a store is a directory, http://HOST:PORT from `davit store serve`, or s3://BUCKET/PREFIX",
        ))
    })
}

pub fn revision_id(text: &str) -> Result<Digest, Exit> {
    text.parse().map_err(|e| {
        Exit::invalid(hint(
            e,
            "a revision id is the 64 hex digits `davit bundle push` printed",
        ))
    })
}

/// The host's chunk cache when none is given.
pub fn default_cache() -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/cache/davit");
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| ".".into())).join(".cache")
        });
    base.join("davit")
}

fn bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

/// A byte progress bar on a terminal; nothing elsewhere or with `--output json`.
struct Bar(Option<ProgressBar>);

impl Bar {
    fn new(output: Format, what: &str) -> Bar {
        if output == Format::Json || !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let bar = ProgressBar::new(0).with_message(what.to_string());
        bar.set_style(
            ProgressStyle::with_template("{msg} {bytes}/{total_bytes} {bytes_per_sec} {wide_bar}")
                .expect("template"),
        );
        Bar(Some(bar))
    }

    fn done(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

impl davit_bundle::Progress for Bar {
    fn start(&self, total: u64) {
        if let Some(bar) = &self.0 {
            bar.set_length(total);
        }
    }
    fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(bytes);
        }
    }
}
