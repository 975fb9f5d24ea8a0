//! CopyFile, CopyFolder, MoveFile, MoveFolder. A source may end in a name with `*`: each match
//! then goes into `destination` as a folder.

use std::fs;

use davit_sdk::info;
use serde::Deserialize;
use serde_json::Value;

use super::{exists, expand, file_name, io_error, join, make_parents};
use crate::Done;
use crate::input::{self, boolean, text, yes};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Folder,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Copy,
    Move,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Transfer {
    #[serde(deserialize_with = "text")]
    source: String,
    #[serde(deserialize_with = "text")]
    destination: String,
    #[serde(default = "yes", deserialize_with = "boolean")]
    overwrite: bool,
}

pub fn run(inputs: &Value, kind: Kind, mode: Mode) -> Result<Done, String> {
    for item in input::list::<Transfer>(inputs)? {
        let wildcard = file_name(&item.source).contains('*');
        let sources = expand(&item.source, |m| match kind {
            Kind::File => m.is_file(),
            Kind::Folder => m.is_dir(),
        })?;
        if sources.is_empty() {
            return Err(format!("`{}` matches nothing", item.source));
        }
        for source in sources {
            // A file copied onto a folder (or a path ending in `/`) goes inside it; so does
            // every match of a wildcard.
            let into = wildcard
                || item.destination.ends_with('/')
                || (kind == Kind::File
                    && fs::metadata(&item.destination).is_ok_and(|m| m.is_dir()));
            let destination = if into {
                join(&item.destination, file_name(&source))
            } else {
                item.destination.clone()
            };
            transfer(&source, &destination, kind, mode, item.overwrite)?;
            let verb = if mode == Mode::Copy {
                "copied"
            } else {
                "moved"
            };
            info!("{verb} {source} to {destination}");
        }
    }
    Ok(Done::none())
}

fn transfer(
    source: &str,
    destination: &str,
    kind: Kind,
    mode: Mode,
    overwrite: bool,
) -> Result<(), String> {
    let meta = fs::symlink_metadata(source).map_err(|e| io_error(source, &e))?;
    match kind {
        Kind::File if !meta.is_file() => return Err(format!("`{source}` is not a file")),
        Kind::Folder if !meta.is_dir() => return Err(format!("`{source}` is not a folder")),
        _ => {}
    }
    if kind == Kind::File && exists(destination) && !overwrite {
        return Err(format!(
            "`{destination}` already exists and `overwrite` is false"
        ));
    }
    make_parents(destination)?;
    if mode == Mode::Move {
        let fresh = !exists(destination);
        if (fresh || kind == Kind::File) && fs::rename(source, destination).is_ok() {
            return Ok(());
        }
        // Across mounts, or onto a folder that exists: copy, then remove the source.
    }
    match kind {
        Kind::File => copy_file(source, destination)?,
        Kind::Folder => copy_tree(source, destination, overwrite)?,
    }
    if mode == Mode::Move {
        let removed = match kind {
            Kind::File => fs::remove_file(source),
            Kind::Folder => fs::remove_dir_all(source),
        };
        removed.map_err(|e| io_error(source, &e))?;
    }
    Ok(())
}

fn copy_file(source: &str, destination: &str) -> Result<(), String> {
    if fs::symlink_metadata(destination).is_ok_and(|m| m.file_type().is_symlink()) {
        // Replace a link instead of writing through it.
        fs::remove_file(destination).map_err(|e| io_error(destination, &e))?;
    }
    fs::copy(source, destination)
        .map(|_| ())
        .map_err(|e| format!("copying `{source}` to {}", io_error(destination, &e)))
}

/// Copies the folder `source` onto `destination` (created when missing, merged when not);
/// links are copied as links.
fn copy_tree(source: &str, destination: &str, overwrite: bool) -> Result<(), String> {
    match fs::symlink_metadata(destination) {
        Ok(m) if !m.is_dir() => return Err(format!("`{destination}` exists and is not a folder")),
        Ok(_) => {}
        Err(_) => fs::create_dir(destination).map_err(|e| io_error(destination, &e))?,
    }
    let mut entries: Vec<_> = fs::read_dir(source)
        .map_err(|e| io_error(source, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| io_error(source, &e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let (from, to) = (join(source, &name), join(destination, &name));
        let meta = fs::symlink_metadata(&from).map_err(|e| io_error(&from, &e))?;
        if meta.is_dir() {
            copy_tree(&from, &to, overwrite)?;
        } else if exists(&to) && !overwrite {
            return Err(format!("`{to}` already exists and `overwrite` is false"));
        } else if meta.file_type().is_symlink() {
            let target = fs::read_link(&from).map_err(|e| io_error(&from, &e))?;
            if exists(&to) {
                fs::remove_file(&to).map_err(|e| io_error(&to, &e))?;
            }
            davit_sdk::files::symlink(&target.to_string_lossy(), &to)
                .map_err(|e| format!("`{to}`: {}", davit_sdk::files::describe(&e)))?;
        } else if meta.is_file() {
            copy_file(&from, &to)?;
        }
        // Sockets, FIFOs and devices are left behind, as a plain copy would fail on them.
    }
    Ok(())
}
