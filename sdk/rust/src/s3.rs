//! S3 for image actions (world `action`): the host signs a request on an object the call was
//! granted (its URL at the host's S3 endpoint lies under a url grant) and the guest sends it
//! through `wasi:http`. The host's credentials never enter the sandbox.
//!
//! ```no_run
//! # fn f() -> Result<(), String> {
//! use davit_sdk::s3::{Operation, presign};
//! let get = presign(Operation::GetObject, "artifacts", "app/1.2.tar.gz", None)?;
//! // send `get.method` to `get.url` with `get.headers`
//! # Ok(()) }
//! ```

use crate::__private::action_bindings::davit::plugin::s3 as wit;
pub use wit::{Operation, Presigned};

/// A signed request for `operation` on `key` in `bucket` (for [`Operation::ListObjects`], the
/// key prefix, empty or ending in `/`), valid for a few minutes.
///
/// # Errors
///
/// Why the host would not sign it: no S3 access for this call, or an object no url grant
/// covers.
pub fn presign(
    operation: Operation,
    bucket: &str,
    key: &str,
    expected_owner: Option<&str>,
) -> Result<Presigned, String> {
    wit::presign(operation, bucket, key, expected_owner)
}
