//! ListFiles, ReadFile, SetFileEncoding.

use davit_sdk::info;
use serde::Deserialize;
use serde_json::Value;

use super::{io_error, join, wildcard};
use crate::Done;
use crate::encoding::Encoding;
use crate::input::{self, boolean, opt_text, text};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListFiles {
    #[serde(deserialize_with = "text")]
    path: String,
    #[serde(default, deserialize_with = "opt_text")]
    file_name_pattern: Option<String>,
    #[serde(default, deserialize_with = "boolean")]
    recursive: bool,
}

/// Output `files`: the files (not folders) in each folder whose names match, comma-separated,
/// sorted within each folder.
pub fn list_files(inputs: &Value) -> Result<Done, String> {
    let mut files = Vec::new();
    for item in input::list::<ListFiles>(inputs)? {
        let pattern = item.file_name_pattern.as_deref().unwrap_or("*");
        let mut found = Vec::new();
        walk(&item.path, pattern, item.recursive, &mut found)?;
        found.sort();
        files.extend(found);
    }
    Ok(Done::output("files", files.join(",")))
}

fn walk(dir: &str, pattern: &str, recursive: bool, found: &mut Vec<String>) -> Result<(), String> {
    for entry in std::fs::read_dir(dir).map_err(|e| io_error(dir, &e))? {
        let entry = entry.map_err(|e| io_error(dir, &e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = join(dir, &name);
        let meta = std::fs::symlink_metadata(&path).map_err(|e| io_error(&path, &e))?;
        if meta.is_dir() {
            if recursive {
                walk(&path, pattern, recursive, found)?;
            }
        } else if wildcard(pattern, &name) {
            found.push(path);
        }
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ReadFile {
    #[serde(deserialize_with = "text")]
    path: String,
    #[serde(default, deserialize_with = "opt_text")]
    encoding: Option<String>,
    #[serde(default, deserialize_with = "boolean")]
    print_file_content: bool,
}

/// Output `content`: the file's text (the last file's, when the step reads several).
pub fn read_file(inputs: &Value) -> Result<Done, String> {
    let mut content = String::new();
    for item in input::list::<ReadFile>(inputs)? {
        let encoding = Encoding::parse(item.encoding.as_deref())?;
        let path = item.path.as_str();
        let bytes = std::fs::read(path).map_err(|e| io_error(path, &e))?;
        content = encoding
            .decode(&bytes)
            .map_err(|e| format!("`{path}`: {e}"))?;
        if item.print_file_content {
            info!("{path}:\n{content}");
        }
    }
    Ok(Done::output("content", content))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SetFileEncoding {
    #[serde(deserialize_with = "text")]
    path: String,
    #[serde(default, deserialize_with = "opt_text")]
    encoding: Option<String>,
}

/// Rewrites each file in `encoding`: its present encoding is the one its byte order mark names,
/// else UTF-8.
pub fn set_file_encoding(inputs: &Value) -> Result<Done, String> {
    for item in input::list::<SetFileEncoding>(inputs)? {
        let to = Encoding::parse(item.encoding.as_deref())?;
        let path = item.path.as_str();
        let bytes = std::fs::read(path).map_err(|e| io_error(path, &e))?;
        let from = Encoding::sniff(&bytes).unwrap_or(Encoding::Utf8);
        let text = from.decode(&bytes).map_err(|e| format!("`{path}`: {e}"))?;
        std::fs::write(path, to.encode(&text)).map_err(|e| io_error(path, &e))?;
        info!("{path}: {} to {}", from.name(), to.name());
    }
    Ok(Done::none())
}
