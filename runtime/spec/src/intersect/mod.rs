//! The intersection of what hooks ask for and what the host policy allows.

mod install;
mod rules;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::appspec::{AppSpec, HookId, HookRef};
use crate::command::CommandGrant;
use crate::grant::{Access, EnvGrant, Grant, GrantRequest, GrantedDir, Limits};
use crate::location::{Located, Location};
use crate::net::TcpTarget;
use crate::path::AbsPath;
use crate::policy::{HostPolicy, PolicyMax};
use crate::refusal::{Reason, Refusal, RuleRef};
use crate::subject::Subject;
use crate::units::format_duration;
use crate::url::UrlPrefix;

pub use install::{InstallGrant, InstallRefusal};

/// What a hook may use, checked against the host policy: what the sandbox builds its context
/// from, and nothing more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EffectiveGrant {
    /// Directories and their access.
    pub directories: Vec<EffectiveDir>,
    /// TCP addresses it may connect to.
    pub tcp: Vec<TcpTarget>,
    /// URL prefixes it may fetch.
    pub urls: Vec<UrlPrefix>,
    /// Commands it may run (`{target-root}` unresolved: see [`EffectiveGrant::resolve`]).
    pub commands: Vec<CommandGrant>,
    /// Environment variables it sees.
    pub env: Vec<EnvGrant>,
    /// Its limits: as requested, or the default capped by the policy.
    pub limits: Limits,
}

impl EffectiveGrant {
    /// The grant with `{target-root}` in command arguments replaced by `target_root`.
    pub fn resolve(&self, target_root: &Path) -> Self {
        Self {
            commands: self
                .commands
                .iter()
                .map(|c| c.resolve(target_root))
                .collect(),
            ..self.clone()
        }
    }
}

/// A granted directory and the policy directory it is resolved beneath: the hook gets `path`,
/// found by following links from `beneath` without ever leaving it, so a link an earlier hook
/// planted on the way cannot hand it a directory outside the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EffectiveDir {
    /// The directory the hook asked for.
    pub path: AbsPath,
    /// Its access.
    pub access: Access,
    /// The policy's `[[directories]]` path that allows it (the broadest one that does).
    pub beneath: AbsPath,
}

/// Collects refusals for one hook or step.
struct Check<'a> {
    policy: &'a HostPolicy,
    subject: &'a Subject,
    refusals: Vec<Refusal>,
}

impl Check<'_> {
    fn refuse(&mut self, grant: Grant, at: &Location, reason: Reason) {
        self.refusals.push(Refusal {
            subject: self.subject.clone(),
            grant,
            at: at.clone(),
            reason,
        });
    }

    fn no_rule(&self) -> Reason {
        Reason::NoRule {
            policy: self.policy.file.clone(),
        }
    }

    /// The requested value if at most the policy maximum; the default capped by it if unset.
    fn limit<T: Copy + Ord>(
        &mut self,
        key: &'static str,
        requested: Option<(T, &Location)>,
        default: T,
        max: &PolicyMax<T>,
        grant: fn(T) -> Grant,
        show: fn(T) -> String,
    ) -> T {
        match requested {
            Some((value, at)) if value > max.value => {
                let reason = Reason::AboveMax {
                    key,
                    max: show(max.value),
                    at: max.at.clone(),
                    policy: self.policy.file.clone(),
                };
                self.refuse(grant(value), at, reason);
                value
            }
            Some((value, _)) => value,
            None => default.min(max.value),
        }
    }
}

fn pair<T: Copy>(r: &Option<Located<T>>) -> Option<(T, &Location)> {
    r.as_ref().map(|r| (r.value, &r.at))
}

fn values<T: Clone>(v: &[Located<T>]) -> Vec<T> {
    v.iter().map(|l| l.value.clone()).collect()
}

fn rule<T>(table: &'static str, rule: &Located<T>, summary: String) -> RuleRef {
    RuleRef {
        table,
        at: rule.at.clone(),
        summary,
    }
}

impl HostPolicy {
    /// `dir` (already allowed) with the broadest policy directory that allows it.
    fn effective_dir(&self, dir: &GrantedDir) -> EffectiveDir {
        let beneath = self
            .directories
            .iter()
            .filter(|r| dir.path.starts_with(&r.value.path) && r.value.access >= dir.access)
            .map(|r| &r.value.path)
            .min_by_key(|p| p.components().count())
            .unwrap_or(&dir.path)
            .clone();
        EffectiveDir {
            path: dir.path.clone(),
            access: dir.access,
            beneath,
        }
    }

