//! The component store: component documents by name and semantic version, as Image Builder
//! keeps them (`davit component push DOC --name N --version 1.2.0`; a recipe's
//! `component: N@1.x.x`).
//!
//! A version is immutable: pushing other content under a version that exists is refused,
//! pushing the same content again is a no-op. A stored version holds the document and
//! every document its `ExecuteDocument` steps name (literally, relative to it), so that it
//! runs the same wherever the store is read:
//!
//! ```text
//! STORE/NAME/VERSION/meta.json     {"name", "version", "document", "digest", "files"}
//! STORE/NAME/VERSION/files/…       the documents, at their paths relative to the first
//! ```
//!
//! A version appears whole or not at all: it is written beside itself and renamed into
//! place without replacing. The documents are read beneath their directory and written
//! beneath the store (davit-fsroot).
//!
//! Names under `davit/` are davit's own, built into the binary ([`BUILTIN`]); they cannot be
//! pushed.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use davit_fsroot::{Resolve, Root};
use davit_toe::{Action, Document};
use semver::Version;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// davit's own components: name, version, document file name, text.
pub const BUILTIN: &[(&str, &str, &str, &str)] = &[(
    "davit/agent",
    "1.0.0",
    "davit-agent.yml",
    include_str!("builtin/davit-agent.yml"),
)];

/// The most documents one stored version may hold (the document and those it names).
const MAX_FILES: usize = 64;
/// The largest document, in bytes.
const MAX_DOCUMENT: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "`{0}` is not a component name: one to three parts of a-z, 0-9, `.`, `_`, `-` separated by `/`, each starting with a letter or digit"
    )]
    BadName(String),
    #[error("`{0}` is not a version: MAJOR.MINOR.PATCH, such as 1.2.0")]
    BadVersion(String),
    #[error(
        "`{0}` is not a version filter: MAJOR.MINOR.PATCH, or with `x` from some part on (1.2.x, 1.x.x, x.x.x)"
    )]
    BadFilter(String),
    #[error(
        "names under `davit/` are davit's own built-in components; push `{0}` under another name"
    )]
    Reserved(String),
    #[error("{file}")]
    Document {
        file: String,
        #[source]
        source: Box<davit_toe::ToeError>,
    },
    #[error(
        "{file}: `ExecuteDocument` names `{name}`, which is not a plain relative path beneath the document's directory"
    )]
    Nested { file: String, name: String },
    #[error(
        "{file}: `ExecuteDocument` names a document by a template (`{name}`); a stored component must name its documents literally"
    )]
    Templated { file: String, name: String },
    #[error("`{0}` names more than {MAX_FILES} documents")]
    TooMany(String),
    #[error(
        "component `{name}` version {version} exists with other content (digest {existing}); a version never changes"
    )]
    Exists {
        name: String,
        version: String,
        existing: String,
    },
    #[error("no component `{name}` in the store at `{store}`")]
    Unknown { name: String, store: String },
    #[error("no version of component `{name}` matches `{filter}` (it has {have})")]
    NoMatch {
        name: String,
        filter: String,
        have: String,
    },
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::Io { what, source }
}

/// What the store says of one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub name: String,
    pub version: String,
    /// The document's file name (the first of `files`).
    pub document: String,
    /// sha256 of the files, by path: `sha256:HEX`.
    pub digest: String,
    /// Every document of the version, relative to the first.
    pub files: Vec<String>,
}

/// A version found for a recipe's `NAME@FILTER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub meta: Meta,
    /// The document to load (its nested documents beside it).
    pub path: PathBuf,
}

/// Whether a push wrote the version or found it there already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PushOutcome {
    Stored,
    AlreadyStored,
}

pub struct ComponentStore {
    dir: PathBuf,
}

