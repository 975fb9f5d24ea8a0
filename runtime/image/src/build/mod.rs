//! `davit image build`: a recipe becomes an OCI image.
//!
//! 1. The parent's layers (an OCI layout's image, or a Debian base made from Debian's
//!    packages) are the first layers ([`parent`]).
//! 2. Each component's `build` and `validate` phases run on the image's root filesystem (the
//!    component runner, [`crate::component::run`], `Target::Root`); what it changed becomes
//!    one layer ([`crate::oci::layer`]). A layer is cached by the chain of everything it sits
//!    on and the component's canonical content and inputs ([`cache`]): a rebuild after
//!    changing one component reuses every layer before it, and the root is unpacked only when
//!    a component must really run.
//! 3. The image (config with history, manifest) goes into the output layout, untagged.
//! 4. The test stage ([`test_stage`]): a fresh root unpacked from the layout's own blobs (never
//!    the build's root) runs the components' `test` phases and the recipe's tests. Only when
//!    they pass is the image tagged: a failed test distributes nothing.

mod cache;
mod debian;
mod parent;
mod roots;
mod test_stage;

use std::path::{Path, PathBuf};

use davit_fsroot::Root;
use davit_sandbox::{Plugin, S3Access, Sandbox};
use davit_spec::HostPolicy;
use davit_toe::Document;
use serde::Serialize;

use crate::component::{self, ProgressFn, RunOptions, Target};
use crate::oci::layer::{self, Snapshot};
use crate::oci::layout::{
    self, CONFIG, Config, Descriptor, History, LAYER_GZIP, Layout, MANIFEST, Manifest, RootFs,
    RunConfig,
};
use crate::oci::registry::{self, Pushed, RegistryError};
use crate::oci::sbom;
use crate::recipe::{ComponentRef, ComponentSource, Recipe};
use crate::store::{ComponentStore, Meta, StoreError};

pub use cache::LayerCache;
use roots::{BaseRoots, WorkRoot};

/// What a build is told besides its recipe.
pub struct BuildOptions {
    /// Where the image goes (the recipe's `outputs.oci-layout` unless given).
    pub oci_layout: Option<PathBuf>,
    /// Its tags (the recipe's, else its version, unless given).
    pub tags: Vec<String>,
    /// Leave the build's root filesystem when the build fails, and say where.
    pub keep_on_failure: bool,
    /// Push the tested image to the recipe's `outputs.registry` under its tags.
    pub push: bool,
    /// Policy for the components' commands and URLs.
    pub policy: HostPolicy,
    pub s3: S3Access,
    /// davit's own state: build roots, the layer cache, Debian bases, compiled components.
    pub deployment_root: PathBuf,
    /// The image's dates and the clamp of every file's mtime (`SOURCE_DATE_EPOCH`).
    pub epoch: u64,
    pub progress: Option<ProgressFn>,
    /// Where `component: NAME@VERSION` is found.
    pub store: ComponentStore,
}

/// One layer of the built image.
#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    /// What made it: `parent`, or the component's document.
    pub source: String,
    pub digest: String,
    pub size: u64,
    /// Taken from the layer cache, nothing run.
    pub cached: bool,
}

/// A finished build.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    pub name: String,
    pub version: String,
    /// The manifest's digest: the image's identity.
    pub digest: String,
    pub layout: String,
    pub tags: Vec<String>,
    pub layers: Vec<LayerReport>,
    /// Test documents run on the fresh instance, in order.
    pub tests: Vec<String>,
    /// The store's versions that `component: NAME@FILTER` resolved to, components then tests.
    pub from_store: Vec<Meta>,
    /// What the image was made from, as one digest (see [`inputs`]): a pipeline that builds
    /// "only when dependencies changed" compares it with its last build's.
    pub inputs: String,
    /// The VM disk images written from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<crate::disk::DiskReport>,
    /// The SBOM kept with it in the layout (from its dpkg status), if it has packages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sbom: Option<SbomReport>,
    /// Where it was pushed, and what the push sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed: Option<PushReport>,
    pub elapsed_ms: u64,
}

/// The SBOM of the built image.
#[derive(Debug, Clone, Serialize)]
pub struct SbomReport {
    /// The artifact manifest's digest (tagged `sha256-<image>.sbom` in the layout).
    pub digest: String,
    pub packages: usize,
}