    /// Checks one hook's request against the policy.
    ///
    /// A Wasm hook's `runas` is ignored (components never run as a user). A native script is
    /// refused unless `allow_native_scripts` is true, and then its `runas` (missing means
    /// `root`) must be in `native_script_users` if that is set.
    ///
    /// # Errors
    ///
    /// Every [`Refusal`], not just the first.
    pub fn check(
        &self,
        hook: &HookRef,
        request: &GrantRequest,
    ) -> Result<EffectiveGrant, Vec<Refusal>> {
        self.check_subject(&Subject::Hook(hook.clone()), request)
    }

    /// Checks what a hook or a component document's step asks for against the policy: the
    /// front-end-neutral form of [`HostPolicy::check`]. A step's timeout is capped by
    /// `max_timeout`, never refused (AWSTOE's default, 7200s, is above CodeDeploy's maximum).
    ///
    /// # Errors
    ///
    /// Every [`Refusal`], each naming the subject, the grant and the policy rule.
    pub fn check_subject(
        &self,
        subject: &Subject,
        request: &GrantRequest,
    ) -> Result<EffectiveGrant, Vec<Refusal>> {
        let mut c = Check {
            policy: self,
            subject,
            refusals: Vec::new(),
        };
        if subject.is_native() {
            self.check_native(&mut c);
        }
        for d in &request.directories {
            self.check_directory(&mut c, d);
        }
        for t in &request.tcp {
            self.check_tcp(&mut c, t);
        }
        for u in &request.urls {
            self.check_url(&mut c, u);
        }
        for cmd in &request.commands {
            self.check_command(&mut c, cmd, &request.directories);
        }
        for e in &request.env {
            self.check_env(&mut c, e);
        }
        let l = &self.limits;
        let (requested, default) = match subject {
            Subject::Hook(hook) => (
                hook.timeout.map(|t| (t, &hook.at)),
                crate::Hook::DEFAULT_TIMEOUT,
            ),
            Subject::Step(step) => (None, step.timeout.unwrap_or(Duration::MAX)),
            Subject::Script(script) => (
                script.timeout.map(|t| (t, &script.at)),
                crate::Hook::DEFAULT_TIMEOUT,
            ),
        };
        let timeout = c.limit(
            "max_timeout",
            requested,
            default,
            &l.max_timeout,
            Grant::Timeout,
            format_duration,
        );
        let limits = Limits {
            timeout,
            memory: c.limit(
                "max_memory",
                pair(&request.limits.memory),
                Limits::DEFAULT_MEMORY,
                &l.max_memory,
                Grant::Memory,
                |s| s.to_string(),
            ),
            output: c.limit(
                "max_output",
                pair(&request.limits.output),
                Limits::DEFAULT_OUTPUT,
                &l.max_output,
                Grant::Output,
                |s| s.to_string(),
            ),
            services: l.max_services.value,
        };
        if !c.refusals.is_empty() {
            return Err(c.refusals);
        }
        Ok(EffectiveGrant {
            directories: request
                .directories
                .iter()
                .map(|d| self.effective_dir(&d.value))
                .collect(),
            tcp: values(&request.tcp),
            urls: values(&request.urls),
            commands: values(&request.commands),
            env: values(&request.env),
            limits,
        })
    }

    /// Checks every hook of `spec`, before anything runs.
    ///
    /// # Errors
    ///
    /// Every refusal of every hook, in lifecycle order.
    pub fn check_appspec(
        &self,
        spec: &AppSpec,
    ) -> Result<BTreeMap<HookId, EffectiveGrant>, Vec<Refusal>> {
        let mut granted = BTreeMap::new();
        let mut refusals = Vec::new();
        for hook in spec.all_hooks() {
            match self.check(&hook.hook_ref(), &hook.grants) {
                Ok(grant) => {
                    granted.insert(hook.id.clone(), grant);
                }
                Err(mut r) => refusals.append(&mut r),
            }
        }
        if refusals.is_empty() {
            Ok(granted)
        } else {
            Err(refusals)
        }
    }
}
