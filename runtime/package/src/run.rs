//! One version of a package made ready to run (its tree, which file implements each action,
//! the grant the policy gives each), and running one of its actions: a `.sh` with `sh` as the
//! SSM agent does (only where the policy allows native scripts), or an export of its
//! `package.wasm` in the sandbox.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use davit_lifecycle::{
    ComponentRun, HookReport, NativeScript, Progress, Recorded, Recording, Status,
};
use davit_sandbox::{Context, Job, PackageAction, PackageStep, Plugin, Sandbox};
use davit_spec::{EffectiveGrant, HostPolicy, Location, ScriptRef, Source, Subject};
use serde::{Deserialize, Serialize};

use crate::archive::{self, Implementation, PACKAGE_WASM};
use crate::error::{FileError, PackageError};
use crate::state::{PackageDir, Version};

/// Guest path of a package version's files, mounted read-only.
pub const PACKAGE_GUEST_DIR: &str = "/package";

/// A package action, as the state file keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Install,
    Uninstall,
    Update,
    Validate,
}

impl Action {
    pub const ALL: [Action; 4] = [
        Action::Install,
        Action::Uninstall,
        Action::Update,
        Action::Validate,
    ];

    pub fn name(self) -> &'static str {
        self.sandbox().name()
    }

    fn sandbox(self) -> PackageAction {
        match self {
            Action::Install => PackageAction::Install,
            Action::Uninstall => PackageAction::Uninstall,
            Action::Update => PackageAction::Update,
            Action::Validate => PackageAction::Validate,
        }
    }
}

/// How one step of a package operation went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// `install 2.0.0`.
    pub step: String,
    pub action: Action,
    pub version: String,
    pub status: Status,
    /// Why it failed, or what happened instead of a script (`no validate action`).
    pub detail: Option<String>,
    /// The script's own report: its file, logs, time.
    pub script: Option<HookReport>,
    /// A dry run's: what the step would have done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<Recorded>,
}

impl StepReport {
    /// It succeeded and asks for a reboot.
    pub fn reboot(&self) -> bool {
        self.script.as_ref().is_some_and(|s| s.reboot) && self.status == Status::Succeeded
    }
}

/// A version ready to run.
pub struct Prepared {
    pub version: Version,
    pub tree: PathBuf,
    implementations: BTreeMap<Action, Implementation>,
    grants: BTreeMap<Action, EffectiveGrant>,
    runas: BTreeMap<Action, Option<String>>,
    plugin: Option<Plugin>,
}

/// What a prepared version runs against.
pub struct Target<'a> {
    pub name: &'a str,
    pub sandbox: &'a Sandbox,
    pub policy: &'a HostPolicy,
    pub deployment_root: &'a Path,
    pub target_root: &'a Path,
    pub host: &'a crate::Host,
    pub dir: &'a PackageDir,
}

