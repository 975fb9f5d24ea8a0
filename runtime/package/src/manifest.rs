//! `manifest.json`, as Distributor has it:
//!
//! ```json
//! {"schemaVersion": "2.0", "version": "1.7.1", "publisher": "…",
//!  "packages": {"<platform>": {"<platform version>": {"<arch>": {"file": "x.zip"}}}},
//!  "files": {"x.zip": {"checksums": {"sha256": "<64 hex>"}}}}
//! ```
//!
//! Every object is closed to unknown keys; every problem names the file, line and column.
//! Unlike SSM, a file without a sha256 is refused: an empty checksum map would let any bytes
//! through.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A checked manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The manifest's file name, as given.
    pub file: String,
    pub version: String,
    pub publisher: Option<String>,
    pub description: Option<String>,
    /// platform → platform version → architecture → file.
    pub packages: BTreeMap<String, BTreeMap<String, BTreeMap<String, FileRef>>>,
    /// file name → its sha256 (64 lowercase hex).
    pub files: BTreeMap<String, String>,
    /// The inventory's fields: `appname`, `apppublisher`, `apptype`, `appreferenceurl`.
    pub app: BTreeMap<String, String>,
}

/// The file a platform, version and architecture install.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRef {
    pub file: String,
}

/// Why a manifest was refused, with where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ManifestError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(rename = "schemaVersion")]
    schema_version: String,
    version: String,
    publisher: Option<String>,
    /// Not in the docs, but in published manifests (CrowdStrike's): kept.
    description: Option<String>,
    packages: BTreeMap<String, BTreeMap<String, BTreeMap<String, FileRef>>>,
    files: BTreeMap<String, RawFile>,
    appname: Option<String>,
    apppublisher: Option<String>,
    apptype: Option<String>,
    appreferenceurl: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    checksums: BTreeMap<String, String>,
}

/// The most a version may hold, as SSM.
const MAX_VERSION: usize = 128;

impl Manifest {
    /// Reads and checks the manifest `text` of `file`.
    ///
    /// # Errors
    ///
    /// The first problem, located.
    pub fn parse(file: &str, text: &str) -> Result<Manifest, ManifestError> {
        let at = |line: usize, column: usize, message: String| ManifestError {
            file: file.to_owned(),
            line,
            column,
            message,
        };
        // A value serde has no position for is found where the text first writes it (a key:
        // where it is followed by `:`).
        let near = |value: &str, message: String| {
            let (line, column) = locate(text, &format!("\"{value}\""));
            at(line, column, message)
        };
        let near_key = |key: &str, message: String| {
            let (line, column) = locate_key(text, key);
            at(line, column, message)
        };
        let raw: Raw = serde_json::from_str(text)
            .map_err(|e| at(e.line().max(1), e.column().max(1), describe(&e.to_string())))?;
        if raw.schema_version != "2.0" {
            return Err(near(
                &raw.schema_version,
                format!(
                    "`schemaVersion` is `{}`: a Distributor manifest is \"2.0\"",
                    raw.schema_version
                ),
            ));
        }
        let version_ok = (1..=MAX_VERSION).contains(&raw.version.len())
            && raw
                .version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
            && !raw.version.chars().all(|c| c == '.');
        if !version_ok {
            return Err(near(
                &raw.version,
                format!(
                    "`version` `{}` must be 1 to {MAX_VERSION} letters, digits, `_`, `-` or `.`, not only dots",
                    raw.version
                ),
            ));
        }
        if raw.packages.is_empty() {
            return Err(near_key(
                "packages",
                "`packages` names no platform".to_owned(),
            ));
        }
        // Every problem of the maps is found; the first in the text is the one reported.
        let mut problems = Vec::new();
        let mut files = BTreeMap::new();
        for (name, f) in &raw.files {
            if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
                problems.push(near_key(
                    name,
                    format!("file `{name}` must be a plain file name beside the manifest"),
                ));
                continue;
            }
            match f.checksums.get("sha256") {
                None => problems.push(near_key(
                    name,
                    format!(
                        "file `{name}` has no sha256 checksum: davit installs no file it cannot check"
                    ),
                )),
                Some(sha) if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    problems.push(near(
                        sha,
                        format!("the sha256 of `{name}`, `{sha}`, is not 64 hexadecimal digits"),
                    ))
                }
                Some(sha) => {
                    files.insert(name.clone(), sha.to_ascii_lowercase());
                }
            }
        }
        for (platform, versions) in &raw.packages {
            for (version, arches) in versions {
                for (arch, r) in arches {
                    if !raw.files.contains_key(&r.file) {
                        problems.push(near(
                            &r.file,
                            format!(
                                "{platform} {version} {arch} installs `{}`, which `files` does not list",
                                r.file
                            ),
                        ));
                    }
                }
            }
        }
        if let Some(first) = problems.into_iter().min_by_key(|p| (p.line, p.column)) {
            return Err(first);
        }
        let app = [
            ("appname", raw.appname),
            ("apppublisher", raw.apppublisher),
            ("apptype", raw.apptype),
            ("appreferenceurl", raw.appreferenceurl),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
        .collect();
        Ok(Manifest {
            file: file.to_owned(),
            version: raw.version,
            publisher: raw.publisher,
            description: raw.description,
            packages: raw.packages,
            files,
            app,
        })
    }
}

/// serde_json's message without its own " at line L column C" (the error says where).
fn describe(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The 1-based line and column where `needle` first appears in `text` (1:1 if nowhere).
fn locate(text: &str, needle: &str) -> (usize, usize) {
    text.find(needle)
        .map_or((1, 1), |offset| position(text, offset))
}

/// Where the key `key` is first written (`"key"` followed by `:`), else where its text is.
fn locate_key(text: &str, key: &str) -> (usize, usize) {
    let quoted = format!("\"{key}\"");
    let mut from = 0;
    while let Some(i) = text[from..].find(&quoted) {
        let at = from + i;
        let rest = text[at + quoted.len()..].trim_start();
        if rest.starts_with(':') {
            return position(text, at);
        }
        from = at + quoted.len();
    }
    locate(text, &quoted)
}

/// The 1-based line and column of the byte `offset` of `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(offset, |i| offset - i - 1) + 1;
    (line, column)
}
