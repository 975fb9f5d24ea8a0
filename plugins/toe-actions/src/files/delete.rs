//! DeleteFile, DeleteFolder.

use davit_sdk::info;
use serde::Deserialize;
use serde_json::Value;

use super::{expand, file_name, io_error};
use crate::Done;
use crate::input::{self, boolean, text};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DeleteFile {
    #[serde(deserialize_with = "text")]
    path: String,
    /// Not documented for DeleteFile, but Image Builder's samples write it: a missing file is
    /// then no error.
    #[serde(default, deserialize_with = "boolean")]
    force: bool,
}

/// Deletes each file (a link itself, never what it points to); `*` in the name deletes every
/// file that matches, and a match of nothing is no error.
pub fn delete_file(inputs: &Value) -> Result<Done, String> {
    for item in input::list::<DeleteFile>(inputs)? {
        let wildcard = file_name(&item.path).contains('*');
        for path in expand(&item.path, |m| !m.is_dir())? {
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => {
                    return Err(format!("`{path}` is a folder: use DeleteFolder"));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && (item.force || wildcard) => {
                    continue;
                }
                _ => {}
            }
            std::fs::remove_file(&path).map_err(|e| io_error(&path, &e))?;
            info!("deleted {path}");
        }
    }
    Ok(Done::none())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DeleteFolder {
    #[serde(deserialize_with = "text")]
    path: String,
    #[serde(default, deserialize_with = "boolean")]
    force: bool,
}

/// Deletes each folder: an empty one, or with `force` whatever it holds.
pub fn delete_folder(inputs: &Value) -> Result<Done, String> {
    for item in input::list::<DeleteFolder>(inputs)? {
        let path = item.path.as_str();
        let meta = std::fs::symlink_metadata(path).map_err(|e| io_error(path, &e))?;
        if !meta.is_dir() {
            return Err(format!("`{path}` is not a folder"));
        }
        let empty = std::fs::read_dir(path)
            .map_err(|e| io_error(path, &e))?
            .next()
            .is_none();
        if !empty && !item.force {
            return Err(format!(
                "`{path}` is not empty; set `force: true` to delete what it holds"
            ));
        }
        let removed = if item.force {
            std::fs::remove_dir_all(path)
        } else {
            std::fs::remove_dir(path)
        };
        removed.map_err(|e| io_error(path, &e))?;
        info!("deleted folder {path}");
    }
    Ok(Done::none())
}
