//! Distribution: a tested image goes to every target a distribution configuration names,
//! each checked by digest.
//!
//! ```yaml
//! registries:
//!   - repository: docker://127.0.0.1:5000/team/web-base
//!     tags: [latest, '{{version}}']      # default: the image's tags
//!   - repository: docker://registry.example:5000/mirror/web-base
//! disk-store: /srv/davit/disks            # NAME/VERSION/{disk.raw, disk.qcow2, SHA256SUMS}
//! groups: [web/prod, web/canary]          # APP/GROUP: the server records the image on them
//! ```
//!
//! The order makes a failure leave nothing half-done where it is used:
//! 1. every registry gets the blobs it lacks (nothing is tagged yet);
//! 2. the disk images are copied into a hidden sibling of their version's directory in the
//!    store, each copy read back and compared with the source's sha256, `SHA256SUMS` written,
//!    and the directory renamed into place without replacing (a version there already must
//!    hold the same bytes: versions never change);
//! 3. each registry gets its tags, and each tag is read back: the manifest it serves must be
//!    the image's digest.
//!
//! The groups are recorded by whoever holds the server's credential: `davit image distribute`
//! (an operator) or the server itself at the end of a pipeline's run.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use davit_fsroot::{OpenOptions, Resolve, Root};
use davit_spec::{Source, yaml_problem};
use serde::{Deserialize, Serialize};

use crate::oci::layout::{Descriptor, Layout, file_digest, reader_digest};
use crate::oci::registry::{self, Pushed, RegistryError, Repository};
use crate::recipe::{RecipeError, parse_repository, parse_tag};

type S<T> = serde_saphyr::Spanned<T>;

/// A validated distribution configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distribution {
    pub file: String,
    pub registries: Vec<RegistryTarget>,
    pub disk_store: Option<PathBuf>,
    /// `(application, group)`.
    pub groups: Vec<(davit_api::AppName, davit_api::GroupName)>,
}

/// A repository and the tags it gets (empty: the image's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryTarget {
    pub repository: Repository,
    pub tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDistribution {
    #[serde(default)]
    registries: Vec<S<RawRegistry>>,
    disk_store: Option<S<String>>,
    #[serde(default)]
    groups: Vec<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    repository: S<String>,
    #[serde(default)]
    tags: Vec<S<String>>,
}

impl Distribution {
    /// Reads and validates the configuration at `path`.
    ///
    /// # Errors
    ///
    /// The first problem, located.
    pub fn load(path: &Path) -> Result<Distribution, RecipeError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| RecipeError::Read {
            file: file.clone(),
            error,
        })?;
        Distribution::parse(&file, &text)
    }

    /// Validates the configuration `text` of `file` (a relative `disk-store` is relative to
    /// `file`'s directory).
    ///
    /// # Errors
    ///
    /// The first problem, located.
    pub fn parse(file: &str, text: &str) -> Result<Distribution, RecipeError> {
        let src = Source::new(file, text);
        let invalid = |at, message: String| RecipeError::Invalid { at, message };
        let raw: RawDistribution = serde_saphyr::from_str(text).map_err(|e| {
            let (_, at, problem) = yaml_problem(src, &e);
            invalid(at, crate::recipe::describe(problem))
        })?;
        let dir = Path::new(file).parent().unwrap_or(Path::new(""));
        let mut registries = Vec::new();
        for r in raw.registries {
            let repository = parse_repository(&r.value.repository.value).map_err(|m| {
                invalid(
                    src.yaml(&r.value.repository.referenced),
                    format!("`repository`: {m}"),
                )
            })?;
            let tags = r
                .value
                .tags
                .iter()
                .map(|t| {
                    parse_tag(&t.value)
                        .map(|()| t.value.trim().to_owned())
                        .map_err(|m| invalid(src.yaml(&t.referenced), m))
                })
                .collect::<Result<Vec<_>, _>>()?;
            registries.push(RegistryTarget { repository, tags });
        }
        let mut groups = Vec::new();
        for g in raw.groups {
            let bad = |m: String| invalid(src.yaml(&g.referenced), m);
            let (app, group) = g
                .value
                .trim()
                .split_once('/')
                .ok_or_else(|| bad(format!("`groups`: `{}` is not APP/GROUP", g.value)))?;
            let app = davit_api::AppName::try_from(app)
                .map_err(|e| bad(format!("`groups`: `{}`: {e}", g.value)))?;
            let group = davit_api::GroupName::try_from(group)
                .map_err(|e| bad(format!("`groups`: `{}`: {e}", g.value)))?;
            groups.push((app, group));
        }
        let distribution = Distribution {
            file: file.to_owned(),
            registries,
            disk_store: raw.disk_store.map(|d| dir.join(d.value.trim())),
            groups,
        };
        if distribution.registries.is_empty() && distribution.disk_store.is_none() {
            return Err(invalid(
                src.at(1, 1),
                "a distribution names at least one of `registries` and `disk-store`".to_owned(),
            ));
        }
        if !distribution.groups.is_empty() && distribution.registries.is_empty() {
            return Err(invalid(
                src.at(1, 1),
                "`groups` are told where the image is: name a registry in `registries`".to_owned(),
            ));
        }
        Ok(distribution)
    }
}

