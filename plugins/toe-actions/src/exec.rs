//! ExecuteBash, ExecuteBinary, Reboot. Programs run through the host's `command` interface,
//! which decides where (inside an image's root, isolated; natively on a live host) and only
//! when the step's grant allows them.

use davit_sdk::command::{self, Output};
use davit_sdk::{ActionNext, Context, Job, info, warn};
use serde::Deserialize;
use serde_json::Value;

use crate::Done;
use crate::input::{self, text, texts};

/// The exit status with which a script asks for a reboot and to be run again (AWSTOE's).
pub const REBOOT_AND_RERUN: i32 = 194;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ExecuteBash {
    #[serde(deserialize_with = "texts")]
    commands: Vec<String>,
}

/// Writes `commands` to a script in the step's temporary directory (`TMPDIR`, which on a live
/// host is a directory davit made for the step; else the target's `/tmp`), runs it with
/// `/bin/bash` and removes it. Output `stdout`.
pub fn execute_bash(ctx: &Context, inputs: &Value) -> Result<Done, String> {
    let item: ExecuteBash = input::mapping(inputs)?;
    if item.commands.is_empty() {
        return Err("`commands` is empty".into());
    }
    let script = script_path(ctx);
    let mut body = item.commands.join("\n");
    body.push('\n');
    std::fs::write(&script, body).map_err(|e| {
        format!(
            "writing the script: {}",
            crate::files::io_error(&script, &e)
        )
    })?;
    let ran = command::run("/bin/bash", &[script.as_str()]);
    let _ = std::fs::remove_file(&script);
    finish("/bin/bash", ran.map_err(|e| e.to_string())?)
}

/// `TMPDIR/davit-toe-<run>-<phase>-<step>-<iteration>-<attempt>.sh`, with only safe characters.
fn script_path(ctx: &Context) -> String {
    let name = match &ctx.job {
        Job::Component(c) => format!(
            "{}-{}-{}-{}-{}",
            c.run_id,
            c.phase,
            c.step,
            c.iteration.map_or("0".into(), |i| i.to_string()),
            c.attempt
        ),
        _ => "step".into(),
    };
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let dir = std::env::var("TMPDIR").unwrap_or_else(|_| "/tmp".into());
    format!("{}/davit-toe-{safe}.sh", dir.trim_end_matches('/'))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ExecuteBinary {
    #[serde(deserialize_with = "text")]
    path: String,
    #[serde(default, deserialize_with = "texts")]
    arguments: Vec<String>,
}

/// Runs `path` with `arguments`. Output `stdout`.
pub fn execute_binary(inputs: &Value) -> Result<Done, String> {
    let item: ExecuteBinary = input::mapping(inputs)?;
    if !item.path.starts_with('/') {
        return Err(format!("`path`: `{}` is not an absolute path", item.path));
    }
    let ran = command::run(&item.path, &item.arguments).map_err(|e| e.to_string())?;
    finish(&item.path, ran)
}

/// Status 0 proceeds, 194 asks for a reboot and a rerun, anything else fails with the status
/// and the end of stderr.
fn finish(program: &str, out: Output) -> Result<Done, String> {
    // What the script printed goes to the console log too, as AWSTOE's does.
    for line in out.stdout_lossy().lines() {
        info!("stdout: {line}");
    }
    for line in out.stderr_lossy().lines().filter(|l| !l.trim().is_empty()) {
        warn!("stderr: {line}");
    }
    if out.truncated {
        warn!("output passed the step's limit and was cut");
    }
    let stdout = out.stdout_lossy().into_owned();
    match out.status {
        Some(0) => Ok(Done::output("stdout", stdout)),
        Some(REBOOT_AND_RERUN) => {
            info!("`{program}` exited with {REBOOT_AND_RERUN}: reboot, then run this step again");
            let mut done = Done::output("stdout", stdout);
            done.next = ActionNext::RebootAndRerun;
            Ok(done)
        }
        _ => {
            let tail = out.stderr_tail(5);
            let mut message = format!("`{program}` failed with {}", out.status_description());
            if !tail.is_empty() {
                message.push_str(": ");
                message.push_str(&tail);
            }
            Err(message)
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Reboot {
    #[serde(default)]
    delay_seconds: Option<Value>,
}

/// Asks the host to reboot, then go on with the next step. `delaySeconds` is accepted; the
/// host reboots when the run has come to a stop.
pub fn reboot(inputs: &Value) -> Result<Done, String> {
    let item: Reboot = input::mapping(inputs)?;
    if let Some(delay) = item.delay_seconds {
        let ok = delay.as_u64().is_some()
            || delay
                .as_str()
                .is_some_and(|s| s.trim().parse::<u64>().is_ok());
        if !ok {
            return Err(format!(
                "`delaySeconds`: `{delay}` is not a whole number of seconds"
            ));
        }
    }
    let mut done = Done::none();
    done.next = ActionNext::Reboot;
    Ok(done)
}
