//! Write davit lifecycle hooks and health checks in Rust.
//!
//! A davit plugin is a WebAssembly component built for `wasm32-wasip2`. It exports one function of
//! the WIT package `davit:plugin` (in `sdk/wit/`): `run` for a lifecycle hook (world `hook`) or
//! `check` for a health check (world `health-check`), `execute` for image actions (world
//! `action`), or a package's scripts, one export per action (world `package`, through
//! [`Package`] and [`export_package!`]). Whatever it does outside the sandbox
//! (files, sockets, URLs, native commands) must be granted to it in the appspec and allowed by the
//! host's policy.
//!
//! This crate generates the bindings once, gives them friendlier helpers, and exports your type
//! with one macro:
//!
//! ```no_run
//! use davit_sdk::prelude::*;
//!
//! struct MyHook;
//!
//! impl Hook for MyHook {
//!     fn run(ctx: HookContext) -> Result<(), String> {
//!         if let Some(d) = ctx.deployment() {
//!             info!("deploying {} to {}", d.revision, d.deployment_group);
//!         }
//!         let port: u16 = ctx.param_parse_or("port", 8080)?;
//!         let out = command::run("/usr/bin/systemctl", &["restart", "app"])?;
//!         out.ensure_success("/usr/bin/systemctl")?;
//!         debug!("restarted app, listening on {port}");
//!         Ok(())
//!     }
//! }
//!
//! davit_sdk::export_hook!(MyHook);
//! ```
//!
//! A health check is the same with [`HealthCheck`] and [`export_health_check!`]:
//!
//! ```no_run
//! use davit_sdk::prelude::*;
//!
//! struct Ready;
//!
//! impl HealthCheck for Ready {
//!     fn check(ctx: HookContext) -> Result<Health, String> {
//!         let path = ctx.target_path("/run/app/ready");
//!         Ok(Health::healthy(format!("{path} is there")))
//!     }
//! }
//!
//! davit_sdk::export_health_check!(Ready);
//! ```
//!
//! A guest crate is a `cdylib`; build it with `cargo build --target wasm32-wasip2 --release`
//! (see the README for machines whose rustup cannot add that target).
#![warn(missing_docs)]

// Lets the generated bindings and export macros name this crate the same way from inside it and
// from the guest crates that expand them.
extern crate self as davit_sdk;

pub mod command;
mod context;
pub mod files;
pub mod log;
pub mod reboot;
pub mod retry;
pub mod s3;

pub use __private::hook_bindings::davit::plugin::types::{ActionNext, ActionResult};
pub use context::{
    ComponentStep, Context, Deployment, DeploymentEvent, Event, Health, HookContext, Job,
    PackageAction, PackageStep,
};

/// What a hook usually needs: `use davit_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::command;
    pub use crate::log::Level;
    pub use crate::reboot;
    pub use crate::{Context, Deployment, Event, Health, HealthCheck, Hook, HookContext, Job};
    pub use crate::{Package, PackageAction, PackageStep};
    pub use crate::{debug, error, info, trace, warn};
}

/// A lifecycle hook: runs once for one event of one deployment. Export it with [`export_hook!`].
pub trait Hook {
    /// Does the hook's work.
    ///
    /// # Errors
    ///
    /// An error fails the lifecycle event; its message is shown to the person deploying, so make it
    /// one line they can act on. To have the host rebooted before the next event, call
    /// [`reboot::request`] and return `Ok`.
    fn run(ctx: HookContext) -> Result<(), String>;
}

/// A health check: reports whether the deployed service is healthy. Export it with
/// [`export_health_check!`].
pub trait HealthCheck {
    /// Checks the service.
    ///
    /// # Errors
    ///
    /// An error means the check itself could not run (a missing or invalid parameter, say), not that
    /// the service is unhealthy: report that with [`Health::unhealthy`].
    fn check(ctx: HookContext) -> Result<Health, String>;
}

/// Exports a type implementing [`Hook`] as the component's `run` function (world `hook`).
///
/// Use it once, at the top level of a `cdylib` crate.
#[macro_export]
macro_rules! export_hook {
    ($ty:ty) => {
        const _: () = {
            struct __DavitHook;
            impl $crate::__private::hook_bindings::Guest for __DavitHook {
                fn run(
                    context: $crate::HookContext,
                ) -> ::core::result::Result<
                    $crate::__private::hook_bindings::davit::plugin::types::Next,
                    $crate::__private::String,
                > {
                    $crate::reboot::finish(<$ty as $crate::Hook>::run(context))
                }
            }
            $crate::__private::hook_bindings::export!(
                __DavitHook with_types_in $crate::__private::hook_bindings
            );
        };
    };
}

