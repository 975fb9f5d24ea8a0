//! `davit image distribute CONFIG --oci-layout DIR [--tag T] [--disk FILE]…`, and the same
//! step at the end of `davit image build --distribution CONFIG`: the image to every target of
//! a distribution configuration (davit-image's `distribute`), then recorded on its groups
//! through the server.

use std::path::PathBuf;

use davit_api::GroupImage;
use davit_image::distribute::{self, Artifact, DistributeError, Distribution, DistributionReport};
use davit_image::oci::layout::Layout;
use serde::Serialize;

use crate::Exit;
use crate::commands::fleet::{Api, DEFAULT_SERVER};
use crate::output::{self, Format};
use crate::render::hint;

#[derive(clap::Args)]
pub struct DistributeArgs {
    /// The distribution configuration (YAML): registries with tags, a disk store, groups
    config: PathBuf,
    /// The OCI layout that holds the image
    #[arg(long)]
    oci_layout: PathBuf,
    /// The image's tag in the layout [default: its only image]
    #[arg(long)]
    tag: Option<String>,
    /// A disk image of it, for the configuration's `disk-store` (repeatable)
    #[arg(long = "disk")]
    disks: Vec<PathBuf>,
    #[command(flatten)]
    pub server: ServerArg,
    #[arg(long, value_enum, default_value_t)]
    output: Format,
}

/// Where the configuration's groups are recorded.
#[derive(clap::Args)]
pub struct ServerArg {
    /// The davit server that records the image on the configuration's groups
    #[arg(long, env = "DAVIT_SERVER", default_value = DEFAULT_SERVER)]
    pub server: String,
}

/// A distribution, with the groups the server recorded it on.
#[derive(Serialize)]
pub struct Distributed {
    #[serde(flatten)]
    pub report: DistributionReport,
    /// The groups as the server now has them.
    pub recorded: Vec<davit_api::Group>,
}

/// The configuration at `path`, and the server's connection when it names groups (checked
/// before anything is built or sent).
pub fn load(path: &std::path::Path, server: &str) -> Result<(Distribution, Option<Api>), Exit> {
    let config = Distribution::load(path).map_err(Exit::invalid)?;
    let api = match config.groups.is_empty() {
        true => None,
        false => Some(Api::connect(server)?),
    };
    Ok((config, api))
}

/// Sends `artifact` to `config`'s targets, then records it on its groups.
pub async fn run(
    config: &Distribution,
    api: Option<&Api>,
    artifact: &Artifact<'_>,
) -> Result<Distributed, Exit> {
    let report = distribute::distribute(config, artifact, None)
        .await
        .map_err(distribute_error)?;
    let mut recorded = Vec::new();
    if let (Some(api), Some(reference)) = (api, &report.reference) {
        for (app, group) in &config.groups {
            let image = GroupImage {
                reference: reference.clone(),
                digest: artifact.manifest.digest.clone(),
                name: artifact.name.to_owned(),
                version: artifact.version.to_owned(),
                recorded_at: 0,
            };
            let path = format!("/v1/apps/{app}/groups/{group}/image");
            recorded.push(api.put(&path, &image).await.map_err(|e| Exit {
                code: e.code,
                error: e.error.map(|e| {
                    e.context(format!(
                        "the image reached every target, but recording it on {app}/{group} failed"
                    ))
                }),
            })?);
        }
    }
    Ok(Distributed { report, recorded })
}

fn distribute_error(e: DistributeError) -> Exit {
    match e {
        DistributeError::DiskChanged { .. } => Exit::invalid(hint(
            anyhow::Error::new(e),
            "a version's disk images never change: build it under a new version",
        )),
        DistributeError::Nothing(_) => Exit::invalid(anyhow::Error::new(e)),
        other => Exit::from(anyhow::Error::new(other)),
    }
}

/// Prints what a distribution did (text; JSON is the caller's).
pub fn print(d: &Distributed) {
    for r in &d.report.registries {
        println!(
            "  distributed to {} as {}: {} blob(s) sent ({} bytes), {} already there; tags read back",
            r.repository,
            r.tags.join(", "),
            r.sent.blobs_sent,
            r.sent.bytes_sent,
            r.sent.blobs_present
        );
    }
    if let Some(disks) = &d.report.disks {
        let files: Vec<&str> = disks.files.iter().map(|(f, _)| f.as_str()).collect();
        println!(
            "  disks in {}: {}{}",
            disks.dir,
            files.join(", "),
            if disks.already_there {
                " (already there, same bytes)"
            } else {
                " (sha256 checked)"
            }
        );
    }
    for g in &d.report.groups {
        println!(
            "  recorded on group {g}: {}",
            d.report.reference.as_deref().unwrap_or_default()
        );
    }
}

pub async fn distribute_image(args: DistributeArgs) -> Result<(), Exit> {
    let (config, api) = load(&args.config, &args.server.server)?;
    let layout = Layout::open(&args.oci_layout).map_err(|e| {
        Exit::invalid(anyhow::Error::new(e).context(format!(
            "cannot open the OCI layout `{}`",
            args.oci_layout.display()
        )))
    })?;
    let image = layout
        .image(args.tag.as_deref())
        .map_err(|e| Exit::invalid(anyhow::Error::new(e)))?;
    let label = |k: &str| {
        image.config.config.labels.get(k).cloned().ok_or_else(|| {
            Exit::invalid(anyhow::anyhow!(
                "the image {} has no `{k}` label: distribute images davit built",
                image.manifest_descriptor.digest
            ))
        })
    };
    let (name, version) = (
        label("org.opencontainers.image.title")?,
        label("org.opencontainers.image.version")?,
    );
    let tags: Vec<String> = layout
        .index()
        .map_err(|e| Exit::invalid(anyhow::Error::new(e)))?
        .manifests
        .iter()
        .filter(|m| m.digest == image.manifest_descriptor.digest)
        .filter_map(|m| {
            m.annotations
                .get(davit_image::oci::layout::REF_NAME)
                .cloned()
        })
        .collect();
    let done = run(
        &config,
        api.as_ref(),
        &Artifact {
            layout: &layout,
            manifest: &image.manifest_descriptor,
            name: &name,
            version: &version,
            tags: &tags,
            disks: args.disks.clone(),
        },
    )
    .await?;
    match args.output {
        Format::Json => output::json(&done)?,
        Format::Text => {
            print(&done);
            println!(
                "{name} {version} ({}) distributed",
                image.manifest_descriptor.digest
            );
        }
    }
    Ok(())
}
