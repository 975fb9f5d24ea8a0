//! The inputs of AWSTOE's file system actions. Each takes a list of these mappings, one per
//! file or folder, except `ReadFile`, which takes one.
//!
//! `DeleteFile` also reads `force`, which AWSTOE documents for `DeleteFolder` only: the published
//! Image Builder samples pass it to `DeleteFile` and AWSTOE runs them.

use crate::fields::inputs;
use crate::template::Template;
use crate::value::{Mode, Value};

inputs! {
    /// `CreateFile`: a file with `content`, optionally its owner, group and mode.
    ///
    /// ```yaml
    /// - path: /etc/motd
    ///   content: 'hello from {{ Team }}'
    ///   permissions: '0644'
    /// ```
    pub struct CreateFile {
        /// The file to create.
        path: Template = "path",
        /// What to write; empty if absent.
        content: Option<Template> = "content",
        /// The text encoding (`utf8` if absent).
        encoding: Option<Template> = "encoding",
        /// The owning user.
        owner: Option<Template> = "owner",
        /// The owning group.
        group: Option<Template> = "group",
        /// The permission bits.
        permissions: Option<Value<Mode>> = "permissions",
        /// Replace an existing file (default false: an existing file fails the step).
        overwrite: Option<Value<bool>> = "overwrite",
    }
}

inputs! {
    /// `AppendFile`: text added at the end of a file.
    pub struct AppendFile {
        /// The file.
        path: Template = "path",
        /// What to append.
        content: Template = "content",
        /// The text encoding.
        encoding: Option<Template> = "encoding",
    }
}

inputs! {
    /// `CopyFile`, `CopyFolder`, `MoveFile` and `MoveFolder`: from `source` to `destination`.
    pub struct Transfer {
        /// What to copy or move.
        source: Template = "source",
        /// Where to.
        destination: Template = "destination",
        /// Replace what is at `destination` (default false).
        overwrite: Option<Value<bool>> = "overwrite",
    }
}

inputs! {
    /// `CreateFolder`: a directory, optionally its owner, group and mode.
    pub struct CreateFolder {
        /// The directory.
        path: Template = "path",
        /// The owning user.
        owner: Option<Template> = "owner",
        /// The owning group.
        group: Option<Template> = "group",
        /// The permission bits.
        permissions: Option<Value<Mode>> = "permissions",
        /// Accept an existing directory (default false).
        overwrite: Option<Value<bool>> = "overwrite",
    }
}

inputs! {
    /// `CreateSymlink`: a link at `path` pointing to `target`.
    pub struct CreateSymlink {
        /// The link.
        path: Template = "path",
        /// What it points to.
        target: Template = "target",
        /// Replace an existing link (default false).
        overwrite: Option<Value<bool>> = "overwrite",
    }
}

inputs! {
    /// `DeleteFile` and `DeleteFolder`: `path` removed; `force` deletes a non-empty folder.
    pub struct Delete {
        /// What to delete.
        path: Template = "path",
        /// For folders: delete what is inside too (default false).
        force: Option<Value<bool>> = "force",
    }
}

inputs! {
    /// `ListFiles`: the files under a folder; output `files`.
    pub struct ListFiles {
        /// The folder.
        path: Template = "path",
        /// A glob the file names must match.
        file_filter: Option<Template> = "fileFilter",
        /// Descend into subfolders (default false).
        recurse: Option<Value<bool>> = "recurse",
    }
}

inputs! {
    /// `ReadFile`: one file's text; output `content`.
    pub struct ReadFile {
        /// The file.
        path: Template = "path",
        /// The text encoding.
        encoding: Option<Template> = "encoding",
    }
}

inputs! {
    /// `SetFileEncoding`: a file re-encoded.
    pub struct SetFileEncoding {
        /// The file.
        path: Template = "path",
        /// The new encoding.
        encoding: Template = "encoding",
    }
}

inputs! {
    /// `SetFileOwner` and `SetFolderOwner` (which also reads `recurse`).
    pub struct SetOwner {
        /// The file or folder.
        path: Template = "path",
        /// The user.
        owner: Template = "owner",
        /// The group.
        group: Option<Template> = "group",
        /// Folders only: apply beneath too (default false).
        recurse: Option<Value<bool>> = "recurse",
    }
}

inputs! {
    /// `SetFilePermissions` and `SetFolderPermissions` (which also reads `recurse`).
    ///
    /// ```yaml
    /// - path: '{{ build.Script.outputs.stdout }}'
    ///   permissions: 0700
    /// ```
    pub struct SetPermissions {
        /// The file or folder.
        path: Template = "path",
        /// The mode; `0700` unquoted is read as the digits written, not as a YAML number.
        permissions: Value<Mode> = "permissions",
        /// Folders only: apply beneath too (default false).
        recurse: Option<Value<bool>> = "recurse",
    }
}
