//! Raw appspec → [`AppSpec`]: every check that needs more than the YAML shape, each with the
//! location of the value at fault.
//!
//! Two kinds of findings. Errors fail the parse: the document's structure, `version`, `os`,
//! `file_exists_behavior`, events, hooks (except a timeout that is not a number), grants.
//! Problems — a value in a `files` or `permissions` entry that does not validate, as in AWS's
//! placeholder template (`destination: destination-file-location`, `mode: mode-specification`),
//! and a hook `timeout` that is not a number (`timeout: timeout-in-seconds`) — are collected
//! into [`AppSpec::problems`], every one of them, and the entry they are in is dropped: the
//! appspec can still be checked and described, but [`AppSpec::runnable_here`] refuses it.

use std::collections::BTreeMap;
use std::time::Duration;

use super::raw::{ListOrMap, RawAppSpec, RawHook, RawPermission, S, StrOrList, StrOrMap};
use super::{
    AppSpec, Event, FileExistsBehavior, FileMapping, Hook, HookId, HookKind, HookLocation, Os,
};
use super::{Mode, ObjectType, Permission, SeContext, model::check_acl};
use crate::error::{SpecError, ValueError, expected_one_of};
use crate::location::{Location, Source};
use crate::path::{AbsPath, BundlePath, Destination};

/// What validation needs besides the raw values: where they came from, and the appspec's OS.
pub(crate) struct Ctx<'a> {
    pub src: Source<'a>,
    pub os: Os,
}

impl Ctx<'_> {
    pub fn at<T>(&self, s: &S<T>) -> Location {
        self.src.yaml(&s.referenced)
    }

    /// Validates one value, blaming `key` at the value's location.
    pub fn check<'s, V>(
        &self,
        key: &'static str,
        s: &'s S<String>,
        parse: impl FnOnce(&'s str) -> Result<V, ValueError>,
    ) -> Result<V, SpecError> {
        parse(&s.value).map_err(|error| SpecError::Invalid {
            at: self.at(s),
            key,
            error,
        })
    }

    /// Validates one value like [`Ctx::check`], but a failure is a problem, pushed to
    /// `problems`, not an error.
    pub fn soft<'s, V>(
        &self,
        problems: &mut Vec<SpecError>,
        key: &'static str,
        s: &'s S<String>,
        parse: impl FnOnce(&'s str) -> Result<V, ValueError>,
    ) -> Option<V> {
        self.check(key, s, parse)
            .map_err(|problem| problems.push(problem))
            .ok()
    }
}

pub(crate) fn appspec(src: Source<'_>, raw: RawAppSpec) -> Result<AppSpec, SpecError> {
    let version_ok = raw.version.value.trim().parse::<f64>() == Ok(0.0);
    if !version_ok {
        return Err(SpecError::Invalid {
            at: src.yaml(&raw.version.referenced),
            key: "version",
            error: expected_one_of(&["0.0"], &raw.version.value),
        });
    }
    let mut cx = Ctx { src, os: Os::Linux };
    cx.os = cx.check("os", &raw.os, Os::try_from)?;
    let file_exists_behavior = match &raw.file_exists_behavior {
        Some(s) => Some(cx.check("file_exists_behavior", s, FileExistsBehavior::try_from)?),
        None => None,
    };
    let mut problems = Vec::new();
    let mut files = Vec::new();
    for f in raw.files.unwrap_or_default() {
        let source = cx.soft(&mut problems, "source", &f.value.source, |t| {
            BundlePath::parse(t, cx.os)
        });
        let destination = cx.soft(&mut problems, "destination", &f.value.destination, |t| {
            Destination::parse(t, cx.os)
        });
        if let (Some(source), Some(destination)) = (source, destination) {
            files.push(FileMapping {
                source,
                destination,
                at: cx.at(&f),
            });
        }
    }
    let mut permissions = Vec::new();
    if let Some(list) = raw.permissions {
        if cx.os == Os::Windows && !list.value.is_empty() {
            return Err(SpecError::PermissionsOnWindows { at: cx.at(&list) });
        }
        for p in list.value {
            let at = cx.at(&p);
            permissions.extend(permission(&cx, p.value, at, &mut problems));
        }
    }
    let mut hooks: BTreeMap<Event, Vec<Hook>> = BTreeMap::new();
    for (name, list) in raw.hooks.map(|h| h.0).unwrap_or_default() {
        let event = Event::parse(&name.value).map_err(|error| SpecError::Event {
            at: cx.at(&name),
            error,
        })?;
        let list = list.unwrap_or_default();
        if !event.is_scriptable() && !list.is_empty() {
            return Err(SpecError::NotScriptable {
                at: cx.at(&name),
                event,
            });
        }
        let mut seen: Vec<(HookLocation, Location)> = Vec::new();
        for raw_hook in list {
            let id = HookId {
                event: event.clone(),
                index: seen.len(),
            };
            let at = cx.at(&raw_hook);
            // A hook with a problem is dropped before the duplicate check: the template's
            // second `script-location` is the one with `timeout: timeout-in-seconds`.
            let Some(h) = hook(&cx, id, raw_hook.value, at, &mut problems)? else {
                continue;
            };
            // A built-in plugin may run twice with other parameters (two URLs to check).
            let file = matches!(h.location, HookLocation::Bundle(_));
            if let Some((_, first)) = seen.iter().find(|(loc, _)| file && *loc == h.location) {
                return Err(SpecError::DuplicateHook {
                    at: h.at,
                    event,
                    location: h.location.to_string(),
                    first: first.clone(),
                });
            }
            seen.push((h.location.clone(), h.at.clone()));
            hooks.entry(event.clone()).or_default().push(h);
        }
    }
    problems.sort_by(|a, b| a.location().cmp(&b.location()));
    Ok(AppSpec {
        file: src.file.to_owned(),
        os: cx.os,
        files,
        permissions,
        hooks,
        file_exists_behavior,
        problems,
    })
}

