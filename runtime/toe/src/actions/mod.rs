//! Every action module AWSTOE knows, with its inputs typed as AWS documents them and the
//! outputs it produces: [`Action`], [`Action::outputs`]. `runtime/toe/ACTIONS.md` is the table
//! of what was checked against which page.
//!
//! Windows-only modules (`ExecutePowerShell`, `InstallMSI`, `UninstallMSI`, `SetRegistry`)
//! parse and validate like the others; [`Action::platform`] marks them [`Platform::Windows`],
//! which a Linux runner reports as "not runnable on Linux" rather than as an invalid document.

mod exec;
mod files;
mod windows;

pub use exec::*;
pub use files::*;
pub use windows::*;

use davit_spec::Location;

use crate::condition::{self, Condition};
use crate::error::ToeError;
use crate::fields::{FromNode, Visit, Visitor};
use crate::node::{Kind, Node};
use crate::source::Source;

/// Where an action module runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    /// Linux (and Windows, and macOS): davit can run it.
    Any,
    /// Windows only: valid in a document, not runnable on Linux.
    Windows,
}

macro_rules! actions {
    ($($variant:ident($ty:ty) = $name:literal, $platform:ident, $optional:expr, [$($out:literal),*];)*) => {
        /// A step's `action` with its `inputs`, typed.
        ///
        /// ```
        /// let doc = davit_toe::Document::parse("c.yml", r#"
        /// schemaVersion: 1.0
        /// phases:
        ///   - name: build
        ///     steps:
        ///       - name: Fetch
        ///         action: WebDownload
        ///         inputs:
        ///           - source: https://example.com/a
        ///             destination: /tmp/a
        /// "#)?;
        /// let davit_toe::Action::WebDownload(items) = &doc.phases[0].steps[0].action else {
        ///     unreachable!()
        /// };
        /// assert_eq!(items[0].destination.to_string(), "/tmp/a");
        /// # Ok::<(), davit_toe::ToeError>(())
        /// ```
        #[derive(Clone, Debug, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub enum Action { $($variant($ty),)* }

        /// Every action name AWSTOE knows.
        pub const ACTIONS: &[&str] = &[$($name,)*];

        impl Action {
            /// The module's name, as written in documents.
            pub fn name(&self) -> &'static str {
                match self { $(Self::$variant(_) => $name,)* }
            }

            /// Where the module runs.
            pub fn platform(&self) -> Platform {
                match self { $(Self::$variant(_) => Platform::$platform,)* }
            }

            /// The outputs the module produces, the `var`s of `{{ phase.step.outputs.var }}`
            /// (none for most file system and system modules).
            ///
            /// ```
            /// use davit_toe::Action;
            ///
            /// assert_eq!(Action::outputs_of("ReadFile"), Some(&["content"][..]));
            /// assert_eq!(Action::outputs_of("CopyFile"), Some(&[][..]));
            /// assert_eq!(Action::outputs_of("Frobnicate"), None);
            /// ```
            pub fn outputs(&self) -> &'static [&'static str] {
                match self { $(Self::$variant(_) => &[$($out),*],)* }
            }

            /// [`Action::outputs`] of the module named `name`, if AWSTOE has one.
            pub fn outputs_of(name: &str) -> Option<&'static [&'static str]> {
                match name { $($name => Some(&[$($out),*]),)* _ => None }
            }

            fn read(name: &str, inputs: &Node, src: Source<'_>) -> Option<Result<Self, ToeError>> {
                Some(match name {
                    $($name => <$ty as FromNode>::from_node(inputs, src, "inputs").map(Self::$variant),)*
                    _ => return None,
                })
            }

            fn inputs_optional(name: &str) -> bool {
                match name { $($name => $optional,)* _ => false }
            }
        }

        impl Visit for Action {
            fn visit(&mut self, visitor: &mut dyn Visitor) {
                match self { $(Self::$variant(inputs) => inputs.visit(visitor),)* }
            }
        }
    };
}

