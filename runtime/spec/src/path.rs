//! Paths as users write them: absolute host paths ([`AbsPath`]), paths inside a bundle
//! ([`BundlePath`]) and file-mapping destinations ([`Destination`]).

use std::fmt;
use std::path::Path;

use crate::appspec::Os;
use crate::error::ValueError;

/// An absolute, normalised Unix path: starts with `/`, no `.` or empty components, no `..`, no
/// NUL, no trailing `/` (except the root itself).
///
/// ```
/// use davit_spec::AbsPath;
///
/// let p = AbsPath::try_from("/etc//hello-web/./conf/").unwrap();
/// assert_eq!(p.as_str(), "/etc/hello-web/conf");
/// assert!(p.starts_with(&AbsPath::try_from("/etc").unwrap()));
/// assert!(!p.starts_with(&AbsPath::try_from("/et").unwrap()));
/// assert!(AbsPath::try_from("/etc/../root").is_err());
/// assert!(AbsPath::try_from("etc").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AbsPath(String);

impl AbsPath {
    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path as a [`Path`].
    pub fn as_path(&self) -> &Path {
        Path::new(&self.0)
    }

    /// The path's components, without the leading root.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// Whether `self` is `base` or lies beneath it (compared by whole components).
    pub fn starts_with(&self, base: &AbsPath) -> bool {
        let mut mine = self.components();
        base.components().all(|c| mine.next() == Some(c))
    }
}

impl TryFrom<&str> for AbsPath {
    type Error = ValueError;

    fn try_from(text: &str) -> Result<Self, ValueError> {
        if text.contains('\0') {
            return Err(ValueError::Nul);
        }
        if !text.starts_with('/') {
            return Err(ValueError::NotAbsolute {
                got: text.to_owned(),
            });
        }
        let parts = components(text, &['/'])?;
        Ok(Self(format!("/{}", parts.join("/"))))
    }
}

impl TryFrom<String> for AbsPath {
    type Error = ValueError;

    fn try_from(text: String) -> Result<Self, ValueError> {
        Self::try_from(text.as_str())
    }
}

impl fmt::Display for AbsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A path inside a bundle, relative to its root, with `/` separators.
///
/// CodeDeploy writes these both ways: `scripts/start.sh`, `/index.html` and, in Windows
/// appspecs, `\before-install.bat`. Leading separators are dropped (the bundle root is the
/// root); in a Windows appspec `\` is a separator too. `..` is refused: nothing may point out of
/// the bundle. The bundle root itself is the empty path, shown as `/`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BundlePath(String);

impl BundlePath {
    /// Parses `text` as written in an appspec for `os`.
    ///
    /// # Errors
    ///
    /// [`ValueError::ParentComponent`] for `..`, [`ValueError::Nul`] for a NUL byte.
    pub fn parse(text: &str, os: Os) -> Result<Self, ValueError> {
        if text.contains('\0') {
            return Err(ValueError::Nul);
        }
        let separators: &[char] = match os {
            Os::Linux => &['/'],
            Os::Windows => &['/', '\\'],
        };
        Ok(Self(components(text, separators)?.join("/")))
    }

    /// The normalised path (empty for the bundle root).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the bundle root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for BundlePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "/" } else { &self.0 })
    }
}

/// Where a `files` mapping puts its source on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// An absolute Unix path (a Linux appspec).
    Unix(AbsPath),
    /// An absolute Windows path such as `C:\inetpub\wwwroot`, kept as written (a Windows
    /// appspec; davit does not run those, but parses them).
    Windows(String),
}