impl Prepared {
    /// Reads `version`'s tree and section here, loads its component, and checks the grant of
    /// every action it has against the policy: nothing runs when one is refused.
    ///
    /// # Errors
    ///
    /// A [`PackageError`] naming the package, version, platform and file.
    pub async fn new(t: &Target<'_>, version: Version) -> Result<Prepared, PackageError> {
        let v = &version.version;
        let on = |e: FileError| e.on(t.name, v, &version.platform);
        let tree = t.dir.tree(&version.tree);
        let section = crate::scripts::read(&t.dir.revision(&version.revision))?;
        let scripts = archive::tree_actions(&version.file, &tree).map_err(on)?;
        let mut implementations: BTreeMap<Action, Implementation> = BTreeMap::new();
        for action in Action::ALL {
            if let Some(i) = scripts.native.get(action.name()) {
                implementations.insert(action, i.clone());
            }
        }
        let mut plugin = None;
        if scripts.wasm {
            let path = tree.join(PACKAGE_WASM);
            let wasm = std::fs::read(&path).map_err(|e| PackageError::io("read", &path, e))?;
            let bad = |m: String| on(FileError::new(PACKAGE_WASM, m));
            let loaded = t.sandbox.load(&wasm).map_err(|e| bad(e.to_string()))?;
            let actions = t.sandbox.package_actions(&loaded).await.map_err(bad)?;
            for action in Action::ALL {
                if !actions.contains(&action.sandbox()) {
                    continue;
                }
                if let Some(native) = implementations.get(&action) {
                    return Err(on(FileError::new(
                        &version.file,
                        format!(
                            "has more than one implementation of `{}`: {}, {PACKAGE_WASM}",
                            action.name(),
                            native.file()
                        ),
                    )));
                }
                implementations.insert(action, Implementation::Wasm);
            }
            plugin = Some(loaded);
        }
        for required in [Action::Install, Action::Uninstall] {
            if !implementations.contains_key(&required) {
                return Err(on(FileError::new(
                    &version.file,
                    format!("is missing the `{}` action", required.name()),
                )));
            }
        }
        let mut grants = BTreeMap::new();
        let mut runas = BTreeMap::new();
        let mut refusals = Vec::new();
        for (action, implementation) in &implementations {
            if let Implementation::PowerShell(file) = implementation {
                return Err(on(FileError::new(
                    file,
                    "is a PowerShell script: this host runs `.sh` scripts and Wasm components",
                )));
            }
            let spec = section.action(action.name());
            let native = matches!(implementation, Implementation::Shell(_));
            if native && !spec.grants.is_empty() {
                return Err(PackageError::Invalid {
                    name: t.name.to_owned(),
                    detail: format!(
                        "{}: `grants` apply only to Wasm scripts, `{}` is a native script",
                        spec.at
                            .map_or_else(|| "davit.yml".to_owned(), |a| a.to_string()),
                        implementation.file()
                    ),
                });
            }
            let at = spec
                .at
                .clone()
                .unwrap_or_else(|| manifest_at(t.dir, &version));
            let subject = Subject::Script(ScriptRef {
                package: t.name.to_owned(),
                version: v.clone(),
                action: action.name().to_owned(),
                file: implementation.file().to_owned(),
                native,
                runas: spec.runas.clone().filter(|_| native),
                timeout: spec.timeout,
                at,
            });
            match t.policy.check_subject(&subject, &spec.grants) {
                Ok(grant) => {
                    grants.insert(*action, grant);
                }
                Err(mut refused) => refusals.append(&mut refused),
            }
            runas.insert(*action, spec.runas.filter(|_| native));
        }
        if !refusals.is_empty() {
            return Err(PackageError::Refused {
                name: t.name.to_owned(),
                version: v.clone(),
                refusals,
            });
        }
        Ok(Prepared {
            version,
            tree,
            implementations,
            grants,
            runas,
            plugin,
        })
    }

    /// Whether the version implements `action`.
    pub fn has(&self, action: Action) -> bool {
        self.implementations.contains_key(&action)
    }