/// The image to distribute.
pub struct Artifact<'a> {
    pub layout: &'a Layout,
    pub manifest: &'a Descriptor,
    pub name: &'a str,
    pub version: &'a str,
    /// Its tags in the layout: what a registry without its own tags gets.
    pub tags: &'a [String],
    /// Its disk images, for the disk store.
    pub disks: Vec<PathBuf>,
}

/// The image a build just made, read back from its layout for distribution.
pub struct Built<'r> {
    pub report: &'r crate::build::BuildReport,
    pub layout: Layout,
    pub manifest: Descriptor,
    pub disks: Vec<PathBuf>,
}

impl<'r> Built<'r> {
    /// The image of `report` (by its first tag) in its layout, and its disk images.
    ///
    /// # Errors
    ///
    /// When the layout cannot be read.
    pub fn of(report: &'r crate::build::BuildReport) -> io::Result<Built<'r>> {
        let layout = Layout::open(Path::new(&report.layout))?;
        let manifest = layout
            .image(report.tags.first().map(String::as_str))?
            .manifest_descriptor;
        let disks = report
            .disk
            .iter()
            .flat_map(|d| d.raw.iter().chain(&d.qcow2))
            .map(PathBuf::from)
            .collect();
        Ok(Built {
            report,
            layout,
            manifest,
            disks,
        })
    }

    pub fn artifact(&self) -> Artifact<'_> {
        Artifact {
            layout: &self.layout,
            manifest: &self.manifest,
            name: &self.report.name,
            version: &self.report.version,
            tags: &self.report.tags,
            disks: self.disks.clone(),
        }
    }
}

/// What a distribution did.
#[derive(Debug, Clone, Serialize)]
pub struct DistributionReport {
    pub registries: Vec<PushedTo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disks: Option<DisksStored>,
    /// Where a host finds the image: the first registry's first tag
    /// (`docker://HOST[:PORT]/REPOSITORY:TAG`), what the groups are told.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// `APP/GROUP` of each group to record it on.
    pub groups: Vec<String>,
}

/// One registry's part.
#[derive(Debug, Clone, Serialize)]
pub struct PushedTo {
    pub repository: String,
    pub tags: Vec<String>,
    #[serde(flatten)]
    pub sent: Pushed,
}

/// The disk images in the store.
#[derive(Debug, Clone, Serialize)]
pub struct DisksStored {
    /// The version's directory.
    pub dir: String,
    /// `(file name, sha256)`.
    pub files: Vec<(String, String)>,
    /// The version was already there, with these very bytes.
    pub already_there: bool,
}

/// Why a distribution failed.
#[derive(Debug, thiserror::Error)]
pub enum DistributeError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("registry `{repository}` serves `{tag}` as {served}, not the image {digest}")]
    Mismatch {
        repository: String,
        tag: String,
        served: String,
        digest: String,
    },
    #[error("the disk store: {what}")]
    Disk {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("the disk store already holds {name} {version} with other bytes ({file})")]
    DiskChanged {
        name: String,
        version: String,
        file: String,
    },
    #[error("{0}")]
    Nothing(String),
}

fn disk_io(what: impl Into<String>) -> impl FnOnce(io::Error) -> DistributeError {
    let what = what.into();
    move |source| DistributeError::Disk { what, source }
}

