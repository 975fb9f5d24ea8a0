//! Raw appspec → [`AppSpec`]: every check that needs more than the YAML shape, each failing with
//! the location of the value at fault.

use std::collections::BTreeMap;
use std::time::Duration;

use super::raw::{ListOrMap, RawAppSpec, RawHook, RawPermission, S, StrOrMap};
use super::{AppSpec, Event, FileExistsBehavior, FileMapping, Hook, HookId, HookKind, Os};
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
    let mut files = Vec::new();
    for f in raw.files.unwrap_or_default() {
        files.push(FileMapping {
            source: cx.check("source", &f.value.source, |t| BundlePath::parse(t, cx.os))?,
            destination: cx.check("destination", &f.value.destination, |t| {
                Destination::parse(t, cx.os)
            })?,
            at: cx.at(&f),
        });
    }
    let mut permissions = Vec::new();
    if let Some(list) = raw.permissions {
        if cx.os == Os::Windows && !list.value.is_empty() {
            return Err(SpecError::PermissionsOnWindows { at: cx.at(&list) });
        }
        for p in list.value {
            let at = cx.at(&p);
            permissions.push(permission(&cx, p.value, at)?);
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
        let mut seen: Vec<(BundlePath, Location)> = Vec::new();
        for (index, raw_hook) in list.into_iter().enumerate() {
            let id = HookId {
                event: event.clone(),
                index,
            };
            let at = cx.at(&raw_hook);
            let h = hook(&cx, id, raw_hook.value, at)?;
            if let Some((_, first)) = seen.iter().find(|(loc, _)| *loc == h.location) {
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

fn hook(cx: &Ctx<'_>, id: HookId, raw: RawHook, at: Location) -> Result<Hook, SpecError> {
    let location = cx.check("location", &raw.location, |t| {
        let p = BundlePath::parse(t.trim(), cx.os)?;
        if p.is_root() {
            Err(ValueError::Empty)
        } else {
            Ok(p)
        }
    })?;
    let kind = HookKind::of(location.as_str());
    let requested_timeout = match &raw.timeout {
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

fn permission(cx: &Ctx<'_>, raw: RawPermission, at: Location) -> Result<Permission, SpecError> {
    let strings = |list: Option<Vec<S<String>>>| -> Vec<S<String>> { list.unwrap_or_default() };
    let acls = match raw.acls {
        None => Vec::new(),
        Some(ListOrMap::List(list)) => list,
        Some(ListOrMap::Map(map)) => map.entries,
    };
    for acl in &acls {
        cx.check("acls", acl, check_acl)?;
    }
    let mut types = Vec::new();
    for t in strings(raw.types) {
        types.push(cx.check("type", &t, ObjectType::try_from)?);
    }
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
    Ok(Permission {
        object: cx.check("object", &raw.object, |t| AbsPath::try_from(t.trim()))?,
        pattern: raw.pattern.map_or_else(|| "**".to_owned(), |p| p.value),
        except: strings(raw.except).into_iter().map(|s| s.value).collect(),
        owner: raw.owner.map(|s| s.value),
        group: raw.group.map(|s| s.value),
        mode: match &raw.mode {
            Some(m) => Some(cx.check("mode", m, |t| Mode::try_from(t.trim()))?),
            None => None,
        },
        acls: acls.into_iter().map(|s| s.value).collect(),
        context,
        types,
        at,
    })
}
