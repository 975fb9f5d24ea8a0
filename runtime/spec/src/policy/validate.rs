//! Raw policy → [`HostPolicy`].

use super::raw::{RawLimits, RawPolicy, S};
use super::{EnvPattern, HostPattern, HostPolicy, PolicyLimits, PolicyMax, PortRange, TcpRule};
use crate::command::{ArgPattern, CommandGrant};
use crate::error::{SpecError, ValueError};
use crate::grant::{Access, GrantedDir};
use crate::location::{Located, Location, Source};
use crate::path::AbsPath;
use crate::units::{ByteSize, parse_duration};
use crate::url::UrlPrefix;

pub(super) struct Ctx<'a> {
    src: Source<'a>,
}

impl Ctx<'_> {
    pub(super) fn at<T>(&self, s: &S<T>) -> Location {
        self.src.offset(s.span().start)
    }

    pub(super) fn check<'s, V>(
        &self,
        key: &'static str,
        s: &'s S<String>,
        parse: impl FnOnce(&'s str) -> Result<V, ValueError>,
    ) -> Result<V, SpecError> {
        parse(s.get_ref()).map_err(|error| SpecError::Invalid {
            at: self.at(s),
            key,
            error,
        })
    }
}

pub(super) fn policy(src: Source<'_>, raw: RawPolicy) -> Result<HostPolicy, SpecError> {
    let cx = Ctx { src };
    let mut out = HostPolicy {
        file: src.file.to_owned(),
        ..HostPolicy::default()
    };
    out.allow_native_scripts = raw
        .allow_native_scripts
        .map(|a| Located::new(*a.get_ref(), cx.at(&a)));
    if let Some(users) = raw.native_script_users {
        let mut names = Vec::new();
        for u in users.get_ref() {
            names.push(cx.check("native_script_users", u, |t| {
                if t.trim().is_empty() {
                    Err(ValueError::Empty)
                } else {
                    Ok(t.trim().to_owned())
                }
            })?);
        }
        out.native_script_users = Some(Located::new(names, cx.at(&users)));
    }
    if let Some(limits) = raw.limits {
        out.limits = self::limits(&cx, limits)?;
    }
    if let Some(install) = raw.install {
        out.install = super::install::install(&cx, install)?;
    }
    if let Some(signatures) = raw.signatures {
        out.require_signature = signatures
            .require
            .as_ref()
            .map(|r| Located::new(*r.get_ref(), cx.at(r)));
        for key in &signatures.trusted_keys {
            let text = cx.check("trusted_keys", key, |t| {
                let hex = t.strip_prefix("ed25519:").unwrap_or("");
                if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    Ok(t.to_owned())
                } else {
                    Err(ValueError::PublicKey { got: t.to_owned() })
                }
            })?;
            out.trusted_keys.push(Located::new(text, cx.at(key)));
        }
        if out.signature_required() && out.trusted_keys.is_empty() {
            let at = out
                .require_signature
                .as_ref()
                .expect("require is set")
                .at
                .clone();
            return Err(SpecError::Invalid {
                at,
                key: "require",
                error: ValueError::NoTrustedKeys,
            });
        }
    }
    for d in raw.directories {
        let access = match &d.get_ref().access {
            Some(a) => cx.check("access", a, Access::try_from)?,
            None => Access::Read,
        };
        let path = cx.check("path", &d.get_ref().path, AbsPath::try_from)?;
        out.directories
            .push(Located::new(GrantedDir { path, access }, cx.at(&d)));
    }
    for t in raw.tcp {
        let host = cx.check("host", &t.get_ref().host, HostPattern::try_from)?;
        let ports = &t.get_ref().ports;
        let ports = PortRange::try_from(ports.get_ref().0.as_str()).map_err(|error| {
            SpecError::Invalid {
                at: cx.at(ports),
                key: "ports",
                error,
            }
        })?;
        out.tcp
            .push(Located::new(TcpRule { host, ports }, cx.at(&t)));
    }
    for u in raw.urls {
        let prefix = cx.check("prefix", &u.get_ref().prefix, UrlPrefix::try_from)?;
        out.urls.push(Located::new(prefix, cx.at(&u)));
    }
    for c in raw.commands {
        let program = cx.check("program", &c.get_ref().program, AbsPath::try_from)?;
        let raw_args = &c.get_ref().args;
        let mut args = Vec::new();
        for a in raw_args {
            args.push(cx.check("args", a, ArgPattern::try_from)?);
        }
        let grant = CommandGrant::new(program, args).map_err(|error| {
            let at = match &error {
                ValueError::DoubleStarNotLast { position } => cx.at(&raw_args[position - 1]),
                _ => cx.at(&c),
            };
            SpecError::Invalid {
                at,
                key: "args",
                error,
            }
        })?;
        out.commands.push(Located::new(grant, cx.at(&c)));
    }
    for e in raw.env {
        let pattern = cx.check("name", &e.get_ref().name, EnvPattern::try_from)?;
        out.env.push(Located::new(pattern, cx.at(&e)));
    }
    Ok(out)
}

fn limits(cx: &Ctx<'_>, raw: RawLimits) -> Result<PolicyLimits, SpecError> {
    let mut out = PolicyLimits::default();
    let invalid = |key, s: &S<super::raw::Text>, error| SpecError::Invalid {
        at: cx.at(s),
        key,
        error,
    };
    if let Some(t) = &raw.max_timeout {
        out.max_timeout = PolicyMax {
            value: parse_duration(&t.get_ref().0).map_err(|e| invalid("max_timeout", t, e))?,
            at: Some(cx.at(t)),
        };
    }
    let size = |key, s: &Option<S<super::raw::Text>>, default: PolicyMax<ByteSize>| match s {
        Some(s) => Ok(PolicyMax {
            value: ByteSize::try_from(s.get_ref().0.as_str()).map_err(|e| invalid(key, s, e))?,
            at: Some(cx.at(s)),
        }),
        None => Ok(default),
    };
    out.max_memory = size("max_memory", &raw.max_memory, out.max_memory)?;
    out.max_output = size("max_output", &raw.max_output, out.max_output)?;
    if let Some(n) = &raw.max_services {
        out.max_services = PolicyMax {
            value: *n.get_ref(),
            at: Some(cx.at(n)),
        };
    }
    Ok(out)
}
