//! Integration tests of davit-spec: the real-world corpus, golden error messages, policy
//! intersection, suggested policies, and properties of the argument and URL matchers.

mod corpus;
mod golden;
mod intersect;
mod props;
mod suggest;
