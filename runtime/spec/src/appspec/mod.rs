//! The CodeDeploy `appspec.yml` (EC2/on-premises flavour), with davit's per-hook `parameters`
//! and `grants`.

mod acl;
mod bundle;
mod event;
pub(crate) mod grants;
mod hook;
mod model;
pub(crate) mod raw;
mod selinux;
pub(crate) mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

pub use acl::{AclEntry, AclPerms, AclTag};
pub use event::{Event, UnknownEvent};
pub use hook::{Hook, HookId, HookKind, HookLocation, HookRef};
pub use model::{FileExistsBehavior, FileMapping, Mode, ObjectType, Os, Permission};
pub use selinux::SeContext;

use crate::error::SpecError;
use crate::location::Source;

/// A validated appspec.
///
/// ```yaml
/// version: 0.0                      # the number 0.0 (`0` too; not the string "0.0")
/// os: linux                         # linux | windows
/// files:
///   - source: /                     # bundle path
///     destination: /opt/hello-web   # absolute host path
/// permissions:
///   - {object: /opt/hello-web, owner: www, mode: "0755", type: [directory],
///      acls: ["u:deploy:rwx", "d:g:www:r-x"]}   # no base entries (`u::`): `mode` sets those
/// file_exists_behavior: OVERWRITE   # DISALLOW | OVERWRITE | RETAIN, in capitals
/// hooks:
///   AfterInstall:
///     - location: hooks/after_install.wasm
///       timeout: 60                 # whole seconds, 1 to 3600
/// ```
///
/// Keys are checked strictly; the few CodeDeploy tolerates that davit ignores are listed in
/// the module `raw` (`files[].overwrite`, `hooks.*[].sudo`, SELinux `context.name`/`role`, and
/// the codedeploy-agent-go forms of `acls` and `context.range`).
///
/// Every appspec the CodeDeploy agent refuses is refused here too (its
/// `AppSpecValidationException`s: `version`, `os`, `file_exists_behavior`, hook locations and
/// timeouts, `files`, `permissions` objects, types, modes, ACL entries and SELinux ranges), each
/// error at its `file:line:column`, with davit's stricter rules on top. One that is valid but
/// for another `os` parses; see [`AppSpec::runnable_here`].
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
}

impl AppSpec {
    /// Parses and validates the appspec `text`; `file` names it in errors.
    ///
    /// # Errors
    ///
    /// A [`SpecError`] with its `file:line:column`: YAML syntax, a value of the wrong shape,
    /// unknown or missing keys, and the checks of `version`, `os`, `file_exists_behavior`,
    /// `files`, `permissions`, events, hooks (location, timeout, duplicates) and grants. Where
    /// several values of `files`, `permissions` and hooks are invalid, a [`SpecError::Several`]
    /// with every one of them ([`SpecError::errors`]).
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
        }
    }

    /// Whether this host can run the appspec: Linux appspecs run on any host davit runs on
    /// except Windows, Windows appspecs only on Windows. (Anything else that is wrong with an
    /// appspec is an error of [`AppSpec::parse`].)
    ///
    /// # Errors
    ///
    /// A one-line message: "not runnable on this host (os: windows)".
    pub fn runnable_here(&self) -> Result<(), String> {
        if self.os != Os::here() {
            return Err(format!("not runnable on this host (os: {})", self.os));
        }
        Ok(())
    }

    /// Checks the CodeDeploy agent's rules that depend on what the bundle holds, for the bundle
    /// unpacked at `root`: a `permissions` entry whose `object` is a file the revision installs
    /// has no `pattern` or `except` ([`Permission::check_file_object`]), and a default ACL entry
    /// applies to no file the revision installs, matched by `pattern` and `except` as the
    /// agent matches them ([`Permission::check_file_match`]).
    ///
    /// # Errors
    ///
    /// Every error found, in document order, as for [`AppSpec::parse`].
    pub fn check_bundle(&self, root: &Path) -> Result<(), SpecError> {
        let mut errors = Vec::new();
        for p in &self.permissions {
            let result = if bundle::is_file(self, root, &p.object) {
                p.check_file_object()
            } else if p.applies_to_files() && p.default_acls().next().is_some() {
                bundle::files_beneath(self, root, &p.object)
                    .into_iter()
                    .find(|f| bundle::agent_matches(&p.object, &p.pattern, &p.except, f))
                    .map_or(Ok(()), |f| p.check_file_match(&f))
            } else {
                Ok(())
            };
            errors.extend(result.err());
        }
        SpecError::from_list(errors).map_or(Ok(()), Err)
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
}

impl fmt::Display for Summary {
    /// `os linux, 2 files, 0 permissions, hooks: BeforeInstall 1, ApplicationStart 1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "os {}, {} files, {} permissions",
            self.os, self.files, self.permissions
        )?;
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
file_exists_behavior: RETAIN
files:
  - {source: app, destination: /srv/app, overwrite: true}
hooks:
  BeforeInstall:
    - {location: scripts/a.sh, sudo: true, runas: "  "}
