//! Integration tests of davit-lifecycle's staging and Install, on real files in temp dirs.

mod corpus;
mod install;
mod install_hostile;
mod stage;
mod util;