    /// Runs `action`; `previous` is the version installed before, told to the script. With
    /// `record` (a dry run) a Wasm script runs on copies of its directories with its effects
    /// recorded, and a native script does not run.
    pub async fn run(
        &self,
        t: &Target<'_>,
        action: Action,
        previous: Option<&str>,
        progress: Arc<dyn Progress>,
        record: Option<&Recording>,
    ) -> StepReport {
        let v = &self.version.version;
        let step = format!("{} {v}", action.name());
        let mut report = StepReport {
            step: step.clone(),
            action,
            version: v.clone(),
            status: Status::Failed,
            detail: None,
            script: None,
            recorded: None,
        };
        let Some(implementation) = self.implementations.get(&action) else {
            if action == Action::Validate {
                report.status = Status::Succeeded;
                report.detail = Some("no validate action: passes, as SSM's".into());
            } else {
                report.detail = Some(format!("the package has no `{}` action", action.name()));
            }
            return report;
        };
        let grant = &self.grants[&action];
        let script = match implementation {
            Implementation::Shell(file) if record.is_some() => {
                let user = self.runas.get(&action).cloned().flatten();
                report.status = Status::Skipped;
                report.detail = Some(format!(
                    "`{file}` is a native script: a dry run cannot record it, and it would run unsandboxed as {}",
                    user.as_deref().unwrap_or("root")
                ));
                return report;
            }
            Implementation::Shell(file) => {
                let env = self.environment(t, action, previous);
                let args = [file.clone()];
                let native = NativeScript {
                    location: file,
                    step: &step,
                    noun: "script",
                    program: Path::new("/bin/sh"),
                    args: &args,
                    cwd: &self.tree,
                    env,
                    runas: self.runas.get(&action).and_then(|r| r.as_deref()),
                    timeout: grant.limits.timeout,
                    output_limit: grant.limits.output.bytes(),
                };
                davit_lifecycle::run_native_script(native, progress).await
            }
            Implementation::Wasm | Implementation::PowerShell(_) => {
                let plugin = self
                    .plugin
                    .as_ref()
                    .expect("a wasm action has its component");
                let context = Context {
                    job: Job::Package(PackageStep {
                        name: t.name.to_owned(),
                        version: v.clone(),
                        action: action.sandbox(),
                        previous_version: previous.map(str::to_owned),
                        platform: self.version.platform.clone(),
                    }),
                    bundle_dir: PACKAGE_GUEST_DIR.to_owned(),
                    target_root: t.target_root.display().to_string(),
                    parameters: self
                        .version
                        .arguments
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                };
                let scratch = t.deployment_root.join("scratch");
                let run = ComponentRun {
                    location: PACKAGE_WASM,
                    step: &step,
                    grant,
                    files_dir: &self.tree,
                    files_guest: PACKAGE_GUEST_DIR,
                    target_root: t.target_root,
                    scratch: &scratch,
                    deployment_root: t.deployment_root,
                    context,
                    record,
                };
                davit_lifecycle::run_component(t.sandbox, plugin, run, progress)
                    .await
                    .0
            }
        };
        report.status = script.status;
        report.detail = script.error.clone();
        report.script = Some(script);
        report
    }

    /// The SSM agent's environment for a script, plus the package's `SSM_*` arguments and
    /// davit's own names.
    fn environment(
        &self,
        t: &Target<'_>,
        action: Action,
        previous: Option<&str>,
    ) -> Vec<(String, String)> {
        let h = t.host;
        let init = if t.target_root.join("run/systemd/system").is_dir() {
            "systemd"
        } else {
            "sysvinit"
        };
        let manager = [
            "usr/bin/apt-get",
            "usr/bin/dnf",
            "usr/bin/yum",
            "usr/bin/zypper",
        ]
        .into_iter()
        .find(|p| t.target_root.join(p).exists())
        .map_or("", |p| p.rsplit('/').next().unwrap_or(""));
        let mut env: Vec<(String, String)> = vec![
            ("BWS_ACTION_NAME".into(), action.name().into()),
            ("BWS_PLATFORM_NAME".into(), h.platform.clone()),
            ("BWS_PLATFORM_VERSION".into(), h.version.clone()),
            ("BWS_PLATFORM_FAMILY".into(), "linux".into()),
            ("BWS_ARCHITECTURE".into(), h.arch.clone()),
            ("BWS_INIT_SYSTEM".into(), init.into()),
            ("BWS_PACKAGE_MANAGER".into(), manager.into()),
            ("BWS_INSTANCE_ID".into(), hostname()),
            ("DAVIT_PACKAGE_NAME".into(), t.name.into()),
            ("DAVIT_PACKAGE_VERSION".into(), self.version.version.clone()),
            (
                "DAVIT_TARGET_ROOT".into(),
                t.target_root.display().to_string(),
            ),
        ];
        if let Some(previous) = previous {
            env.push(("DAVIT_PREVIOUS_VERSION".into(), previous.into()));
        }
        env.extend(
            self.version
                .arguments
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        env
    }
}

fn manifest_at(dir: &PackageDir, version: &Version) -> Location {
    let file = dir.revision(&version.revision).join(crate::store::MANIFEST);
    Source::new(&file.display().to_string(), "").at(1, 1)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// The most an `SSM_*` arguments map may hold, as SSM's `additionalArguments`.
pub const MAX_ARGUMENTS: usize = 4096;

/// Checks a package's arguments: a JSON object of strings whose keys start with `SSM_`, at
/// most [`MAX_ARGUMENTS`] characters in all.
///
/// # Errors
///
/// A line naming the key or the size at fault.
pub fn parse_arguments(text: &str) -> Result<BTreeMap<String, String>, String> {
    if text.len() > MAX_ARGUMENTS {
        return Err(format!(
            "the arguments are {} characters; at most {MAX_ARGUMENTS} are allowed",
            text.len()
        ));
    }
    let map: BTreeMap<String, String> = serde_json::from_str(text)
        .map_err(|e| format!("the arguments must be a JSON object of strings: {e}"))?;
    for key in map.keys() {
        let ok = key.starts_with("SSM_")
            && key.len() > 4
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(format!(
                "argument `{key}`: keys must start with `SSM_` and hold only letters, digits and `_`"
            ));
        }
    }
    Ok(map)
}

/// What one action may touch: every effect of a Wasm script goes through these grants; a
/// native script is bounded by nothing but its user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reach {
    pub action: Action,
    pub version: String,
    pub file: String,
    /// Runs natively, unsandboxed (as `runas`, root without one).
    pub native: bool,
    pub runas: Option<String>,
    /// `/opt/agent read-write`.
    pub directories: Vec<String>,
    pub commands: Vec<String>,
    pub urls: Vec<String>,
    pub tcp: Vec<String>,
    pub env: Vec<String>,
    pub timeout_s: u64,
}