/// `{{name}}` and `{{version}}` in a tag.
fn expand(tag: &str, artifact: &Artifact<'_>) -> String {
    tag.replace("{{name}}", artifact.name)
        .replace("{{version}}", artifact.version)
}

/// Sends `artifact` to every target of `config` (see the module's order); its disks go to
/// `disk_store` when the caller opened the configuration's store itself (a builder, beneath
/// its policy's directory), else to the store opened at the configuration's path.
///
/// # Errors
///
/// The first target that failed; what came before it stays (blobs without tags, a complete
/// disk version), what comes after is not begun.
pub async fn distribute(
    config: &Distribution,
    artifact: &Artifact<'_>,
    disk_store: Option<&DiskStore>,
) -> Result<DistributionReport, DistributeError> {
    let mut registries = Vec::new();
    for target in &config.registries {
        let tags: Vec<String> = if target.tags.is_empty() {
            artifact.tags.to_vec()
        } else {
            target.tags.iter().map(|t| expand(t, artifact)).collect()
        };
        if tags.is_empty() {
            return Err(DistributeError::Nothing(format!(
                "{}: `{}` has no tags and the image has none",
                config.file, target.repository
            )));
        }
        let sent =
            registry::push_blobs(artifact.layout, artifact.manifest, &target.repository).await?;
        registries.push(PushedTo {
            repository: target.repository.to_string(),
            tags,
            sent,
        });
    }
    let disks = match (&config.disk_store, disk_store) {
        (None, _) => None,
        (Some(_), _) if artifact.disks.is_empty() => {
            return Err(DistributeError::Nothing(format!(
                "{}: `disk-store` is set but the image has no disk images (the recipe's `outputs.disk`)",
                config.file
            )));
        }
        (Some(_), Some(opened)) => Some(store_disks(opened, artifact)?),
        (Some(path), None) => Some(store_disks(&DiskStore::open(path)?, artifact)?),
    };
    for (target, done) in config.registries.iter().zip(&registries) {
        registry::put_tags(
            artifact.layout,
            artifact.manifest,
            &target.repository,
            &done.tags,
        )
        .await?;
        for tag in &done.tags {
            let served = registry::tagged_digest(&target.repository, tag).await?;
            if served != artifact.manifest.digest {
                return Err(DistributeError::Mismatch {
                    repository: done.repository.clone(),
                    tag: tag.clone(),
                    served,
                    digest: artifact.manifest.digest.clone(),
                });
            }
        }
    }
    Ok(DistributionReport {
        reference: registries
            .first()
            .map(|r| format!("docker://{}:{}", r.repository, r.tags[0])),
        registries,
        disks,
        groups: config
            .groups
            .iter()
            .map(|(a, g)| format!("{a}/{g}"))
            .collect(),
    })
}

/// Copies the disks into `STORE/NAME/VERSION/` (see the module).
/// The disk store, opened: every write is resolved beneath it.
pub struct DiskStore {
    root: Root,
    /// Its path, for reports.
    shown: PathBuf,
}

impl DiskStore {
    /// The store at `path` as given by an operator (created if missing).
    ///
    /// # Errors
    ///
    /// When it cannot be made or opened.
    pub fn open(path: &Path) -> Result<DiskStore, DistributeError> {
        std::fs::create_dir_all(path).map_err(disk_io(format!("creating `{}`", path.display())))?;
        let root = Root::open_ambient(path, Resolve::Beneath)
            .map_err(disk_io(format!("opening `{}`", path.display())))?;
        Ok(DiskStore {
            root,
            shown: path.to_owned(),
        })
    }

    /// The store at `rel` beneath the open directory `base` (shown as `shown`), created
    /// beneath it: a link on the way out of `base` is refused.
    ///
    /// # Errors
    ///
    /// When it cannot be made, or would leave `base`.
    pub fn beneath(base: &Root, rel: &Path, shown: &Path) -> Result<DiskStore, DistributeError> {
        let root = match rel.as_os_str().is_empty() {
            true => base.try_clone(),
            false => base.create_dir_all(rel, 0o755),
        }
        .map_err(disk_io(format!("opening `{}`", shown.display())))?;
        Ok(DiskStore {
            root,
            shown: shown.to_owned(),
        })
    }
}

