//! The CodeDeploy `appspec.yml` (EC2/on-premises flavour), with davit's per-hook `parameters`
//! and `grants`.

mod event;
mod grants;
mod hook;
mod model;
mod raw;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

pub use event::{Event, UnknownEvent};
pub use hook::{Hook, HookId, HookKind, HookLocation, HookRef};
pub use model::{FileExistsBehavior, FileMapping, Mode, ObjectType, Os, Permission, SeContext};

use crate::error::SpecError;
use crate::location::Source;

/// A validated appspec.
///
/// ```yaml
/// version: 0.0                      # must be 0.0
/// os: linux                         # linux | windows
/// files:
///   - source: /                     # bundle path
///     destination: /opt/hello-web   # absolute host path
/// permissions:
///   - {object: /opt/hello-web, owner: www, mode: "0755", type: [directory]}
/// file_exists_behavior: OVERWRITE   # DISALLOW | OVERWRITE | RETAIN, any case
/// hooks:
///   AfterInstall:
///     - location: hooks/after_install.wasm
///       timeout: 60
/// ```
///
/// Keys are checked strictly; the few CodeDeploy tolerates that davit ignores are listed in
/// the module `raw` (`files[].overwrite`, `hooks.*[].sudo`, SELinux `context.name`/`role`, and
/// the codedeploy-agent-go forms of `acls` and `context.range`).
///
/// A value in a `files` or `permissions` entry that does not validate (a relative
/// `destination`, `mode: mode-specification` …) or a hook `timeout` that is not a number does
/// not fail [`AppSpec::parse`]: it is a located problem in [`AppSpec::problems`], its entry is
/// left out, and [`AppSpec::runnable_here`] refuses the appspec. AWS's appspec template, full of
/// such placeholders, can thus be checked and shown, but never deployed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppSpec {
    /// The document's name, as given to [`AppSpec::parse`].
    pub file: String,
    /// `os`.
    pub os: Os,
    /// `files`, in order.
    pub files: Vec<FileMapping>,
    /// `permissions`, in order.
    pub permissions: Vec<Permission>,
    /// `hooks`, by event in lifecycle order; events with no hooks are absent.
    pub hooks: BTreeMap<Event, Vec<Hook>>,
    /// `file_exists_behavior`, if given.
    pub file_exists_behavior: Option<FileExistsBehavior>,
    /// Every value that does not validate in `files` and `permissions`, and every hook
    /// `timeout` that is not a number, in document order, each a located
    /// [`SpecError::Invalid`]. The entries they are in are not in `files`, `permissions` or
    /// `hooks`. Not empty means not runnable.
    pub problems: Vec<SpecError>,
}

impl AppSpec {
    /// Parses and validates the appspec `text`; `file` names it in errors.
    ///
    /// # Errors
    ///
    /// The first error found, as a [`SpecError`] with its `file:line:column`: YAML syntax, a
    /// value of the wrong shape, unknown or missing keys, and the checks of `version`, `os`,
    /// `file_exists_behavior`, events, hooks (location, timeout 0 or above 3600, duplicates)
    /// and grants. Invalid values in `files` and `permissions`, and a hook timeout that is not
    /// a number, are not errors but [`AppSpec::problems`].
    pub fn parse(file: &str, text: &str) -> Result<AppSpec, SpecError> {
        let src = Source::new(file, text);
        let raw = crate::parse::yaml::<raw::RawAppSpec>(src, text).map_err(|e| match e {
            // A lifecycle event at the top level is a mis-indented `hooks` section.
            SpecError::UnknownKey { at, key, expected }
                if expected.iter().any(|k| k == "hooks")
                    && Event::KNOWN.iter().any(|e| e.name() == key) =>
            {
                SpecError::MisplacedEvent { at, name: key }
            }
            other => other,
        })?;
        validate::appspec(src, raw)
    }

    /// Reads and parses the appspec at `path`.
    ///
    /// # Errors
    ///
    /// [`SpecError::Read`] if the file cannot be read, else as [`AppSpec::parse`].
    pub fn load(path: &Path) -> Result<AppSpec, SpecError> {
        let (file, text) = crate::parse::read(path)?;
        Self::parse(&file, &text)
    }

    /// Every hook, in lifecycle order.
    pub fn all_hooks(&self) -> impl Iterator<Item = &Hook> {
        self.hooks.values().flatten()
    }

    /// The hooks of `event` (empty if none).
    pub fn hooks_for(&self, event: &Event) -> &[Hook] {
        self.hooks.get(event).map_or(&[], Vec::as_slice)
    }

    /// Counts for a one-line description.
    pub fn summary(&self) -> Summary {
        Summary {
            os: self.os,
            files: self.files.len(),
            permissions: self.permissions.len(),
            hooks: self
                .hooks
                .iter()
                .map(|(e, hooks)| (e.clone(), hooks.len()))
                .collect(),
            file_exists_behavior: self.file_exists_behavior,
            problems: self.problems.len(),
        }
    }

