//! One check per kind of grant, each finding the closest policy rule for its refusal.

use super::{Check, rule};
use crate::command::CommandGrant;
use crate::grant::{EnvGrant, Grant, GrantedDir};
use crate::location::Located;
use crate::net::TcpTarget;
use crate::policy::HostPolicy;
use crate::refusal::Reason;
use crate::url::UrlPrefix;

impl HostPolicy {
    pub(super) fn check_native(&self, c: &mut Check<'_>) {
        let runas = c.subject.runas().map(str::to_owned);
        let grant = Grant::NativeScript {
            runas: runas.clone(),
        };
        let at = c.subject.at().clone();
        match (&self.allow_native_scripts, &self.native_script_users) {
            (Some(allow), Some(users)) if allow.value => {
                let runas = runas.as_deref().unwrap_or("root");
                if !users.value.iter().any(|u| u == runas) {
                    let reason = Reason::Runas {
                        at: users.at.clone(),
                        allowed: users.value.clone(),
                    };
                    c.refuse(grant, &at, reason);
                }
            }
            (Some(allow), None) if allow.value => {}
            (allow, _) => {
                let reason = Reason::NativeScripts {
                    at: allow.as_ref().map(|a| a.at.clone()),
                    policy: self.file.clone(),
                };
                c.refuse(grant, &at, reason);
            }
        }
    }

    pub(super) fn check_directory(&self, c: &mut Check<'_>, d: &Located<GrantedDir>) {
        let want = &d.value;
        let covering = self
            .directories
            .iter()
            .filter(|r| want.path.starts_with(&r.value.path));
        if covering.clone().any(|r| r.value.access >= want.access) {
            return;
        }
        let reason = match covering.max_by_key(|r| r.value.path.components().count()) {
            Some(r) => Reason::Access {
                rule: rule(
                    "directories",
                    r,
                    format!("{}, {}", r.value.path, r.value.access),
                ),
                allowed: r.value.access,
            },
            None => c.no_rule(),
        };
        c.refuse(Grant::Directory(want.clone()), &d.at, reason);
    }

    pub(super) fn check_tcp(&self, c: &mut Check<'_>, t: &Located<TcpTarget>) {
        let want = &t.value;
        let hosts = self
            .tcp
            .iter()
            .filter(|r| r.value.host.contains(&want.host));
        if hosts.clone().any(|r| r.value.ports.contains(want.port)) {
            return;
        }
        let reason = match hosts.clone().next() {
            Some(r) => Reason::Ports {
                rule: rule(
                    "tcp",
                    r,
                    format!("{} ports {}", r.value.host, r.value.ports),
                ),
                ports: r.value.ports,
            },
            None => c.no_rule(),
        };
        c.refuse(Grant::Tcp(want.clone()), &t.at, reason);
    }

    pub(super) fn check_url(&self, c: &mut Check<'_>, u: &Located<UrlPrefix>) {
        let want = &u.value;
        if self.urls.iter().any(|r| want.is_within(&r.value)) {
            return;
        }
        let same_origin = self.urls.iter().filter(|r| want.same_origin(&r.value));
        let reason = match same_origin.max_by_key(|r| r.value.path.len()) {
            Some(r) => Reason::UrlPath {
                rule: rule("urls", r, r.value.to_string()),
                prefix: r.value.clone(),
            },
            None => c.no_rule(),
        };
        c.refuse(Grant::Url(want.clone()), &u.at, reason);
    }

    /// `dirs` are the hook's own directory grants: a `{path:DIR}` argument must name one of
    /// them or lie beneath one, or the sandbox would have nothing to resolve it in.
    pub(super) fn check_command(
        &self,
        c: &mut Check<'_>,
        cmd: &Located<CommandGrant>,
        dirs: &[Located<GrantedDir>],
    ) {
        let want = &cmd.value;
        for (i, arg) in want.args.iter().enumerate() {
            if let Some(dir) = arg.path_under()
                && !dirs.iter().any(|d| dir.starts_with(&d.value.path))
            {
                let reason = Reason::PathNotGranted {
                    position: i + 1,
                    pattern: arg.clone(),
                };
                c.refuse(Grant::Command(want.clone()), &cmd.at, reason);
                return;
            }
        }
        let mut closest: Option<(&Located<CommandGrant>, usize)> = None;
        for r in &self.commands {
            match r.value.covers(want) {
                Ok(()) => return,
                Err(0) => {}
                Err(pos) if closest.is_none_or(|(_, best)| pos > best) => closest = Some((r, pos)),
                Err(_) => {}
            }
        }
        let reason = match closest {
            Some((r, position)) => Reason::Argument {
                rule: rule("commands", r, r.value.to_string()),
                position,
                allowed: r.value.pattern_at(position).cloned(),
                requested: want.args.get(position - 1).cloned(),
            },
            None => c.no_rule(),
        };
        c.refuse(Grant::Command(want.clone()), &cmd.at, reason);
    }

    /// A variable in [`LOADER_ENV`](crate::LOADER_ENV) is allowed only by a rule that names it
    /// exactly, any other by any rule that matches it.
    pub(super) fn check_env(&self, c: &mut Check<'_>, e: &Located<EnvGrant>) {
        let name = &e.value.name;
        let mut matching = self.env.iter().filter(|r| r.value.matches(name));
        let reason = if name.changes_loading() {
            if matching.clone().any(|r| r.value.as_str() == name.as_str()) {
                return;
            }
            match matching.next() {
                Some(glob) => Reason::LoaderEnvGlob {
                    name: name.clone(),
                    rule: rule("env", glob, glob.value.to_string()),
                },
                None => c.no_rule(),
            }
        } else if matching.next().is_some() {
            return;
        } else {
            c.no_rule()
        };
        c.refuse(Grant::Env(name.clone()), &e.at, reason);
    }
}
