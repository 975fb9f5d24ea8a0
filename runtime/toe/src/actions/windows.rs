//! The inputs of the Windows-only modules davit validates but never runs: `InstallMSI`,
//! `UninstallMSI` and `SetRegistry`, as AWS documents them.

use std::fmt;

use crate::error::ToeError;
use crate::fields::{FromNode, Visit, Visitor, inputs, scalar_text};
use crate::node::{Kind, Node};
use crate::source::Source;
use crate::template::Template;
use crate::value::{FromText, Value};

inputs! {
    /// `InstallMSI` and `UninstallMSI`: an MSI run through `msiexec`; outputs `logFile`,
    /// `msiExitCode` and `stdout`.
    pub struct Msi {
        /// The MSI: a local path, an S3 URI or a web URL.
        path: Template = "path",
        /// What to do after a successful run.
        reboot: Value<MsiReboot> = "reboot" or MsiReboot::Allow,
        /// The flags passed with `/L` (`*VX` if absent).
        log_options: Option<Template> = "logOptions",
        /// Where the MSI log goes (no log kept if absent).
        log_file: Option<Template> = "logFile",
        /// MSI properties, `NAME: value`.
        properties: Option<Properties> = "properties",
        /// Run an installer whose Authenticode signature does not validate.
        ignore_authenticode_signature_errors: Value<bool> =
            "ignoreAuthenticodeSignatureErrors" or false,
        /// Run an unsigned installer.
        allow_unsigned_installer: Value<bool> = "allowUnsignedInstaller" or false,
    }
}

inputs! {
    /// One `SetRegistry` entry: a registry value set, its key created if needed; no outputs.
    pub struct RegistryEntry {
        /// The key, starting `HKEY_LOCAL_MACHINE\` or `HKLM:\` (or another hive).
        path: Template = "path",
        /// The value's name.
        name: Template = "name",
        /// The value: a string or number, or a list for `MULTI_SZ` and `BINARY`.
        value: RegistryValue = "value",
        /// The value's type.
        kind: Value<RegistryType> = "type",
    }
}

/// The `reboot` of `InstallMSI` and `UninstallMSI`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsiReboot {
    /// Reboot if the installer asks for it (the default).
    Allow,
    /// Always reboot.
    Force,
    /// Never reboot.
    Skip,
}

impl FromText for MsiReboot {
    fn from_text(text: &str) -> Result<Self, String> {
        Ok(match text.trim() {
            "Allow" => Self::Allow,
            "Force" => Self::Force,
            "Skip" => Self::Skip,
            _ => return Err(format!("must be `Allow`, `Force` or `Skip`, not `{text}`")),
        })
    }
}

/// The `type` of a `SetRegistry` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum RegistryType {
    Binary,
    Dword,
    Qword,
    Sz,
    ExpandSz,
    MultiSz,
}

const REGISTRY_TYPES: [(&str, RegistryType); 6] = [
    ("BINARY", RegistryType::Binary),
    ("DWORD", RegistryType::Dword),
    ("QWORD", RegistryType::Qword),
    ("SZ", RegistryType::Sz),
    ("EXPAND_SZ", RegistryType::ExpandSz),
    ("MULTI_SZ", RegistryType::MultiSz),
];

impl FromText for RegistryType {
    fn from_text(text: &str) -> Result<Self, String> {
        REGISTRY_TYPES
            .iter()
            .find(|(name, _)| *name == text.trim())
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                format!(
                    "must be one of `BINARY`, `DWORD`, `QWORD`, `SZ`, `EXPAND_SZ` or `MULTI_SZ`, not `{text}`"
                )
            })
    }
}

impl fmt::Display for RegistryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = REGISTRY_TYPES
            .iter()
            .find(|(_, t)| t == self)
            .map_or("", |(n, _)| n);
        f.write_str(name)
    }
}

/// The `value` of a `SetRegistry` entry: one scalar, or a list of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryValue {
    /// A string or a number, as written.
    One(Template),
    /// A list (`MULTI_SZ` strings, `BINARY` bytes).
    Many(Vec<Template>),
}

impl FromNode for RegistryValue {
    fn from_node(node: &Node, src: Source<'_>, key: &'static str) -> Result<Self, ToeError> {
        match node.kind {
            Kind::Seq(_) => Vec::from_node(node, src, key).map(Self::Many),
            _ => Template::from_node(node, src, key).map(Self::One),
        }
    }
}

impl Visit for RegistryValue {
    fn visit(&mut self, visitor: &mut dyn Visitor) {
        match self {
            Self::One(t) => t.visit(visitor),
            Self::Many(ts) => ts.visit(visitor),
        }
    }
}

/// The `properties` of an MSI action: `NAME: value` pairs, in document order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Properties(pub Vec<(String, Template)>);

impl FromNode for Properties {
    fn from_node(node: &Node, src: Source<'_>, key: &'static str) -> Result<Self, ToeError> {
        let Kind::Map(entries) = &node.kind else {
            return Err(ToeError::invalid(
                &src.yaml(&node.loc),
                key,
                format!(
                    "must be a mapping of names to values, not {}",
                    node.describe()
                ),
            ));
        };
        let mut out: Vec<(String, Template)> = Vec::new();
        for (k, v) in entries {
            let name = scalar_text(k, src, key)?;
            if out.iter().any(|(n, _)| *n == name) {
                return Err(ToeError::DuplicateKey {
                    at: src.yaml(&k.loc),
                    key: name,
                });
            }
            out.push((name, Template::from_node(v, src, key)?));
        }
        Ok(Self(out))
    }
}

impl Visit for Properties {
    fn visit(&mut self, visitor: &mut dyn Visitor) {
        for (_, v) in &mut self.0 {
            v.visit(visitor);
        }
    }
}