/// A validated hook, or `None` if its `timeout` is not a number (a problem, pushed).
fn hook(
    cx: &Ctx<'_>,
    id: HookId,
    raw: RawHook,
    at: Location,
    problems: &mut Vec<SpecError>,
) -> Result<Option<Hook>, SpecError> {
    let location = cx.check("location", &raw.location, |t| {
        HookLocation::parse(t.trim(), cx.os)
    })?;
    let kind = HookKind::of(&location);
    let mut dropped = false;
    let requested_timeout = match &raw.timeout {
        // Not a number at all, like `timeout-in-seconds`: a placeholder left in a template.
        Some(t) if t.value.trim().parse::<u64>().is_err() => {
            dropped = true;
            cx.soft(problems, "timeout", t, timeout)
        }
        Some(t) => Some(cx.check("timeout", t, timeout)?),
        None => None,
    };
    let parameters = raw
        .parameters
        .map(|p| p.0)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.value, v.value))
        .collect();
    let grants = match raw.grants {
        Some(g) if kind == HookKind::NativeScript => {
            return Err(SpecError::GrantsOnNativeScript {
                at: cx.at(&g),
                location: location.to_string(),
            });
        }
        Some(g) => super::grants::request(cx, g.value)?,
        None => Default::default(),
    };
    if dropped {
        return Ok(None);
    }
    Ok(Some(Hook {
        id,
        location,
        kind,
        requested_timeout,
        runas: raw
            .runas
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty()),
        parameters,
        grants,
        at,
    }))
}

/// A hook timeout: whole seconds, 1 to 3600 (CodeDeploy's maximum).
fn timeout(text: &str) -> Result<Duration, ValueError> {
    let max = Hook::MAX_TIMEOUT.as_secs();
    match text.trim().parse::<u64>() {
        Ok(0) | Err(_) => Err(ValueError::Timeout {
            got: text.to_owned(),
        }),
        Ok(s) if s > max => Err(ValueError::TimeoutTooLong { got: s, max }),
        Ok(s) => Ok(Duration::from_secs(s)),
    }
}

/// A validated permission, or `None` if any of its values has a problem (each one pushed).
fn permission(
    cx: &Ctx<'_>,
    raw: RawPermission,
    at: Location,
    problems: &mut Vec<SpecError>,
) -> Option<Permission> {
    let before = problems.len();
    let object = cx.soft(problems, "object", &raw.object, |t| {
        AbsPath::try_from(t.trim())
    });
    let pattern = match &raw.pattern {
        Some(p) => cx.soft(problems, "pattern", p, glob),
        None => Some("**".to_owned()),
    };
    let except = match raw.except {
        None => Vec::new(),
        Some(S {
            value: StrOrList::Str(one),
            referenced,
            defined,
        }) => vec![S {
            value: one,
            referenced,
            defined,
        }],
        Some(S {
            value: StrOrList::List(list),
            ..
        }) => list,
    };
    let except: Vec<String> = except
        .iter()
        .filter_map(|e| cx.soft(problems, "except", e, glob))
        .collect();
    let owner = raw
        .owner
        .as_ref()
        .and_then(|o| cx.soft(problems, "owner", o, name));
    let group = raw
        .group
        .as_ref()
        .and_then(|g| cx.soft(problems, "group", g, name));
    let mode = raw
        .mode
        .as_ref()
        .and_then(|m| cx.soft(problems, "mode", m, |t| Mode::try_from(t.trim())));
    let acls = match raw.acls {
        None => Vec::new(),
        Some(ListOrMap::List(list)) => list,
        Some(ListOrMap::Map(map)) => map.entries,
    };
    for acl in &acls {
        cx.soft(problems, "acls", acl, check_acl);
    }
    let mut types: Vec<ObjectType> = raw
        .types
        .unwrap_or_default()
        .iter()
        .filter_map(|t| cx.soft(problems, "type", t, ObjectType::try_from))
        .collect();
    if types.is_empty() {
        types = vec![ObjectType::File, ObjectType::Directory];
    }
    let context = raw.context.map(|c| SeContext {
        user: c.user.or(c.name),
        role: c.role,
        kind: c.kind,
        range: c.range.map(|r| match r {
            StrOrMap::Str(s) => s,
            StrOrMap::Map(m) => match m.high {
                Some(high) => format!("{}-{high}", m.low),
                None => m.low,
            },
        }),
    });
    if problems.len() > before {
        return None;
    }
    Some(Permission {
        object: object?,
        pattern: pattern?,
        except,
        owner,
        group,
        mode,
        acls: acls.into_iter().map(|s| s.value).collect(),
        context,
        types,
        at,
    })
}

/// A `pattern` or `except` glob: not empty, no NUL byte.
fn glob(text: &str) -> Result<String, ValueError> {
    if text.trim().is_empty() {
        Err(ValueError::Empty)
    } else if text.contains('\0') {
        Err(ValueError::Nul)
    } else {
        Ok(text.to_owned())
    }
}

/// An `owner` or `group`: a user or group name (or id), not blank.
fn name(text: &str) -> Result<String, ValueError> {
    if text.trim().is_empty() {
        Err(ValueError::Empty)
    } else {
        Ok(text.to_owned())
    }
}
