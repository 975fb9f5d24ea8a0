//! Built-in plugin `toe-actions` (world `action`): every Linux action module of AWSTOE
//! (CreateFile, ExecuteBash, WebDownload, …) in one component.
//!
//! The host calls [`execute`](Actions::execute) once per step and iteration with the module's
//! name and the step's inputs as JSON, references already resolved (a list of mappings for the
//! file modules, a mapping for ExecuteBash and the like; `runtime/toe/ACTIONS.md` is the
//! contract). Paths are the target's own: an image's root filesystem is mounted at `/`, a live
//! host's granted directories at their own paths, so `std::fs` on the path as written reaches the
//! right file and the sandbox keeps it inside what was granted. Owners, modes and symbolic links
//! go through the host's `files` interface, programs through `command`.

mod assert;
mod checksum;
mod encoding;
mod exec;
mod files;
mod http;
mod input;
mod s3;
mod update;
mod web;

use davit_sdk::prelude::*;
use davit_sdk::{Action, ActionNext, ActionResult};
use serde_json::{Map, Value};

/// What an action module did: its outputs and what the host does next.
pub struct Done {
    pub outputs: Map<String, Value>,
    pub next: ActionNext,
}

impl Done {
    /// No outputs; go on with the next step.
    pub fn none() -> Done {
        Done {
            outputs: Map::new(),
            next: ActionNext::Proceed,
        }
    }

    /// One output named `key`.
    pub fn output(key: &str, value: impl Into<String>) -> Done {
        let mut done = Done::none();
        done.outputs.insert(key.into(), Value::String(value.into()));
        done
    }
}

/// Runs one action module; its error is prefixed with the module's name by [`Actions`].
fn run(ctx: &Context, action: &str, inputs: &Value) -> Result<Done, String> {
    use files::{copy, create, delete, owner, read};
    match action {
        "Assert" => assert::run(inputs),
        "CreateFile" => create::create_file(inputs),
        "AppendFile" => create::append_file(inputs),
        "CreateFolder" => create::create_folder(inputs),
        "CreateSymlink" => create::create_symlink(inputs),
        "CopyFile" => copy::run(inputs, copy::Kind::File, copy::Mode::Copy),
        "CopyFolder" => copy::run(inputs, copy::Kind::Folder, copy::Mode::Copy),
        "MoveFile" => copy::run(inputs, copy::Kind::File, copy::Mode::Move),
        "MoveFolder" => copy::run(inputs, copy::Kind::Folder, copy::Mode::Move),
        "DeleteFile" => delete::delete_file(inputs),
        "DeleteFolder" => delete::delete_folder(inputs),
        "ListFiles" => read::list_files(inputs),
        "ReadFile" => read::read_file(inputs),
        "SetFileEncoding" => read::set_file_encoding(inputs),
        "SetFileOwner" => owner::set_file_owner(inputs),
        "SetFolderOwner" => owner::set_folder_owner(inputs),
        "SetFilePermissions" => owner::set_file_permissions(inputs),
        "SetFolderPermissions" => owner::set_folder_permissions(inputs),
        "WebDownload" => web::run(inputs),
        "ExecuteBash" => exec::execute_bash(ctx, inputs),
        "ExecuteBinary" => exec::execute_binary(inputs),
        "Reboot" => exec::reboot(inputs),
        "UpdateOS" => update::run(inputs),
        "S3Download" => s3::download(inputs),
        "S3Upload" => s3::upload(inputs),
        "ExecuteDocument" => Err("is run by the document runner, not by an action plugin".into()),
        "ExecutePowerShell" | "InstallMSI" | "UninstallMSI" | "SetRegistry" => {
            Err("is a Windows action module; `toe-actions` runs the Linux ones".into())
        }
        _ => Err("is not an AWSTOE action module `toe-actions` knows".into()),
    }
}

struct Actions;

impl Action for Actions {
    fn execute(ctx: Context, action: &str, inputs: &str) -> Result<ActionResult, String> {
        let value: Value = if inputs.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(inputs)
                .map_err(|e| format!("{action}: inputs are not JSON: {e}"))?
        };
        debug!("{}: {action}", ctx.step());
        let done = run(&ctx, action, &value).map_err(|e| format!("{action}: {e}"))?;
        Ok(ActionResult {
            outputs: Value::Object(done.outputs).to_string(),
            next: done.next,
        })
    }
}

davit_sdk::export_action!(Actions);