"#;
        let spec = AppSpec::parse("a.yml", text).unwrap();
        assert_eq!(spec.file_exists_behavior, Some(FileExistsBehavior::Retain));
        assert_eq!(spec.hooks_for(&Event::BeforeInstall)[0].runas, None);
        assert!(AppSpec::parse("q.yml", "version: 0.00\nos: linux\n").is_ok());
    }

    /// What the CodeDeploy agent compares exactly: a quoted version is a string to it, and
    /// `file_exists_behavior` is in capitals.
    #[test]
    fn agent_spellings_are_exact() {
        let err = AppSpec::parse("q.yml", "version: \"0.0\"\nos: linux\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "q.yml:1:10: `version` must be the number `0.0`, unquoted, got the string `0.0`"
        );
        assert!(err.hint().is_some());
        let err = AppSpec::parse(
            "a.yml",
            "version: 0.0\nos: linux\nfile_exists_behavior: retain\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "a.yml:3:23: `file_exists_behavior` must be one of `DISALLOW`, `OVERWRITE`, `RETAIN`, \
             got `retain`"
        );
    }

    #[test]
    fn except_may_be_one_string() {
        let text = "version: 0.0\nos: linux\npermissions:\n  - object: /srv\n    except: \"*.log\"\n  - object: /srv\n    except: [a, b]\n";
        let spec = AppSpec::parse("a.yml", text).unwrap();
        assert_eq!(spec.permissions[0].except, ["*.log"]);
        assert_eq!(spec.permissions[1].except, ["a", "b"]);
        assert_eq!(
            spec.permissions[0].except_at.as_ref().unwrap().to_string(),
            "a.yml:5:13"
        );
        let bad = "version: 0.0\nos: linux\npermissions:\n  - object: /srv\n    except: {a: b}\n";
        assert!(AppSpec::parse("a.yml", bad).is_err());
    }

    #[test]
    fn every_value_error_is_reported_and_fails_the_parse() {
        let text = r#"version: 0.0
os: linux
files:
  - {source: app, destination: /srv/app}
  - {source: web, destination: srv/web}
permissions:
  - {object: /srv/app, mode: "0750"}
  - {object: /srv/app, mode: "rw-r--r--", owner: app}
"#;
        let err = AppSpec::parse("a.yml", text).unwrap_err();
        let shown: Vec<String> = err.errors().iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "a.yml:5:32: `destination` must be an absolute path, got `srv/web`",
                "a.yml:8:30: `mode` must be an octal mode of 1 to 4 digits like `644` or \
                 `0755`, got `rw-r--r--`",
            ]
        );
        assert_eq!(err.location().unwrap().to_string(), "a.yml:5:32");
        assert_eq!(err.to_string(), format!("{}\n  {}", shown[0], shown[1]));
        assert_eq!(err.clone(), err, "errors compare and clone");
        let one = text.replace("srv/web", "/srv/web");
        let err = AppSpec::parse("a.yml", &one).unwrap_err();
        assert!(matches!(err, SpecError::Invalid { key: "mode", .. }));
        assert_eq!(err.errors().len(), 1);
    }

    #[test]
    fn hook_errors_are_errors() {
        let parse = |hook: &str| {
            let text = format!("version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n{hook}");
            AppSpec::parse("a.yml", &text).map(|s| s.all_hooks().count())
        };
        assert_eq!(parse("    - {location: a.sh, timeout: 5}\n"), Ok(1));
        for bad in [
            "    - {location: a.sh, timeout: soon}\n",
            "    - {location: a.sh, timeout: -5}\n",
            "    - {location: a.sh, timeout: 1.5}\n",
            "    - {location: a.sh, timeout: 0}\n",
            "    - {location: a.sh, timeout: 3601}\n",
            "    - {location: \"  \"}\n",
            "    - {location: a.sh}\n    - {location: a.sh}\n",
            "    - {location: a.wasm, timeout: soon, grants: {tcp: [nowhere]}}\n",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let two = parse("    - {location: a.wasm, timeout: soon, grants: {tcp: [nowhere]}}\n");
        assert_eq!(two.unwrap_err().errors().len(), 2, "timeout and grant");
    }

    #[test]
    fn permissions_follow_the_agent() {
        let parse = |entry: &str| {
            let text = format!("version: 0.0\nos: linux\npermissions:\n  - {entry}\n");
            AppSpec::parse("a.yml", &text)
        };
        let spec = parse("{object: /srv, acls: [\"u:bob:rw\", \"d:g::5\", \"m::rx\"], context: {type: t, range: \"s0-s1:c0.c3\"}}").unwrap();
        let p = &spec.permissions[0];
        let acls: Vec<String> = p.acls.iter().map(ToString::to_string).collect();
        assert_eq!(acls, ["u:bob:rw-", "d:g::r-x", "m::r-x"]);
        assert_eq!(p.default_acls().count(), 1);
        assert_eq!(
            p.context.as_ref().unwrap().range.as_deref(),
            Some("s0-s1:c0.c3")
        );
        for (entry, shown) in [
            (
                "{object: /srv, acls: [\"u::rwx\"]}",
                "a.yml:4:27: `acls` must not set a base entry (owner `u::`, group `g::` or others \
                 `o::`), use `mode` for those, got `u::rwx`",
            ),
            (
                "{object: /srv, acls: [\"u:bob:rwz\"]}",
                "a.yml:4:27: `acls` has an invalid permission character `z` (expected `r`, `w`, \
                 `x`, `-` or one octal digit), got `u:bob:rwz`",
            ),
            (
                "{object: /srv, mode: 9999}",
                "a.yml:4:26: `mode` must be an octal mode of 1 to 4 digits like `644` or `0755`, \
                 got `9999`",
            ),
            (
                "{object: /srv, context: {type: t, range: s1-s0}}",
                "a.yml:4:46: `range` must be an SELinux range like `s0`, `s0-s2` or \
                 `s0:c0.c5,c9` (the high sensitivity is below the low one), got `s1-s0`",
            ),
            (
                "{object: /srv, context: {type: \" \"}}",
                "a.yml:4:36: `type` must not be empty",
            ),
            (
                "{object: /srv, type: [link]}",
                "a.yml:4:27: `type` must be `file` or `directory`, got `link`",
            ),
            (
                "{object: \" \"}",
                "a.yml:4:14: `object` must be an absolute path, got ``",
            ),
        ] {
            assert_eq!(parse(entry).unwrap_err().to_string(), shown, "{entry}");
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
