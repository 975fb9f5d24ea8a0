//! Image recipes: what `davit image build RECIPE` reads. YAML, every mapping closed to unknown
//! keys, every value located, so that a wrong field is an `error:` at `file:line:column`.
//!
//! ```yaml
//! name: web-base
//! version: 1.2.0                  # semantic, major.minor.patch
//! parent: debian:bookworm         # or oci-layout:PATH[:TAG], docker://HOST[:PORT]/REPO[:TAG]
//! working-directory: /tmp         # where the build's scripts may write (default /tmp)
//! source-date-epoch: 1700000000   # the image's dates (else SOURCE_DATE_EPOCH, else 0)
//! components:
//!   - document: components/hello.yml        # relative to the recipe
//!     parameters:
//!       - name: greeting
//!         value: [hello]                     # Image Builder's form; a plain string too
//!   - component: davit/agent@1.x.x          # from the store (newest match)
//! tests:
//!   - document: tests/smoke.yml              # test phases, on a fresh instance
//! outputs:
//!   oci-layout: out/web-base
//!   tags: [web-base:1.2.0, latest]
//!   registry: docker://127.0.0.1:5000/team/web-base   # where `--push` sends it
//!   disk: {raw: out/web-base.raw, qcow2: out/web-base.qcow2, size: 2G}
//! ```

use std::path::{Path, PathBuf};

use davit_spec::{Location, Source, YamlProblem, yaml_problem};
use serde::Deserialize;

type S<T> = serde_saphyr::Spanned<T>;

/// A validated recipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    /// The recipe file, as given.
    pub file: String,
    pub name: String,
    pub version: semver::Version,
    pub parent: Parent,
    pub working_directory: String,
    pub source_date_epoch: Option<u64>,
    /// In build order: each becomes one layer.
    pub components: Vec<ComponentRef>,
    /// Documents whose `test` phase runs on the fresh instance (besides the components' own).
    pub tests: Vec<ComponentRef>,
    pub outputs: Outputs,
}

/// Where the image starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parent {
    /// A Debian release built from Debian's packages (`debian:bookworm`).
    Debian { suite: String },
    /// An image in an OCI layout on disk, by tag (the only image when none is given).
    OciLayout { path: PathBuf, tag: Option<String> },
    /// An image in a registry (`docker://HOST[:PORT]/REPO[:TAG]`).
    Registry {
        host: String,
        repository: String,
        tag: String,
    },
}

/// One component of a recipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentRef {
    pub source: ComponentSource,
    /// `--parameters` of the component's run, in the recipe's order.
    pub parameters: Vec<(String, String)>,
    /// Where the recipe names it.
    pub at: Location,
}

/// A component document on disk, or a versioned one from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentSource {
    /// A path, resolved relative to the recipe's directory.
    Document(PathBuf),
    /// `name@version`, the version exact (`1.2.0`) or with `x` wildcards as a suffix
    /// (`1.x.x`, `1.2.x`): the newest match wins.
    Store { name: String, version: String },
}

/// What a build writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    /// The OCI layout to write the image to (relative to the recipe's directory).
    pub oci_layout: Option<PathBuf>,
    /// Tags of the image (in the layout's index, and pushed); default its version.
    pub tags: Vec<String>,
    /// The repository `--push` sends the image to (`docker://HOST[:PORT]/REPO`).
    pub registry: Option<crate::oci::registry::Repository>,
    /// VM disk images of the same root filesystem.
    pub disk: crate::disk::DiskOutputs,
}