impl Prepared {
    /// What `action` may touch, if the version has it.
    pub fn reach(&self, action: Action) -> Option<Reach> {
        let implementation = self.implementations.get(&action)?;
        let grant = self.grants.get(&action)?;
        let native = matches!(implementation, Implementation::Shell(_));
        Some(Reach {
            action,
            version: self.version.version.clone(),
            file: implementation.file().to_owned(),
            native,
            runas: self.runas.get(&action).cloned().flatten(),
            directories: grant
                .directories
                .iter()
                .map(|d| format!("{} {}", d.path, d.access))
                .collect(),
            commands: grant.commands.iter().map(ToString::to_string).collect(),
            urls: grant.urls.iter().map(ToString::to_string).collect(),
            tcp: grant.tcp.iter().map(ToString::to_string).collect(),
            env: grant
                .env
                .iter()
                .map(|e| e.name.as_str().to_owned())
                .collect(),
            timeout_s: grant.limits.timeout.as_secs(),
        })
    }

    /// What this version's actions may do that `installed`'s may not, one line each (empty
    /// when it asks for nothing more): a new directory or a wider access to one, a command,
    /// URL, address or variable, a script that runs natively or as another user.
    pub fn widens(&self, installed: &Prepared) -> Vec<String> {
        let old: Vec<Reach> = Action::ALL
            .iter()
            .filter_map(|a| installed.reach(*a))
            .collect();
        let mut more = Vec::new();
        for new in Action::ALL.iter().filter_map(|a| self.reach(*a)) {
            let what = format!("`{}` ({})", new.action.name(), new.file);
            if new.native && !old.iter().any(|o| o.native && o.runas == new.runas) {
                let user = new.runas.as_deref().unwrap_or("root");
                more.push(format!("{what} runs natively as {user}, unsandboxed"));
            }
            let dirs = self.grants[&new.action].directories.iter();
            for d in dirs {
                let covered = Action::ALL
                    .iter()
                    .filter_map(|a| installed.grants.get(a))
                    .flat_map(|g| &g.directories)
                    .any(|o| d.path.starts_with(&o.path) && o.access >= d.access);
                if !covered {
                    more.push(format!("{what} asks for directory {} {}", d.path, d.access));
                }
            }
            let lists = [
                (
                    "command",
                    &new.commands,
                    old.iter().flat_map(|o| &o.commands).collect::<Vec<_>>(),
                ),
                ("URL", &new.urls, old.iter().flat_map(|o| &o.urls).collect()),
                (
                    "address",
                    &new.tcp,
                    old.iter().flat_map(|o| &o.tcp).collect(),
                ),
                (
                    "variable",
                    &new.env,
                    old.iter().flat_map(|o| &o.env).collect(),
                ),
            ];
            for (kind, items, had) in lists {
                for item in items {
                    if !had.contains(&item) {
                        more.push(format!("{what} asks for {kind} {item}"));
                    }
                }
            }
        }
        more.sort();
        more.dedup();
        more
    }
}