/// A push of the built image.
#[derive(Debug, Clone, Serialize)]
pub struct PushReport {
    pub repository: String,
    #[serde(flatten)]
    pub sent: Pushed,
}

/// Why a build failed. Nothing is tagged in the output layout when it does.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot read component `{file}`")]
    Document {
        file: String,
        #[source]
        source: Box<davit_toe::ToeError>,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("{at}: the component store")]
    Store {
        at: String,
        #[source]
        source: Box<StoreError>,
    },
    #[error("the parent image `{parent}`")]
    Parent {
        parent: String,
        #[source]
        source: std::io::Error,
    },
    #[error("component `{file}` could not run")]
    Run {
        file: String,
        #[source]
        source: Box<component::RunError>,
    },
    #[error("component `{file}` failed{}: {message}", kept.as_ref().map(|k| format!(" (its root is kept at {})", k.display())).unwrap_or_default())]
    ComponentFailed {
        file: String,
        message: String,
        log: String,
        kept: Option<PathBuf>,
    },
    #[error("test `{file}` failed on a fresh instance of the image: {message}; nothing was tagged")]
    TestFailed {
        file: String,
        message: String,
        log: String,
    },
    /// The push failed: the layout holds the tested image, the registry has no tag of it.
    #[error("the image was built and tested, but not pushed")]
    Push(#[source] RegistryError),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let what = what.into();
    move |source| BuildError::Io { what, source }
}

/// A component of the build, loaded.
struct Loaded<'r> {
    reference: &'r ComponentRef,
    document: Document,
    text: String,
    /// What reports and the image's history call it: its path, or `NAME@VERSION`.
    label: String,
    /// The store's version, for `component: NAME@FILTER`.
    resolved: Option<Meta>,
}

fn load<'r>(reference: &'r ComponentRef, store: &ComponentStore) -> Result<Loaded<'r>, BuildError> {
    let (path, resolved) = match &reference.source {
        ComponentSource::Document(p) => (p.clone(), None),
        ComponentSource::Store { name, version } => {
            let found = store
                .resolve(name, version)
                .map_err(|source| BuildError::Store {
                    at: reference.at.to_string(),
                    source: Box::new(source),
                })?;
            (found.path, Some(found.meta))
        }
    };
    let path = &path;
    let file = path.display().to_string();
    let document = Document::load(path).map_err(|source| BuildError::Document {
        file: file.clone(),
        source: Box::new(source),
    })?;
    let text = std::fs::read_to_string(path).map_err(io(format!("reading `{file}`")))?;
    // What the layer cache keys the component by: its text and its nested documents'. One it
    // cannot know before running (a templated `document`) is never taken from the cache.
    let text = canonical(&document, &text, 0)
        .unwrap_or_else(|| format!("uncacheable {}", uuid::Uuid::new_v4()));
    let label = match &resolved {
        Some(meta) => format!("{}@{}", meta.name, meta.version),
        None => file,
    };
    Ok(Loaded {
        reference,
        document,
        text,
        label,
        resolved,
    })
}

fn load_all<'r>(
    refs: &'r [ComponentRef],
    store: &ComponentStore,
) -> Result<Vec<Loaded<'r>>, BuildError> {
    refs.iter().map(|c| load(c, store)).collect()
}

/// `text` (of `document`), then the text of every document its `ExecuteDocument` steps name,
/// recursively; `None` when one is named by a template (known only when it runs) or cannot
/// be read.
fn canonical(document: &Document, text: &str, depth: usize) -> Option<String> {
    let mut out = text.to_owned();
    if depth > component::MAX_NESTING {
        return None;
    }
    let dir = Path::new(&document.file).parent().unwrap_or(Path::new("."));
    for step in document.phases.iter().flat_map(|p| &p.steps) {
        if let davit_toe::Action::ExecuteDocument(nested) = &step.action {
            let name = nested.document.as_literal()?;
            let path = dir.join(&name);
            let nested_text = std::fs::read_to_string(&path).ok()?;
            let nested_doc = Document::load(&path).ok()?;
            out.push_str(&format!("\n--- {name}\n"));
            out.push_str(&canonical(&nested_doc, &nested_text, depth + 1)?);
        }
    }
    Some(out)
}

