//! [`ValueError`]: what is wrong with one value, before anyone knows where it was written.

use super::one_of;

/// What is wrong with one value. The message is a predicate to follow the key's name, as in
/// "`timeout` must be at most 3600 seconds, got 7200".
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// An empty string.
    #[error("must not be empty")]
    Empty,
    /// A NUL byte.
    #[error("must not contain a NUL byte")]
    Nul,
    /// A value outside a fixed set.
    #[error("must be {}, got `{got}`", one_of(expected))]
    OneOf {
        /// The allowed spellings.
        expected: Vec<String>,
        /// The value.
        got: String,
    },
    /// A relative path where an absolute one is needed.
    #[error("must be an absolute path, got `{got}`")]
    NotAbsolute {
        /// The path.
        got: String,
    },
    /// A `..` component.
    #[error("must not contain a `..` component, got `{got}`")]
    ParentComponent {
        /// The path.
        got: String,
    },
    /// Not a Windows absolute path.
    #[error("must be an absolute Windows path like `C:\\app`, got `{got}`")]
    WindowsPath {
        /// The path.
        got: String,
    },
    /// A `builtin:` hook location naming no built-in hook or health check.
    #[error("must name a built-in hook or health check ({known}), got `builtin:{got}`")]
    UnknownBuiltin {
        /// The name after `builtin:`.
        got: String,
        /// The built-in plugins, comma separated.
        known: String,
    },
    /// Not an `ed25519:<64 hex>` public key.
    #[error(
        "must be a public key like `ed25519:<64 lowercase hex>` (from `davit key generate`), got `{got}`"
    )]
    PublicKey {
        /// The value.
        got: String,
    },
    /// Signatures required, but no key trusted.
    #[error("needs at least one key in `trusted_keys`, or nothing could ever be deployed")]
    NoTrustedKeys,
    /// A hook timeout that is not a positive whole number of seconds.
    #[error("must be a whole number of seconds greater than 0, got `{got}`")]
    Timeout {
        /// The value.
        got: String,
    },
    /// A hook timeout above the CodeDeploy maximum.
    #[error("must be at most {max} seconds, got {got}")]
    TimeoutTooLong {
        /// The value in seconds.
        got: u64,
        /// The maximum in seconds.
        max: u64,
    },
    /// Not an octal file mode.
    #[error("must be an octal mode of 1 to 4 digits like `644` or `0755`, got `{got}`")]
    Mode {
        /// The value.
        got: String,
    },
    /// Not a size.
    #[error("must be a size like `64MiB`, `512KiB`, `1M` or a number of bytes, got `{got}`")]
    Size {
        /// The value.
        got: String,
    },
    /// Not a duration.
    #[error("must be a duration like `90s`, `5m`, `1h` or a number of seconds, got `{got}`")]
    Duration {
        /// The value.
        got: String,
    },
    /// Not an IP address or DNS name.
    #[error("must be an IP address or a DNS name, got `{got}`")]
    Host {
        /// The value.
        got: String,
    },
    /// Not `HOST:PORT`.
    #[error("must be `HOST:PORT` (IPv6 as `[::1]:PORT`), got `{got}`")]
    HostPort {
        /// The value.
        got: String,
    },
    /// A port outside 1..=65535.
    #[error("must have a port from 1 to 65535, got `{got}`")]
    Port {
        /// The port as written.
        got: String,
    },
    /// Not a port, port range or `*`.
    #[error("must be a port, a range like `8000-9000`, or `*`, got `{got}`")]
    PortRange {
        /// The value.
        got: String,
    },
    /// Not an IP, CIDR block or DNS name.
    #[error("must be an IP address, a CIDR block like `10.0.0.0/8`, or a DNS name, got `{got}`")]
    HostPattern {
        /// The value.
        got: String,
    },
    /// A URL that is not http(s).
    #[error("must be an `http://` or `https://` URL, got `{got}`")]
    UrlScheme {
        /// The value.
        got: String,
    },
    /// A URL with `user@`.
    #[error("must not contain user info (`user@`), got `{got}`")]
    UrlUserinfo {
        /// The value.
        got: String,
    },
    /// A URL prefix with `#` or `?`.
    #[error("must not contain a query or fragment, got `{got}`")]
    UrlQueryOrFragment {
        /// The value.
        got: String,
    },
    /// A URL path with `.` or `..` segments, also percent-encoded.
    #[error("must not contain `.` or `..` path segments (also encoded, as `%2e`), got `{got}`")]
    UrlDotSegment {
        /// The value.
        got: String,
    },
    /// A URL path with an encoded `/` or `\`, or a double-encoded `.`, `/`, `\` or `%`.
    #[error(
        "must not contain an encoded `/` or `\\` (`%2F`, `%5C`), nor a `.`, `/`, `\\` or `%` encoded twice (`%252E` …), got `{got}`"
    )]
    UrlEncodedSeparator {
        /// The value.
        got: String,
    },
    /// A URL with a backslash, white space or a control character, which WHATWG parsing would
    /// silently turn into something else.
    #[error("must not contain `\\`, white space or control characters, got `{got:?}`")]
    UrlCharacter {
        /// The value.
        got: String,
    },
    /// A URL the WHATWG parser refuses, or with a stray `%`.
    #[error("must be a valid URL ({why}), got `{got}`")]
    UrlSyntax {
        /// The value.
        got: String,
        /// What is wrong.
        why: String,
    },
    /// `**` before the last argument pattern.
    #[error("may use `**` only as the last argument, found it at position {position}")]
    DoubleStarNotLast {
        /// 1-based position of the offending argument.
        position: usize,
    },
    /// `{something}` other than `{target-root}`, `{any}` and `{path:…}`.
    #[error(
        "uses unknown placeholder `{{{name}}}`, the placeholders are `{{target-root}}`, `{{any}}` and `{{path:/dir}}`"
    )]
    UnknownPlaceholder {
        /// The name between the braces.
        name: String,
    },
    /// `{any}` or `{path:…}` inside a longer argument.
    #[error("may use `{{any}}` and `{{path:…}}` only as a whole argument, got `{got}`")]
    PlaceholderNotWhole {
        /// The argument pattern.
        got: String,
    },
    /// `{path:…}` without a clean absolute directory.
    #[error(
        "must name a clean absolute directory in `{{path:…}}`, like `{{path:/var/lib/app}}`, got `{got}`"
    )]
    PathPlaceholder {
        /// The argument pattern.
        got: String,
    },
    /// Not an environment variable name (or glob of names).
    #[error(
        "must be a variable name (letters, digits, `_`; not starting with a digit), got `{got}`"
    )]
    EnvName {
        /// The value.
        got: String,
    },
    /// Not an ACL entry: the wrong number of `:`-separated parts, an unknown kind, or `d` twice.
    #[error("must be an ACL entry like `u:bob:rw` or `d:group::r-x`, got `{got}`")]
    AclEntry {
        /// The value.
        got: String,
    },
    /// A name on the ACL mask or others entry (`m:bob:rw`), which have none.
    #[error("must not name a user or group on the mask (`m::`) or others (`o::`), got `{got}`")]
    AclQualifier {
        /// The entry.
        got: String,
    },
    /// An access ACL entry for the owner, the owning group or others (`u::rwx`), which are the
    /// mode bits: the CodeDeploy agent refuses them ("use mode to set the base acl entry").
    #[error(
        "must not set a base entry (owner `u::`, group `g::` or others `o::`), use `mode` for those, got `{got}`"
    )]
    AclBaseEntry {
        /// The entry.
        got: String,
    },
    /// ACL permissions with a character other than `r`, `w`, `x`, `-`.
    #[error(
        "has an invalid permission character `{bad}` (expected `r`, `w`, `x`, `-` or one octal digit), got `{got}`"
    )]
    AclPermChar {
        /// The entry.
        got: String,
        /// The first character that is not a permission.
        bad: char,
    },
    /// ACL permissions that are empty or longer than three characters.
    #[error("must end in up to three of `r`, `w`, `x`, `-` or one octal digit, got `{got}`")]
    AclPerms {
        /// The entry.
        got: String,
    },
    /// Not an SELinux MLS range as the CodeDeploy agent reads it.
    #[error("must be an SELinux range like `s0`, `s0-s2` or `s0:c0.c5,c9` ({why}), got `{got}`")]
    SeRange {
        /// The value.
        got: String,
        /// What is wrong.
        why: String,
    },
    /// A string where the CodeDeploy agent reads a number (`version: "0.0"`).
    #[error("must be the number {expected}, unquoted, got the string `{got}`")]
    Quoted {
        /// The number expected, as it should be written.
        expected: &'static str,
        /// The value.
        got: String,
    },
}

/// Shorthand for [`ValueError::OneOf`].
pub(crate) fn expected_one_of(expected: &[&str], got: &str) -> ValueError {
    ValueError::OneOf {
        expected: expected.iter().map(|s| (*s).to_owned()).collect(),
        got: got.to_owned(),
    }
}
