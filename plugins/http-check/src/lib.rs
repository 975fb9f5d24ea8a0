//! Built-in health check `http-check`: GETs a URL until it answers with an expected status (and,
//! optionally, a body containing a given text).
//!
//! Parameters: `url` (required), `expect_status` (`200`; a list like `200,204`, classes like
//! `2xx`, ranges like `200-299`), `expect_body` (a substring), `retries` (10 attempts),
//! `interval_ms` (1000), `deadline_ms` (30000), `timeout_ms` (5000, per attempt).

use std::ops::ControlFlow;
use std::time::Duration;

use davit_sdk::prelude::*;
use davit_sdk::retry::Retry;

mod http;
mod status;
mod url;

use http::{Failure, Response};
use status::StatusSet;
use url::Url;

struct HttpCheck;

/// The result of one attempt.
enum Outcome {
    Passed(u16),
    WrongStatus(Response),
    WrongBody(Response),
    Denied,
    Error(String),
}

impl HealthCheck for HttpCheck {
    fn check(ctx: HookContext) -> Result<Health, String> {
        let url =
            Url::parse(ctx.require_param("url")?).map_err(|e| format!("parameter `url`: {e}"))?;
        let expect_status = StatusSet::parse(ctx.param_or("expect_status", "200"))
            .map_err(|e| format!("parameter `expect_status`: {e}"))?;
        let expect_body = ctx.param("expect_body").filter(|s| !s.is_empty());
        let retry = Retry::from_params(&ctx, Retry::default())?;
        let timeout = Duration::from_millis(ctx.param_parse_or("timeout_ms", 5000)?);

        let (outcome, attempts) = retry.run(|attempt| {
            let timeout = timeout.min(attempt.remaining).max(Duration::from_millis(1));
            let outcome = match http::get(&url, timeout) {
                Err(Failure::Denied) => Outcome::Denied,
                Err(Failure::Error(e)) => Outcome::Error(e),
                Ok(r) if !expect_status.contains(r.status) => Outcome::WrongStatus(r),
                Ok(r) if expect_body.is_some_and(|b| !contains(&r.body, b)) => {
                    Outcome::WrongBody(r)
                }
                Ok(r) => Outcome::Passed(r.status),
            };
            let n = format!("attempt {}/{}", attempt.number, retry.attempts);
            match &outcome {
                Outcome::Passed(s) => info!("{n}: GET {url} returned {s}"),
                Outcome::WrongStatus(r) => info!(
                    "{n}: GET {url} returned {}, expected {expect_status}",
                    r.status
                ),
                Outcome::WrongBody(r) => info!(
                    "{n}: GET {url} returned {} without the expected body",
                    r.status
                ),
                Outcome::Denied => error!("{n}: GET {url} was denied by the sandbox"),
                Outcome::Error(e) => info!("{n}: GET {url} failed: {e}"),
            }
            match outcome {
                Outcome::Passed(_) | Outcome::Denied => ControlFlow::Break(outcome),
                _ => ControlFlow::Continue(outcome),
            }
        });

        let after = if attempts == 1 {
            "after 1 attempt".to_string()
        } else {
            format!("after {attempts} attempts")
        };
        Ok(match outcome {
            Outcome::Passed(s) => Health::healthy(format!("GET {url} returned {s} {after}")),
            Outcome::WrongStatus(r) => Health::unhealthy(format!(
                "GET {url} returned {} {after}, expected {expect_status} (last body: {})",
                r.status,
                snippet(&r.body)
            )),
            Outcome::WrongBody(r) => Health::unhealthy(format!(
                "GET {url} returned {} {after}, but the body does not contain `{}` (last body: {})",
                r.status,
                expect_body.unwrap_or_default(),
                snippet(&r.body)
            )),
            Outcome::Denied => {
                return Err(format!(
                    "request denied by the sandbox: the hook has no grant for {url}"
                ));
            }
            Outcome::Error(e) => Health::unhealthy(format!("GET {url} failed {after}: {e}")),
        })
    }
}

davit_sdk::export_health_check!(HttpCheck);

fn contains(body: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    body.windows(needle.len()).any(|w| w == needle)
}

/// The start of a body on one line: white space collapsed, at most 80 characters.
fn snippet(body: &[u8]) -> String {
    const MAX: usize = 80;
    let text = String::from_utf8_lossy(body);
    let words: Vec<&str> = text.split_whitespace().collect();
    let line = words.join(" ");
    if line.is_empty() {
        return "empty".to_string();
    }
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_fit_on_one_line() {
        assert_eq!(snippet(b""), "empty");
        assert_eq!(
            snippet(b"  <h1>\n Bad\tGateway</h1>\n"),
            "<h1> Bad Gateway</h1>"
        );
        assert_eq!(snippet("é".repeat(100).as_bytes()).chars().count(), 81);
        assert!(contains(b"status: ok", "ok"));
        assert!(!contains(b"o", "ok"));
    }
}
