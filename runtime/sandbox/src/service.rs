//! Services a hook started with `spawn`: bounded in number and resources, and reported in the
//! [`Outcome`](crate::Outcome) so that the host can record them and stop exactly those later.

use std::time::SystemTime;

/// A process a hook started with `spawn`, detached in its own session (its pid is also its
/// process group and session id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub pid: u32,
    /// When the kernel started it, in clock ticks since boot (`/proc/PID/stat` field 22): with
    /// the pid, it names this process and no later one that reuses the pid.
    pub start_ticks: u64,
    pub program: String,
    pub args: Vec<String>,
    pub started_at: SystemTime,
}

/// Resource limits of every spawned service, set with `setrlimit` before it starts.
pub(crate) const SERVICE_OPEN_FILES: u64 = 4096;

/// The start time of process `pid` in clock ticks since boot, `None` when it is gone (or has
/// ended and waits to be reaped).
pub fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ...`: comm may hold spaces and parentheses, so count from the last `)`.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    // After `)`, field 3 (state) is first; starttime is field 22.
    if matches!(fields.next()?, "Z" | "X" | "x") {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// Sets the limits of a service in the child, between fork and exec.
///
/// # Safety
///
/// Only async-signal-safe calls: to be used in `pre_exec`.
pub(crate) unsafe fn limit_in_child() -> std::io::Result<()> {
    let set = |resource, value: u64| {
        let limit = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        // SAFETY: setrlimit is async-signal-safe and reads only `limit`.
        if unsafe { libc::setrlimit(resource, &limit) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    set(libc::RLIMIT_NOFILE, SERVICE_OPEN_FILES)?;
    set(libc::RLIMIT_CORE, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_ticks_names_a_live_process_and_not_a_dead_one() {
        let me = start_ticks(std::process::id()).expect("this process");
        assert!(me > 0);
        assert_eq!(start_ticks(std::process::id()), Some(me), "stable");
        assert_eq!(start_ticks(u32::MAX), None);
    }
}
