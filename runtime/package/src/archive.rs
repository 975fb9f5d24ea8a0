//! A platform's zip: its checksum, and which file implements each action. Distributor's
//! rules: `install` and `uninstall` are required, `update` and `validate` optional, each a
//! `.sh` (Linux) or `.ps1` (Windows) at the zip's top level, and one action may not have both.
//! Davit adds `package.wasm`, a component of the `package` world whose `actions` export says
//! which actions it implements; an action it implements may have no script besides.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::FileError;

/// The component of a package's Wasm scripts, at the top of its zip.
pub const PACKAGE_WASM: &str = "package.wasm";

/// What implements one action.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Implementation {
    /// `install.sh`, run with `sh`.
    Shell(String),
    /// `install.ps1`: Windows only.
    PowerShell(String),
    /// An export of `package.wasm`.
    Wasm,
}

impl Implementation {
    /// The file that implements it.
    pub fn file(&self) -> &str {
        match self {
            Implementation::Shell(f) | Implementation::PowerShell(f) => f,
            Implementation::Wasm => PACKAGE_WASM,
        }
    }
}

/// Which scripts a zip (or its unpacked tree) holds, by action; and whether it holds
/// `package.wasm`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scripts {
    pub native: BTreeMap<String, Implementation>,
    pub wasm: bool,
}

/// The sha256 of `path` must be `want`.
///
/// # Errors
///
/// [`FileError`] naming the file and what it hashes to.
pub fn check_sha256(path: &Path, want: &str) -> Result<(), FileError> {
    let file_name = name_of(path);
    let mut file = std::fs::File::open(path)
        .map_err(|e| FileError::new(&file_name, format!("cannot read it: {e}")))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| FileError::new(&file_name, format!("cannot read it: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let got = hex(&hasher.finalize());
    if got != want {
        return Err(FileError::new(
            &file_name,
            format!("hashes to sha256 {got}, but the manifest says {want}"),
        ));
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn name_of(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The scripts of the zip at `path`, checked: `install` and `uninstall` present (unless
/// `package.wasm` may implement them), no action twice.
///
/// # Errors
///
/// [`FileError`]: not a zip, more than one implementation, a missing action.
pub fn list_actions(path: &Path) -> Result<Scripts, FileError> {
    let file_name = name_of(path);
    let bad = |e: &dyn std::fmt::Display| {
        FileError::new(&file_name, format!("is not a readable zip: {e}"))
    };
    let file = std::fs::File::open(path).map_err(|e| bad(&e))?;
    let archive = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| bad(&e))?;
    let names: Vec<String> = archive.file_names().map(str::to_owned).collect();
    scripts_of(&file_name, names.iter().map(String::as_str))
}

/// The scripts of an unpacked tree (its top-level files).
///
/// # Errors
///
/// As [`list_actions`].
pub fn tree_actions(file_name: &str, tree: &Path) -> Result<Scripts, FileError> {
    let entries = std::fs::read_dir(tree)
        .map_err(|e| FileError::new(file_name, format!("cannot read its files: {e}")))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| FileError::new(file_name, e.to_string()))?;
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    scripts_of(file_name, names.iter().map(String::as_str))
}

fn scripts_of<'a>(
    file_name: &str,
    names: impl Iterator<Item = &'a str>,
) -> Result<Scripts, FileError> {
    let mut scripts = Scripts::default();
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in names {
        if name == PACKAGE_WASM {
            scripts.wasm = true;
            continue;
        }
        let Some((stem, ext)) = name.rsplit_once('.') else {
            continue;
        };
        if !crate::ACTIONS.contains(&stem) || !matches!(ext, "sh" | "ps1") {
            continue;
        }
        found
            .entry(stem.to_owned())
            .or_default()
            .push(name.to_owned());
    }
    for (action, files) in found {
        if files.len() > 1 {
            return Err(FileError::new(
                file_name,
                format!(
                    "has more than one implementation of `{action}`: {}",
                    files.join(", ")
                ),
            ));
        }
        let file = files.into_iter().next().expect("one file");
        let implementation = if file.ends_with(".sh") {
            Implementation::Shell(file)
        } else {
            Implementation::PowerShell(file)
        };
        scripts.native.insert(action, implementation);
    }
    if !scripts.wasm {
        for required in ["install", "uninstall"] {
            if !scripts.native.contains_key(required) {
                return Err(FileError::new(
                    file_name,
                    format!(
                        "is missing the `{required}` action (`{required}.sh` or `{PACKAGE_WASM}`)"
                    ),
                ));
            }
        }
    }
    Ok(scripts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_found_and_conflicts_refused() {
        let s = scripts_of(
            "a.zip",
            ["install.sh", "uninstall.sh", "payload/x", "validate.sh"].into_iter(),
        )
        .unwrap();
        assert_eq!(
            s.native["install"],
            Implementation::Shell("install.sh".into())
        );
        assert!(s.native.contains_key("validate") && !s.wasm);
        let e = scripts_of(
            "a.zip",
            ["install.sh", "install.ps1", "uninstall.sh"].into_iter(),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("more than one implementation of `install`: install.ps1, install.sh")
                || e.to_string()
                    .contains("more than one implementation of `install`: install.sh, install.ps1"),
            "{e}"
        );
        let e = scripts_of("a.zip", ["uninstall.sh"].into_iter()).unwrap_err();
        assert!(
            e.to_string().contains("missing the `install` action"),
            "{e}"
        );
        assert!(
            scripts_of("a.zip", ["package.wasm"].into_iter())
                .unwrap()
                .wasm
        );
    }
}
