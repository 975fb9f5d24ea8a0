//! Log lines the host shows with the event's progress and keeps in the deployment log.
//!
//! The macros [`trace!`](crate::trace), [`debug!`](crate::debug), [`info!`](crate::info),
//! [`warn!`](crate::warn) and [`error!`](crate::error) take `format!` arguments.

pub use crate::__private::hook_bindings::davit::plugin::log::Level;

/// Sends one log line to the host.
///
/// Outside a wasm component (a unit test on the host, say) the line goes to stderr instead.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::__private::hook_bindings::davit::plugin::log::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{level:?}: {message}");
}

/// Logs `message` at level `trace`.
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Logs `message` at level `debug`.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs `message` at level `info`.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs `message` at level `warn`.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs `message` at level `error`.
pub fn error(message: &str) {
    log(Level::Error, message);
}

/// Logs a `format!` message at level `trace`.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => { $crate::log::log($crate::log::Level::Trace, &::std::format!($($arg)+)) };
}

/// Logs a `format!` message at level `debug`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::log::log($crate::log::Level::Debug, &::std::format!($($arg)+)) };
}

/// Logs a `format!` message at level `info`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log::log($crate::log::Level::Info, &::std::format!($($arg)+)) };
}

/// Logs a `format!` message at level `warn`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log::log($crate::log::Level::Warn, &::std::format!($($arg)+)) };
}

/// Logs a `format!` message at level `error`.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log::log($crate::log::Level::Error, &::std::format!($($arg)+)) };
}
