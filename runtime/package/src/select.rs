//! Which file of a manifest a host installs, exactly as the SSM agent chooses it:
//!
//! - the platform is os-release's `ID` with the agent's renames (rhel→redhat, ol→oracle,
//!   amzn→amazon, sles→suse, opensuse-leap→opensuseleap), the version its `VERSION_ID`, the
//!   architecture x86_64, arm64 or 386;
//! - platform: the exact key, else `_any`;
//! - version: the exact key, else the most specific `A.B.*` whose `A.B.` begins the host's
//!   version (`6.*` and `6.2.*` both match 6.2.4, `6.2.*` wins; `6.2` never matches 6.2.4,
//!   nor `6.*.4`), else `_any`, else `*`;
//! - architecture: the exact key, else `_any`;
//! - no backtracking: once a platform key is chosen, a version or architecture it lacks is an
//!   error, even where `_any` would have fit.

use crate::Manifest;

/// What a host is, as the selection reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub platform: String,
    pub version: String,
    pub arch: String,
}

impl Host {
    /// The host described by an os-release file's `text` and a machine name (`uname -m`).
    pub fn from_os_release(text: &str, machine: &str) -> Host {
        let field = |key: &str| {
            text.lines()
                .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
                .map(|v| v.trim().trim_matches(['"', '\'']).to_owned())
                .next_back()
                .unwrap_or_default()
        };
        let id = field("ID").to_ascii_lowercase();
        let platform = match id.as_str() {
            "rhel" => "redhat",
            "ol" => "oracle",
            "amzn" => "amazon",
            "sles" => "suse",
            "opensuse-leap" => "opensuseleap",
            other => other,
        }
        .to_owned();
        let arch = match machine {
            "x86_64" | "amd64" => "x86_64",
            "aarch64" | "arm64" => "arm64",
            "i386" | "i686" | "x86" | "386" => "386",
            other => other,
        }
        .to_owned();
        Host {
            platform,
            version: field("VERSION_ID"),
            arch,
        }
    }
}

/// The chosen file, with the keys that chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected<'m> {
    pub platform: &'m str,
    pub version: &'m str,
    pub arch: &'m str,
    pub file: &'m str,
    pub sha256: &'m str,
}

/// Why no file fits the host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("no manifest found for platform {host}: the package has {have} (and no `_any`)")]
    Platform { host: String, have: String },
    #[error(
        "no manifest found for platform {platform}, version {version}: `{key}` has {have} (no exact key, no `A.B.*` that begins it, no `_any` or `*`)"
    )]
    Version {
        platform: String,
        version: String,
        key: String,
        have: String,
    },
    #[error(
        "no manifest found for platform {platform}, version {version}, architecture {arch}: `{key}` has {have} (and no `_any`)"
    )]
    Arch {
        platform: String,
        version: String,
        arch: String,
        key: String,
        have: String,
    },
}

fn keys<V>(map: &std::collections::BTreeMap<String, V>) -> String {
    map.keys()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The file of `manifest` that `host` installs (see the module).
///
/// # Errors
///
/// The level at which nothing fits, with the keys there are.
pub fn select<'m>(manifest: &'m Manifest, host: &Host) -> Result<Selected<'m>, SelectError> {
    let (platform, versions) = manifest
        .packages
        .get_key_value(&host.platform)
        .or_else(|| manifest.packages.get_key_value("_any"))
        .ok_or_else(|| SelectError::Platform {
            host: host.platform.clone(),
            have: keys(&manifest.packages),
        })?;
    let wildcard = versions
        .keys()
        .filter_map(|k| {
            let prefix = k.strip_suffix('*')?;
            let plain = prefix.ends_with('.')
                && !prefix.contains('*')
                && prefix[..prefix.len() - 1].split('.').all(|p| !p.is_empty());
            (plain && host.version.starts_with(prefix)).then_some((prefix.len(), k))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, k)| k.as_str());
    let version_key = [
        Some(host.version.as_str()),
        wildcard,
        Some("_any"),
        Some("*"),
    ]
    .into_iter()
    .flatten()
    .find(|k| versions.contains_key(*k))
    .ok_or_else(|| SelectError::Version {
        platform: host.platform.clone(),
        version: host.version.clone(),
        key: platform.clone(),
        have: keys(versions),
    })?;
    let (version, arches) = versions
        .get_key_value(version_key)
        .expect("the key was found");
    let (arch, file) = arches
        .get_key_value(&host.arch)
        .or_else(|| arches.get_key_value("_any"))
        .ok_or_else(|| SelectError::Arch {
            platform: host.platform.clone(),
            version: host.version.clone(),
            arch: host.arch.clone(),
            key: format!("{platform}/{version}"),
            have: keys(arches),
        })?;
    Ok(Selected {
        platform,
        version,
        arch,
        file: &file.file,
        sha256: &manifest.files[&file.file],
    })
}
