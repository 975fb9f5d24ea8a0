//! Integration tests of davit-bundle: push and pull through every kind of store (a directory,
//! davit's HTTP store, a real S3 server), delta and resume, and hostile manifests and chunks.

mod hostile;
mod stores;
mod support;
