//! Retrying a check until it passes, gives up for good, or runs out of attempts or time.
//!
//! Health checks share the parameters `retries` (attempts in all), `interval_ms` (pause between
//! attempts) and `deadline_ms` (time for all attempts together):
//!
//! ```no_run
//! use std::ops::ControlFlow;
//! use davit_sdk::prelude::*;
//! use davit_sdk::retry::Retry;
//!
//! # fn f(ctx: HookContext) -> Result<(), String> {
//! let retry = Retry::from_params(&ctx, Retry::default())?;
//! let (ready, attempts) = retry.run(|attempt| {
//!     let ready = std::fs::metadata("/run/app/ready").is_ok();
//!     info!("attempt {}/{}: ready={ready}", attempt.number, retry.attempts);
//!     if ready { ControlFlow::Break(true) } else { ControlFlow::Continue(false) }
//! });
//! # let _ = (ready, attempts); Ok(()) }
//! ```

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use crate::HookContext;

/// How often and for how long to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all, at least 1 (parameter `retries`).
    pub attempts: u32,
    /// Pause between two attempts (parameter `interval_ms`).
    pub interval: Duration,
    /// Time for all attempts together, pauses included (parameter `deadline_ms`).
    pub deadline: Duration,
}

impl Default for Retry {
    /// 10 attempts, 1 s apart, within 30 s.
    fn default() -> Self {
        Retry {
            attempts: 10,
            interval: Duration::from_millis(1000),
            deadline: Duration::from_millis(30_000),
        }
    }
}

/// What an attempt is told.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// Time left before the deadline; bound the attempt's own timeout by it.
    pub remaining: Duration,
}

impl Retry {
    /// Reads `retries`, `interval_ms` and `deadline_ms` from the hook's parameters, taking
    /// `defaults` for those not given.
    ///
    /// # Errors
    ///
    /// A message naming the parameter when one is not a number, or `retries` is 0.
    pub fn from_params(ctx: &HookContext, defaults: Retry) -> Result<Retry, String> {
        let attempts = ctx.param_parse_or("retries", defaults.attempts)?;
        if attempts == 0 {
            return Err("parameter `retries`: must be at least 1".to_string());
        }
        let ms = |name, default: Duration| -> Result<Duration, String> {
            let default = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
            Ok(Duration::from_millis(ctx.param_parse_or(name, default)?))
        };
        Ok(Retry {
            attempts,
            interval: ms("interval_ms", defaults.interval)?,
            deadline: ms("deadline_ms", defaults.deadline)?,
        })
    }

    /// Calls `attempt` until it returns `Break`, or the attempts or the time run out, sleeping
    /// `interval` between attempts. Returns the last value and the number of attempts made.
    ///
    /// `Continue` means "not yet, try again"; `Break` means done, whether the check passed or
    /// failed in a way that retrying cannot fix.
    pub fn run<T>(&self, mut attempt: impl FnMut(Attempt) -> ControlFlow<T, T>) -> (T, u32) {
        let start = Instant::now();
        let mut number = 1;
        loop {
            let remaining = self.deadline.saturating_sub(start.elapsed());
            let value = match attempt(Attempt { number, remaining }) {
                ControlFlow::Break(value) => return (value, number),
                ControlFlow::Continue(value) => value,
            };
            let remaining = self.deadline.saturating_sub(start.elapsed());
            if number >= self.attempts || remaining <= self.interval {
                return (value, number);
            }
            sleep(self.interval);
            number += 1;
        }
    }
}

/// Sleeps for `duration` (a `wasi:clocks/monotonic-clock` subscription, polled).
pub fn sleep(duration: Duration) {
    std::thread::sleep(duration);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_after_attempts_or_on_break() {
        let retry = Retry {
            attempts: 3,
            interval: Duration::ZERO,
            deadline: Duration::from_secs(10),
        };
        assert_eq!(retry.run(|a| ControlFlow::Continue(a.number)), (3, 3));
        assert_eq!(
            retry.run(|a| if a.number == 2 {
                ControlFlow::Break("ok")
            } else {
                ControlFlow::Continue("no")
            }),
            ("ok", 2)
        );
    }

    #[test]
    fn stops_when_the_next_pause_would_pass_the_deadline() {
        let retry = Retry {
            attempts: 100,
            interval: Duration::from_secs(5),
            deadline: Duration::from_secs(1),
        };
        assert_eq!(retry.run(|a| ControlFlow::Continue(a.number)), (1, 1));
    }
}
