//! davit's Image Builder side. Today: [`component`], the runner of an AWSTOE component
//! document against an image root or this host (`davit component run`). Recipes, OCI output,
//! distribution and pipelines come next, on the same runner.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use davit_image::component::{RunOptions, Target, run};
//!
//! let sandbox = davit_sandbox::Sandbox::new(None)?;
//! let plugin = sandbox.load(&std::fs::read("toe-actions.wasm")?)?;
//! let doc = davit_toe::Document::load("hello.yml".as_ref())?;
//! let report = run(&sandbox, &plugin, &doc, RunOptions {
//!     target: Target::Root("/tmp/rootfs".into()),
//!     policy: davit_spec::HostPolicy::default(),
//!     phases: None,
//!     parameters: Vec::new(),
//!     log_root: "/tmp/component-runs".into(),
//!     deployment_root: "/var/lib/davit".into(),
//!     s3: davit_sandbox::S3Access::from_vars(|k| std::env::var(k).ok())?,
//!     max_reboots: 3,
//!     run_id: None,
//!     progress: None,
//! }).await?;
//! println!("{:?}, logs in {}", report.status, report.log_url);
//! # Ok(()) }
//! ```

pub mod build;
pub mod component;
pub mod disk;
pub mod distribute;
pub mod oci;
pub mod recipe;
pub mod store;
