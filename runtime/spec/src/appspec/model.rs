//! The validated parts of an appspec other than hooks: `os`, `files`, `permissions`,
//! `file_exists_behavior`.

use std::fmt;

use super::{AclEntry, SeContext};
use crate::error::{SpecError, ValueError, expected_one_of};
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

impl Os {
    /// The OS davit runs on: Windows, or Linux for every other host.
    pub fn here() -> Self {
        if cfg!(windows) {
            Self::Windows
        } else {
            Self::Linux
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

impl FileExistsBehavior {
    /// The three spellings an appspec's `file_exists_behavior` may have.
    pub const NAMES: [&'static str; 3] = ["DISALLOW", "OVERWRITE", "RETAIN"];

    /// Reads an appspec's `file_exists_behavior`: exactly `DISALLOW`, `OVERWRITE` or `RETAIN`,
    /// in capitals, as the CodeDeploy agent checks it (only the API's `fileExistsBehavior`
    /// override is case-insensitive; see the `TryFrom<&str>` impl).
    ///
    /// # Errors
    ///
    /// [`ValueError::OneOf`] for any other text, `retain` included.
    pub fn from_appspec(text: &str) -> Result<Self, ValueError> {
        match text {
            "DISALLOW" | "OVERWRITE" | "RETAIN" => Self::try_from(text),
            _ => Err(expected_one_of(&Self::NAMES, text)),
        }
    }
}

impl TryFrom<&str> for FileExistsBehavior {
    type Error = ValueError;

    /// Case-insensitive, as the CodeDeploy API treats `fileExistsBehavior` (a deployment's
    /// override, a CLI flag); an appspec uses [`FileExistsBehavior::from_appspec`].
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
/// The CodeDeploy agent's rule (more than four characters or a digit above 7 is refused, so
/// `9999` is), except that davit also refuses an empty mode, which the agent reads as `000`.
/// `mode: 0644` is read as written, the octal digits `0644`, where the agent's YAML 1.1 parser
/// would read the decimal number 420.
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

/// One `permissions` entry (Linux only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permission {
    /// `object`: the path the entry applies to (and, for a directory, beneath it).
    pub object: AbsPath,
    /// `pattern` (default `**`).
    pub pattern: String,
    /// Where `pattern` is written, if it is.
    pub pattern_at: Option<Location>,
    /// `except`.
    pub except: Vec<String>,
    /// Where `except` is written, if it is.
    pub except_at: Option<Location>,
    /// `owner`.
    pub owner: Option<String>,
    /// `group`.
    pub group: Option<String>,
    /// `mode`.
    pub mode: Option<Mode>,
    /// `acls`, in order: entries like `u:bob:rw-`, checked with the CodeDeploy agent's rules.
    pub acls: Vec<AclEntry>,
    /// `context`.
    pub context: Option<SeContext>,
    /// `type` (default both).
    pub types: Vec<ObjectType>,
    /// Where the entry is in the appspec.
    pub at: Location,
}

impl Permission {
    /// The `default` (`d:`) entries of `acls`: directories only.
    pub fn default_acls(&self) -> impl Iterator<Item = &AclEntry> {
        self.acls.iter().filter(|a| a.default)
    }

    /// Whether the entry applies to files (`type` includes `file`, or is not given).
    pub fn applies_to_files(&self) -> bool {
        self.types.is_empty() || self.types.contains(&ObjectType::File)
    }

    /// The CodeDeploy agent's rules for an entry whose `object` is a file the revision installs
    /// (checked when the agent finds that file): with `type` including `file`, no `pattern`
    /// other than `**`, no `except`, and no default ACL entry.
    ///
    /// # Errors
    ///
    /// [`SpecError::PatternOnFile`] (at the `pattern` or `except`) or
    /// [`SpecError::DefaultAclOnFile`] (at the entry).
    pub fn check_file_object(&self) -> Result<(), SpecError> {
        if !self.applies_to_files() {
            return Ok(());
        }
        if self.pattern != "**" {
            return Err(SpecError::PatternOnFile {
                at: self.pattern_at.clone().unwrap_or_else(|| self.at.clone()),
                key: "pattern",
                object: self.object.to_string(),
            });
        }
        if !self.except.is_empty() {
            return Err(SpecError::PatternOnFile {
                at: self.except_at.clone().unwrap_or_else(|| self.at.clone()),
                key: "except",
                object: self.object.to_string(),
            });
        }
        self.check_file_match(&self.object)
    }

    /// The CodeDeploy agent's rule for a file `path` this entry applies to: no default ACL
    /// entry, since a file has no default ACL.
    ///
    /// # Errors
    ///
    /// [`SpecError::DefaultAclOnFile`], at the entry, naming `path`.
    pub fn check_file_match(&self, path: &AbsPath) -> Result<(), SpecError> {
        match self.default_acls().next() {
            Some(entry) if self.applies_to_files() => Err(SpecError::DefaultAclOnFile {
                at: self.at.clone(),
                entry: entry.to_string(),
                file: path.to_string(),
            }),
            _ => Ok(()),
        }
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
        assert_eq!(
            FileExistsBehavior::from_appspec("RETAIN"),
            Ok(FileExistsBehavior::Retain)
        );
        assert!(FileExistsBehavior::from_appspec("retain").is_err());
    }
}