    /// Whether this host can run the appspec: Linux appspecs run on any host davit runs on
    /// except Windows, Windows appspecs only on Windows; and only if it has no
    /// [`AppSpec::problems`].
    ///
    /// # Errors
    ///
    /// A one-line message: "not runnable on this host (os: windows)", or "not runnable: 5
    /// problems in files and permissions (first: appspec.yml:7:17: `destination` must be an
    /// absolute path, got `destination-file-location`)".
    pub fn runnable_here(&self) -> Result<(), String> {
        let here = if cfg!(windows) {
            Os::Windows
        } else {
            Os::Linux
        };
        if self.os != here {
            return Err(format!("not runnable on this host (os: {})", self.os));
        }
        let Some(first) = self.problems.first() else {
            return Ok(());
        };
        let n = self.problems.len();
        let plural = if n == 1 { "" } else { "s" };
        let sections: Vec<&str> = ["files", "permissions", "hooks"]
            .into_iter()
            .filter(|s| self.problems.iter().any(|p| section(p) == *s))
            .collect();
        let sections = match sections.as_slice() {
            [init @ .., last] if !init.is_empty() => format!("{} and {last}", init.join(", ")),
            _ => sections.concat(),
        };
        Err(format!(
            "not runnable: {n} problem{plural} in {sections} (first: {first})"
        ))
    }
}

/// The section of the appspec a problem is in, from its key.
fn section(problem: &SpecError) -> &'static str {
    match problem {
        SpecError::Invalid {
            key: "source" | "destination",
            ..
        } => "files",
        SpecError::Invalid { key: "timeout", .. } => "hooks",
        _ => "permissions",
    }
}

/// What an appspec holds, in numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// `os`.
    pub os: Os,
    /// Number of `files` mappings.
    pub files: usize,
    /// Number of `permissions` entries.
    pub permissions: usize,
    /// Hooks per event, in lifecycle order.
    pub hooks: Vec<(Event, usize)>,
    /// `file_exists_behavior`.
    pub file_exists_behavior: Option<FileExistsBehavior>,
    /// Number of [`AppSpec::problems`].
    pub problems: usize,
}

