//! Integration tests of davit-spec: the real-world corpus, golden error messages, and policy
//! intersection.

mod corpus;
mod golden;
mod intersect;
