//! Host tests of the sandbox, against real guest components built by `scripts/build-guests`.

mod attacks;
mod attacks_cmd;
mod attacks_fs;
mod attacks_image;
mod attacks_links;
mod attacks_log;
mod attacks_s3;
mod attacks_services;
mod hostile;
mod support;
mod toe_actions;
mod verdicts;
