//! [`Target`]: what a component document runs against, and the [`Probe`] that answers an
//! `if`'s questions (`fileExists`, `binaryExists`, digests) inside it, every path resolved
//! through `davit-fsroot` in the target's root, never by joining paths on the host.

use std::io::Read;
use std::path::{Path, PathBuf};

use davit_fsroot::{OpenOptions, Resolve, Root};
use davit_toe::{Algorithm, Probe};

/// Where a document's actions take effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An image's root filesystem: the actions see it as `/`, its absolute links stay in it.
    Root(PathBuf),
    /// This host, `/`: every path an action names is a grant checked against the host policy.
    Host,
}

impl Target {
    /// The directory that is `/` for the actions.
    pub fn root_dir(&self) -> &Path {
        match self {
            Self::Root(dir) => dir,
            Self::Host => Path::new("/"),
        }
    }

    /// Opens the target's root, `/` of its actions.
    ///
    /// # Errors
    ///
    /// When the directory cannot be opened.
    pub fn open(&self) -> std::io::Result<Root> {
        Root::open_ambient(self.root_dir(), Resolve::InRoot)
    }
}

/// The `PATH` `binaryExists` searches, AWSTOE's root's default on Linux.
const SEARCH_PATH: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// Answers conditions inside a target's root.
pub struct TargetProbe {
    root: Root,
}

impl TargetProbe {
    /// The probe of an opened root.
    pub fn new(root: Root) -> Self {
        Self { root }
    }

    /// A guest path (`/etc/os-release`) as a path relative to the root.
    fn rel(path: &str) -> Option<PathBuf> {
        let rel = path.trim_start_matches('/');
        (!path.is_empty()).then(|| PathBuf::from(if rel.is_empty() { "." } else { rel }))
    }

    fn is_executable(&self, path: &str) -> bool {
        use davit_fsroot::MetadataExt;
        Self::rel(path)
            .and_then(|rel| self.root.metadata(&rel).ok())
            .is_some_and(|m| m.is_file() && m.mode() & 0o111 != 0)
    }
}

impl Probe for TargetProbe {
    fn binary_exists(&self, name: &str) -> bool {
        if name.contains('/') {
            return name.starts_with('/') && self.is_executable(name);
        }
        !name.is_empty()
            && SEARCH_PATH
                .iter()
                .any(|dir| self.is_executable(&format!("{dir}/{name}")))
    }

    fn file_exists(&self, path: &str) -> bool {
        Self::rel(path)
            .and_then(|rel| self.root.metadata(&rel).ok())
            .is_some_and(|m| m.is_file())
    }

    fn folder_exists(&self, path: &str) -> bool {
        Self::rel(path)
            .and_then(|rel| self.root.metadata(&rel).ok())
            .is_some_and(|m| m.is_dir())
    }

    fn file_digest(&self, path: &str, algorithm: Algorithm) -> Option<String> {
        let rel = Self::rel(path)?;
        let mut file = self
            .root
            .open_file(&rel, OpenOptions::new().read(true))
            .ok()?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).ok()?;
        Some(hex_digest(&bytes, algorithm))
    }

    fn pattern_matches(&self, pattern: &str, value: &str) -> Result<bool, String> {
        // As the actions guest's Assert: a search anywhere in the value (anchors for a whole
        // match), Perl-like syntax.
        regex_lite::Regex::new(pattern)
            .map(|re| re.is_match(value))
            .map_err(|e| format!("`{pattern}` is not a regular expression: {e}"))
    }
}

/// The lowercase hexadecimal digest of `bytes`.
pub fn hex_digest(bytes: &[u8], algorithm: Algorithm) -> String {
    use sha2::Digest;
    let raw: Vec<u8> = match algorithm {
        Algorithm::Md5 => md5::Md5::digest(bytes).to_vec(),
        Algorithm::Sha1 => sha1::Sha1::digest(bytes).to_vec(),
        Algorithm::Sha256 => sha2::Sha256::digest(bytes).to_vec(),
        Algorithm::Sha512 => sha2::Sha512::digest(bytes).to_vec(),
    };
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(root.join("etc/os-release"), "abc").unwrap();
        std::fs::write(root.join("usr/bin/tool"), "").unwrap();
        std::fs::set_permissions(
            root.join("usr/bin/tool"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        // An absolute link in an image points inside the image, not at the host's /etc.
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        let probe = TargetProbe::new(Target::Root(root.to_path_buf()).open().unwrap());
        assert!(probe.file_exists("/etc/os-release"));
        assert!(probe.file_exists("/link/os-release"));
        assert!(
            !probe.file_exists("/etc/passwd"),
            "the host's /etc is not the image's"
        );
        assert!(probe.folder_exists("/etc") && !probe.folder_exists("/etc/os-release"));
        assert!(probe.binary_exists("tool") && probe.binary_exists("/usr/bin/tool"));
        assert!(!probe.binary_exists("bash"));
        assert_eq!(
            probe
                .file_digest("/etc/os-release", Algorithm::Md5)
                .as_deref(),
            Some("900150983cd24fb0d6963f7d28e17f72")
        );
        assert!(
            probe.file_exists("/../../etc/os-release"),
            "`..` stops at the root"
        );
    }

    #[test]
    fn pattern_matches_searches_the_value_and_refuses_a_bad_pattern() {
        let dir = tempfile::tempdir().unwrap();
        let probe = TargetProbe::new(Target::Root(dir.path().to_path_buf()).open().unwrap());
        assert_eq!(probe.pattern_matches(r"^bookworm$", "bookworm"), Ok(true));
        assert_eq!(probe.pattern_matches(r"\d+\.\d+", "version 12.4"), Ok(true));
        assert_eq!(probe.pattern_matches(r"^12$", "12.4"), Ok(false));
        let err = probe.pattern_matches("(", "x").unwrap_err();
        assert!(err.starts_with("`(` is not a regular expression"), "{err}");
    }
}
