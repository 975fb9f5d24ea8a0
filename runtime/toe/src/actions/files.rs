//! The inputs of AWSTOE's file system actions, as AWS documents them. Each takes a list of
//! these mappings, one per file or folder. Only `ListFiles` (`files`) and `ReadFile`
//! (`content`) have outputs.
//!
//! `DeleteFile` also reads `force`, which AWSTOE documents for `DeleteFolder` only: the published
//! Image Builder samples pass it to `DeleteFile` and AWSTOE runs them.

use std::fmt;

use crate::fields::inputs;
use crate::template::Template;
use crate::value::{FromText, Mode, Value};

inputs! {
    /// `CreateFile`: a file with `content`, optionally its owner, group and mode (not on
    /// Windows); parent folders are created.
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
        /// The text encoding.
        encoding: Value<Encoding> = "encoding" or Encoding::Utf8,
        /// The owning user, a name or an ID.
        owner: Option<Template> = "owner",
        /// The owning group, a name or an ID (the current user's if absent).
        group: Option<Template> = "group",
        /// The permission bits (`0666` less the umask if absent).
        permissions: Option<Value<Mode>> = "permissions",
        /// Replace an existing file; false fails the step on an existing file.
        overwrite: Value<bool> = "overwrite" or true,
    }
}

inputs! {
    /// `AppendFile`: text added at the end of an existing file.
    pub struct AppendFile {
        /// The file.
        path: Template = "path",
        /// What to append; empty if absent.
        content: Option<Template> = "content",
        /// The text encoding.
        encoding: Value<Encoding> = "encoding" or Encoding::Utf8,
    }
}

inputs! {
    /// `CopyFile`, `CopyFolder`, `MoveFile` and `MoveFolder`: from `source` (a `*` allowed after
    /// the last separator) to `destination` (a folder if it ends with a separator).
    pub struct Transfer {
        /// What to copy or move.
        source: Template = "source",
        /// Where to.
        destination: Template = "destination",
        /// Replace what is at `destination`; false fails the step instead.
        overwrite: Value<bool> = "overwrite" or true,
    }
}

inputs! {
    /// `CreateFolder`: a directory, optionally its owner, group and mode (not on Windows);
    /// parent folders are created.
    pub struct CreateFolder {
        /// The directory.
        path: Template = "path",
        /// The owning user, a name or an ID (the current user if absent).
        owner: Option<Template> = "owner",
        /// The owning group, a name or an ID (the current user's if absent).
        group: Option<Template> = "group",
        /// The permission bits (`0777` less the umask if absent).
        permissions: Option<Value<Mode>> = "permissions",
        /// Replace an existing directory; false fails the step on an existing one.
        overwrite: Value<bool> = "overwrite" or true,
    }
}

inputs! {
    /// `CreateSymlink` (not on Windows): a link at `path` pointing to `target`.
    pub struct CreateSymlink {
        /// The link.
        path: Template = "path",
        /// What it points to; it must exist.
        target: Template = "target",
        /// Replace an existing link; false fails the step on one.
        force: Value<bool> = "force" or false,
    }
}

inputs! {
    /// `DeleteFile` (a `*` allowed in the file name) and `DeleteFolder`: `path` removed.
    pub struct Delete {
        /// What to delete.
        path: Template = "path",
        /// For folders: delete a non-empty one with what is inside.
        force: Value<bool> = "force" or false,
    }
}

inputs! {
    /// `ListFiles`: the files in a folder; output `files`, the paths separated by commas.
    pub struct ListFiles {
        /// The folder.
        path: Template = "path",
        /// A pattern the file names must match; `*` is a wildcard.
        file_name_pattern: Option<Template> = "fileNamePattern",
        /// List the files of subfolders too.
        recursive: Value<bool> = "recursive" or false,
    }
}

inputs! {
    /// `ReadFile`: a text file's content (a symlink's target's); output `content`.
    pub struct ReadFile {
        /// The file.
        path: Template = "path",
        /// The text encoding.
        encoding: Value<Encoding> = "encoding" or Encoding::Utf8,
        /// Also write the content to `console.log`.
        print_file_content: Value<bool> = "printFileContent" or false,
    }
}

inputs! {
    /// `SetFileEncoding`: an existing file re-encoded from UTF-8.
    pub struct SetFileEncoding {
        /// The file.
        path: Template = "path",
        /// The new encoding.
        encoding: Value<Encoding> = "encoding" or Encoding::Utf8,
    }
}

