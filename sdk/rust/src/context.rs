//! Helpers on the generated `types` records: the job, parameters, paths, event names, health
//! results.

use std::fmt;
use std::str::FromStr;

pub use crate::__private::hook_bindings::davit::plugin::types::{
    ComponentStep, Context, Deployment, DeploymentEvent, Event, Health, Job, PackageAction,
    PackageStep,
};

/// The context as a hook sees it: the same record (WIT `context`).
pub type HookContext = Context;

impl Context {
    /// The deployment the call serves, if it serves one (hooks and health checks).
    pub fn deployment(&self) -> Option<&Deployment> {
        match &self.job {
            Job::Deployment(d) => Some(&d.deployment),
            _ => None,
        }
    }

    /// The lifecycle event, for a call that serves a deployment.
    pub fn event(&self) -> Option<&Event> {
        match &self.job {
            Job::Deployment(d) => Some(&d.event),
            _ => None,
        }
    }

    /// The step the call serves, for a log line: the event (`AfterInstall`), the document's
    /// `phase.step`, or the package operation with its package (`install nginx 1.2`).
    pub fn step(&self) -> String {
        match &self.job {
            Job::Deployment(d) => d.event.name().to_owned(),
            Job::Component(c) => format!("{}.{}", c.phase, c.step),
            Job::Package(p) => format!("{} {} {}", p.action.name(), p.name, p.version),
        }
    }

    /// The package step the call serves, if it serves one (a package's scripts).
    pub fn package(&self) -> Option<&PackageStep> {
        match &self.job {
            Job::Package(p) => Some(p),
            _ => None,
        }
    }

    /// The parameter `name` from the appspec, if it was given.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.parameters
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The parameter `name`, or `default` when it was not given.
    pub fn param_or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.param(name).unwrap_or(default)
    }

    /// The parameter `name`, which the hook cannot do without.
    ///
    /// # Errors
    ///
    /// ``missing required parameter `name` `` when the appspec does not give it.
    pub fn require_param(&self, name: &str) -> Result<&str, String> {
        self.param(name)
            .ok_or_else(|| format!("missing required parameter `{name}`"))
    }

    /// The parameter `name` parsed as a `T` (a number, say), or `None` when it was not given.
    ///
    /// # Errors
    ///
    /// A message naming the parameter and its value when the value does not parse.
    pub fn param_parse<T>(&self, name: &str) -> Result<Option<T>, String>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.param(name)
            .map(|value| {
                value
                    .trim()
                    .parse()
                    .map_err(|e| format!("parameter `{name}`: invalid value `{value}`: {e}"))
            })
            .transpose()
    }

    /// The parameter `name` parsed as a `T`, or `default` when it was not given.
    ///
    /// # Errors
    ///
    /// A message naming the parameter and its value when the value does not parse.
    pub fn param_parse_or<T>(&self, name: &str, default: T) -> Result<T, String>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        Ok(self.param_parse(name)?.unwrap_or(default))
    }

    /// The parameter `name` as a boolean (`true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`), or
    /// `default` when it was not given.
    ///
    /// # Errors
    ///
    /// A message naming the parameter and its value when it is none of these.
    pub fn param_bool(&self, name: &str, default: bool) -> Result<bool, String> {
        match self.param(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) => match v.as_str() {
                "true" | "yes" | "on" | "1" => Ok(true),
                "false" | "no" | "off" | "0" => Ok(false),
                _ => Err(format!(
                    "parameter `{name}`: invalid value `{v}`: expected `true` or `false`"
                )),
            },
        }
    }

    /// The host path of the absolute destination `path` under the target root: `/opt/app` on a
    /// live host, `<image rootfs>/opt/app` when building an image.
    ///
    /// Use it to build a path for a native command's arguments. A relative `path` is taken as
    /// relative to the target root.
    pub fn target_path(&self, path: &str) -> String {
        join(&self.target_root, path)
    }

    /// The guest path of `path` inside the revision's files (`/bundle/<path>`), read-only.
    pub fn bundle_path(&self, path: &str) -> String {
        join(&self.bundle_dir, path)
    }
}

/// Joins `root` and `path`, treating an absolute `path` as relative to `root`.
fn join(root: &str, path: &str) -> String {
    let root = root.trim_end_matches('/');
    let path = path.trim_start_matches('/');
    match (root.is_empty(), path.is_empty()) {
        (true, _) => format!("/{path}"),
        (false, true) => root.to_string(),
        (false, false) => format!("{root}/{path}"),
    }
}

