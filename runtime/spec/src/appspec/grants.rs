//! Raw `grants` of a hook → [`GrantRequest`].

use super::raw::{RawGrants, StrOrMap};
use super::validate::Ctx;
use crate::command::{ArgPattern, CommandGrant};
use crate::error::{SpecError, ValueError};
use crate::grant::{Access, EnvGrant, EnvName, GrantRequest, GrantedDir, LimitsRequest};
use crate::location::Located;
use crate::net::TcpTarget;
use crate::path::AbsPath;
use crate::units::ByteSize;
use crate::url::UrlPrefix;

pub(crate) fn request(cx: &Ctx<'_>, raw: RawGrants) -> Result<GrantRequest, SpecError> {
    let mut out = GrantRequest::default();
    for d in raw.directories.unwrap_or_default() {
        let access = match &d.value.access {
            Some(a) => cx.check("access", a, Access::try_from)?,
            None => Access::default(),
        };
        let dir = GrantedDir {
            path: cx.check("path", &d.value.path, AbsPath::try_from)?,
            access,
        };
        out.directories.push(Located::new(dir, cx.at(&d)));
    }
    for t in raw.tcp.unwrap_or_default() {
        let target = cx.check("tcp", &t, TcpTarget::try_from)?;
        out.tcp.push(Located::new(target, cx.at(&t)));
    }
    for u in raw.urls.unwrap_or_default() {
        let prefix = cx.check("urls", &u, UrlPrefix::try_from)?;
        out.urls.push(Located::new(prefix, cx.at(&u)));
    }
    for c in raw.commands.unwrap_or_default() {
        let at = cx.at(&c);
        let program = cx.check("program", &c.value.program, AbsPath::try_from)?;
        let raw_args = c.value.args.unwrap_or_default();
        let mut args = Vec::new();
        for a in &raw_args {
            args.push(cx.check("args", a, ArgPattern::try_from)?);
        }
        let grant = CommandGrant::new(program, args).map_err(|error| {
            let at = match &error {
                ValueError::DoubleStarNotLast { position } => cx.at(&raw_args[position - 1]),
                _ => at.clone(),
            };
            SpecError::Invalid {
                at,
                key: "args",
                error,
            }
        })?;
        out.commands.push(Located::new(grant, at));
    }
    for e in raw.env.unwrap_or_default() {
        let at = cx.at(&e);
        let grant = match e.value {
            StrOrMap::Str(name) => EnvGrant {
                name: EnvName::try_from(name.as_str()).map_err(|error| SpecError::Invalid {
                    at: at.clone(),
                    key: "env",
                    error,
                })?,
                value: None,
            },
            StrOrMap::Map(m) => EnvGrant {
                name: cx.check("name", &m.name, EnvName::try_from)?,
                value: m.value,
            },
        };
        out.env.push(Located::new(grant, at));
    }
    if let Some(limits) = raw.limits {
        let size = |key, s: &Option<super::raw::S<String>>| -> Result<_, SpecError> {
            match s {
                Some(s) => Ok(Some(Located::new(
                    cx.check(key, s, ByteSize::try_from)?,
                    cx.at(s),
                ))),
                None => Ok(None),
            }
        };
        out.limits = LimitsRequest {
            memory: size("memory", &limits.memory)?,
            output: size("output", &limits.output)?,
        };
    }
    Ok(out)
}
