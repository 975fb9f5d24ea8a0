//! `permissions[].acls`: POSIX ACL entries, parsed once into [`AclEntry`] with the CodeDeploy
//! agent's rules (its `ace_info.rb`), so whoever applies them never reads a string again.

use std::fmt;

use crate::error::ValueError;

/// One ACL entry of a `permissions` entry, as `setfacl` writes it: `[d[efault]:][tag:]name:perms`.
///
/// Which entries an appspec may list is the CodeDeploy agent's rule: an access entry (not
/// `default`) names a user or a group (`u:bob:rw-`, `g:ops:r-x`) or is the mask (`m::rwx`);
/// the owner, owning group and others (`u::`, `g::`, `o::`) come from `mode` and are refused
/// ("use `mode` to set the base ACL entry"). A default entry (`d:`, directories only) may be any
/// of them.
///
/// ```
/// use davit_spec::{AclEntry, AclPerms, AclTag};
///
/// let entry = AclEntry::try_from("d:u:bob:rw").unwrap();
/// assert!(entry.default);
/// assert_eq!(entry.tag, AclTag::User("bob".into()));
/// assert_eq!(entry.perms, AclPerms { read: true, write: true, execute: false });
/// assert_eq!(entry.to_string(), "d:u:bob:rw-");
/// assert_eq!(AclEntry::try_from("group:ops:5").unwrap().to_string(), "g:ops:r-x");
/// assert!(AclEntry::try_from("u::rwx").is_err(), "a base entry is set with `mode`");
/// assert_eq!(AclEntry::try_from("default:user::rwx").unwrap().tag, AclTag::UserObj);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AclEntry {
    /// `d:` or `default:`: an entry of the directory's default ACL, inherited by what is created
    /// in it, rather than of its access ACL. The CodeDeploy agent refuses such an entry on a
    /// file.
    pub default: bool,
    /// Whom the entry is about.
    pub tag: AclTag,
    /// What they may do.
    pub perms: AclPerms,
}

/// Whom an [`AclEntry`] is about.
///
/// `UserObj`, `GroupObj` and `Other` (the owner, the owning group, everyone else) appear only in
/// default entries: in an access ACL those are the file's mode bits, which `mode` sets.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AclTag {
    /// `u:NAME` (or a bare `NAME`): the named user (a name or a numeric id, never empty).
    User(String),
    /// `g:NAME`: the named group (a name or a numeric id, never empty).
    Group(String),
    /// `m::`: the mask, the most any named entry or the owning group gets.
    Mask,
    /// `o::`: everyone else (default entries only).
    Other,
    /// `u::`: the file's owner (default entries only).
    UserObj,
    /// `g::`: the file's owning group (default entries only).
    GroupObj,
}

/// The permissions of an [`AclEntry`]: written `rwx` with `-` for a missing one (any order, as
/// the agent reads them), or as one octal digit (`5` is `r-x`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AclPerms {
    /// `r`.
    pub read: bool,
    /// `w`.
    pub write: bool,
    /// `x`.
    pub execute: bool,
}

impl TryFrom<&str> for AclPerms {
    type Error = ValueError;

    /// `rwx`/`r-x`/`rw` … or one octal digit. Empty is refused (the agent would read it as
    /// `---`; davit asks for `---` written out), and so are more than three characters.
    fn try_from(text: &str) -> Result<Self, ValueError> {
        if let [digit @ b'0'..=b'7'] = text.as_bytes() {
            let bits = digit - b'0';
            return Ok(Self {
                read: bits & 4 != 0,
                write: bits & 2 != 0,
                execute: bits & 1 != 0,
            });
        }
        let mut perms = Self::default();
        for c in text.chars() {
            match c {
                'r' => perms.read = true,
                'w' => perms.write = true,
                'x' => perms.execute = true,
                '-' => {}
                bad => {
                    return Err(ValueError::AclPermChar {
                        got: text.to_owned(),
                        bad,
                    });
                }
            }
        }
        if text.is_empty() || text.chars().count() > 3 {
            return Err(ValueError::AclPerms {
                got: text.to_owned(),
            });
        }
        Ok(perms)
    }
}

