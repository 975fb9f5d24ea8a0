//! A host policy that allows exactly what an appspec asks for: a starting point for the host's
//! administrator to review, never applied by davit on its own.

use std::collections::BTreeSet;

use toml::{Table, Value};

use crate::appspec::{AppSpec, HookKind};
use crate::grant::{Access, Limits};
use crate::path::Destination;
use crate::policy::{SETUID_BITS, WORLD_WRITABLE_BIT};
use crate::units::format_duration;

/// The policy text (TOML) that allows every grant, native script and limit `spec` requests, and
/// every `files` destination, `permissions` mode, owner and group it installs, and nothing more.
/// [`HostPolicy::check_appspec`](super::HostPolicy::check_appspec) and
/// [`HostPolicy::check_install`](super::HostPolicy::check_install) accept `spec` under it.
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
    if let Some(install) = install(spec) {
        doc.insert("install".into(), install);
    }
    let mut text = format!(
        "# The host policy that allows exactly what `{}` asks for.\n\
         # Review every rule before installing it as /etc/davit/policy.toml.\n\n",
        spec.file
    );
    text.push_str(&toml::to_string(&doc).expect("a table of strings serializes"));
    text
}

/// The `[install]` table that allows exactly `spec`'s `files` and `permissions`: its
/// destinations, a flag only where a mode asks for it, the owners and groups it names. The
/// bundle's own file modes are not in the appspec: a bundle whose files are world-writable needs
/// `allow_world_writable = true` added by hand.
fn install(spec: &AppSpec) -> Option<Value> {
    let destinations = unique(spec.files.iter().filter_map(|f| match &f.destination {
        Destination::Unix(path) => Some(Value::from(path.as_str())),
        Destination::Windows(_) => None,
    }));
    let modes = || {
        spec.permissions
            .iter()
            .filter_map(|p| p.mode.map(|m| m.bits()))
    };
    let mut table = Table::new();
    if !destinations.is_empty() {
        table.insert("destinations".into(), Value::Array(destinations));
    }
    if modes().any(|m| m & SETUID_BITS != 0) {
        table.insert("allow_setuid".into(), true.into());
    }
    if modes().any(|m| m & WORLD_WRITABLE_BIT != 0) {
        table.insert("allow_world_writable".into(), true.into());
    }
    let owners = unique(
        spec.permissions
            .iter()
            .filter_map(|p| p.owner.as_deref())
            .map(Value::from),
    );
    let groups = unique(
        spec.permissions
            .iter()
            .filter_map(|p| p.group.as_deref())
            .map(Value::from),
    );
    for (key, names) in [("owners", owners), ("groups", groups)] {
        if !names.is_empty() {
            table.insert(key.into(), Value::Array(names));
        }
    }
    (!table.is_empty()).then_some(Value::Table(table))
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