inputs! {
    /// `SetFileOwner` (not on Windows): a file's owner and group (a symlink's target's).
    pub struct SetFileOwner {
        /// The file.
        path: Template = "path",
        /// The user name.
        owner: Template = "owner",
        /// The group name (the user's group if absent).
        group: Option<Template> = "group",
    }
}

inputs! {
    /// `SetFolderOwner` (not on Windows): a folder's owner and group, and those of its contents.
    pub struct SetFolderOwner {
        /// The folder.
        path: Template = "path",
        /// The user name.
        owner: Template = "owner",
        /// The group name (the user's group if absent).
        group: Option<Template> = "group",
        /// Apply to the folder's contents too; false changes the folder only.
        recursive: Value<bool> = "recursive" or true,
    }
}

inputs! {
    /// `SetFilePermissions` (not on Windows): a file's mode.
    ///
    /// ```yaml
    /// - path: '{{ build.Script.outputs.stdout }}'
    ///   permissions: 0700
    /// ```
    pub struct SetFilePermissions {
        /// The file.
        path: Template = "path",
        /// The mode; `0700` unquoted is read as the digits written, not as a YAML number.
        permissions: Value<Mode> = "permissions",
    }
}

inputs! {
    /// `SetFolderPermissions` (not on Windows): a folder's mode, and that of its contents.
    pub struct SetFolderPermissions {
        /// The folder.
        path: Template = "path",
        /// The mode, read as for [`SetFilePermissions`].
        permissions: Value<Mode> = "permissions",
        /// Apply to the folder's contents too; false changes the folder only.
        recursive: Value<bool> = "recursive" or true,
    }
}

/// A text encoding of `CreateFile`, `AppendFile`, `ReadFile` and `SetFileEncoding`: AWSTOE's
/// `utf8`, `utf16` and `utf32` with or without a `-` and a byte order (`utf-16-BE`), in any
/// case; `utf16` and `utf32` alone are little-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// UTF-8, the default.
    Utf8,
    /// UTF-16, little-endian.
    Utf16Le,
    /// UTF-16, big-endian.
    Utf16Be,
    /// UTF-32, little-endian.
    Utf32Le,
    /// UTF-32, big-endian.
    Utf32Be,
}

impl FromText for Encoding {
    fn from_text(text: &str) -> Result<Self, String> {
        let lower = text.trim().to_ascii_lowercase();
        let (width, order) = match lower.strip_prefix("utf") {
            Some(rest) => {
                let rest = rest.strip_prefix('-').unwrap_or(rest);
                match rest.split_once('-') {
                    Some((w, o)) => (w, Some(o)),
                    None => (rest, None),
                }
            }
            None => ("", None),
        };
        Ok(match (width, order) {
            ("8", None) => Self::Utf8,
            ("16", None | Some("le")) => Self::Utf16Le,
            ("16", Some("be")) => Self::Utf16Be,
            ("32", None | Some("le")) => Self::Utf32Le,
            ("32", Some("be")) => Self::Utf32Be,
            _ => {
                return Err(format!(
                    "must be `utf8`, `utf16`, `utf16-LE`, `utf16-BE`, `utf32`, `utf32-LE` or \
                     `utf32-BE` (a `-` after `utf` allowed, any case), not `{text}`"
                ));
            }
        })
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Utf8 => "utf-8",
            Self::Utf16Le => "utf-16-LE",
            Self::Utf16Be => "utf-16-BE",
            Self::Utf32Le => "utf-32-LE",
            Self::Utf32Be => "utf-32-BE",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_are_those_awstoe_lists() {
        for (text, want) in [
            ("utf8", Encoding::Utf8),
            ("UTF-8", Encoding::Utf8),
            ("utf16", Encoding::Utf16Le),
            ("utf-16", Encoding::Utf16Le),
            ("utf16-LE", Encoding::Utf16Le),
            ("UTF-16-be", Encoding::Utf16Be),
            ("UTF-32", Encoding::Utf32Le),
            ("utf32-BE", Encoding::Utf32Be),
            ("utf-32-le", Encoding::Utf32Le),
        ] {
            assert_eq!(Encoding::from_text(text), Ok(want), "{text}");
        }
        for bad in [
            "unicode", "utf7", "utf-8-BE", "utf16le", "latin1", "utf--16", "",
        ] {
            assert!(Encoding::from_text(bad).is_err(), "{bad}");
        }
    }
}
