//! UpdateOS on Debian-family systems: `apt-get update`, then `apt-get -y upgrade` (or `install`
//! of `include`), with `exclude` held back by `apt-mark hold` for the time of the update.

use davit_sdk::command::{self, Output};
use davit_sdk::info;
use serde::Deserialize;
use serde_json::Value;

use crate::Done;
use crate::input::{self, texts};

const ENV: &str = "/usr/bin/env";
const APT_GET: &str = "/usr/bin/apt-get";
const APT_MARK: &str = "/usr/bin/apt-mark";

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UpdateOs {
    #[serde(default, deserialize_with = "texts")]
    include: Vec<String>,
    #[serde(default, deserialize_with = "texts")]
    exclude: Vec<String>,
}

pub fn run(inputs: &Value) -> Result<Done, String> {
    let item: UpdateOs = input::mapping(inputs)?;
    for name in item.include.iter().chain(&item.exclude) {
        if name.is_empty() || name.starts_with('-') || name.contains(char::is_whitespace) {
            return Err(format!("`{name}` is not a package name"));
        }
    }
    // Hold only what is not held already, so that the release afterwards leaves the target's
    // own holds alone.
    let held = if item.exclude.is_empty() {
        Vec::new()
    } else {
        let out = apt(APT_MARK, &["showhold"])?;
        let already: Vec<String> = out
            .stdout_lossy()
            .lines()
            .map(|l| l.trim().to_string())
            .collect();
        let hold: Vec<String> = item
            .exclude
            .iter()
            .filter(|p| !already.contains(p))
            .cloned()
            .collect();
        if !hold.is_empty() {
            let mut args = vec!["hold".to_string()];
            args.extend(hold.iter().cloned());
            apt(APT_MARK, &args)?;
        }
        hold
    };
    let updated = update(&item.include);
    if !held.is_empty() {
        let mut args = vec!["unhold".to_string()];
        args.extend(held);
        let released = apt(APT_MARK, &args);
        updated.as_ref().map_err(String::clone)?;
        released?;
    }
    updated?;
    Ok(Done::none())
}

fn update(include: &[String]) -> Result<(), String> {
    apt(APT_GET, &["update"])?;
    let mut args: Vec<String> = ["-y", "-o", "Dpkg::Options::=--force-confold"]
        .map(String::from)
        .to_vec();
    if include.is_empty() {
        args.push("upgrade".into());
    } else {
        args.push("install".into());
        args.extend(include.iter().cloned());
    }
    apt(APT_GET, &args)?;
    Ok(())
}

/// Runs an apt program non-interactively through `/usr/bin/env DEBIAN_FRONTEND=noninteractive`
/// (the command interface passes no environment).
fn apt<S: AsRef<str>>(program: &str, args: &[S]) -> Result<Output, String> {
    let mut all = vec![
        "DEBIAN_FRONTEND=noninteractive".to_string(),
        program.to_string(),
    ];
    all.extend(args.iter().map(|a| a.as_ref().to_string()));
    let what = all[1..].join(" ");
    info!("running {what}");
    let out = command::run(ENV, &all).map_err(|e| match e {
        command::CommandError::SpawnFailed(why) => format!(
            "`{what}` could not start ({why}): UpdateOS supports Debian-family systems (apt-get) only"
        ),
        other => format!("`{what}`: {other}"),
    })?;
    out.ensure_success(&what)
}