impl fmt::Display for AclPerms {
    /// `rw-`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bit = |on: bool, c: char| if on { c } else { '-' };
        write!(
            f,
            "{}{}{}",
            bit(self.read, 'r'),
            bit(self.write, 'w'),
            bit(self.execute, 'x')
        )
    }
}

impl fmt::Display for AclTag {
    /// The tag and qualifier as `setfacl` takes them: `u:bob`, `g:ops`, `m:`, `o:`, `u:`, `g:`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(name) => write!(f, "u:{name}"),
            Self::Group(name) => write!(f, "g:{name}"),
            Self::Mask => f.write_str("m:"),
            Self::Other => f.write_str("o:"),
            Self::UserObj => f.write_str("u:"),
            Self::GroupObj => f.write_str("g:"),
        }
    }
}

impl fmt::Display for AclEntry {
    /// `d:u:bob:rw-`, `g:ops:r-x`, `m::rwx`: short tags, perms as three characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.default {
            f.write_str("d:")?;
        }
        write!(f, "{}:{}", self.tag, self.perms)
    }
}

/// The kind word of an entry, long or short.
fn kind(word: &str) -> Option<char> {
    match word {
        "u" | "user" => Some('u'),
        "g" | "group" => Some('g'),
        "m" | "mask" => Some('m'),
        "o" | "other" => Some('o'),
        _ => None,
    }
}

fn is_default(word: &str) -> bool {
    word == "d" || word == "default"
}

impl TryFrom<&str> for AclEntry {
    type Error = ValueError;

