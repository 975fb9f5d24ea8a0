//! Native commands, run by the host only when the hook's grant allows the exact program and
//! arguments.
//!
//! ```no_run
//! use davit_sdk::command;
//!
//! # fn f() -> Result<(), String> {
//! let out = command::run("/usr/bin/systemctl", &["restart", "app"])?;
//! out.ensure_success("/usr/bin/systemctl restart app")?;
//! let log_file = Some("/var/log/app/server.log");
//! let pid = command::spawn("/usr/bin/python3", &["-m", "http.server"], log_file)?;
//! # let _ = pid; Ok(()) }
//! ```

use std::borrow::Cow;
use std::fmt;

use crate::__private::hook_bindings::davit::plugin::command as wit;
pub use wit::Output;

/// Why a command did not run to completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// The grant does not allow this program with these arguments; the host says which.
    Denied(String),
    /// The program could not be started.
    SpawnFailed(String),
    /// The command ran past its time and was killed.
    TimedOut,
}

impl From<wit::CommandError> for CommandError {
    fn from(e: wit::CommandError) -> Self {
        match e {
            wit::CommandError::Denied(why) => CommandError::Denied(why),
            wit::CommandError::SpawnFailed(why) => CommandError::SpawnFailed(why),
            wit::CommandError::TimedOut => CommandError::TimedOut,
        }
    }
}

/// Runs `program` (an absolute path) with `args`, waits for it and returns what it printed.
///
/// A non-zero exit status is not an error here: look at [`Output::status`], or call
/// [`Output::ensure_success`].
///
/// # Errors
///
/// [`CommandError::Denied`] when the grant does not allow this program with these arguments,
/// [`CommandError::SpawnFailed`] when it could not start, [`CommandError::TimedOut`] when it ran
/// past its time and was killed.
pub fn run<S: AsRef<str>>(program: &str, args: &[S]) -> Result<Output, CommandError> {
    wit::run(program, &to_strings(args)).map_err(CommandError::from)
}

/// Starts a long-running service in its own session, detached from the hook, and returns its
/// process id at once. Its output goes to `log_file`, a path as the hook sees it (like
/// `/var/log/app/server.log`) under a directory granted read-write, or to `/dev/null` when `None`.
/// Arguments, unlike `log_file`, are host paths: build them with
/// [`HookContext::target_path`](crate::HookContext::target_path).
///
/// # Errors
///
/// As for [`run`], except that a spawned program cannot time out.
pub fn spawn<S: AsRef<str>>(
    program: &str,
    args: &[S],
    log_file: Option<&str>,
) -> Result<u32, CommandError> {
    wit::spawn(program, &to_strings(args), log_file).map_err(CommandError::from)
}

fn to_strings<S: AsRef<str>>(args: &[S]) -> Vec<String> {
    args.iter().map(|a| a.as_ref().to_string()).collect()
}

impl Output {
    /// True when the program exited with status 0.
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// What stdout printed, with invalid UTF-8 replaced.
    pub fn stdout_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stdout)
    }

    /// What stderr printed, with invalid UTF-8 replaced.
    pub fn stderr_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stderr)
    }

    /// `exit status 3`, or `killed by a signal`.
    pub fn status_description(&self) -> String {
        match self.status {
            Some(code) => format!("exit status {code}"),
            None => "killed by a signal".to_string(),
        }
    }

    /// The last `lines` non-empty lines of stderr, joined with ` | ` to fit on one line.
    pub fn stderr_tail(&self, lines: usize) -> String {
        let stderr = self.stderr_lossy();
        let tail: Vec<&str> = stderr
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .collect();
        tail[tail.len().saturating_sub(lines)..].join(" | ")
    }

    /// Returns the output when the program succeeded.
    ///
    /// # Errors
    ///
    /// `` `what` failed with exit status 1: <last lines of stderr> `` otherwise.
    pub fn ensure_success(self, what: &str) -> Result<Output, String> {
        if self.success() {
            return Ok(self);
        }
        let tail = self.stderr_tail(3);
        let mut message = format!("`{what}` failed with {}", self.status_description());
        if !tail.is_empty() {
            message.push_str(": ");
            message.push_str(&tail);
        }
        Err(message)
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Denied(why) => write!(f, "command denied by the sandbox: {why}"),
            CommandError::SpawnFailed(why) => write!(f, "command could not start: {why}"),
            CommandError::TimedOut => f.write_str("command timed out and was killed"),
        }
    }
}

impl std::error::Error for CommandError {}

impl From<CommandError> for String {
    fn from(e: CommandError) -> String {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_message_has_status_and_stderr_tail() {
        let out = Output {
            status: Some(3),
            stdout: vec![],
            stderr: b"one\n\ntwo\nthree\nfour\n".to_vec(),
            truncated: false,
        };
        assert_eq!(
            out.ensure_success("/bin/false").unwrap_err(),
            "`/bin/false` failed with exit status 3: two | three | four"
        );
    }
}
