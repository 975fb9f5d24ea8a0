//! `davit component push DOC --name N --version V` and `davit component list`: the
//! component store that recipes' `component: NAME@1.x.x` resolve in (davit-image's `store`).

use std::path::{Path, PathBuf};

use davit_image::store::{ComponentStore, PushOutcome, StoreError};

use crate::Exit;
use crate::output::{self, Format};
use crate::render::hint;

pub const OUTCOMES: &str = "\
Exit codes:
  0  the version is in the store (stored now, or already with the same content)
  2  an invalid document, name or version, or the version exists with other content
  3  davit could not read the document or write the store";

#[derive(clap::Args)]
pub struct StoreArgs {
    /// The component store [default: <deployment root>/components]
    #[arg(long, env = "DAVIT_COMPONENT_STORE")]
    store: Option<PathBuf>,
    /// davit's state [default: /var/lib/davit as root, else ~/.local/state/davit]
    #[arg(long)]
    deployment_root: Option<PathBuf>,
}

impl StoreArgs {
    pub fn open(&self) -> ComponentStore {
        ComponentStore::at(&self.dir())
    }

    fn dir(&self) -> PathBuf {
        self.store.clone().unwrap_or_else(|| {
            default_dir(
                &self
                    .deployment_root
                    .clone()
                    .unwrap_or_else(crate::commands::deploy::default_root),
            )
        })
    }
}

/// The store's place under davit's state.
pub fn default_dir(deployment_root: &Path) -> PathBuf {
    ComponentStore::default_dir(deployment_root)
}

#[derive(clap::Args)]
pub struct PushArgs {
    /// The component document (the documents its `ExecuteDocument` steps name go with it)
    document: PathBuf,
    /// Its name in the store: `web`, `acme/hardening` (lowercase; `davit/` is davit's own)
    #[arg(long)]
    name: String,
    /// Its semantic version, MAJOR.MINOR.PATCH; a version never changes once pushed
    #[arg(long)]
    version: String,
    #[command(flatten)]
    store: StoreArgs,
    #[arg(long, value_enum, default_value_t)]
    output: Format,
}

#[derive(clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[arg(long, value_enum, default_value_t)]
    output: Format,
}

pub fn push(args: PushArgs) -> Result<(), Exit> {
    let store = args.store.open();
    let (meta, outcome) = store
        .push(&args.document, &args.name, &args.version)
        .map_err(store_error)?;
    match args.output {
        Format::Json => {
            output::json(&serde_json::json!({ "outcome": outcome, "component": meta }))?
        }
        Format::Text => {
            let what = match outcome {
                PushOutcome::Stored => "stored",
                PushOutcome::AlreadyStored => "already stored, same content",
            };
            println!(
                "{}@{} {what}: {} ({} document(s)) in {}",
                meta.name,
                meta.version,
                meta.digest,
                meta.files.len(),
                store.dir().display()
            );
        }
    }
    Ok(())
}

pub fn list(args: ListArgs) -> Result<(), Exit> {
    let all = args.store.open().list().map_err(store_error)?;
    match args.output {
        Format::Json => {
            let rows: Vec<_> = all
                .iter()
                .map(|(name, versions)| {
                    serde_json::json!({
                        "name": name,
                        "versions": versions.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    })
                })
                .collect();
            output::json(&rows)?
        }
        Format::Text => {
            for (name, versions) in &all {
                let versions: Vec<String> = versions.iter().map(ToString::to_string).collect();
                println!("{name}  {}", versions.join(", "));
            }
        }
    }
    Ok(())
}

fn store_error(e: StoreError) -> Exit {
    match e {
        StoreError::Io { .. } => Exit::from(anyhow::Error::new(e)),
        StoreError::Exists { ref version, .. } => {
            let next = semver::Version::parse(version)
                .map(|v| format!("{}.{}.{}", v.major, v.minor, v.patch + 1))
                .unwrap_or_default();
            Exit::invalid(hint(
                anyhow::Error::new(e),
                format!("push the new content as a new version, such as {next}"),
            ))
        }
        other => Exit::invalid(anyhow::Error::new(other)),
    }
}
