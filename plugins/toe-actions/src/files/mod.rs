//! The file modules. Paths are the target's, as the sandbox mounts it (see the crate root);
//! every failure names the path.

pub mod copy;
pub mod create;
pub mod delete;
pub mod owner;
pub mod read;

use std::io;
use std::path::Path;

/// `` `path`: cause `` for an I/O error.
pub fn io_error(path: &str, e: &io::Error) -> String {
    let cause = match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_string(),
        io::ErrorKind::PermissionDenied => {
            "permission denied (outside what the step is granted, or a link that leads out of it)"
                .to_string()
        }
        io::ErrorKind::AlreadyExists => "already exists".to_string(),
        _ => e.to_string(),
    };
    format!("`{path}`: {cause}")
}

/// True when something (a link included) is at `path`.
pub fn exists(path: &str) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Creates the directories above `path`.
pub fn make_parents(path: &str) -> Result<(), String> {
    match Path::new(path).parent() {
        Some(parent) if !parent.as_os_str().is_empty() => {
            std::fs::create_dir_all(parent).map_err(|e| io_error(&parent.to_string_lossy(), &e))
        }
        _ => Ok(()),
    }
}

/// `dir/name`, without doubling the separator.
pub fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// The last component of `path`.
pub fn file_name(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
}

/// A path whose last component may hold `*`: the paths it stands for, sorted (entries of the
/// directory whose names match; `keep` says which kinds count). Without `*`, the path itself.
pub fn expand(
    path: &str,
    keep: impl Fn(&std::fs::Metadata) -> bool,
) -> Result<Vec<String>, String> {
    let (dir, pattern) = match path.rfind('/') {
        Some(i) => (&path[..i.max(1)], &path[i + 1..]),
        None => (".", path),
    };
    if dir.contains('*') {
        return Err(format!("`{path}`: `*` is allowed only after the last `/`"));
    }
    if !pattern.contains('*') {
        return Ok(vec![path.to_string()]);
    }
    let entries = std::fs::read_dir(dir).map_err(|e| io_error(dir, &e))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error(dir, &e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if wildcard(pattern, &name) && keep(&meta) {
            found.push(join(dir, &name));
        }
    }
    found.sort();
    Ok(found)
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters.
pub fn wildcard(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// Sets owner and group (`group` defaults to the owner's primary group, as AWSTOE does,
/// when the target's `/etc/passwd` names it).
pub fn chown(
    path: &str,
    owner: Option<&str>,
    group: Option<&str>,
    recursive: bool,
) -> Result<(), String> {
    let primary;
    let group = match (owner, group) {
        (Some(owner), None) => {
            primary = primary_group(owner);
            primary.as_deref()
        }
        (_, group) => group,
    };
    davit_sdk::files::set_owner(path, owner, group, recursive)
        .map_err(|e| format!("`{path}`: {}", davit_sdk::files::describe(&e)))
}

/// The numeric primary group of `user` in the target's `/etc/passwd`.
fn primary_group(user: &str) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        let named = fields.first() == Some(&user) || fields.get(2) == Some(&user);
        (named && fields.len() > 3).then(|| fields[3].to_string())
    })
}

/// Sets permission bits.
pub fn chmod(path: &str, mode: u32, recursive: bool) -> Result<(), String> {
    davit_sdk::files::set_mode(path, mode, recursive)
        .map_err(|e| format!("`{path}`: {}", davit_sdk::files::describe(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard("*.log", "a.log"));
        assert!(wildcard("a*b*c", "axxbyyc"));
        assert!(!wildcard("a*b*c", "axxc"));
        assert!(wildcard("*", ""));
        assert!(!wildcard("ab*ba", "aba"));
        assert!(wildcard("x", "x"));
    }
}