impl fmt::Display for Summary {
    /// `os linux, 2 files, 0 permissions, hooks: BeforeInstall 1, ApplicationStart 1`, with
    /// `, 3 problems` after the permissions if there are any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "os {}, {} files, {} permissions",
            self.os, self.files, self.permissions
        )?;
        if self.problems > 0 {
            let plural = if self.problems == 1 { "" } else { "s" };
            write!(f, ", {} problem{plural}", self.problems)?;
        }
        if let Some(b) = self.file_exists_behavior {
            write!(f, ", file_exists_behavior {b}")?;
        }
        if self.hooks.is_empty() {
            return f.write_str(", no hooks");
        }
        f.write_str(", hooks:")?;
        for (i, (event, n)) in self.hooks.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            write!(f, "{sep}{event} {n}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Access, ByteSize};

    const HELLO: &str = r#"version: 0.0
os: linux
hooks:
  ApplicationStop:
  Install:
  AfterInstall:
    - location: hooks/after_install.wasm
      timeout: 60
      parameters: {port: "8080", greeting: hello, debug: true, retries: 3}
      grants:
        directories:
          - {path: /etc/hello-web, access: read-write}
          - path: /var/log/hello-web
        tcp: ["127.0.0.1:8080"]
        urls: ["http://127.0.0.1:8080/"]
        commands:
          - {program: /usr/bin/python3, args: ["-m", "http.server", "*", "--directory", "{target-root}/opt/hello-web/www"]}
        env: [LANG, {name: APP_MODE, value: production}]
        limits: {memory: 64MiB, output: 1MiB}
  Smoke-Test:
    - location: hooks/smoke.WASM
"#;

    #[test]
    fn hook_with_parameters_and_grants() {
        let spec = AppSpec::parse("appspec.yml", HELLO).unwrap();
        assert_eq!(spec.hooks.len(), 2, "empty events are dropped");
        let hook = &spec.hooks_for(&Event::AfterInstall)[0];
        assert_eq!(hook.kind, HookKind::Wasm);
        assert_eq!(hook.at.to_string(), "appspec.yml:7:7");
        let params: Vec<(&str, &str)> = hook
            .parameters
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            params,
            [
                ("port", "8080"),
                ("greeting", "hello"),
                ("debug", "true"),
                ("retries", "3")
            ]
        );
        let g = &hook.grants;
        assert_eq!(g.directories[0].value.access, Access::ReadWrite);
        assert_eq!(g.directories[1].value.access, Access::Read);
        assert_eq!(g.directories[1].at.to_string(), "appspec.yml:13:13");
        assert_eq!(g.tcp[0].value.port, 8080);
        assert_eq!(g.urls[0].value.path, "/");
        assert_eq!(g.commands[0].value.args.len(), 5);
        assert_eq!(g.env[0].value.value, None);
        assert_eq!(g.env[1].value.value.as_deref(), Some("production"));
        assert_eq!(g.limits.memory.as_ref().unwrap().value, ByteSize::mib(64));
        let smoke = &spec.hooks_for(&Event::Custom("Smoke-Test".into()))[0];
        assert_eq!(smoke.kind, HookKind::Wasm);
        assert!(smoke.grants.is_empty());
        assert_eq!(
            spec.summary().to_string(),
            "os linux, 0 files, 0 permissions, hooks: AfterInstall 1, Smoke-Test 1"
        );
    }

    #[test]
    fn tolerated_keys_and_spellings() {
        let text = r#"version: 0
os: linux
file_exists_behavior: retain
files:
  - {source: app, destination: /srv/app, overwrite: true}
hooks:
  BeforeInstall:
    - {location: scripts/a.sh, sudo: true, runas: "  "}
"#;
        let spec = AppSpec::parse("a.yml", text).unwrap();
        assert_eq!(spec.file_exists_behavior, Some(FileExistsBehavior::Retain));
        assert_eq!(spec.hooks_for(&Event::BeforeInstall)[0].runas, None);
        let quoted = "version: \"0.0\"\nos: linux\n";
        assert!(AppSpec::parse("q.yml", quoted).is_ok());
    }

    #[test]
    fn except_may_be_one_string() {
        let text = "version: 0.0\nos: linux\npermissions:\n  - object: /srv\n    except: \"*.log\"\n  - object: /srv\n    except: [a, b]\n";
        let spec = AppSpec::parse("a.yml", text).unwrap();
        assert!(spec.problems.is_empty());
        assert_eq!(spec.permissions[0].except, ["*.log"]);
        assert_eq!(spec.permissions[1].except, ["a", "b"]);
        let bad = "version: 0.0\nos: linux\npermissions:\n  - object: /srv\n    except: {a: b}\n";
        assert!(AppSpec::parse("a.yml", bad).is_err());
    }

    #[test]
    fn value_problems_are_collected_and_their_entries_dropped() {
        let text = r#"version: 0.0
os: linux
files:
  - {source: app, destination: /srv/app}
  - {source: web, destination: srv/web}
permissions:
  - {object: /srv/app, mode: "0750"}
  - {object: /srv/app, mode: "rw-r--r--", owner: app}
"#;
        let spec = AppSpec::parse("a.yml", text).unwrap();
        assert_eq!(spec.files.len(), 1);
        assert_eq!(spec.permissions.len(), 1);
        assert_eq!(spec.permissions[0].mode.map(Mode::bits), Some(0o750));
        assert_eq!(spec.problems.len(), 2);
        assert_eq!(
            spec.problems[1].location().unwrap().to_string(),
            "a.yml:8:30"
        );
        if !cfg!(windows) {
            assert_eq!(
                spec.runnable_here().unwrap_err(),
                "not runnable: 2 problems in files and permissions (first: a.yml:5:32: \
                 `destination` must be an absolute path, got `srv/web`)"
            );
            let one = text.replace("srv/web", "/srv/web");
            let spec = AppSpec::parse("a.yml", &one).unwrap();
            assert_eq!(
                spec.runnable_here().unwrap_err(),
                "not runnable: 1 problem in permissions (first: a.yml:8:30: `mode` must be an \
                 octal mode of 1 to 4 digits like `644` or `0755`, got `rw-r--r--`)"
            );
        }
        assert_eq!(spec.clone(), spec, "problems compare and clone");
    }

    #[test]
    fn hook_errors_stay_errors() {
        let parse = |hook: &str| {
            let text = format!("version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n{hook}");
            AppSpec::parse("a.yml", &text).map(|s| s.problems.len())
        };
        assert_eq!(parse("    - {location: a.sh, timeout: soon}\n"), Ok(1));
        for bad in [
            "    - {location: a.sh, timeout: 0}\n",
            "    - {location: a.sh, timeout: 3601}\n",
            "    - {location: a.sh}\n    - {location: a.sh}\n",
            "    - {location: a.wasm, timeout: soon, grants: {tcp: [nowhere]}}\n",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn same_script_under_two_events_is_fine() {
        let text = "version: 0.0\nos: linux\nhooks:\n  BeforeInstall:\n    - location: run.sh\n  AfterInstall:\n    - location: run.sh\n";
        assert_eq!(
            AppSpec::parse("a.yml", text).unwrap().all_hooks().count(),
            2
        );
    }
}