actions! {
    Assert(Condition) = "Assert", Any, false, [];
    ExecuteBash(ExecuteBash) = "ExecuteBash", Any, false, ["stdout"];
    ExecuteBinary(ExecuteBinary) = "ExecuteBinary", Any, false, ["stdout"];
    ExecuteDocument(ExecuteDocument) = "ExecuteDocument", Any, false, [
        "executedStepCount", "executionId", "failedStepCount", "failureMessage",
        "ignoredFailedStepCount", "logUrl", "status"
    ];
    S3Download(Vec<S3Download>) = "S3Download", Any, false, [];
    S3Upload(Vec<S3Upload>) = "S3Upload", Any, false, [];
    WebDownload(Vec<WebDownload>) = "WebDownload", Any, false, ["destination"];
    AppendFile(Vec<AppendFile>) = "AppendFile", Any, false, [];
    CopyFile(Vec<Transfer>) = "CopyFile", Any, false, [];
    CopyFolder(Vec<Transfer>) = "CopyFolder", Any, false, [];
    CreateFile(Vec<CreateFile>) = "CreateFile", Any, false, [];
    CreateFolder(Vec<CreateFolder>) = "CreateFolder", Any, false, [];
    CreateSymlink(Vec<CreateSymlink>) = "CreateSymlink", Any, false, [];
    DeleteFile(Vec<Delete>) = "DeleteFile", Any, false, [];
    DeleteFolder(Vec<Delete>) = "DeleteFolder", Any, false, [];
    ListFiles(Vec<ListFiles>) = "ListFiles", Any, false, ["files"];
    MoveFile(Vec<Transfer>) = "MoveFile", Any, false, [];
    MoveFolder(Vec<Transfer>) = "MoveFolder", Any, false, [];
    ReadFile(Vec<ReadFile>) = "ReadFile", Any, false, ["content"];
    SetFileEncoding(Vec<SetFileEncoding>) = "SetFileEncoding", Any, false, [];
    SetFileOwner(Vec<SetFileOwner>) = "SetFileOwner", Any, false, [];
    SetFolderOwner(Vec<SetFolderOwner>) = "SetFolderOwner", Any, false, [];
    SetFilePermissions(Vec<SetFilePermissions>) = "SetFilePermissions", Any, false, [];
    SetFolderPermissions(Vec<SetFolderPermissions>) = "SetFolderPermissions", Any, false, [];
    Reboot(Reboot) = "Reboot", Any, true, [];
    UpdateOs(UpdateOs) = "UpdateOS", Any, true, [];
    ExecutePowerShell(ExecutePowerShell) = "ExecutePowerShell", Windows, false, ["stdout"];
    InstallMsi(Msi) = "InstallMSI", Windows, false, ["logFile", "msiExitCode", "stdout"];
    UninstallMsi(Msi) = "UninstallMSI", Windows, false, ["logFile", "msiExitCode", "stdout"];
    SetRegistry(Vec<RegistryEntry>) = "SetRegistry", Windows, false, [];
}

impl Action {
    /// How many entries a list-shaped `inputs` has (`None` for the actions that take one
    /// mapping), for `{{ phase.step.inputs[i].var }}`.
    pub fn input_count(&self) -> Option<usize> {
        Some(match self {
            Self::S3Download(v) => v.len(),
            Self::S3Upload(v) => v.len(),
            Self::WebDownload(v) => v.len(),
            Self::AppendFile(v) => v.len(),
            Self::CopyFile(v) | Self::CopyFolder(v) | Self::MoveFile(v) | Self::MoveFolder(v) => {
                v.len()
            }
            Self::CreateFile(v) => v.len(),
            Self::CreateFolder(v) => v.len(),
            Self::CreateSymlink(v) => v.len(),
            Self::DeleteFile(v) | Self::DeleteFolder(v) => v.len(),
            Self::ListFiles(v) => v.len(),
            Self::ReadFile(v) => v.len(),
            Self::SetFileEncoding(v) => v.len(),
            Self::SetFileOwner(v) => v.len(),
            Self::SetFolderOwner(v) => v.len(),
            Self::SetFilePermissions(v) => v.len(),
            Self::SetFolderPermissions(v) => v.len(),
            Self::SetRegistry(v) => v.len(),
            _ => return None,
        })
    }
}