/// The phases of `document` among `wanted`, in its order.
fn phases(document: &Document, wanted: &[&str]) -> Vec<String> {
    document
        .phases
        .iter()
        .map(|p| p.name.clone())
        .filter(|n| wanted.contains(&n.as_str()))
        .collect()
}

/// The digest of everything a build of `recipe` would be made from, without building: the
/// parent's layers (a Debian base's are its lock's packages; a registry's are its tag's image
/// now), the action component, the epoch, each component's canonical content (a store's
/// resolved version) and parameters, the tests, the recipe's name and version. The same
/// digest means the same image; a component whose content is known only when it runs (a
/// templated `ExecuteDocument`) makes it differ every time.
///
/// # Errors
///
/// What [`build`] would fail with before running anything: a component that cannot be read
/// or resolved, a parent that cannot be had.
pub async fn inputs(
    plugin: &Plugin,
    recipe: &Recipe,
    options: &BuildOptions,
) -> Result<String, BuildError> {
    let components = load_all(&recipe.components, &options.store)?;
    let tests = load_all(&recipe.tests, &options.store)?;
    let cache = LayerCache::open(&options.deployment_root.join("cache").join("layers"))
        .map_err(io("opening the layer cache"))?;
    let base = parent::resolve(recipe, &cache, &options.deployment_root, options.epoch).await?;
    let chain = components.iter().fold(
        cache::chain_start(&base.chain_id(), plugin.digest(), options.epoch),
        |chain, c| cache::chain_next(&chain, &c.text, &c.reference.parameters),
    );
    Ok(inputs_digest(&chain, &tests, recipe))
}