    /// Reads `[d[efault]:][u[ser]|g[roup]|m[ask]|o[ther]:]name:perms` as the CodeDeploy agent
    /// does. Two parts are `name:perms` for a user (`bob:rw`; `m:rw` and `o:rw` are the mask
    /// and others); with three, the first is the kind, or `d` for a default entry of a user
    /// (`d:bob:rw`).
    ///
    /// # Errors
    ///
    /// [`ValueError::AclEntry`] for the wrong number of parts, an unknown kind or `d` twice;
    /// [`ValueError::AclQualifier`] for a name on the mask or others;
    /// [`ValueError::AclBaseEntry`] for an access entry of the
    /// owner, owning group or others (`u::rwx`: set by `mode`); [`ValueError::AclPerms`] for
    /// permissions that are not `rwx-` or one octal digit.
    fn try_from(text: &str) -> Result<Self, ValueError> {
        let shape = || ValueError::AclEntry {
            got: text.to_owned(),
        };
        let parts: Vec<&str> = text.split(':').collect();
        let (default, kind_word, name, perms) = match parts.as_slice() {
            [name, perms] => (false, None, *name, *perms),
            [first, name, perms] if is_default(first) => (true, None, *name, *perms),
            [kind, name, perms] => (false, Some(*kind), *name, *perms),
            [d, kind, name, perms] if is_default(d) && !is_default(kind) => {
                (true, Some(*kind), *name, *perms)
            }
            _ => return Err(shape()),
        };
        let tag = match kind_word.map(|k| kind(k).ok_or_else(shape)).transpose()? {
            // No kind: the name position says mask or others, else a user.
            None => match kind(name) {
                Some('m') => AclTag::Mask,
                Some('o') => AclTag::Other,
                _ if name.is_empty() => AclTag::UserObj,
                _ => AclTag::User(name.to_owned()),
            },
            Some('m' | 'o') if !name.is_empty() => {
                return Err(ValueError::AclQualifier {
                    got: text.to_owned(),
                });
            }
            Some('m') => AclTag::Mask,
            Some('o') => AclTag::Other,
            Some('u') if name.is_empty() => AclTag::UserObj,
            Some('g') if name.is_empty() => AclTag::GroupObj,
            // As the agent does, a `m`/`o` qualifier after a kind is the user or group called
            // `mask`/`other`.
            Some(k) => {
                let name = match kind(name) {
                    Some('m') => "mask",
                    Some('o') => "other",
                    _ => name,
                };
                if k == 'g' {
                    AclTag::Group(name.to_owned())
                } else {
                    AclTag::User(name.to_owned())
                }
            }
        };
        let base = matches!(tag, AclTag::UserObj | AclTag::GroupObj | AclTag::Other);
        if base && !default {
            return Err(ValueError::AclBaseEntry {
                got: text.to_owned(),
            });
        }
        // A permission error names the whole entry.
        let perms = AclPerms::try_from(perms).map_err(|e| match e {
            ValueError::AclPermChar { bad, .. } => ValueError::AclPermChar {
                got: text.to_owned(),
                bad,
            },
            _ => ValueError::AclPerms {
                got: text.to_owned(),
            },
        })?;
        Ok(Self {
            default,
            tag,
            perms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &str) -> Result<String, ValueError> {
        AclEntry::try_from(text).map(|e| e.to_string())
    }

    #[test]
    fn what_the_agent_accepts() {
        for (text, canonical) in [
            ("u:bob:rw", "u:bob:rw-"),
            ("user:bob:rwx", "u:bob:rwx"),
            ("bob:r", "u:bob:r--"),
            ("1001:7", "u:1001:rwx"),
            ("g:ops:r-x", "g:ops:r-x"),
            ("group:ops:5", "g:ops:r-x"),
            ("m::rwx", "m::rwx"),
            ("mask::r", "m::r--"),
            ("m:rw", "m::rw-"),
            ("d:bob:rw", "d:u:bob:rw-"),
            ("d:u::rwx", "d:u::rwx"),
            ("default:user::rwx", "d:u::rwx"),
            ("d:group::r-x", "d:g::r-x"),
            ("d:o::r", "d:o::r--"),
            ("d:other::---", "d:o::---"),
            ("d:m::rx", "d:m::r-x"),
            ("default:group:ops:xr", "d:g:ops:r-x"),
            // The agent reads `u:mask:rw` as the user called `mask`.
            ("u:mask:rw", "u:mask:rw-"),
            ("g:o:r", "g:other:r--"),
        ] {
            assert_eq!(shown(text).as_deref(), Ok(canonical), "{text}");
        }
    }

    #[test]
    fn base_entries_are_set_with_mode() {
        for text in [
            "u::rwx",
            "user::rw-",
            "g::r",
            "group::r-x",
            "o::r",
            "other::r--",
            ":rw",
        ] {
            assert_eq!(
                AclEntry::try_from(text),
                Err(ValueError::AclBaseEntry { got: text.into() }),
                "{text}"
            );
        }
    }

    #[test]
    fn what_the_agent_refuses() {
        for text in [
            "acls-specification",
            "rw",
            "a:b:c:d:rw",
            "d:d:bob:rw",
            "x:u:bob:rw",
            "d:default::rw",
            "z:bob:rw",
            "::rw",
        ] {
            assert_eq!(
                AclEntry::try_from(text),
                Err(ValueError::AclEntry { got: text.into() }),
                "{text}"
            );
        }
        for text in ["m:bob:rw", "o:bob:r", "d:m:bob:r", "mask:x:rw"] {
            let got = text.to_owned();
            assert_eq!(
                AclEntry::try_from(text),
                Err(ValueError::AclQualifier { got })
            );
        }
        for (text, bad) in [("u:bob:rwz", 'z'), ("u:bob:8", '8'), ("u:bob:RW", 'R')] {
            let got = text.to_owned();
            assert_eq!(
                AclEntry::try_from(text),
                Err(ValueError::AclPermChar { got, bad }),
                "{text}"
            );
        }
        // Stricter than the agent, which reads these as `---` and `rwx`.
        for text in ["u:bob:", "u:bob:rwxr"] {
            let got = text.to_owned();
            assert_eq!(AclEntry::try_from(text), Err(ValueError::AclPerms { got }));
        }
    }
}
