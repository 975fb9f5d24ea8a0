//! Built-in health check `tcp-check`: healthy once a TCP connection to `address` succeeds.
//!
//! Parameters: `address` (`HOST:PORT`, `[IPv6]:PORT`; required), `retries` (10 attempts),
//! `interval_ms` (1000), `deadline_ms` (30000), `timeout_ms` (5000, per attempt).

use std::ops::ControlFlow;
use std::time::Duration;

use davit_sdk::prelude::*;
use davit_sdk::retry::Retry;

mod tcp;

use tcp::{Address, Failure};

struct TcpCheck;

impl HealthCheck for TcpCheck {
    fn check(ctx: HookContext) -> Result<Health, String> {
        let address = Address::parse(ctx.require_param("address")?)
            .map_err(|e| format!("parameter `address`: {e}"))?;
        let retry = Retry::from_params(&ctx, Retry::default())?;
        let timeout = Duration::from_millis(ctx.param_parse_or("timeout_ms", 5000)?);

        let (result, attempts) = retry.run(|attempt| {
            let timeout = timeout.min(attempt.remaining).max(Duration::from_millis(1));
            let result = tcp::connect(&address, timeout);
            let n = format!("attempt {}/{}", attempt.number, retry.attempts);
            match &result {
                Ok(()) => info!("{n}: connected to {address}"),
                Err(Failure::Denied) => {
                    error!("{n}: connecting to {address} was denied by the sandbox")
                }
                Err(Failure::Error(e)) => info!("{n}: cannot connect to {address}: {e}"),
            }
            match result {
                Ok(()) | Err(Failure::Denied) => ControlFlow::Break(result),
                Err(_) => ControlFlow::Continue(result),
            }
        });

        let after = if attempts == 1 {
            "after 1 attempt".to_string()
        } else {
            format!("after {attempts} attempts")
        };
        match result {
            Ok(()) => Ok(Health::healthy(format!("connected to {address} {after}"))),
            Err(Failure::Denied) => Err(format!(
                "connection denied by the sandbox: the hook has no grant to connect to {address}"
            )),
            Err(Failure::Error(e)) => Ok(Health::unhealthy(format!(
                "cannot connect to {address} {after}: {e}"
            ))),
        }
    }
}

davit_sdk::export_health_check!(TcpCheck);
