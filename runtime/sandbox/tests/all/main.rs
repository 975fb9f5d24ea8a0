//! Host tests of the sandbox, against real guest components built by `scripts/build-guests`.

mod attacks;
mod support;
