//! Integration tests of davit-spec: the real-world corpus, golden error messages, policy
//! intersection, and suggested policies.

mod corpus;
mod golden;
mod intersect;
mod suggest;