impl FromNode for Condition {
    fn from_node(node: &Node, src: Source<'_>, _: &'static str) -> Result<Self, ToeError> {
        condition::parse(node, src, 0, &[])
    }
}

/// Reads `action: name` with its `inputs` (absent: `None`); `step_at` is where the step is.
pub(crate) fn parse(
    name: &str,
    name_at: &Location,
    inputs: Option<&Node>,
    step_at: &Location,
    src: Source<'_>,
) -> Result<Action, ToeError> {
    if !ACTIONS.contains(&name) {
        return Err(ToeError::UnknownAction {
            at: name_at.clone(),
            action: name.to_owned(),
            suggestion: closest(name),
        });
    }
    let optional = Action::inputs_optional(name);
    let empty;
    let inputs = match inputs {
        Some(node) if !matches!(node.kind, Kind::Null) => node,
        _ if optional => {
            empty = Node {
                kind: Kind::Map(Vec::new()),
                loc: inputs.map_or(serde_saphyr::Location::UNKNOWN, |n| n.loc),
            };
            &empty
        }
        _ => {
            return Err(ToeError::MissingKey {
                at: step_at.clone(),
                key: "inputs".to_owned(),
            });
        }
    };
    let action = Action::read(name, inputs, src).unwrap_or_else(|| unreachable_action(name_at))?;
    check(
        &action,
        if inputs.loc == serde_saphyr::Location::UNKNOWN {
            step_at.clone()
        } else {
            src.yaml(&inputs.loc)
        },
    )?;
    Ok(action)
}

fn unreachable_action(at: &Location) -> Result<Action, ToeError> {
    Err(ToeError::invalid(at, "action", "is not known"))
}

/// Rules between inputs that their types cannot say.
fn check(action: &Action, at: Location) -> Result<(), ToeError> {
    match action {
        Action::WebDownload(items) => {
            for item in items {
                let at = item.source.location();
                match (&item.checksum, &item.algorithm) {
                    (Some(_), None) => {
                        return Err(ToeError::MissingKey {
                            at: at.clone(),
                            key: "algorithm".into(),
                        });
                    }
                    (None, Some(_)) => {
                        return Err(ToeError::MissingKey {
                            at: at.clone(),
                            key: "checksum".into(),
                        });
                    }
                    (Some(sum), Some(alg)) => {
                        if let (Some(sum), Some(alg)) = (sum.as_literal(), alg.literal())
                            && (sum.len() != alg.hex_len()
                                || !sum.bytes().all(|b| b.is_ascii_hexdigit()))
                        {
                            return Err(ToeError::invalid(
                                sum_at(item),
                                "checksum",
                                format!("must be {} hexadecimal digits for `{alg}`", alg.hex_len()),
                            ));
                        }
                    }
                    (None, None) => {}
                }
            }
        }
        Action::ExecutePowerShell(ps) if ps.commands.is_some() == ps.file.is_some() => {
            return Err(ToeError::invalid(
                &at,
                "inputs",
                "must have exactly one of `commands` or `file`",
            ));
        }
        _ => {}
    }
    Ok(())
}

fn sum_at(item: &WebDownload) -> &Location {
    item.checksum
        .as_ref()
        .map_or(item.source.location(), |c| c.location())
}

/// The known action nearest to a misspelt one, when it is near enough to be meant.
fn closest(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    ACTIONS
        .iter()
        .map(|a| (distance(&lower, &a.to_ascii_lowercase()), *a))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, a)| a)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspelt_actions_get_a_suggestion() {
        assert_eq!(closest("ExecuteBsh"), Some("ExecuteBash"));
        assert_eq!(closest("executebash"), Some("ExecuteBash"));
        assert_eq!(closest("Frobnicate"), None);
    }
}
