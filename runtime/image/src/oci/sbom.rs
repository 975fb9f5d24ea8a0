//! The image's SBOM: its Debian packages, read from the `var/lib/dpkg/status` the image's
//! layers hold (the topmost layer that has it, or removes it, wins; nothing is unpacked), as
//! an SPDX 2.3 document. It is kept with the image in the layout as an OCI artifact whose
//! `subject` is the image's manifest, tagged `sha256-<digest>.sbom` (the tag scheme of
//! registries without the referrers API).

use std::io::{self, Read};
use std::path::Path;

use serde_json::{Value, json};

use super::layout::{self, Descriptor, Layout, Manifest};

pub const SPDX_JSON: &str = "application/spdx+json";
const EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub maintainer: Option<String>,
}

/// The installed packages of a dpkg `status` file, sorted by name.
pub fn installed(status: &str) -> Vec<Package> {
    let mut out = Vec::new();
    for stanza in status.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix(':'))
                    .map(|v| v.trim().to_owned())
            })
        };
        if field("Status").as_deref() != Some("install ok installed") {
            continue;
        }
        if let (Some(name), Some(version)) = (field("Package"), field("Version")) {
            out.push(Package {
                name,
                version,
                architecture: field("Architecture").unwrap_or_default(),
                maintainer: field("Maintainer"),
            });
        }
    }
    out.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then(a.architecture.cmp(&b.architecture))
    });
    out
}

/// What one layer says of the dpkg status.
enum InLayer {
    Status(String),
    Removed,
    Silent,
}

/// The dpkg status the image's layers end with, if any. What each layer says of it is kept
/// under `cache` by the layer's digest (a layer never changes), so that a rebuild reads only
/// its new layers, not the whole base again.
///
/// # Errors
///
/// When a layer cannot be read.
pub fn dpkg_status(
    layout: &Layout,
    manifest: &Manifest,
    cache: &Path,
) -> io::Result<Option<String>> {
    for layer in manifest.layers.iter().rev() {
        match in_layer(layout, &layer.digest, cache)? {
            InLayer::Status(text) => return Ok(Some(text)),
            InLayer::Removed => return Ok(None),
            InLayer::Silent => {}
        }
    }
    Ok(None)
}

fn in_layer(layout: &Layout, digest: &str, cache: &Path) -> io::Result<InLayer> {
    let kept = cache.join(digest.trim_start_matches("sha256:"));
    if let Ok(text) = std::fs::read_to_string(&kept)
        && let Some((kind, rest)) = text.split_once('\n')
    {
        match kind {
            "status" => return Ok(InLayer::Status(rest.to_owned())),
            "removed" => return Ok(InLayer::Removed),
            "silent" => return Ok(InLayer::Silent),
            _ => {}
        }
    }
    let found = scan(layout, digest)?;
    let text = match &found {
        InLayer::Status(t) => format!("status\n{t}"),
        InLayer::Removed => "removed\n".to_owned(),
        InLayer::Silent => "silent\n".to_owned(),
    };
    std::fs::create_dir_all(cache)?;
    let tmp = cache.join(format!(
        ".{}.{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &kept)?;
    Ok(found)
}

fn scan(layout: &Layout, digest: &str) -> io::Result<InLayer> {
    const STATUS: &str = "var/lib/dpkg/status";
    let file = std::fs::File::open(layout.blob_path(digest)?)?;
    let gz = flate2::read::MultiGzDecoder::new(io::BufReader::new(file));
    let mut archive = tar::Archive::new(gz);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let path = path.trim_start_matches("./").trim_start_matches('/');
        if path == STATUS {
            let mut text = String::new();
            entry.read_to_string(&mut text)?;
            return Ok(InLayer::Status(text));
        }
        if path == "var/lib/dpkg/.wh.status" || path == "var/lib/.wh.dpkg" {
            return Ok(InLayer::Removed);
        }
    }
    Ok(InLayer::Silent)
}

/// The SPDX 2.3 document of `packages` in the image `name` `version` (manifest `digest`).
pub fn spdx(name: &str, version: &str, digest: &str, epoch: u64, packages: &[Package]) -> Value {
    let hex = digest.trim_start_matches("sha256:");
    let packages: Vec<Value> = packages
        .iter()
        .map(|p| {
            let id: String = format!("{}-{}", p.name, p.architecture)
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            let mut package = json!({
                "name": p.name,
                "SPDXID": format!("SPDXRef-Package-deb-{id}"),
                "versionInfo": p.version,
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": false,
                "externalRefs": [{
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": format!(
                        "pkg:deb/debian/{}@{}?arch={}",
                        p.name, p.version, p.architecture
                    ),
                }],
            });
            if let Some(m) = &p.maintainer {
                package["supplier"] = json!(format!("Organization: {m}"));
            }
            package
        })
        .collect();
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{name}-{version}"),
        "documentNamespace": format!("https://davit.invalid/spdx/{name}/{hex}"),
        "creationInfo": {
            "created": layout::rfc3339(epoch),
            "creators": ["Tool: davit"],
        },
        "packages": packages,
    })
}

/// Writes `document` into `layout` as an artifact about `image`, tagged
/// `sha256-<hex>.sbom`; the artifact manifest's descriptor.
///
/// # Errors
///
/// When the layout cannot be written.
pub fn attach(layout: &Layout, image: &Descriptor, document: &Value) -> io::Result<Descriptor> {
    let sbom = layout.put(
        SPDX_JSON,
        &serde_json::to_vec(document).expect("SBOM serializes"),
    )?;
    let empty = layout.put(EMPTY, b"{}")?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": layout::MANIFEST,
        "artifactType": SPDX_JSON,
        "config": empty,
        "layers": [sbom],
        "subject": {
            "mediaType": image.media_type,
            "digest": image.digest,
            "size": image.size,
        },
    });
    let descriptor = layout.put(
        layout::MANIFEST,
        &serde_json::to_vec(&manifest).expect("manifest serializes"),
    )?;
    let tag = format!("{}.sbom", image.digest.replace(':', "-"));
    layout.tag(&descriptor, &[tag])?;
    Ok(descriptor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_installed_packages_are_listed_sorted() {
        let status = "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.2.13\nMaintainer: Mark <m@d.org>\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b2\nDescription: shell\n continued line\n";
        let p = installed(status);
        assert_eq!(
            p.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["bash", "zlib1g"]
        );
        let doc = spdx("img", "1.0.0", "sha256:ab", 0, &p);
        assert_eq!(doc["packages"][1]["versionInfo"], "1:1.2.13");
        assert_eq!(
            doc["packages"][1]["externalRefs"][0]["referenceLocator"],
            "pkg:deb/debian/zlib1g@1:1.2.13?arch=amd64"
        );
        assert_eq!(
            doc["packages"][1]["supplier"],
            "Organization: Mark <m@d.org>"
        );
    }
}
