//! Integration tests of davit-toe: the Image Builder corpus, golden error messages, and
//! expansion of parameters, constants, loops and conditions.

mod actions;
mod corpus;
mod expand;
mod golden;