/// Image actions: a component that runs the AWSTOE action modules a component document's steps
/// name (world `action`). Export it with [`export_action!`].
pub trait Action {
    /// Runs `action` (`CreateFile`) with `inputs`, the step's inputs as JSON with every
    /// reference resolved.
    ///
    /// # Errors
    ///
    /// An error fails the step; its message is shown with the step, so make it one line.
    fn execute(ctx: Context, action: &str, inputs: &str) -> Result<ActionResult, String>;
}

/// Exports a type implementing [`Action`] as the component's `execute` function (world
/// `action`).
///
/// Use it once, at the top level of a `cdylib` crate.
#[macro_export]
macro_rules! export_action {
    ($ty:ty) => {
        const _: () = {
            struct __DavitAction;
            impl $crate::__private::action_bindings::Guest for __DavitAction {
                fn execute(
                    context: $crate::Context,
                    action: $crate::__private::String,
                    inputs: $crate::__private::String,
                ) -> ::core::result::Result<$crate::ActionResult, $crate::__private::String> {
                    <$ty as $crate::Action>::execute(context, &action, &inputs)
                }
            }
            $crate::__private::action_bindings::export!(
                __DavitAction with_types_in $crate::__private::action_bindings
            );
        };
    };
}

/// Exports a type implementing [`HealthCheck`] as the component's `check` function
/// (world `health-check`).
///
/// Use it once, at the top level of a `cdylib` crate.
#[macro_export]
macro_rules! export_health_check {
    ($ty:ty) => {
        const _: () = {
            struct __DavitHealthCheck;
            impl $crate::__private::health_check_bindings::Guest for __DavitHealthCheck {
                fn check(
                    context: $crate::HookContext,
                ) -> ::core::result::Result<$crate::Health, $crate::__private::String> {
                    <$ty as $crate::HealthCheck>::check(context)
                }
            }
            $crate::__private::health_check_bindings::export!(
                __DavitHealthCheck with_types_in $crate::__private::health_check_bindings
            );
        };
    };
}

/// A package's scripts (world `package`): one function per action; implement those the
/// package has and list them in [`Package::ACTIONS`] (the host calls no other). Export it with
/// [`export_package!`].
///
/// ```no_run
/// use davit_sdk::prelude::*;
///
/// struct Agent;
///
/// impl Package for Agent {
///     const ACTIONS: &'static [PackageAction] = &[PackageAction::Install, PackageAction::Uninstall];
///     fn install(ctx: Context) -> Result<(), String> {
///         let from = format!("{}/agent.conf", ctx.bundle_dir);
///         std::fs::copy(&from, "/etc/agent/agent.conf").map_err(|e| e.to_string())?;
///         Ok(())
///     }
///     fn uninstall(_ctx: Context) -> Result<(), String> {
///         std::fs::remove_file("/etc/agent/agent.conf").map_err(|e| e.to_string())
///     }
/// }
///
/// davit_sdk::export_package!(Agent);
/// ```
///
/// An error fails the action; to have the host rebooted before the next action, call
/// [`reboot::request`] and return `Ok`.
pub trait Package {
    /// The actions implemented: the host calls only these. A package without `validate`
    /// passes validation; one without `update` cannot be updated in place.
    const ACTIONS: &'static [PackageAction];
    /// Puts the package in place.
    ///
    /// # Errors
    ///
    /// An error fails the install; its message is shown with the package's result.
    fn install(ctx: Context) -> Result<(), String>;
    /// Removes it.
    ///
    /// # Errors
    ///
    /// An error fails the uninstall.
    fn uninstall(ctx: Context) -> Result<(), String>;
    /// Updates the installed version in place to this one.
    ///
    /// # Errors
    ///
    /// An error fails the update (the default: not implemented).
    fn update(_ctx: Context) -> Result<(), String> {
        Err("this package has no update action".to_owned())
    }
    /// Checks that the package is installed and working.
    ///
    /// # Errors
    ///
    /// An error means it is not (the default passes).
    fn validate(_ctx: Context) -> Result<(), String> {
        Ok(())
    }
}

