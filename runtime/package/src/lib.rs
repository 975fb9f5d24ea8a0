//! Distributor packages, as AWS Systems Manager Distributor has them: a `manifest.json`
//! beside per-platform zips. [`manifest`] reads and checks a manifest (every file named has
//! a sha256; SSM lets an empty checksum map pass, davit does not); [`select`] chooses the
//! file for a host exactly as the SSM agent does, platform from its os-release with the
//! agent's renames.
//!
//! ```
//! use davit_package::{Host, Manifest, select};
//!
//! let text = r#"{"schemaVersion": "2.0", "version": "1.0.4",
//!   "packages": {"ubuntu": {"22.*": {"x86_64": {"file": "linux.zip"}}}},
//!   "files": {"linux.zip": {"checksums": {"sha256": "8371ec360e27031052b62b053bc249e4cd27f8e05a776a120c73bce5558d96d8"}}}}"#;
//! let manifest = Manifest::parse("manifest.json", text).unwrap();
//! let host = Host::from_os_release("ID=ubuntu\nVERSION_ID=\"22.04\"\n", "x86_64");
//! assert_eq!(select(&manifest, &host).unwrap().file, "linux.zip");
//! ```

pub mod archive;
pub mod error;
pub mod install;
mod lock;
pub mod manifest;
pub mod run;
pub mod scripts;
pub mod select;
pub mod state;
pub mod store;

pub use error::{FileError, PackageError};
pub use install::{Options, Outcome, PackageProgress, Report, Request, Silent, apply};
pub use manifest::{FileRef, Manifest, ManifestError};
pub use run::{Action, StepReport, parse_arguments};
pub use select::{Host, SelectError, Selected, select};
pub use state::{PackageState, State};

/// A package's actions, as its scripts' files are named.
pub const ACTIONS: [&str; 4] = davit_spec::PACKAGE_ACTIONS;