impl ComponentStore {
    /// The store at `dir` (created on the first push).
    pub fn at(dir: &Path) -> ComponentStore {
        ComponentStore {
            dir: dir.to_owned(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The store's place under davit's state: `<deployment root>/components`.
    pub fn default_dir(deployment_root: &Path) -> PathBuf {
        deployment_root.join("components")
    }

    /// Stores `document` (and the documents it names) as `name` `version`.
    pub fn push(
        &self,
        document: &Path,
        name: &str,
        version: &str,
    ) -> Result<(Meta, PushOutcome), StoreError> {
        check_name(name)?;
        if name.starts_with("davit/") {
            return Err(StoreError::Reserved(name.to_owned()));
        }
        let version = parse_version(version)?;
        let files = gather(document)?;
        let first = first_name(document);
        let meta = Meta {
            name: name.to_owned(),
            version: version.to_string(),
            files: order(&files, &first),
            document: first,
            digest: digest(&files),
        };
        std::fs::create_dir_all(&self.dir).map_err(io(format!(
            "creating the component store `{}`",
            self.dir.display()
        )))?;
        let store = Root::open_ambient(&self.dir, Resolve::Beneath).map_err(io(format!(
            "opening the component store `{}`",
            self.dir.display()
        )))?;
        let named = store
            .create_dir_all(Path::new(name), 0o755)
            .map_err(io(format!("creating `{name}` in the store")))?;
        let vname = meta.version.clone();
        if let Some(existing) = read_meta(&named, &vname)? {
            return already_there(existing, &meta);
        }
        let temp = format!(".{vname}.{}", uuid::Uuid::new_v4().simple());
        let written = write_version(&named, Path::new(&temp), &meta, &files);
        let renamed = written.and_then(|()| {
            named
                .rename_noreplace(Path::new(&temp), Path::new(&vname))
                .map_err(io(format!("putting `{name}` {vname} in place")))
        });
        if let Err(e) = renamed {
            let _ = named.remove_all(Path::new(&temp));
            // Another push of the same version won the race: the same content is fine.
            if let Some(existing) = read_meta(&named, &vname)? {
                return already_there(existing, &meta);
            }
            return Err(e);
        }
        Ok((meta, PushOutcome::Stored))
    }

    /// The newest version of `name` that `filter` (`1.2.0`, `1.2.x`, `1.x.x`, `x.x.x`)
    /// matches: davit's built-in components first, then the store.
    pub fn resolve(&self, name: &str, filter: &str) -> Result<Resolved, StoreError> {
        check_name(name)?;
        let filter_parts = parse_filter(filter)?;
        let versions = self.versions(name)?;
        let best = versions
            .iter()
            .filter(|v| matches(&filter_parts, v))
            .max()
            .cloned();
        let Some(best) = best else {
            return Err(if versions.is_empty() {
                StoreError::Unknown {
                    name: name.to_owned(),
                    store: self.dir.display().to_string(),
                }
            } else {
                StoreError::NoMatch {
                    name: name.to_owned(),
                    filter: filter.to_owned(),
                    have: versions
                        .iter()
                        .map(Version::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                }
            });
        };
        if let Some(&(_, v, file, text)) = BUILTIN.iter().find(|b| b.0 == name) {
            let dir = self.builtin_dir(name, v, file, text)?;
            let files = BTreeMap::from([(file.to_owned(), text.as_bytes().to_vec())]);
            return Ok(Resolved {
                meta: Meta {
                    name: name.to_owned(),
                    version: v.to_owned(),
                    document: file.to_owned(),
                    digest: digest(&files),
                    files: vec![file.to_owned()],
                },
                path: dir.join(file),
            });
        }
        let vdir = self.dir.join(name).join(best.to_string());
        let named = Root::open_ambient(&self.dir.join(name), Resolve::Beneath)
            .map_err(io(format!("opening `{name}` in the store")))?;
        let meta = read_meta(&named, &best.to_string())?.ok_or_else(|| StoreError::Io {
            what: format!("reading `{name}` {best} in the store"),
            source: std::io::ErrorKind::NotFound.into(),
        })?;
        Ok(Resolved {
            path: vdir.join("files").join(&meta.document),
            meta,
        })
    }

    /// Every version of `name`, oldest first.
    pub fn versions(&self, name: &str) -> Result<Vec<Version>, StoreError> {
        check_name(name)?;
        if let Some(b) = BUILTIN.iter().find(|b| b.0 == name) {
            return Ok(vec![Version::parse(b.1).expect("a built-in version")]);
        }
        let dir = self.dir.join(name);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(format!("reading `{}`", dir.display()))(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io(format!("reading `{}`", dir.display())))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            // Dot-names are versions being written.
            if let (false, Ok(v)) = (name.starts_with('.'), parse_version(&name)) {
                out.push(v);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every component and its versions: the built-in ones, then the store's, by name.
    pub fn list(&self) -> Result<Vec<(String, Vec<Version>)>, StoreError> {
        let mut out: Vec<(String, Vec<Version>)> = BUILTIN
            .iter()
            .map(|b| (b.0.to_owned(), vec![Version::parse(b.1).expect("version")]))
            .collect();
        let mut names = Vec::new();
        collect_names(&self.dir, "", 0, &mut names);
        names.sort();
        for name in names {
            let versions = self.versions(&name)?;
            if !versions.is_empty() {
                out.push((name, versions));
            }
        }
        Ok(out)
    }

    /// A built-in document, written once under the store so that it loads like the others.
    fn builtin_dir(
        &self,
        name: &str,
        version: &str,
        file: &str,
        text: &str,
    ) -> Result<PathBuf, StoreError> {
        let dir = self.dir.join(".builtin").join(name).join(version);
        let path = dir.join(file);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
            std::fs::create_dir_all(&dir).map_err(io(format!("writing `{}`", dir.display())))?;
            let temp = dir.join(format!(".{file}.{}", uuid::Uuid::new_v4().simple()));
            std::fs::write(&temp, text)
                .and_then(|()| std::fs::rename(&temp, &path))
                .map_err(io(format!("writing `{}`", path.display())))?;
        }
        Ok(dir)
    }
}

/// A push of `meta` that found `existing` under its version: a no-op for the same content.
fn already_there(existing: Meta, meta: &Meta) -> Result<(Meta, PushOutcome), StoreError> {
    if existing.digest == meta.digest {
        Ok((existing, PushOutcome::AlreadyStored))
    } else {
        Err(StoreError::Exists {
            name: meta.name.clone(),
            version: meta.version.clone(),
            existing: existing.digest,
        })
    }
}

fn collect_names(dir: &Path, prefix: &str, depth: usize, out: &mut Vec<String>) {
    if depth >= 3 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(n) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if n.starts_with('.') || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if parse_version(&n).is_ok() {
            if !prefix.is_empty() && !out.iter().any(|o| o == prefix) {
                out.push(prefix.to_owned());
            }
            continue;
        }
        let name = if prefix.is_empty() {
            n
        } else {
            format!("{prefix}/{n}")
        };
        collect_names(&entry.path(), &name, depth + 1, out);
    }
}

fn check_name(name: &str) -> Result<(), StoreError> {
    let parts: Vec<&str> = name.split('/').collect();
    let good = (1..=3).contains(&parts.len())
        && parts.iter().all(|p| {
            (1..=64).contains(&p.len())
                && p.bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && p.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
                && parse_version(p).is_err()
        });
    if good {
        Ok(())
    } else {
        Err(StoreError::BadName(name.to_owned()))
    }
}

/// MAJOR.MINOR.PATCH, nothing more (Image Builder's component versions).
fn parse_version(text: &str) -> Result<Version, StoreError> {
    match Version::parse(text) {
        Ok(v) if v.pre.is_empty() && v.build.is_empty() => Ok(v),
        _ => Err(StoreError::BadVersion(text.to_owned())),
    }
}

/// A filter's fixed parts: `1.x.x` is `[1]`, `1.2.0` is `[1, 2, 0]`.
fn parse_filter(text: &str) -> Result<Vec<u64>, StoreError> {
    let bad = || StoreError::BadFilter(text.to_owned());
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() != 3 {
        return Err(bad());
    }
    let fixed = parts.iter().position(|p| *p == "x").unwrap_or(3);
    if parts[fixed..].iter().any(|p| *p != "x") {
        return Err(bad());
    }
    parts[..fixed]
        .iter()
        .map(|p| {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            p.parse().map_err(|_| bad())
        })
        .collect()
}

fn matches(fixed: &[u64], v: &Version) -> bool {
    let parts = [v.major, v.minor, v.patch];
    fixed.iter().zip(parts).all(|(f, p)| *f == p)
}

/// Whether `filter` is a valid `NAME@FILTER` version part (for the recipe's parser).
pub fn valid_filter(filter: &str) -> bool {
    parse_filter(filter).is_ok()
}

fn first_name(document: &Path) -> String {
    document
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn order(files: &BTreeMap<String, Vec<u8>>, first: &str) -> Vec<String> {
    let mut out = vec![first.to_owned()];
    out.extend(files.keys().filter(|k| *k != first).cloned());
    out
}

/// The document and every document it names, by path relative to it; each read beneath
/// the document's directory.
fn gather(document: &Path) -> Result<BTreeMap<String, Vec<u8>>, StoreError> {
    let file = document.display().to_string();
    let dir = match document.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let root = Root::open_ambient(dir, Resolve::Beneath)
        .map_err(io(format!("opening `{}`", dir.display())))?;
    let mut files = BTreeMap::new();
    let mut queue = vec![first_name(document)];
    while let Some(rel) = queue.pop() {
        if files.contains_key(&rel) {
            continue;
        }
        if files.len() >= MAX_FILES {
            return Err(StoreError::TooMany(file));
        }
        let shown = dir.join(&rel).display().to_string();
        let mut f = root
            .open_file(Path::new(&rel), davit_fsroot::OpenOptions::new().read(true))
            .map_err(io(format!("reading `{shown}`")))?;
        let mut bytes = Vec::new();
        Read::by_ref(&mut f)
            .take(MAX_DOCUMENT + 1)
            .read_to_end(&mut bytes)
            .map_err(io(format!("reading `{shown}`")))?;
        if bytes.len() as u64 > MAX_DOCUMENT {
            return Err(io(format!("reading `{shown}`"))(std::io::Error::other(
                "larger than 1 MiB",
            )));
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let doc = Document::parse(&shown, &text).map_err(|source| StoreError::Document {
            file: shown.clone(),
            source: Box::new(source),
        })?;
        let here = Path::new(&rel).parent().unwrap_or(Path::new("")).to_owned();
        for step in doc.phases.iter().flat_map(|p| &p.steps) {
            let Action::ExecuteDocument(nested) = &step.action else {
                continue;
            };
            let Some(name) = nested.document.as_literal() else {
                return Err(StoreError::Templated {
                    file: shown.clone(),
                    name: format!("{:?}", nested.document),
                });
            };
            let joined = normal(&here.join(&name)).ok_or_else(|| StoreError::Nested {
                file: shown.clone(),
                name: name.clone(),
            })?;
            queue.push(joined);
        }
        files.insert(rel, bytes);
    }
    Ok(files)
}

/// `path` without `.`, refused when it climbs with `..` or is absolute.
fn normal(path: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => parts.push(n.to_str()?.to_owned()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn digest(files: &BTreeMap<String, Vec<u8>>) -> String {
    let mut h = Sha256::new();
    for (name, bytes) in files {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn read_meta(named: &Root, version: &str) -> Result<Option<Meta>, StoreError> {
    let rel = Path::new(version).join("meta.json");
    let mut f = match named.open_file(&rel, davit_fsroot::OpenOptions::new().read(true)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(format!("reading {version}/meta.json"))(e)),
    };
    let mut text = String::new();
    f.read_to_string(&mut text)
        .map_err(io(format!("reading {version}/meta.json")))?;
    let meta: Meta = serde_json::from_str(&text)
        .map_err(|e| io(format!("reading {version}/meta.json"))(std::io::Error::other(e)))?;
    // The document is loaded by path: it must be a plain name inside `files/`.
    if normal(Path::new(&meta.document)).as_deref() != Some(meta.document.as_str())
        || meta.document.contains('/')
    {
        return Err(io(format!("reading {version}/meta.json"))(
            std::io::Error::other(format!("`document` `{}` is not a file name", meta.document)),
        ));
    }
    Ok(Some(meta))
}

fn write_version(
    named: &Root,
    temp: &Path,
    meta: &Meta,
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<(), StoreError> {
    let what = || format!("writing `{}` {} in the store", meta.name, meta.version);
    let dir = named
        .create_dir_all(&temp.join("files"), 0o755)
        .map_err(io(what()))?;
    for (rel, bytes) in files {
        let rel = Path::new(rel);
        if let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
            dir.create_dir_all(parent, 0o755).map_err(io(what()))?;
        }
        let mut f = dir
            .open_file(
                rel,
                davit_fsroot::OpenOptions::new()
                    .write(true)
                    .create_new(true),
            )
            .map_err(io(what()))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(io(what()))?;
    }
    let json = serde_json::to_vec_pretty(meta).expect("meta serializes");
    let mut f = named
        .open_file(
            &temp.join("meta.json"),
            davit_fsroot::OpenOptions::new()
                .write(true)
                .create_new(true),
        )
        .map_err(io(what()))?;
    f.write_all(&json)
        .and_then(|()| f.sync_all())
        .map_err(io(what()))?;
    Ok(())
}

#[cfg(test)]
mod tests;