/// Exports a type implementing [`Package`] as the component's `actions`, `install`,
/// `uninstall`, `update` and `validate` functions (world `package`).
///
/// Use it once, at the top level of a `cdylib` crate.
#[macro_export]
macro_rules! export_package {
    ($ty:ty) => {
        const _: () = {
            struct __DavitPackage;
            type __Next = $crate::__private::hook_bindings::davit::plugin::types::Next;
            type __Result = ::core::result::Result<__Next, $crate::__private::String>;
            impl $crate::__private::package_bindings::Guest for __DavitPackage {
                fn actions() -> $crate::__private::Vec<$crate::PackageAction> {
                    <$ty as $crate::Package>::ACTIONS.to_vec()
                }
                fn install(context: $crate::Context) -> __Result {
                    $crate::reboot::finish(<$ty as $crate::Package>::install(context))
                }
                fn uninstall(context: $crate::Context) -> __Result {
                    $crate::reboot::finish(<$ty as $crate::Package>::uninstall(context))
                }
                fn update(context: $crate::Context) -> __Result {
                    $crate::reboot::finish(<$ty as $crate::Package>::update(context))
                }
                fn validate(context: $crate::Context) -> __Result {
                    $crate::reboot::finish(<$ty as $crate::Package>::validate(context))
                }
            }
            $crate::__private::package_bindings::export!(
                __DavitPackage with_types_in $crate::__private::package_bindings
            );
        };
    };
}

/// Generated bindings, used by the export macros. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use std::string::String;
    pub use std::vec::Vec;
    pub use wit_bindgen;

    /// World `hook`: generates the shared `types`, `log` and `command` interfaces.
    pub mod hook_bindings {
        wit_bindgen::generate!({
            path: "../wit",
            world: "davit:plugin/hook@0.2.0",
            runtime_path: "::davit_sdk::__private::wit_bindgen::rt",
            default_bindings_module: "::davit_sdk::__private::hook_bindings",
            export_macro_name: "export",
            pub_export_macro: true,
            additional_derives: [PartialEq, Eq],
        });
    }

    /// World `health-check`: reuses the interfaces generated for `hook`.
    pub mod health_check_bindings {
        wit_bindgen::generate!({
            path: "../wit",
            world: "davit:plugin/health-check@0.2.0",
            runtime_path: "::davit_sdk::__private::wit_bindgen::rt",
            default_bindings_module: "::davit_sdk::__private::health_check_bindings",
            export_macro_name: "export",
            pub_export_macro: true,
            with: {
                "davit:plugin/types@0.2.0": crate::__private::hook_bindings::davit::plugin::types,
                "davit:plugin/log@0.2.0": crate::__private::hook_bindings::davit::plugin::log,
                "davit:plugin/command@0.2.0": crate::__private::hook_bindings::davit::plugin::command,
            },
        });
    }

    /// World `package`: reuses the interfaces generated for `hook` and `action`.
    pub mod package_bindings {
        wit_bindgen::generate!({
            path: "../wit",
            world: "davit:plugin/%package@0.2.0",
            runtime_path: "::davit_sdk::__private::wit_bindgen::rt",
            default_bindings_module: "::davit_sdk::__private::package_bindings",
            export_macro_name: "export",
            pub_export_macro: true,
            with: {
                "davit:plugin/types@0.2.0": crate::__private::hook_bindings::davit::plugin::types,
                "davit:plugin/log@0.2.0": crate::__private::hook_bindings::davit::plugin::log,
                "davit:plugin/command@0.2.0": crate::__private::hook_bindings::davit::plugin::command,
                "davit:plugin/files@0.2.0": crate::__private::action_bindings::davit::plugin::files,
            },
        });
    }

    /// World `action`: reuses the interfaces generated for `hook`.
    pub mod action_bindings {
        wit_bindgen::generate!({
            path: "../wit",
            world: "davit:plugin/action@0.2.0",
            runtime_path: "::davit_sdk::__private::wit_bindgen::rt",
            default_bindings_module: "::davit_sdk::__private::action_bindings",
            export_macro_name: "export",
            pub_export_macro: true,
            with: {
                "davit:plugin/types@0.2.0": crate::__private::hook_bindings::davit::plugin::types,
                "davit:plugin/log@0.2.0": crate::__private::hook_bindings::davit::plugin::log,
                "davit:plugin/command@0.2.0": crate::__private::hook_bindings::davit::plugin::command,
            },
        });
    }
}
