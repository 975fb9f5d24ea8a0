//! Raw appspec → [`AppSpec`]: every check that needs more than the YAML shape, each with the
//! location of the value at fault, following the CodeDeploy agent's `application_specification`
//! parser (every `AppSpecValidationException` it raises is an error here too) plus davit's own,
//! stricter rules.
//!
//! Errors in values of `files`, `permissions` and hooks are collected, every one of them, so
//! a document like AWS's placeholder template (`destination: destination-file-location`,
//! `mode: mode-specification`, `timeout: timeout-in-seconds`) is refused with all its mistakes
//! at once, as a [`SpecError::Several`]. Any error means no [`AppSpec`].

use std::collections::BTreeMap;
use std::time::Duration;

use super::raw::{
    ListOrMap, RawAppSpec, RawContext, RawHook, RawPermission, S, Scalar, StrOrList, StrOrMap,
};
use super::{AclEntry, Mode, ObjectType, Permission, SeContext, selinux};
use super::{
    AppSpec, Event, FileExistsBehavior, FileMapping, Hook, HookId, HookKind, HookLocation, Os,
};
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

    /// Validates one value like [`Ctx::check`], but a failure is pushed to `errors` so that
    /// validation goes on and finds the others.
    pub fn soft<'s, V>(
        &self,
        errors: &mut Vec<SpecError>,
        key: &'static str,
        s: &'s S<String>,
        parse: impl FnOnce(&'s str) -> Result<V, ValueError>,
    ) -> Option<V> {
        self.check(key, s, parse)
            .map_err(|error| errors.push(error))
            .ok()
    }
}

pub(crate) fn appspec(src: Source<'_>, raw: RawAppSpec) -> Result<AppSpec, SpecError> {
    let mut errors = Vec::new();
    let result = build(src, raw, &mut errors);
    match result {
        Ok(spec) if errors.is_empty() => return Ok(spec),
        Ok(_) => {}
        Err(error) => errors.push(error),
    }
    errors.sort_by(|a, b| a.location().cmp(&b.location()));
    Err(SpecError::from_list(errors).expect("an error"))
}

/// `version`: the number 0.0, as the CodeDeploy agent compares it (`0`, `0.00` are equal to it);
/// a quoted `"0.0"` is a string to the agent, and refused.
fn version(src: Source<'_>, raw: &S<Scalar>) -> Result<(), SpecError> {
    let at = src.yaml(&raw.referenced);
    let invalid = |error| SpecError::Invalid {
        at: at.clone(),
        key: "version",
        error,
    };
    match &raw.value {
        Scalar::Number(n) if n.trim().parse::<f64>() == Ok(0.0) => Ok(()),
        Scalar::Str(s) if s.trim().parse::<f64>() == Ok(0.0) => Err(invalid(ValueError::Quoted {
            expected: "`0.0`",
            got: s.clone(),
        })),
        Scalar::Number(t) | Scalar::Str(t) => Err(invalid(expected_one_of(&["0.0"], t))),
    }
}

