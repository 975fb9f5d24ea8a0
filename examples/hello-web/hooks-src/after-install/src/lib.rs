//! AfterInstall: writes hello-web's configuration, `config.json` and `hello-web.conf`, into the
//! granted configuration directory, and optionally the version into a file the web server serves.
//!
//! Parameters: `port` (8080), `version` (default: the first 12 characters of the revision),
//! `config_dir` (`/etc/hello-web`), `version_file` (optional, e.g.
//! `/opt/hello-web/www/version.txt`).
//! Grants: read-write on `config_dir` (and on the directory of `version_file` when given).

use std::fmt::Write as _;
use std::fs;

use davit_sdk::prelude::*;

struct AfterInstall;

impl Hook for AfterInstall {
    fn run(ctx: HookContext) -> Result<(), String> {
        let port: u16 = ctx.param_parse_or("port", 8080)?;
        let d = ctx.deployment().ok_or("this hook runs in a deployment")?;
        let short_revision: String = d.revision.chars().take(12).collect();
        let version = ctx.param_or("version", &short_revision);
        let config_dir = ctx
            .param_or("config_dir", "/etc/hello-web")
            .trim_end_matches('/');

        let json = format!(
            "{{\n  \"port\": {port},\n  \"version\": {},\n  \"revision\": {},\n  \"deployment\": {}\n}}\n",
            json_string(version),
            json_string(&d.revision),
            json_string(&d.id)
        );
        let conf = format!(
            "# Written by the hello-web AfterInstall hook, deployment {}.\nport={port}\nversion={version}\nrevision={}\n",
            d.id, d.revision
        );
        write(&format!("{config_dir}/config.json"), &json)?;
        write(&format!("{config_dir}/hello-web.conf"), &conf)?;
        if let Some(file) = ctx.param("version_file").filter(|f| !f.is_empty()) {
            write(file, &format!("{version}\n"))?;
        }
        Ok(())
    }
}

fn write(path: &str, contents: &str) -> Result<(), String> {
    fs::write(path, contents).map_err(|e| {
        format!("cannot write `{path}`: {e} (is its directory granted read-write?)")
    })?;
    info!("wrote {path} ({} bytes)", contents.len());
    Ok(())
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

davit_sdk::export_hook!(AfterInstall);

#[cfg(test)]
mod tests {
    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(super::json_string("a\"b\\c\n\u{1}"), r#""a\"b\\c\n\u0001""#);
    }
}
