//! What a revision installs at a host path, read from the unpacked bundle: enough for the
//! CodeDeploy agent's checks that depend on whether a `permissions` `object` is a file.
//!
//! As the agent copies: a directory `source` puts its contents into `destination`, a file
//! `source` goes to `destination/<its name>`. Only metadata is read, never a file's contents;
//! links on the way to an `object` are followed as the bundle has them, links found while
//! looking for a file beneath a directory are not.

use std::path::{Path, PathBuf};

use super::AppSpec;
use crate::path::{AbsPath, Destination};

/// What the revision installs at a path.
pub(super) enum Installs {
    /// A file.
    File,
    /// A directory, with the first file (in name order) installed beneath it, if any.
    Dir { first_file: Option<AbsPath> },
    /// Nothing this check knows of (not installed, or only made as an ancestor).
    Unknown,
}

/// What `spec`'s `files` install at `object`, for the bundle at `root`.
pub(super) fn installs(spec: &AppSpec, root: &Path, object: &AbsPath) -> Installs {
    for mapping in &spec.files {
        let Destination::Unix(dest) = &mapping.destination else {
            continue;
        };
        let source = root.join(mapping.source.as_str());
        // (bundle path, host path) of what the mapping puts directly at `dest` or beneath it.
        let (bundle_base, host_base) = if source.is_dir() {
            (source, dest.clone())
        } else if source.is_file() {
            let Some(name) = source.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            match AbsPath::try_from(format!("{dest}/{name}")) {
                Ok(host) => (source.clone(), host),
                Err(_) => continue,
            }
        } else {
            continue;
        };
        if object.starts_with(&host_base) {
            let rel: Vec<&str> = object
                .components()
                .skip(host_base.components().count())
                .collect();
            let inside = rel.iter().fold(bundle_base.clone(), |p, c| p.join(c));
            if inside.is_file() {
                return Installs::File;
            }
            if inside.is_dir() {
                let first =
                    first_file(&inside).and_then(|f| host_path(&host_base, &bundle_base, &f));
                return Installs::Dir { first_file: first };
            }
        } else if host_base.starts_with(object) {
            // `object` is an ancestor of what the mapping installs.
            let first = if bundle_base.is_file() {
                Some(host_base.clone())
            } else {
                first_file(&bundle_base).and_then(|f| host_path(&host_base, &bundle_base, &f))
            };
            if first.is_some() {
                return Installs::Dir { first_file: first };
            }
        }
    }
    Installs::Unknown
}

/// The first file beneath `dir`, depth first in name order. Links are not followed (a link to
/// a directory could make a cycle), and a link is not a file the agent would set an ACL on.
fn first_file(dir: &Path) -> Option<PathBuf> {
    let mut entries: Vec<(PathBuf, std::fs::FileType)> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| Some((e.path(), e.file_type().ok()?)))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().find_map(|(path, kind)| {
        if kind.is_file() {
            Some(path)
        } else if kind.is_dir() {
            first_file(&path)
        } else {
            None
        }
    })
}

/// Where the bundle file `file` (beneath `bundle_base`) is installed, `bundle_base` going to
/// `host_base`.
fn host_path(host_base: &AbsPath, bundle_base: &Path, file: &Path) -> Option<AbsPath> {
    let rel = file.strip_prefix(bundle_base).ok()?.to_str()?;
    AbsPath::try_from(format!("{host_base}/{rel}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn files_and_directories_of_a_bundle() {
        let dir = std::env::temp_dir().join(format!("davit-spec-bundle-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("www/css")).unwrap();
        std::fs::write(dir.join("www/css/site.css"), "").unwrap();
        std::fs::write(dir.join("app.conf"), "").unwrap();
        std::os::unix::fs::symlink("..", dir.join("www/css/loop")).unwrap();
        let spec = AppSpec::parse(
            "a.yml",
            "version: 0.0\nos: linux\nfiles:\n  - {source: www, destination: /srv/www}\n  - {source: app.conf, destination: /etc}\n",
        )
        .unwrap();
        let at = |p: &str| installs(&spec, &dir, &AbsPath::try_from(p).unwrap());
        assert!(matches!(at("/etc/app.conf"), Installs::File));
        assert!(matches!(at("/srv/www/css/site.css"), Installs::File));
        let Installs::Dir {
            first_file: Some(f),
        } = at("/srv")
        else {
            panic!("a directory")
        };
        assert_eq!(f.as_str(), "/srv/www/css/site.css");
        assert!(matches!(at("/srv/www/css"), Installs::Dir { .. }));
        assert!(matches!(at("/etc/other"), Installs::Unknown));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
