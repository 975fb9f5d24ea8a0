//! The validated parts of an appspec other than hooks: `os`, `files`, `permissions`,
//! `file_exists_behavior`.

use std::fmt;

use crate::error::{ValueError, expected_one_of};
use crate::location::Location;
use crate::path::{AbsPath, BundlePath, Destination};

/// The `os` an appspec targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Os {
    /// `linux`.
    Linux,
    /// `windows`.
    Windows,
}

impl TryFrom<&str> for Os {
    type Error = ValueError;

    fn try_from(text: &str) -> Result<Self, ValueError> {
        match text {
            "linux" => Ok(Self::Linux),
            "windows" => Ok(Self::Windows),
            _ => Err(expected_one_of(&["linux", "windows"], text)),
        }
    }
}

impl fmt::Display for Os {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Linux => "linux",
            Self::Windows => "windows",
        })
    }
}

/// What to do with a file that is already at a destination and not from the last deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileExistsBehavior {
    /// Fail the deployment (CodeDeploy's default).
    Disallow,
    /// Replace the file.
    Overwrite,
    /// Keep the existing file.
    Retain,
}

impl TryFrom<&str> for FileExistsBehavior {
    type Error = ValueError;

    /// Case-insensitive, as the CodeDeploy API treats `fileExistsBehavior`.
    fn try_from(text: &str) -> Result<Self, ValueError> {
        match text.to_ascii_uppercase().as_str() {
            "DISALLOW" => Ok(Self::Disallow),
            "OVERWRITE" => Ok(Self::Overwrite),
            "RETAIN" => Ok(Self::Retain),
            _ => Err(expected_one_of(&["DISALLOW", "OVERWRITE", "RETAIN"], text)),
        }
    }
}

impl fmt::Display for FileExistsBehavior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Disallow => "DISALLOW",
            Self::Overwrite => "OVERWRITE",
            Self::Retain => "RETAIN",
        })
    }
}

/// One `files` entry: copy `source` (a file or directory of the bundle) to `destination`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMapping {
    /// The bundle path (the root for `/`).
    pub source: BundlePath,
    /// Where it goes on the host.
    pub destination: Destination,
    /// Where the entry is in the appspec.
    pub at: Location,
}

/// A Unix file mode, `0` to `0o7777`, written as 1 to 4 octal digits (`644`, `"0755"`).
///
/// ```
/// use davit_spec::Mode;
///
/// assert_eq!(Mode::try_from("0755").unwrap().bits(), 0o755);
/// assert_eq!(Mode::try_from("644").unwrap().to_string(), "0644");
/// assert!(Mode::try_from("0888").is_err());
/// assert!(Mode::try_from("07777").is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mode(u32);

impl Mode {
    /// The mode bits.
    pub fn bits(self) -> u32 {
        self.0
    }
}

impl TryFrom<&str> for Mode {
    type Error = ValueError;

    fn try_from(text: &str) -> Result<Self, ValueError> {
        let octal =
            (1..=4).contains(&text.len()) && text.bytes().all(|b| (b'0'..=b'7').contains(&b));
        match u32::from_str_radix(text, 8) {
            Ok(bits) if octal && bits <= 0o7777 => Ok(Self(bits)),
            _ => Err(ValueError::Mode {
                got: text.to_owned(),
            }),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

/// Which kinds of objects a permission applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectType {
    /// `file`.
    File,
    /// `directory`.
    Directory,
}

impl TryFrom<&str> for ObjectType {
    type Error = ValueError;

    fn try_from(text: &str) -> Result<Self, ValueError> {
        match text {
            "file" => Ok(Self::File),
            "directory" => Ok(Self::Directory),
            _ => Err(expected_one_of(&["file", "directory"], text)),
        }
    }
}

/// An SELinux context to set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeContext {
    /// `user` (CodeDeploy's agent reads `name`; both are accepted).
    pub user: Option<String>,
    /// `role` (tolerated; the CodeDeploy agent ignores it).
    pub role: Option<String>,
    /// `type` (required, as in CodeDeploy).
    pub kind: String,
    /// `range`, as `s0`, `s0-s1:c0.c3`; a `{low, high}` mapping is turned into `low-high`.
    pub range: Option<String>,
}

/// One `permissions` entry (Linux only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permission {
    /// `object`: the path the entry applies to (and, for a directory, beneath it).
    pub object: AbsPath,
    /// `pattern` (default `**`).
    pub pattern: String,
    /// `except`.
    pub except: Vec<String>,
    /// `owner`.
    pub owner: Option<String>,
    /// `group`.
    pub group: Option<String>,
    /// `mode`.
    pub mode: Option<Mode>,
    /// `acls`: entries like `u:bob:rw`.
    pub acls: Vec<String>,
    /// `context`.
    pub context: Option<SeContext>,
    /// `type` (default both).
    pub types: Vec<ObjectType>,
    /// Where the entry is in the appspec.
    pub at: Location,
}

/// Checks an ACL entry's shape the way the CodeDeploy agent does: `[d[efault]:][type:]name:perms`,
/// two to four `:`-separated parts, perms from `rwx-`.
pub(crate) fn check_acl(entry: &str) -> Result<(), ValueError> {
    let parts: Vec<&str> = entry.split(':').collect();
    let perms = parts.last().copied().unwrap_or_default();
    let perms_ok =
        !perms.is_empty() && perms.len() <= 3 && perms.chars().all(|c| "rwx-".contains(c));
    if (2..=4).contains(&parts.len()) && perms_ok {
        Ok(())
    } else {
        Err(ValueError::AclEntry {
            got: entry.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(Mode::try_from("7").unwrap().bits(), 7);
        assert_eq!(Mode::try_from("4755").unwrap().bits(), 0o4755);
        for bad in ["", "12345", "9", "-1", "0x1", "mode-specification"] {
            assert!(Mode::try_from(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_exists_behavior_is_case_insensitive() {
        assert_eq!(
            FileExistsBehavior::try_from("retain"),
            Ok(FileExistsBehavior::Retain)
        );
        assert_eq!(
            FileExistsBehavior::try_from("Overwrite"),
            Ok(FileExistsBehavior::Overwrite)
        );
        assert!(FileExistsBehavior::try_from("KEEP").is_err());
    }

    #[test]
    fn acls() {
        for ok in [
            "u:bob:rw",
            "user::rwx",
            "d:group::r-x",
            "default:user:bob:rw",
            "o::r",
        ] {
            assert!(check_acl(ok).is_ok(), "{ok}");
        }
        for bad in ["acls-specification", "u:bob:rwz", "a:b:c:d:rw", "u:bob:"] {
            assert!(check_acl(bad).is_err(), "{bad}");
        }
    }
}
