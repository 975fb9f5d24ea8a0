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

/// Whether `spec`'s `files` install a file at `object`, for the bundle at `root`.
pub(super) fn is_file(spec: &AppSpec, root: &Path, object: &AbsPath) -> bool {
    spec.files.iter().any(|mapping| {
        let Destination::Unix(dest) = &mapping.destination else {
            return false;
        };
        let source = root.join(mapping.source.as_str());
        if source.is_dir() {
            if !object.starts_with(dest) || object == dest {
                return false;
            }
            let inside = object
                .components()
                .skip(dest.components().count())
                .fold(source, |p, c| p.join(c));
            inside.is_file()
        } else {
            let name = source.file_name().and_then(|n| n.to_str());
            let host = name.and_then(|n| AbsPath::try_from(format!("{dest}/{n}")).ok());
            source.is_file() && host.as_ref() == Some(object)
        }
    })
}

/// Every file `spec`'s `files` install beneath `object` (not `object` itself), in name order
/// per mapping.
pub(super) fn files_beneath(spec: &AppSpec, root: &Path, object: &AbsPath) -> Vec<AbsPath> {
    let mut out = Vec::new();
    for mapping in &spec.files {
        let Destination::Unix(dest) = &mapping.destination else {
            continue;
        };
        let source = root.join(mapping.source.as_str());
        let mut found = Vec::new();
        if source.is_dir() {
            all_files(&source, &mut found);
            out.extend(
                found
                    .iter()
                    .filter_map(|f| host_path(dest, &source, f))
                    .filter(|h| h != object && h.starts_with(object)),
            );
        } else if let Some(name) = source.file_name().and_then(|n| n.to_str())
            && source.is_file()
            && let Ok(host) = AbsPath::try_from(format!("{dest}/{name}"))
            && host != *object
            && host.starts_with(object)
        {
            out.push(host);
        }
    }
    out
}

/// Whether the CodeDeploy agent applies a `permissions` entry with this `object`, `pattern`
/// and `except` to `path` beneath it: `**` takes everything beneath; any other pattern, and
/// every `except`, is a glob where only `*` is special, matched against the name of a direct
/// child of `object` only.
pub(super) fn agent_matches(
    object: &AbsPath,
    pattern: &str,
    except: &[String],
    path: &AbsPath,
) -> bool {
    let rel: Vec<&str> = path
        .components()
        .skip(object.components().count())
        .collect();
    let child = match rel.as_slice() {
        [one] => Some(*one),
        _ => None,
    };
    let hit = |glob: &str| child.is_some_and(|name| star_match(glob, name));
    (pattern == "**" || hit(pattern)) && !except.iter().any(|e| hit(e))
}

/// `glob` (only `*` special, for any run of characters) matches all of `text`.
fn star_match(glob: &str, text: &str) -> bool {
    match glob.split_once('*') {
        None => glob == text,
        Some((head, rest)) => {
            let Some(text) = text.strip_prefix(head) else {
                return false;
            };
            (0..=text.len())
                .filter(|i| text.is_char_boundary(*i))
                .any(|i| star_match(rest, &text[i..]))
        }
    }
}

/// Every file beneath `dir`, links not followed.
fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<(PathBuf, std::fs::FileType)> = entries
        .flatten()
        .filter_map(|e| Some((e.path(), e.file_type().ok()?)))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, kind) in entries {
        if kind.is_file() {
            out.push(path);
        } else if kind.is_dir() {
            all_files(&path, out);
        }
    }
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
    fn the_agents_simple_globs() {
        let www = AbsPath::try_from("/srv/www").unwrap();
        let at = |p: &str| AbsPath::try_from(p).unwrap();
        let none: &[String] = &[];
        assert!(agent_matches(&www, "**", none, &at("/srv/www/a/b.php")));
        assert!(agent_matches(&www, "*.php", none, &at("/srv/www/b.php")));
        assert!(
            !agent_matches(&www, "*.php", none, &at("/srv/www/a/b.php")),
            "children only"
        );
        assert!(agent_matches(&www, "a*b*c", none, &at("/srv/www/aXbYc")));
        assert!(
            !agent_matches(&www, "a?c", none, &at("/srv/www/abc")),
            "`?` is literal"
        );
        let except = ["*.log".to_owned()];
        assert!(!agent_matches(&www, "**", &except, &at("/srv/www/x.log")));
        assert!(
            agent_matches(&www, "**", &except, &at("/srv/www/d/x.log")),
            "children only"
        );
    }

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
        let file = |p: &str| is_file(&spec, &dir, &AbsPath::try_from(p).unwrap());
        assert!(file("/etc/app.conf"));
        assert!(file("/srv/www/css/site.css"));
        assert!(!file("/srv/www/css") && !file("/srv") && !file("/etc/other"));
        let srv = AbsPath::try_from("/srv").unwrap();
        let beneath: Vec<String> = files_beneath(&spec, &dir, &srv)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(beneath, ["/srv/www/css/site.css"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