fn store_disks(store: &DiskStore, artifact: &Artifact<'_>) -> Result<DisksStored, DistributeError> {
    let (name, version) = (artifact.name, artifact.version);
    let named = store
        .root
        .create_dir_all(Path::new(name), 0o755)
        .map_err(disk_io(format!("creating `{name}`")))?;
    let dir = store.shown.join(name).join(version);
    let mut sums = Vec::new();
    for disk in &artifact.disks {
        let file = disk
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let digest = file_digest(disk).map_err(disk_io(format!(
            "reading the disk image `{}`",
            disk.display()
        )))?;
        sums.push((file, digest));
    }
    let sums_text: String = sums.iter().map(|(f, d)| format!("{d}  {f}\n")).collect();
    if let Some(existing) = read_sums(&named, version)? {
        return match existing == sums_text {
            true => Ok(DisksStored {
                dir: dir.display().to_string(),
                files: sums,
                already_there: true,
            }),
            false => Err(DistributeError::DiskChanged {
                name: name.to_owned(),
                version: version.to_owned(),
                file: dir.join("SHA256SUMS").display().to_string(),
            }),
        };
    }
    let temp = format!(".{version}.{}", uuid::Uuid::new_v4().simple());
    let written =
        write_version(&named, Path::new(&temp), artifact, &sums, &sums_text).and_then(|()| {
            named
                .rename_noreplace(Path::new(&temp), Path::new(version))
                .map_err(disk_io(format!("putting `{}` in place", dir.display())))
        });
    if let Err(e) = written {
        let _ = named.remove_all(Path::new(&temp));
        return Err(e);
    }
    Ok(DisksStored {
        dir: dir.display().to_string(),
        files: sums,
        already_there: false,
    })
}

fn read_sums(named: &Root, version: &str) -> Result<Option<String>, DistributeError> {
    let rel = Path::new(version).join("SHA256SUMS");
    match named.open_file(&rel, OpenOptions::new().read(true)) {
        Ok(mut f) => {
            let mut text = String::new();
            f.read_to_string(&mut text)
                .map_err(disk_io(format!("reading `{}`", rel.display())))?;
            Ok(Some(text))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(disk_io(format!("reading `{}`", rel.display()))(e)),
    }
}

fn write_version(
    named: &Root,
    temp: &Path,
    artifact: &Artifact<'_>,
    sums: &[(String, String)],
    sums_text: &str,
) -> Result<(), DistributeError> {
    let dir = named
        .create_dir_all(temp, 0o755)
        .map_err(disk_io("creating the version's directory"))?;
    for (disk, (file, digest)) in artifact.disks.iter().zip(sums) {
        let what = || format!("copying `{}`", disk.display());
        let mut to = dir
            .open_file(
                Path::new(file),
                OpenOptions::new().read(true).write(true).create_new(true),
            )
            .map_err(disk_io(what()))?;
        let mut from = std::fs::File::open(disk).map_err(disk_io(what()))?;
        copy_sparse(&mut from, &mut to).map_err(disk_io(what()))?;
        to.seek(SeekFrom::Start(0)).map_err(disk_io(what()))?;
        let copied = reader_digest(&mut to).map_err(disk_io(what()))?;
        if copied != *digest {
            return Err(DistributeError::Disk {
                what: what(),
                source: io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("the copy reads back as {copied}, the source is {digest}"),
                ),
            });
        }
    }
    let mut f = dir
        .open_file(
            Path::new("SHA256SUMS"),
            OpenOptions::new().write(true).create_new(true),
        )
        .map_err(disk_io("writing SHA256SUMS"))?;
    f.write_all(sums_text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(disk_io("writing SHA256SUMS"))
}

/// Copies `from` into `to`, leaving holes where the source reads as zeros (a raw disk is
/// mostly empty), then syncs.
fn copy_sparse(from: &mut std::fs::File, to: &mut std::fs::File) -> io::Result<()> {
    let mut buf = vec![0u8; 64 << 10];
    let mut len = 0u64;
    loop {
        let n = read_full(from, &mut buf)?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().all(|&b| b == 0) {
            to.seek(SeekFrom::Current(n as i64))?;
        } else {
            to.write_all(&buf[..n])?;
        }
        len += n as u64;
    }
    to.set_len(len)?;
    to.sync_all()
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests;