/// Why a recipe was rejected.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error("cannot read `{file}`: {error}")]
    Read { file: String, error: std::io::Error },
    /// A YAML or shape error, or a value that does not hold.
    #[error("{at}: {message}")]
    Invalid { at: Location, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRecipe {
    name: S<String>,
    version: S<String>,
    parent: S<String>,
    working_directory: Option<S<String>>,
    source_date_epoch: Option<S<u64>>,
    components: S<Vec<S<RawComponent>>>,
    #[serde(default)]
    tests: Vec<S<RawComponent>>,
    #[serde(default)]
    outputs: Option<S<RawOutputs>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    document: Option<S<String>>,
    component: Option<S<String>>,
    #[serde(default)]
    parameters: Vec<S<RawParameter>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParameter {
    name: S<String>,
    value: S<OneOrList>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrList {
    One(String),
    List(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawOutputs {
    oci_layout: Option<S<String>>,
    #[serde(default)]
    tags: Vec<S<String>>,
    registry: Option<S<String>>,
    disk: Option<S<RawDisk>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDisk {
    raw: Option<S<String>>,
    qcow2: Option<S<String>>,
    size: Option<S<String>>,
}

impl Recipe {
    /// Reads and validates the recipe at `path`.
    ///
    /// # Errors
    ///
    /// The first problem, located.
    pub fn load(path: &Path) -> Result<Recipe, RecipeError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| RecipeError::Read {
            file: file.clone(),
            error,
        })?;
        Recipe::parse(&file, &text)
    }

    /// Validates the recipe `text` of `file` (relative paths in it are relative to `file`'s
    /// directory).
    ///
    /// # Errors
    ///
    /// The first problem, located.
    pub fn parse(file: &str, text: &str) -> Result<Recipe, RecipeError> {
        let src = Source::new(file, text);
        if text.trim().is_empty() {
            return Err(invalid(
                src.at(1, 1),
                "the recipe is empty, expected at least `name`, `version`, `parent` and `components`",
            ));
        }
        let raw: RawRecipe = serde_saphyr::from_str(text).map_err(|e| {
            let (_, at, problem) = yaml_problem(src, &e);
            invalid(at, &describe(problem))
        })?;
        let dir = Path::new(file).parent().unwrap_or(Path::new(""));
        let at = |s: &serde_saphyr::Location| src.yaml(s);
        let name = raw.name.value.trim().to_owned();
        if !(1..=128).contains(&name.len())
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(invalid(
                at(&raw.name.referenced),
                &format!(
                    "`name`: `{name}` must be 1 to 128 letters, digits, `-`, `_` or `.` (it names the image)"
                ),
            ));
        }
        let version = semver::Version::parse(raw.version.value.trim()).map_err(|e| {
            invalid(
                at(&raw.version.referenced),
                &format!(
                    "`version`: `{}` is not a semantic version major.minor.patch: {e}",
                    raw.version.value
                ),
            )
        })?;
        let parent = parse_parent(&raw.parent.value, dir)
            .map_err(|m| invalid(at(&raw.parent.referenced), &format!("`parent`: {m}")))?;
        let working_directory = match raw.working_directory {
            Some(w) if !w.value.starts_with('/') || w.value.split('/').any(|c| c == "..") => {
                return Err(invalid(
                    at(&w.referenced),
                    &format!(
                        "`working-directory`: `{}` must be an absolute path without `..`",
                        w.value
                    ),
                ));
            }
            Some(w) => w.value,
            None => "/tmp".to_owned(),
        };
        if raw.components.value.is_empty() {
            return Err(invalid(
                at(&raw.components.referenced),
                "`components`: a recipe needs at least one component",
            ));
        }
        let component = |c: S<RawComponent>| component(src, dir, c);
        let components = raw
            .components
            .value
            .into_iter()
            .map(component)
            .collect::<Result<Vec<_>, _>>()?;
        let tests = raw
            .tests
            .into_iter()
            .map(component)
            .collect::<Result<Vec<_>, _>>()?;
        let outputs = match raw.outputs {
            None => Outputs::default(),
            Some(o) => outputs(src, dir, o.value)?,
        };
        Ok(Recipe {
            file: file.to_owned(),
            name,
            version,
            parent,
            working_directory,
            source_date_epoch: raw.source_date_epoch.map(|s| s.value),
            components,
            tests,
            outputs,
        })
    }
}

impl Recipe {
    /// Whether a pipeline, whose recipe a builder agent gets from the server, may build this
    /// recipe: its components only from the builder's store, its parent a Debian base or a
    /// registry's image, never a path on the builder. The first part that is not, located.
    ///
    /// # Errors
    ///
    /// The first `document:` or `oci-layout:` parent.
    pub fn check_for_pipeline(&self) -> Result<(), String> {
        let by_path = self
            .components
            .iter()
            .chain(&self.tests)
            .find_map(|c| match &c.source {
                ComponentSource::Document(path) => Some((c, path)),
                ComponentSource::Store { .. } => None,
            });
        if let Some((c, path)) = by_path {
            return Err(format!(
                "{}: `document: {}`: a pipeline's components come from the builder's store (`davit component push`), not from a path the server names",
                c.at,
                path.display()
            ));
        }
        if let Parent::OciLayout { path, .. } = &self.parent {
            return Err(format!(
                "{}: parent `oci-layout:{}`: a pipeline builds on `debian:SUITE` or a registry's image, not on a path of the builder",
                self.file,
                path.display()
            ));
        }
        Ok(())
    }
}

fn invalid(at: Location, message: &str) -> RecipeError {
    RecipeError::Invalid {
        at,
        message: message.to_owned(),
    }
}

pub(crate) fn describe(problem: YamlProblem) -> String {
    match problem {
        YamlProblem::UnknownKey { key, expected } => format!(
            "unknown key `{key}`, expected one of {}",
            expected
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        YamlProblem::MissingKey { key } => format!("missing key `{key}`"),
        YamlProblem::DuplicateKey { key } => format!("duplicate key `{key}`"),
        YamlProblem::Empty => "the recipe ends where a value was expected".to_owned(),
        YamlProblem::Syntax { message } => message,
    }
}

fn parse_parent(text: &str, dir: &Path) -> Result<Parent, String> {
    let text = text.trim();
    if let Some(suite) = text.strip_prefix("debian:") {
        const SUITES: &[&str] = &["bookworm", "trixie", "bullseye", "stable", "testing"];
        if !SUITES.contains(&suite) {
            return Err(format!(
                "`{text}`: davit builds Debian from its packages for {}",
                SUITES.join(", ")
            ));
        }
        return Ok(Parent::Debian {
            suite: suite.to_owned(),
        });
    }
    if let Some(rest) = text.strip_prefix("oci-layout:") {
        // `PATH:TAG`; a path may itself hold `:` only if a tag follows.
        let (path, tag) = match rest.rsplit_once(':') {
            Some((p, t)) if !t.contains('/') && !t.is_empty() => (p, Some(t.to_owned())),
            _ => (rest, None),
        };
        if path.is_empty() {
            return Err(format!("`{text}` names no directory"));
        }
        return Ok(Parent::OciLayout {
            path: dir.join(path),
            tag,
        });
    }
    if let Some(rest) = text.strip_prefix("docker://") {
        let (host, reference) = rest
            .split_once('/')
            .ok_or_else(|| format!("`{text}` names no repository (docker://HOST/REPO:TAG)"))?;
        let (repository, tag) = match reference.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, t),
            _ => (reference, "latest"),
        };
        if host.is_empty() || repository.is_empty() || tag.is_empty() {
            return Err(format!("`{text}` is not docker://HOST[:PORT]/REPO[:TAG]"));
        }
        return Ok(Parent::Registry {
            host: host.to_owned(),
            repository: repository.to_owned(),
            tag: tag.to_owned(),
        });
    }
    Err(format!(
        "`{text}` is none of `debian:SUITE`, `oci-layout:PATH[:TAG]`, `docker://HOST/REPO[:TAG]`"
    ))
}

/// `1.2.3`, or with `x` wildcards as a suffix (`1.x.x`, `1.2.x`, `x.x.x`), as Image Builder.
fn component(src: Source<'_>, dir: &Path, c: S<RawComponent>) -> Result<ComponentRef, RecipeError> {
    let at = src.yaml(&c.referenced);
    let c = c.value;
    let source = match (c.document, c.component) {
        (Some(d), None) => {
            if d.value.trim().is_empty() {
                return Err(invalid(src.yaml(&d.referenced), "`document` is empty"));
            }
            ComponentSource::Document(dir.join(d.value.trim()))
        }
        (None, Some(n)) => {
            let bad = || {
                invalid(
                    src.yaml(&n.referenced),
                    &format!(
                        "`component`: `{}` is not NAME@VERSION (a version like 1.2.0, or with x wildcards as a suffix: 1.x.x)",
                        n.value
                    ),
                )
            };
            let (name, version) = n.value.trim().split_once('@').ok_or_else(bad)?;
            if name.is_empty() || !crate::store::valid_filter(version) {
                return Err(bad());
            }
            ComponentSource::Store {
                name: name.to_owned(),
                version: version.to_owned(),
            }
        }
        (Some(_), Some(n)) => {
            return Err(invalid(
                src.yaml(&n.referenced),
                "a component is either a `document` or a `component` from the store, not both",
            ));
        }
        (None, None) => {
            return Err(invalid(
                at,
                "a component needs `document` (a path) or `component` (NAME@VERSION)",
            ));
        }
    };
    let mut parameters = Vec::new();
    for p in c.parameters {
        let name = p.value.name.value.trim().to_owned();
        if !(1..=256).contains(&name.len()) {
            return Err(invalid(
                src.yaml(&p.value.name.referenced),
                "a parameter's `name` must be 1 to 256 characters",
            ));
        }
        let value = match p.value.value.value {
            OneOrList::One(v) => v,
            OneOrList::List(mut l) if l.len() == 1 => l.remove(0),
            OneOrList::List(_) => {
                return Err(invalid(
                    src.yaml(&p.value.value.referenced),
                    &format!("parameter `{name}`: `value` must hold exactly one string"),
                ));
            }
        };
        if parameters.iter().any(|(n, _)| *n == name) {
            return Err(invalid(
                src.yaml(&p.value.name.referenced),
                &format!("parameter `{name}` is given twice"),
            ));
        }
        parameters.push((name, value));
    }
    Ok(ComponentRef {
        source,
        parameters,
        at,
    })
}

/// Checks an image tag, `[NAME:]TAG`: OCI's grammar [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} (with
/// `{{name}}` and `{{version}}` as a distribution's templates).
pub(crate) fn parse_tag(text: &str) -> Result<(), String> {
    let tag = text.trim();
    let bare = tag.rsplit_once(':').map_or(tag, |(_, t)| t);
    let plain = bare
        .replace("{{name}}", "n")
        .replace("{{version}}", "1.0.0");
    let ok = !plain.is_empty()
        && plain.len() <= 128
        && !plain.starts_with(['.', '-'])
        && plain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`tags`: `{tag}` is not an image tag ([A-Za-z0-9_][A-Za-z0-9_.-]*, at most 128)"
        ))
    }
}