impl Event {
    /// The event's name as an appspec writes it, e.g. `ApplicationStart`.
    pub fn name(&self) -> &str {
        match self {
            Event::ApplicationStop => "ApplicationStop",
            Event::DownloadBundle => "DownloadBundle",
            Event::BeforeInstall => "BeforeInstall",
            Event::Install => "Install",
            Event::AfterInstall => "AfterInstall",
            Event::ApplicationStart => "ApplicationStart",
            Event::ValidateService => "ValidateService",
            Event::BeforeBlockTraffic => "BeforeBlockTraffic",
            Event::AfterBlockTraffic => "AfterBlockTraffic",
            Event::BeforeAllowTraffic => "BeforeAllowTraffic",
            Event::AfterAllowTraffic => "AfterAllowTraffic",
            Event::Custom(name) => name,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Health {
    /// The service is healthy; `detail` says how the check knows.
    pub fn healthy(detail: impl Into<String>) -> Self {
        Health {
            healthy: true,
            detail: detail.into(),
        }
    }

    /// The service is not healthy; `detail` is one line a person can act on.
    pub fn unhealthy(detail: impl Into<String>) -> Self {
        Health {
            healthy: false,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(target_root: &str, parameters: &[(&str, &str)]) -> HookContext {
        HookContext {
            job: Job::Deployment(DeploymentEvent {
                event: Event::AfterInstall,
                deployment: Deployment {
                    id: "d-1".into(),
                    application: "app".into(),
                    deployment_group: "prod".into(),
                    revision: "abc".into(),
                    last_good_revision: None,
                },
            }),
            bundle_dir: "/bundle".into(),
            target_root: target_root.into(),
            parameters: parameters
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn target_path_joins_root_and_absolute_path() {
        assert_eq!(ctx("/", &[]).target_path("/opt/x"), "/opt/x");
        assert_eq!(
            ctx("/img/root/", &[]).target_path("/opt/x"),
            "/img/root/opt/x"
        );
        assert_eq!(ctx("/img", &[]).target_path("etc"), "/img/etc");
        assert_eq!(ctx("/img", &[]).target_path("/"), "/img");
        assert_eq!(
            ctx("/", &[]).bundle_path("www/index.html"),
            "/bundle/www/index.html"
        );
    }

    #[test]
    fn parameters() {
        let c = ctx("/", &[("port", "8080"), ("spawn", "yes"), ("bad", "x")]);
        assert_eq!(c.param("port"), Some("8080"));
        assert_eq!(c.param_or("missing", "d"), "d");
        assert_eq!(c.param_parse_or("port", 1u16), Ok(8080));
        assert_eq!(c.param_parse_or("missing", 1u16), Ok(1));
        assert_eq!(
            c.param_parse::<u16>("bad"),
            Err("parameter `bad`: invalid value `x`: invalid digit found in string".into())
        );
        assert_eq!(c.param_bool("spawn", false), Ok(true));
        assert_eq!(
            c.require_param("url"),
            Err("missing required parameter `url`".into())
        );
    }

    #[test]
    fn the_step_names_the_job() {
        let deploy = ctx("/", &[]);
        assert_eq!(deploy.step(), "AfterInstall");
        assert_eq!(deploy.deployment().map(|d| d.id.as_str()), Some("d-1"));
        let component = HookContext {
            job: Job::Component(ComponentStep {
                run_id: "r".into(),
                document: "hello".into(),
                phase: "build".into(),
                step: "Greet".into(),
                iteration: None,
                attempt: 1,
            }),
            ..deploy
        };
        assert_eq!(component.step(), "build.Greet");
        assert!(component.event().is_none());
    }

    #[test]
    fn event_names() {
        assert_eq!(Event::ApplicationStart.to_string(), "ApplicationStart");
        assert_eq!(Event::Custom("Warmup".into()).to_string(), "Warmup");
    }
}

impl PackageAction {
    /// Its name, as a Distributor script's file and `davit.yml` write it (`install`).
    pub fn name(&self) -> &'static str {
        match self {
            PackageAction::Install => "install",
            PackageAction::Uninstall => "uninstall",
            PackageAction::Update => "update",
            PackageAction::Validate => "validate",
        }
    }
}
