//! SetFileOwner, SetFolderOwner, SetFilePermissions, SetFolderPermissions, through the host's
//! `files` interface (WASI has no owners or modes).

use serde::Deserialize;
use serde_json::Value;

use super::{chmod, chown, io_error};
use crate::Done;
use crate::input::{self, boolean, opt_text, text, yes};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SetOwner {
    #[serde(deserialize_with = "text")]
    path: String,
    #[serde(deserialize_with = "text")]
    owner: String,
    #[serde(default, deserialize_with = "opt_text")]
    group: Option<String>,
    #[serde(default = "yes", deserialize_with = "boolean")]
    recursive: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SetFileOwnerInput {
    #[serde(deserialize_with = "text")]
    path: String,
    #[serde(deserialize_with = "text")]
    owner: String,
    #[serde(default, deserialize_with = "opt_text")]
    group: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SetMode {
    #[serde(deserialize_with = "text")]
    path: String,
    #[serde(deserialize_with = "text")]
    permissions: String,
    #[serde(default = "yes", deserialize_with = "boolean")]
    recursive: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SetFileModeInput {
    #[serde(deserialize_with = "text")]
    path: String,
    #[serde(deserialize_with = "text")]
    permissions: String,
}

/// Fails unless `path` is a file (`folder` false) or a folder (`folder` true).
fn expect_kind(path: &str, folder: bool) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| io_error(path, &e))?;
    match (folder, meta.is_dir()) {
        (true, false) => Err(format!("`{path}` is not a folder")),
        (false, true) => Err(format!("`{path}` is a folder: use the folder module")),
        _ => Ok(()),
    }
}

pub fn set_file_owner(inputs: &Value) -> Result<Done, String> {
    for item in input::list::<SetFileOwnerInput>(inputs)? {
        expect_kind(&item.path, false)?;
        chown(&item.path, Some(&item.owner), item.group.as_deref(), false)?;
    }
    Ok(Done::none())
}

pub fn set_folder_owner(inputs: &Value) -> Result<Done, String> {
    for item in input::list::<SetOwner>(inputs)? {
        expect_kind(&item.path, true)?;
        chown(
            &item.path,
            Some(&item.owner),
            item.group.as_deref(),
            item.recursive,
        )?;
    }
    Ok(Done::none())
}

pub fn set_file_permissions(inputs: &Value) -> Result<Done, String> {
    for item in input::list::<SetFileModeInput>(inputs)? {
        let mode = input::permissions(&item.permissions)?;
        expect_kind(&item.path, false)?;
        chmod(&item.path, mode, false)?;
    }
    Ok(Done::none())
}

pub fn set_folder_permissions(inputs: &Value) -> Result<Done, String> {
    for item in input::list::<SetMode>(inputs)? {
        let mode = input::permissions(&item.permissions)?;
        expect_kind(&item.path, true)?;
        chmod(&item.path, mode, item.recursive)?;
    }
    Ok(Done::none())
}
