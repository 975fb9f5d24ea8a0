//! End-to-end tests of the `davit` binary: real bundles, real components, real files on disk.

mod appspec_check;
mod bundle;
mod component;
mod deploy_atomic;
mod deploy_events;
mod deploy_local;
mod deploy_reboot;
mod golden;
mod hello_web;
mod image;
mod package;
mod server;
mod support;
