//! Attacks on the `files` host interface (world `action`): the action's inputs are one
//! operation, `set-owner PATH OWNER GROUP RECURSIVE`, `set-mode PATH OCTAL RECURSIVE` or
//! `symlink TARGET PATH` (`-` for none); it returns `{"result":"ok"}` or the host's error.
//! The host tests plant links and check on the host what was changed.

use davit_sdk::files::{self, FilesError};
use davit_sdk::{Action, ActionNext, ActionResult, Context};

struct Probe;
impl Action for Probe {
    fn execute(_ctx: Context, _action: &str, inputs: &str) -> Result<ActionResult, String> {
        let words: Vec<&str> = inputs.split_whitespace().collect();
        let opt = |w: &str| (w != "-").then(|| w.to_owned());
        let result = match words.as_slice() {
            ["set-owner", path, owner, group, recursive] => files::set_owner(
                path,
                opt(owner).as_deref(),
                opt(group).as_deref(),
                *recursive == "true",
            ),
            ["set-mode", path, mode, recursive] => {
                let mode = u32::from_str_radix(mode, 8).map_err(|e| e.to_string())?;
                files::set_mode(path, mode, *recursive == "true")
            }
            ["symlink", target, path] => files::symlink(target, path),
            _ => return Err(format!("unknown operation `{inputs}`")),
        };
        let shown = match result {
            Ok(()) => "ok".to_owned(),
            Err(FilesError::Denied(why)) => format!("denied: {why}"),
            Err(FilesError::NotFound(what)) => format!("not-found: {what}"),
            Err(FilesError::Failed(why)) => format!("failed: {why}"),
        };
        Ok(ActionResult {
            outputs: format!("{{\"result\":{shown:?}}}"),
            next: ActionNext::Proceed,
        })
    }
}

davit_sdk::export_action!(Probe);
