//! CreateFile, AppendFile, CreateFolder, CreateSymlink.

use std::io::Write;

use davit_sdk::info;
use serde::Deserialize;
use serde_json::Value;

use super::{chmod, chown, exists, io_error, make_parents};
use crate::Done;
use crate::encoding::Encoding;
use crate::input::{self, boolean, opt_text, text, yes};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateFile {
    #[serde(deserialize_with = "text")]
    path: String,
    #[serde(default, deserialize_with = "text")]
    content: String,
    #[serde(default, deserialize_with = "opt_text")]
    encoding: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    owner: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    group: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    permissions: Option<String>,
    #[serde(default = "yes", deserialize_with = "boolean")]
    overwrite: bool,
}

/// Writes each file with its content (parents created), then its owner and mode if given.
pub fn create_file(inputs: &Value) -> Result<Done, String> {
    for item in input::list::<CreateFile>(inputs)? {
        let encoding = Encoding::parse(item.encoding.as_deref())?;
        let mode = item
            .permissions
            .as_deref()
            .map(input::permissions)
            .transpose()?;
        let path = item.path.as_str();
        if exists(path) && !item.overwrite {
            return Err(format!("`{path}` already exists and `overwrite` is false"));
        }
        make_parents(path)?;
        std::fs::write(path, encoding.encode(&item.content)).map_err(|e| io_error(path, &e))?;
        set_owner_and_mode(path, item.owner.as_deref(), item.group.as_deref(), mode)?;
        info!("created {path}");
    }
    Ok(Done::none())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AppendFile {
    #[serde(deserialize_with = "text")]
    path: String,
    #[serde(default, deserialize_with = "text")]
    content: String,
    #[serde(default, deserialize_with = "opt_text")]
    encoding: Option<String>,
}

/// Appends each content to its file (created when missing).
pub fn append_file(inputs: &Value) -> Result<Done, String> {
    for item in input::list::<AppendFile>(inputs)? {
        let encoding = Encoding::parse(item.encoding.as_deref())?;
        let path = item.path.as_str();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| io_error(path, &e))?;
        file.write_all(&encoding.encode(&item.content))
            .map_err(|e| io_error(path, &e))?;
        info!("appended to {path}");
    }
    Ok(Done::none())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateFolder {
    #[serde(deserialize_with = "text")]
    path: String,
    #[serde(default, deserialize_with = "opt_text")]
    owner: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    group: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    permissions: Option<String>,
    #[serde(default = "yes", deserialize_with = "boolean")]
    overwrite: bool,
}

/// Creates each folder and its parents, then sets its owner and mode if given.
pub fn create_folder(inputs: &Value) -> Result<Done, String> {
    for item in input::list::<CreateFolder>(inputs)? {
        let mode = item
            .permissions
            .as_deref()
            .map(input::permissions)
            .transpose()?;
        let path = item.path.as_str();
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.is_dir() => {
                return Err(format!("`{path}` exists and is not a folder"));
            }
            Ok(_) if !item.overwrite => {
                return Err(format!("`{path}` already exists and `overwrite` is false"));
            }
            _ => std::fs::create_dir_all(path).map_err(|e| io_error(path, &e))?,
        }
        set_owner_and_mode(path, item.owner.as_deref(), item.group.as_deref(), mode)?;
        info!("created folder {path}");
    }
    Ok(Done::none())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateSymlink {
    #[serde(deserialize_with = "text")]
    path: String,
    #[serde(deserialize_with = "text")]
    target: String,
    #[serde(default, deserialize_with = "boolean")]
    force: bool,
}

/// Creates each link at `path` pointing to `target` as written; with `force`, a file or link
/// already at `path` is replaced (a folder never is).
pub fn create_symlink(inputs: &Value) -> Result<Done, String> {
    for item in input::list::<CreateSymlink>(inputs)? {
        let path = item.path.as_str();
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !item.force {
                return Err(format!("`{path}` already exists and `force` is false"));
            }
            if meta.is_dir() {
                return Err(format!(
                    "`{path}` is a folder; it is not replaced by a link"
                ));
            }
            std::fs::remove_file(path).map_err(|e| io_error(path, &e))?;
        }
        davit_sdk::files::symlink(&item.target, path)
            .map_err(|e| format!("`{path}`: {}", davit_sdk::files::describe(&e)))?;
        info!("linked {path} -> {}", item.target);
    }
    Ok(Done::none())
}

/// What CreateFile and CreateFolder set on what they made: owner and group if either is
/// given, then the mode if given.
fn set_owner_and_mode(
    path: &str,
    owner: Option<&str>,
    group: Option<&str>,
    mode: Option<u32>,
) -> Result<(), String> {
    if owner.is_some() || group.is_some() {
        chown(path, owner, group, false)?;
    }
    if let Some(mode) = mode {
        chmod(path, mode, false)?;
    }
    Ok(())
}