impl Destination {
    /// Parses a destination as written in an appspec for `os`.
    ///
    /// # Errors
    ///
    /// A [`ValueError`] if the path is not absolute for that OS, or contains `..` or NUL.
    pub fn parse(text: &str, os: Os) -> Result<Self, ValueError> {
        match os {
            Os::Linux => AbsPath::try_from(text).map(Self::Unix),
            Os::Windows => {
                let b = text.as_bytes();
                let drive = b.len() >= 3
                    && b[0].is_ascii_alphabetic()
                    && b[1] == b':'
                    && matches!(b[2], b'\\' | b'/');
                let unc = text.starts_with("\\\\");
                if text.contains('\0') {
                    Err(ValueError::Nul)
                } else if !(drive || unc) {
                    Err(ValueError::WindowsPath {
                        got: text.to_owned(),
                    })
                } else {
                    components(&text[2..], &['/', '\\'])?;
                    Ok(Self::Windows(text.to_owned()))
                }
            }
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unix(p) => p.fmt(f),
            Self::Windows(p) => f.write_str(p),
        }
    }
}

/// The non-empty, non-`.` components of `text`; an error on `..`.
fn components<'a>(text: &'a str, separators: &[char]) -> Result<Vec<&'a str>, ValueError> {
    let mut parts = Vec::new();
    for part in text.split(separators) {
        match part {
            "" | "." => {}
            ".." => {
                return Err(ValueError::ParentComponent {
                    got: text.to_owned(),
                });
            }
            _ => parts.push(part),
        }
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abs_paths_normalise() {
        let p = |s: &str| AbsPath::try_from(s).map(|p| p.0);
        assert_eq!(p("/"), Ok("/".into()));
        assert_eq!(p("//"), Ok("/".into()));
        assert_eq!(p("/var/www/html/"), Ok("/var/www/html".into()));
        assert_eq!(p("/a/./b"), Ok("/a/b".into()));
        assert!(matches!(
            p("/a/.."),
            Err(ValueError::ParentComponent { .. })
        ));
        assert!(matches!(p("a/b"), Err(ValueError::NotAbsolute { .. })));
        assert!(matches!(p(""), Err(ValueError::NotAbsolute { .. })));
        assert_eq!(p("/a\0"), Err(ValueError::Nul));
        assert_eq!(p("/a/..b"), Ok("/a/..b".into()));
    }

    #[test]
    fn starts_with_is_by_component() {
        let p = |s: &str| AbsPath::try_from(s).unwrap();
        assert!(p("/opt/app/www").starts_with(&p("/opt/app")));
        assert!(p("/opt/app").starts_with(&p("/opt/app")));
        assert!(p("/opt/app").starts_with(&p("/")));
        assert!(!p("/opt/apple").starts_with(&p("/opt/app")));
        assert!(!p("/opt").starts_with(&p("/opt/app")));
    }

    #[test]
    fn bundle_paths() {
        let b = |s: &str, os| BundlePath::parse(s, os).map(|p| p.to_string());
        assert_eq!(
            b("scripts/start.sh", Os::Linux),
            Ok("scripts/start.sh".into())
        );
        assert_eq!(b("/index.html", Os::Linux), Ok("index.html".into()));
        assert_eq!(b("/", Os::Linux), Ok("/".into()));
        assert_eq!(b("\\before.bat", Os::Windows), Ok("before.bat".into()));
        assert_eq!(b("deploy\\a.ps1", Os::Windows), Ok("deploy/a.ps1".into()));
        assert_eq!(b("odd\\name", Os::Linux), Ok("odd\\name".into()));
        assert!(b("../etc/passwd", Os::Linux).is_err());
        assert!(b("a\\..\\..\\x", Os::Windows).is_err());
    }

    #[test]
    fn destinations() {
        let d = |s: &str, os| Destination::parse(s, os).map(|d| d.to_string());
        assert_eq!(d("/var/www/html/", Os::Linux), Ok("/var/www/html".into()));
        assert_eq!(
            d("C:\\inetpub\\wwwroot", Os::Windows),
            Ok("C:\\inetpub\\wwwroot".into())
        );
        assert_eq!(
            d("\\\\server\\share", Os::Windows),
            Ok("\\\\server\\share".into())
        );
        assert!(d("inetpub", Os::Windows).is_err());
        assert!(d("C:\\a\\..\\b", Os::Windows).is_err());
        assert!(d("var/www", Os::Linux).is_err());
    }
}