/// `docker://HOST[:PORT]/REPOSITORY`, without a tag.
pub(crate) fn parse_repository(text: &str) -> Result<crate::oci::registry::Repository, String> {
    let bad = |why: &str| format!("`{text}` {why}");
    let rest = text
        .trim()
        .strip_prefix("docker://")
        .ok_or_else(|| bad("is not docker://HOST[:PORT]/REPOSITORY"))?;
    let (host, repository) = rest
        .split_once('/')
        .filter(|(h, r)| !h.is_empty() && !r.is_empty())
        .ok_or_else(|| bad("names no repository (docker://HOST[:PORT]/REPOSITORY)"))?;
    if repository.contains([':', '@']) {
        return Err(bad("holds a tag: the tags are `outputs.tags`"));
    }
    Ok(crate::oci::registry::Repository {
        host: host.to_owned(),
        repository: repository.to_owned(),
    })
}

fn outputs(src: Source<'_>, dir: &Path, raw: RawOutputs) -> Result<Outputs, RecipeError> {
    let mut tags = Vec::new();
    for t in raw.tags {
        parse_tag(&t.value).map_err(|m| invalid(src.yaml(&t.referenced), &m))?;
        tags.push(t.value.trim().to_owned());
    }
    let registry = match raw.registry {
        None => None,
        Some(r) => Some(
            parse_repository(&r.value)
                .map_err(|m| invalid(src.yaml(&r.referenced), &format!("`registry`: {m}")))?,
        ),
    };
    let disk = match raw.disk {
        None => crate::disk::DiskOutputs::default(),
        Some(d) => {
            let at = src.yaml(&d.referenced);
            let d = d.value;
            if d.raw.is_none() && d.qcow2.is_none() {
                return Err(invalid(
                    at,
                    "`disk`: name a `raw` or a `qcow2` file (or both)",
                ));
            }
            let size = match d.size {
                None => None,
                Some(s) => Some(
                    s.value
                        .parse::<davit_spec::ByteSize>()
                        .map_err(|e| invalid(src.yaml(&s.referenced), &format!("`size`: {e}")))?
                        .bytes(),
                ),
            };
            crate::disk::DiskOutputs {
                raw: d.raw.map(|p| dir.join(p.value.trim())),
                qcow2: d.qcow2.map(|p| dir.join(p.value.trim())),
                size,
            }
        }
    };
    Ok(Outputs {
        oci_layout: raw.oci_layout.map(|p| dir.join(p.value.trim())),
        tags,
        registry,
        disk,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "name: web-base\nversion: 1.2.0\nparent: debian:bookworm\ncomponents:\n  - document: c/hello.yml\n    parameters:\n      - name: greeting\n        value: [hi]\n  - component: davit/agent@1.x.x\ntests:\n  - document: t/smoke.yml\noutputs:\n  oci-layout: out\n  tags: [web-base:1.2.0, latest]\n";

    #[test]
    fn a_recipe_reads_with_paths_relative_to_it() {
        let r = Recipe::parse("dir/recipe.yml", GOOD).unwrap();
        assert_eq!(r.name, "web-base");
        assert_eq!(r.version, semver::Version::new(1, 2, 0));
        assert_eq!(
            r.parent,
            Parent::Debian {
                suite: "bookworm".into()
            }
        );
        assert_eq!(
            r.components[0].source,
            ComponentSource::Document("dir/c/hello.yml".into())
        );
        assert_eq!(
            r.components[0].parameters,
            [("greeting".into(), "hi".into())]
        );
        assert_eq!(
            r.components[1].source,
            ComponentSource::Store {
                name: "davit/agent".into(),
                version: "1.x.x".into()
            }
        );
        assert_eq!(r.outputs.oci_layout, Some("dir/out".into()));
        assert_eq!(r.working_directory, "/tmp");
    }

    #[test]
    fn parents_of_every_kind() {
        let p = |t: &str| parse_parent(t, Path::new("d"));
        assert_eq!(
            p("oci-layout:base:v1"),
            Ok(Parent::OciLayout {
                path: "d/base".into(),
                tag: Some("v1".into())
            })
        );
        assert_eq!(
            p("docker://127.0.0.1:5000/team/base"),
            Ok(Parent::Registry {
                host: "127.0.0.1:5000".into(),
                repository: "team/base".into(),
                tag: "latest".into()
            })
        );
        assert!(p("debian:sid2").is_err());
        assert!(p("ubuntu:22.04").is_err());
    }

    #[test]
    fn version_filters_take_x_only_as_a_suffix() {
        for ok in ["1.2.3", "1.x.x", "1.2.x", "x.x.x"] {
            assert!(crate::store::valid_filter(ok), "{ok}");
        }
        for bad in ["x.2.x", "1.x.3", "1.2", "1.2.3.4", "a.b.c", "1..3"] {
            assert!(!crate::store::valid_filter(bad), "{bad}");
        }
    }

    #[test]
    fn bad_fields_are_located() {
        let err = |text: &str| Recipe::parse("r.yml", text).unwrap_err().to_string();
        assert_eq!(
            err("name: a\nversion: 1.2\nparent: debian:bookworm\ncomponents: []\n"),
            "r.yml:2:10: `version`: `1.2` is not a semantic version major.minor.patch: unexpected end of input while parsing minor version number"
        );
        assert!(
            err("name: a\nversion: 1.0.0\nparent: debian:bookworm\ncomponents:\n  - document: x.yml\n    colour: red\n")
                .starts_with("r.yml:6:5: unknown key `colour`"),
        );
        assert_eq!(
            err("name: a\nversion: 1.0.0\nparent: debian:bookworm\ncomponents: []\n"),
            "r.yml:4:13: `components`: a recipe needs at least one component"
        );
        assert!(
            err("name: a\nversion: 1.0.0\nparent: debian:bookworm\nsource-date-epoch: soon\ncomponents:\n  - document: x.yml\n")
                .starts_with("r.yml:4:20:"),
        );
    }
}
