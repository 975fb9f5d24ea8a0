//! The inputs of AWSTOE's execution, transfer and system actions, as AWS documents them
//! (`runtime/toe/ACTIONS.md` lists each module's keys, outputs and source).

use std::fmt;

use crate::fields::inputs;
use crate::template::Template;
use crate::value::{FromText, Value};

inputs! {
    /// `ExecuteBash`: the commands, written to one script run by bash; output `stdout`. Exit
    /// code 194 asks for a reboot, then the step runs again.
    ///
    /// ```yaml
    /// inputs:
    ///   commands:
    ///     - echo "hello {{ Who }}"
    /// ```
    pub struct ExecuteBash {
        /// The script's lines.
        commands: Vec<Template> = "commands",
    }
}

inputs! {
    /// `ExecuteBinary`: one program and its arguments; output `stdout`.
    pub struct ExecuteBinary {
        /// The program, a path or a name looked up in `PATH`.
        path: Template = "path",
        /// Its arguments, each passed as one argument.
        arguments: Option<Vec<Template>> = "arguments",
    }
}

inputs! {
    /// One `parameters` entry of `ExecuteDocument`.
    pub struct DocumentParameter {
        /// The parameter of the called document.
        name: Template = "name",
        /// Its value.
        value: Template = "value",
    }
}

inputs! {
    /// `ExecuteDocument`: another component document run as part of this step (its step runs
    /// once, without timeout: `timeoutSeconds` -1 and `maxAttempts` 1 are the only values
    /// AWSTOE accepts). Outputs a summary: `executedStepCount`, `executionId`,
    /// `failedStepCount`, `failureMessage`, `ignoredFailedStepCount`, `logUrl`, `status`.
    pub struct ExecuteDocument {
        /// The document: a local path, an S3 URL or a component ARN.
        document: Template = "document",
        /// The account that must own the bucket of an S3 `document`.
        document_s3_bucket_owner: Option<Template> = "document-s3-bucket-owner",
        /// The phases to run, comma-separated (all if absent).
        phases: Option<Template> = "phases",
        /// Parameters for the called document.
        parameters: Option<Vec<DocumentParameter>> = "parameters",
    }
}

inputs! {
    /// `S3Download`: an object, or every object under a `prefix/*` (at most 1000); no outputs.
    pub struct S3Download {
        /// `s3://bucket/key` or `s3://bucket/prefix/*`.
        source: Template = "source",
        /// A file, or a folder for a prefix.
        destination: Template = "destination",
        /// The account that must own the bucket.
        expected_bucket_owner: Option<Template> = "expectedBucketOwner",
        /// Replace existing files; false fails the step on an existing file.
        overwrite: Value<bool> = "overwrite" or true,
    }
}

inputs! {
    /// `S3Upload`: a file, or the files a glob matches, to a bucket; no outputs.
    pub struct S3Upload {
        /// A local path or glob.
        source: Template = "source",
        /// `s3://bucket/key` or `s3://bucket/prefix/`.
        destination: Template = "destination",
        /// The account that must own the bucket.
        expected_bucket_owner: Option<Template> = "expectedBucketOwner",
        /// Upload a folder's contents recursively.
        recurse: Value<bool> = "recurse" or false,
    }
}

inputs! {
    /// `WebDownload`: a URL saved to a file (a `destination` ending in `/` is a folder),
    /// optionally checked against a digest; output `destination`, the paths written, one a line.
    ///
    /// ```yaml
    /// - source: https://example.com/tool.tar.gz
    ///   destination: /tmp/tool.tar.gz
    ///   checksum: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    ///   algorithm: SHA256
    /// ```
    pub struct WebDownload {
        /// An `http` or `https` URL.
        source: Template = "source",
        /// The file to write.
        destination: Template = "destination",
        /// Replace an existing file; false fails the step on an existing file.
        overwrite: Value<bool> = "overwrite" or true,
        /// The expected digest, hexadecimal; needs `algorithm`.
        checksum: Option<Template> = "checksum",
        /// The digest's algorithm; needs `checksum`.
        algorithm: Option<Value<Algorithm>> = "algorithm",
        /// Accept any TLS certificate.
        ignore_certificate_errors: Value<bool> = "ignoreCertificateErrors" or false,
    }
}

inputs! {
    /// `Reboot`: restart the instance, then go on with the next step; no outputs.
    pub struct Reboot {
        /// Seconds to wait first.
        delay_seconds: Value<u64> = "delaySeconds" or 0,
    }
}

inputs! {
    /// `UpdateOS`: install the available updates, or only some of them (those of `include`
    /// not in `exclude`); no outputs.
    pub struct UpdateOs {
        /// Only these packages (Linux) or KBs (Windows); wildcards allowed.
        include: Option<Vec<Template>> = "include",
        /// Not these.
        exclude: Option<Vec<Template>> = "exclude",
    }
}

inputs! {
    /// `ExecutePowerShell` (Windows only): `commands` or a script `file`; output `stdout`.
    pub struct ExecutePowerShell {
        /// The script's lines.
        commands: Option<Vec<Template>> = "commands",
        /// A script file.
        file: Option<Template> = "file",
    }
}

/// A digest algorithm of `WebDownload` and the `fileXXXEquals` operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// MD5.
    Md5,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-512.
    Sha512,
}

impl Algorithm {
    /// The length of a hexadecimal digest.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Md5 => 32,
            Self::Sha1 => 40,
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }
}

impl FromText for Algorithm {
    fn from_text(text: &str) -> Result<Self, String> {
        Ok(match text.trim() {
            "MD5" => Self::Md5,
            "SHA1" => Self::Sha1,
            "SHA256" => Self::Sha256,
            "SHA512" => Self::Sha512,
            _ => {
                return Err(format!(
                    "must be one of `MD5`, `SHA1`, `SHA256` or `SHA512`, not `{text}`"
                ));
            }
        })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Md5 => "MD5",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        })
    }
}