/// The inputs' digest from the layer chain of the components, the tests and the recipe.
fn inputs_digest(chain: &str, tests: &[Loaded<'_>], recipe: &Recipe) -> String {
    let tests = tests.iter().fold(String::new(), |t, c| {
        cache::chain_next(&t, &c.text, &c.reference.parameters)
    });
    crate::oci::layer::sha256(
        format!(
            "davit image inputs 1\n{chain}\n{tests}\n{}\n{}",
            recipe.name, recipe.version
        )
        .as_bytes(),
    )
}

/// Builds `recipe`'s image with the action component `plugin`.
///
/// # Errors
///
/// See [`BuildError`].
pub async fn build(
    sandbox: &Sandbox,
    plugin: &Plugin,
    recipe: &Recipe,
    options: &BuildOptions,
) -> Result<BuildReport, BuildError> {
    let started = std::time::Instant::now();
    let components = load_all(&recipe.components, &options.store)?;
    let tests = load_all(&recipe.tests, &options.store)?;
    let layout_dir = options
        .oci_layout
        .clone()
        .or_else(|| recipe.outputs.oci_layout.clone())
        .unwrap_or_else(|| options.deployment_root.join("images").join(&recipe.name));
    let push_to = match (&recipe.outputs.registry, options.push) {
        (Some(repo), true) => Some(repo.clone()),
        (None, true) => {
            return Err(BuildError::Unsupported(format!(
                "{}: `--push` needs `outputs.registry` (docker://HOST[:PORT]/REPOSITORY)",
                recipe.file
            )));
        }
        (_, false) => None,
    };
    let tags = if !options.tags.is_empty() {
        options.tags.clone()
    } else if !recipe.outputs.tags.is_empty() {
        recipe.outputs.tags.clone()
    } else {
        vec![recipe.version.to_string()]
    };
    let out = Layout::create(&layout_dir).map_err(io(format!(
        "writing the OCI layout `{}`",
        layout_dir.display()
    )))?;
    let cache = LayerCache::open(&options.deployment_root.join("cache").join("layers"))
        .map_err(io("opening the layer cache"))?;
    let work_parent = options.deployment_root.join("image-builds");
    roots::sweep(&work_parent);

    // 1. The parent.
    let base = parent::resolve(recipe, &cache, &options.deployment_root, options.epoch).await?;
    let mut layers: Vec<(Descriptor, String)> = Vec::new();
    let mut history: Vec<History> = base.history.clone();
    let mut reports = Vec::new();
    for l in &base.layers {
        base.copy_into(&out, &l.descriptor.digest)
            .map_err(io(format!(
                "copying the parent's layer {}",
                l.descriptor.digest
            )))?;
        layers.push((l.descriptor.clone(), l.diff_id.clone()));
        reports.push(LayerReport {
            source: "parent".into(),
            digest: l.descriptor.digest.clone(),
            size: l.descriptor.size,
            cached: true,
        });
    }

    // 2. One layer per component, from the cache where the chain is the same. The work root
    // is made at the first component that must run.
    let mut work: Option<WorkRoot> = None;
    let mut unpacked = 0usize; // layers of `layers` applied to the work root so far
    let mut chain = cache::chain_start(&base.chain_id(), plugin.digest(), options.epoch);
    for c in &components {
        let file = c.label.clone();
        chain = cache::chain_next(&chain, &c.text, &c.reference.parameters);
        if let Some(hit) = cache.get(&chain).map_err(io("reading the layer cache"))? {
            cache
                .export(&hit, &out)
                .map_err(io(format!("copying cached layer {}", hit.digest)))?;
            reports.push(LayerReport {
                source: file.clone(),
                digest: hit.digest.clone(),
                size: hit.size,
                cached: true,
            });
            history.push(component_history(&file, options.epoch));
            layers.push((layer_descriptor(&hit), hit.diff_id.clone()));
            continue;
        }
        let current = match &mut work {
            Some(w) => w,
            None => {
                let descriptors: Vec<Descriptor> = layers.iter().map(|(d, _)| d.clone()).collect();
                let made = root_with(
                    options,
                    &base,
                    &out,
                    &descriptors,
                    &work_parent,
                    !options.keep_on_failure,
                )?;
                unpacked = layers.len();
                work.insert(made)
            }
        };
        let root = current.open()?;
        // Catch the work root up with every layer below this one.
        for (descriptor, _) in &layers[unpacked..] {
            apply(&root, &out, &descriptor.digest)?;
        }
        unpacked = layers.len();
        let wanted = phases(&c.document, &["build", "validate"]);
        let before = Snapshot::of(&root).map_err(io("reading the build root"))?;
        if !wanted.is_empty() {
            let report =
                run_phases(sandbox, plugin, options, c, &current.root_dir(), wanted).await?;
            if !report.status.is_success() {
                let mut work = work.take().expect("the work root of this component");
                work.keep = options.keep_on_failure;
                return Err(BuildError::ComponentFailed {
                    file,
                    message: report.failure_message,
                    log: report.log_url,
                    kept: work.keep.then(|| work.root_dir()),
                });
            }
        }
        let after = Snapshot::of(&root).map_err(io("reading the build root"))?;
        let made = layer::write(&root, &before, &after, options.epoch, &cache.blobs())
            .map_err(io(format!("writing the layer of `{file}`")))?;
        let hit = cache
            .put(&chain, &made)
            .map_err(io("writing the layer cache"))?;
        cache
            .export(&hit, &out)
            .map_err(io(format!("copying layer {}", hit.digest)))?;
        unpacked += 1;
        reports.push(LayerReport {
            source: file.clone(),
            digest: hit.digest.clone(),
            size: hit.size,
            cached: false,
        });
        history.push(component_history(&file, options.epoch));
        layers.push((layer_descriptor(&hit), hit.diff_id.clone()));
    }
    drop(work);

    // 3. The image, untagged until its tests pass.
    let config = Config {
        created: Some(layout::rfc3339(options.epoch)),
        architecture: "amd64".into(),
        os: "linux".into(),
        config: RunConfig {
            env: base.config.env.clone(),
            cmd: base.config.cmd.clone(),
            working_dir: base.config.working_dir.clone(),
            labels: [
                (
                    "org.opencontainers.image.title".to_owned(),
                    recipe.name.clone(),
                ),
                (
                    "org.opencontainers.image.version".to_owned(),
                    recipe.version.to_string(),
                ),
            ]
            .into_iter()
            .collect(),
        },
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: layers.iter().map(|(_, d)| d.clone()).collect(),
        },
        history,
    };
    let config_json = serde_json::to_vec(&config).expect("config serializes");
    let config_descriptor = out
        .put(CONFIG, &config_json)
        .map_err(io("writing the image config"))?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: MANIFEST.into(),
        config: config_descriptor,
        layers: layers.iter().map(|(d, _)| d.clone()).collect(),
        annotations: [
            (
                "org.opencontainers.image.created".to_owned(),
                layout::rfc3339(options.epoch),
            ),
            (
                "org.opencontainers.image.version".to_owned(),
                recipe.version.to_string(),
            ),
        ]
        .into_iter()
        .collect(),
    };
    let manifest_descriptor = out
        .put(
            MANIFEST,
            &serde_json::to_vec(&manifest).expect("manifest serializes"),
        )
        .map_err(io("writing the image manifest"))?;

    // 4. Tests on a fresh instance, from the layout's own blobs.
    let fresh = || root_with(options, &base, &out, &manifest.layers, &work_parent, true);
    let test_docs = test_stage::run(
        sandbox,
        plugin,
        options,
        components.iter().chain(tests.iter()),
        &fresh,
    )
    .await?;

    out.tag(&manifest_descriptor, &tags)
        .map_err(io("tagging the image in the layout"))?;
    let disk = if recipe.outputs.disk.is_empty() {
        None
    } else {
        let fresh = fresh()?;
        Some(
            crate::disk::write(
                &fresh.root_dir(),
                &recipe.outputs.disk,
                &manifest_descriptor.digest,
                options.epoch,
            )
            .map_err(io("writing the disk images"))?,
        )
    };
    let status_cache = options.deployment_root.join("cache").join("dpkg-status");
    let sbom = sbom_of(
        &out,
        &manifest,
        &manifest_descriptor,
        recipe,
        options.epoch,
        &status_cache,
    )
    .map_err(io("writing the image's SBOM"))?;
    let pushed = match push_to {
        Some(repo) => Some(PushReport {
            repository: repo.to_string(),
            sent: registry::push(&out, &manifest_descriptor, &repo, &tags)
                .await
                .map_err(BuildError::Push)?,
        }),
        None => None,
    };
    Ok(BuildReport {
        disk,
        sbom,
        pushed,
        name: recipe.name.clone(),
        version: recipe.version.to_string(),
        digest: manifest_descriptor.digest,
        layout: layout_dir.display().to_string(),
        tags,
        layers: reports,
        tests: test_docs,
        from_store: components
            .iter()
            .chain(&tests)
            .filter_map(|c| c.resolved.clone())
            .collect(),
        inputs: inputs_digest(&chain, &tests, recipe),
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

/// A new root holding `layers` of `out`, each checked against its digest: over the parent's
/// cached root (`base`'s layers unpacked once) where `overlay` is allowed and works, else
/// every layer unpacked into a plain directory.
fn root_with(
    options: &BuildOptions,
    base: &parent::Base,
    out: &Layout,
    layers: &[Descriptor],
    work_parent: &Path,
    overlay: bool,
) -> Result<WorkRoot, BuildError> {
    let parent: Vec<Descriptor> = base.layers.iter().map(|l| l.descriptor.clone()).collect();
    let on_parent = layers.len() >= parent.len()
        && layers
            .iter()
            .zip(&parent)
            .all(|(a, b)| a.digest == b.digest);
    let mut below = 0;
    let mut work = None;
    if overlay && on_parent && roots::overlay_works(work_parent) {
        let lower = BaseRoots::at(&options.deployment_root).get(
            &base.chain_id(),
            &parent,
            out,
            work_parent,
        )?;
        if let Some(w) = WorkRoot::overlay(work_parent, &lower)? {
            below = parent.len();
            work = Some(w);
        }
    }
    let work = match work {
        Some(w) => w,
        None => WorkRoot::create(work_parent)?,
    };
    let root = work.open()?;
    for layer in &layers[below..] {
        roots::apply_checked(&root, out, layer)?;
    }
    Ok(work)
}

/// Reads the image's dpkg status from its layers and keeps its SBOM in the layout.
fn sbom_of(
    out: &Layout,
    manifest: &Manifest,
    image: &Descriptor,
    recipe: &Recipe,
    epoch: u64,
    status_cache: &Path,
) -> std::io::Result<Option<SbomReport>> {
    let Some(status) = sbom::dpkg_status(out, manifest, status_cache)? else {
        return Ok(None);
    };
    let packages = sbom::installed(&status);
    let document = sbom::spdx(
        &recipe.name,
        &recipe.version.to_string(),
        &image.digest,
        epoch,
        &packages,
    );
    let attached = sbom::attach(out, image, &document)?;
    Ok(Some(SbomReport {
        digest: attached.digest,
        packages: packages.len(),
    }))
}

fn layer_descriptor(layer: &cache::CachedLayer) -> Descriptor {
    Descriptor {
        media_type: LAYER_GZIP.into(),
        digest: layer.digest.clone(),
        size: layer.size,
        annotations: Default::default(),
    }
}

fn component_history(file: &str, epoch: u64) -> History {
    History {
        created: Some(layout::rfc3339(epoch)),
        created_by: Some(format!("davit component run {file}")),
        comment: None,
        empty_layer: false,
    }
}

/// Applies the blob `digest` of `layout` onto `root`.
fn apply(root: &Root, layout: &Layout, digest: &str) -> Result<(), BuildError> {
    let path = layout.blob_path(digest).map_err(io("a layer's digest"))?;
    apply_file(root, &path, &format!("layer {digest}"))
}

/// Applies the layer (a tar, plain or gzip) in the file `path`, called `what`, onto `root`.
fn apply_file(root: &Root, path: &Path, what: &str) -> Result<(), BuildError> {
    let file = std::fs::File::open(path).map_err(io(format!("reading {what}")))?;
    crate::oci::unpack::apply_layer(root, std::io::BufReader::new(file)).map_err(|e| {
        BuildError::Io {
            what: format!("applying {what}"),
            source: std::io::Error::other(e),
        }
    })?;
    Ok(())
}

/// Runs `phases` of `component` on the root `root`; its report (a failed step is in it).
async fn run_phases(
    sandbox: &Sandbox,
    plugin: &Plugin,
    options: &BuildOptions,
    component: &Loaded<'_>,
    root: &Path,
    phases: Vec<String>,
) -> Result<component::RunReport, BuildError> {
    let run = run_options_at(options, root, phases, &component.reference.parameters);
    component::run(sandbox, plugin, &component.document, run)
        .await
        .map_err(|source| BuildError::Run {
            file: component.document.file.clone(),
            source: Box::new(source),
        })
}

fn run_options_at(
    options: &BuildOptions,
    root: &Path,
    phases: Vec<String>,
    parameters: &[(String, String)],
) -> RunOptions {
    RunOptions {
        target: Target::Root(root.to_path_buf()),
        policy: options.policy.clone(),
        phases: Some(phases),
        parameters: parameters.to_vec(),
        log_root: options.deployment_root.join("component-runs"),
        deployment_root: options.deployment_root.clone(),
        max_reboots: davit_lifecycle::MAX_REBOOTS,
        s3: options.s3.clone(),
        run_id: None,
        progress: options.progress.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NESTED: &str = "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Make\n        action: CreateFolder\n        inputs:\n          - path: /opt/x\n";

    fn doc(dir: &Path, name: &str, text: &str) -> (Document, String) {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        (Document::load(&path).unwrap(), text.to_owned())
    }

    #[test]
    fn a_components_cache_key_holds_its_nested_documents() {
        let dir = tempfile::tempdir().unwrap();
        doc(dir.path(), "nested.yml", NESTED);
        let outer = "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Nested\n        action: ExecuteDocument\n        inputs:\n          document: nested.yml\n";
        let (d, t) = doc(dir.path(), "outer.yml", outer);
        let key = canonical(&d, &t, 0).unwrap();
        assert!(key.starts_with(outer) && key.ends_with(NESTED), "{key}");
        // A change to the nested document changes the key.
        doc(
            dir.path(),
            "nested.yml",
            &NESTED.replace("/opt/x", "/opt/y"),
        );
        assert_ne!(canonical(&d, &t, 0).unwrap(), key);
        // A document known only when it runs: no key, never from the cache.
        let templated = "schemaVersion: 1.0\nparameters:\n  - which:\n      type: string\n      default: nested.yml\nphases:\n  - name: build\n    steps:\n      - name: Nested\n        action: ExecuteDocument\n        inputs:\n          document: '{{ which }}'\n";
        let (d, t) = doc(dir.path(), "templated.yml", templated);
        assert_eq!(canonical(&d, &t, 0), None);
    }
}