/// Everything but the final verdict: an `Err` for an error that stops validation, every other
/// one pushed to `errors`.
fn build(
    src: Source<'_>,
    raw: RawAppSpec,
    errors: &mut Vec<SpecError>,
) -> Result<AppSpec, SpecError> {
    version(src, &raw.version)?;
    let mut cx = Ctx { src, os: Os::Linux };
    cx.os = cx.check("os", &raw.os, Os::try_from)?;
    let file_exists_behavior = match &raw.file_exists_behavior {
        Some(s) => cx.soft(
            errors,
            "file_exists_behavior",
            s,
            FileExistsBehavior::from_appspec,
        ),
        None => None,
    };
    let mut files = Vec::new();
    for f in raw.files.unwrap_or_default() {
        let source = cx.soft(errors, "source", &f.value.source, |t| {
            BundlePath::parse(t, cx.os)
        });
        let destination = cx.soft(errors, "destination", &f.value.destination, |t| {
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
            permissions.extend(permission(&cx, p.value, at, errors));
        }
    }
    let mut hooks: BTreeMap<Event, Vec<Hook>> = BTreeMap::new();
    for (name, list) in raw.hooks.map(|h| h.0).unwrap_or_default() {
        let event = Event::parse(&name.value).map_err(|error| SpecError::Event {
            at: cx.at(&name),
            error,
        })?;
        // An event with no list (`ApplicationStop:`) has no hooks, as for the agent.
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
            let h = hook(&cx, id, raw_hook.value, at, errors)?;
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
    Ok(AppSpec {
        file: src.file.to_owned(),
        os: cx.os,
        files,
        permissions,
        hooks,
        file_exists_behavior,
    })
}

/// A validated hook; an invalid `timeout` is pushed to `errors` (the hook is still returned, for
/// the checks that follow).
fn hook(
    cx: &Ctx<'_>,
    id: HookId,
    raw: RawHook,
    at: Location,
    errors: &mut Vec<SpecError>,
) -> Result<Hook, SpecError> {
    let location = cx.check("location", &raw.location, |t| {
        HookLocation::parse(t.trim(), cx.os)
    })?;
    let kind = HookKind::of(&location);
    let requested_timeout = raw
        .timeout
        .as_ref()
        .and_then(|t| cx.soft(errors, "timeout", t, timeout));
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
    Ok(Hook {
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
    })
}

/// A hook timeout: whole seconds, 1 to 3600 (CodeDeploy's maximum). The agent refuses 0 and
/// below (and anything that does not start with a number, `soon`); davit is stricter, and also
/// refuses what the agent would cut to a number (`1.5`, `60s`) and more than 3600.
pub(crate) fn timeout(text: &str) -> Result<Duration, ValueError> {
    let max = Hook::MAX_TIMEOUT.as_secs();
    match text.trim().parse::<u64>() {
        Ok(0) | Err(_) => Err(ValueError::Timeout {
            got: text.to_owned(),
        }),
        Ok(s) if s > max => Err(ValueError::TimeoutTooLong { got: s, max }),
        Ok(s) => Ok(Duration::from_secs(s)),
    }
}

/// A validated permission, or `None` if any of its values is invalid (each one pushed).
fn permission(
    cx: &Ctx<'_>,
    raw: RawPermission,
    at: Location,
    errors: &mut Vec<SpecError>,
) -> Option<Permission> {
    let before = errors.len();
    let object = cx.soft(errors, "object", &raw.object, |t| {
        AbsPath::try_from(t.trim())
    });
    // Any glob the agent's matcher takes is tolerated, also with `type: [file]`: it refuses a
    // `pattern` only when the `object` turns out to be a file (`Permission::check_file_object`).
    let pattern = match &raw.pattern {
        Some(p) => cx.soft(errors, "pattern", p, glob),
        None => Some("**".to_owned()),
    };
    let except_at = raw.except.as_ref().map(|e| cx.at(e));
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
        .filter_map(|e| cx.soft(errors, "except", e, glob))
        .collect();
    let owner = raw
        .owner
        .as_ref()
        .and_then(|o| cx.soft(errors, "owner", o, name));
    let group = raw
        .group
        .as_ref()
        .and_then(|g| cx.soft(errors, "group", g, name));
    let mode = raw
        .mode
        .as_ref()
        .and_then(|m| cx.soft(errors, "mode", m, |t| Mode::try_from(t.trim())));
    let acls = match raw.acls {
        None => Vec::new(),
        Some(ListOrMap::List(list)) => list,
        Some(ListOrMap::Map(map)) => map.entries,
    };
    let acls: Vec<AclEntry> = acls
        .iter()
        .filter_map(|a| cx.soft(errors, "acls", a, |t| AclEntry::try_from(t.trim())))
        .collect();
    let mut types: Vec<ObjectType> = raw
        .types
        .unwrap_or_default()
        .iter()
        .filter_map(|t| cx.soft(errors, "type", t, ObjectType::try_from))
        .collect();
    if types.is_empty() {
        types = vec![ObjectType::File, ObjectType::Directory];
    }
    let context = raw.context.and_then(|c| context(cx, c, errors));
    if errors.len() > before {
        return None;
    }
    Some(Permission {
        object: object?,
        pattern: pattern?,
        pattern_at: raw.pattern.as_ref().map(|p| cx.at(p)),
        except,
        except_at,
        owner,
        group,
        mode,
        acls,
        context,
        types,
        at,
    })
}

/// A validated SELinux `context`: a `type` that is not blank, and a `range` the agent reads.
fn context(cx: &Ctx<'_>, raw: RawContext, errors: &mut Vec<SpecError>) -> Option<SeContext> {
    let kind = cx.soft(errors, "type", &raw.kind, name);
    let range = match raw.range {
        None => None,
        Some(r) => {
            let text = match &r.value {
                StrOrMap::Str(s) => s.clone(),
                StrOrMap::Map(m) => match &m.high {
                    Some(high) => format!("{}-{high}", m.low),
                    None => m.low.clone(),
                },
            };
            let range = S {
                value: text,
                referenced: r.referenced,
                defined: r.defined,
            };
            let checked = cx.soft(errors, "range", &range, |t| selinux::check_range(t.trim()));
            Some(checked.map(|()| range.value.trim().to_owned()))
        }
    };
    Some(SeContext {
        user: raw.user.or(raw.name),
        role: raw.role,
        kind: kind?,
        range: range.flatten(),
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
