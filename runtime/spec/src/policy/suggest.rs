//! A host policy that allows exactly what an appspec asks for: a starting point for the host's
//! administrator to review, never applied by davit on its own.

use std::collections::BTreeSet;

use toml::{Table, Value};

use crate::appspec::{AppSpec, HookKind};
use crate::grant::{Access, Limits};
use crate::units::format_duration;

/// The policy text (TOML) that allows every grant, native script and limit `spec` requests, and
/// nothing more. [`HostPolicy::check_appspec`](super::HostPolicy::check_appspec) accepts `spec`
/// under it.
pub fn suggest(spec: &AppSpec) -> String {
    let hooks: Vec<_> = spec.all_hooks().collect();
    let mut doc = Table::new();

    let native: BTreeSet<&str> = hooks
        .iter()
        .filter(|h| h.kind == HookKind::NativeScript)
        .map(|h| h.runas.as_deref().unwrap_or("root"))
        .collect();
    if !native.is_empty() {
        doc.insert("allow_native_scripts".into(), true.into());
        doc.insert("native_script_users".into(), strings(native));
    }

    if !hooks.is_empty() {
        let timeout = hooks.iter().map(|h| h.timeout()).max().unwrap_or_default();
        let memory = hooks
            .iter()
            .map(|h| &h.grants.limits.memory)
            .map(|m| m.as_ref().map_or(Limits::DEFAULT_MEMORY, |m| m.value));
        let output = hooks
            .iter()
            .map(|h| &h.grants.limits.output)
            .map(|o| o.as_ref().map_or(Limits::DEFAULT_OUTPUT, |o| o.value));
        let limits = table([
            ("max_timeout", format_duration(timeout).into()),
            (
                "max_memory",
                memory
                    .max()
                    .unwrap_or(Limits::DEFAULT_MEMORY)
                    .to_string()
                    .into(),
            ),
            (
                "max_output",
                output
                    .max()
                    .unwrap_or(Limits::DEFAULT_OUTPUT)
                    .to_string()
                    .into(),
            ),
        ]);
        doc.insert("limits".into(), limits);
    }

    // Each rule once, read-write where any hook asks for it.
    let mut directories: Vec<(String, Access)> = Vec::new();
    for dir in hooks.iter().flat_map(|h| &h.grants.directories) {
        let path = dir.value.path.to_string();
        match directories.iter_mut().find(|(p, _)| *p == path) {
            Some((_, access)) => *access = (*access).max(dir.value.access),
            None => directories.push((path, dir.value.access)),
        }
    }
    let directories = directories.into_iter().map(|(path, access)| {
        let access = match access {
            Access::Read => "read",
            Access::ReadWrite => "read-write",
        };
        table([("path", path.into()), ("access", access.into())])
    });
    let tcp = unique(hooks.iter().flat_map(|h| &h.grants.tcp).map(|t| {
        table([
            ("host", t.value.host.to_string().into()),
            ("ports", t.value.port.to_string().into()),
        ])
    }));
    let urls = unique(
        hooks
            .iter()
            .flat_map(|h| &h.grants.urls)
            .map(|u| table([("prefix", u.value.to_string().into())])),
    );
    let commands = unique(hooks.iter().flat_map(|h| &h.grants.commands).map(|c| {
        table([
            ("program", c.value.program.to_string().into()),
            ("args", strings(c.value.args.iter().map(|a| a.as_str()))),
        ])
    }));
    let env = unique(
        hooks
            .iter()
            .flat_map(|h| &h.grants.env)
            .map(|e| table([("name", e.value.name.as_str().into())])),
    );
    for (key, rules) in [
        ("directories", directories.collect::<Vec<_>>()),
        ("tcp", tcp),
        ("urls", urls),
        ("commands", commands),
        ("env", env),
    ] {
        if !rules.is_empty() {
            doc.insert(key.into(), Value::Array(rules));
        }
    }
    let mut text = format!(
        "# The host policy that allows exactly what `{}` asks for.\n\
         # Review every rule before installing it as /etc/davit/policy.toml.\n\n",
        spec.file
    );
    text.push_str(&toml::to_string(&doc).expect("a table of strings serializes"));
    text
}

fn table<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Table(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> Value {
    Value::Array(items.into_iter().map(Value::from).collect())
}

/// The values in first-seen order, each once.
fn unique(values: impl Iterator<Item = Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}
