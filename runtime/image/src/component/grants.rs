//! What one step is granted, computed from its resolved inputs (never from a document's say-so):
//! the paths it names, the URLs it fetches and the programs it runs, checked against the host
//! policy as a hook's request is (`HostPolicy::check_subject` with a [`StepRef`]).
//!
//! - On [`Target::Root`] the root itself is mounted read-write at the guest's `/`: a file
//!   action may touch anything inside the image, with no policy. Commands and URLs still need
//!   the policy.
//! - On [`Target::Host`] each path an action names becomes a directory grant (its parent:
//!   read-write for a writer, read-only for a reader), intersected with the policy.
//!
//! Commands the built-in action component runs (the contract with `toe-actions`):
//! `ExecuteBash`: `/bin/bash SCRIPT`; `ExecuteBinary`: its `path` with exactly its
//! `arguments`; `UpdateOS`: `/usr/bin/apt-get update` and `/usr/bin/apt-get -y upgrade PKG…`.

use std::path::{Component, Path};
use std::sync::Arc;
use std::time::Duration;

use davit_fsroot::{Resolve, Root};
use davit_sandbox::{ExecRoot, Grants, Limits, Mount, S3Access};
use davit_spec::{
    AbsPath, Access, ArgPattern, CommandGrant, EffectiveGrant, GrantRequest, GrantedDir,
    HostPolicy, Located, Location, Refusal, StepRef, Subject, UrlPrefix,
};
use serde_json::Value as Json;

use super::target::Target;

/// The paths an action reads and writes, from its JSON inputs.
pub fn paths(action: &str, inputs: &Json) -> (Vec<String>, Vec<String>) {
    let entries: Vec<&Json> = match inputs {
        Json::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let get = |e: &Json, k: &str| e.get(k).and_then(Json::as_str).map(str::to_owned);
    let (mut readers, mut writers) = (Vec::new(), Vec::new());
    for e in entries {
        match action {
            "ReadFile" | "ListFiles" => readers.extend(get(e, "path")),
            "CopyFile" | "CopyFolder" => {
                readers.extend(get(e, "source"));
                writers.extend(get(e, "destination"));
            }
            "MoveFile" | "MoveFolder" => {
                writers.extend(get(e, "source"));
                writers.extend(get(e, "destination"));
            }
            "WebDownload" | "S3Download" => writers.extend(get(e, "destination")),
            "S3Upload" => readers.extend(get(e, "source")),
            "CreateFile"
            | "CreateFolder"
            | "AppendFile"
            | "DeleteFile"
            | "DeleteFolder"
            | "CreateSymlink"
            | "SetFileEncoding"
            | "SetFileOwner"
            | "SetFolderOwner"
            | "SetFilePermissions"
            | "SetFolderPermissions" => writers.extend(get(e, "path")),
            _ => {}
        }
    }
    (readers, writers)
}

/// The directory a path grant is for: the path's parent (a `*` in the last name stands for
/// the files it matches), made absolute and lexically normal; `None` for a relative path or
/// one with `..`.
fn parent_dir(path: &str) -> Option<AbsPath> {
    let p = Path::new(path.trim_end_matches('/'));
    if !p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
        return None;
    }
    let parent = p.parent().unwrap_or(Path::new("/"));
    AbsPath::try_from(parent.to_str()?).ok()
}

fn pattern(text: &str) -> Option<ArgPattern> {
    ArgPattern::try_from(text).ok()
}

fn command(program: &str, args: &[&str]) -> Option<CommandGrant> {
    let program = AbsPath::try_from(program).ok()?;
    let args = args
        .iter()
        .map(|a| pattern(a))
        .collect::<Option<Vec<_>>>()?;
    CommandGrant::new(program, args).ok()
}

/// Why a step's request could not even be formed.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// A path input that is not absolute or climbs with `..`.
    #[error("`{path}` is not an absolute path without `..`; on this host every path is a grant")]
    Path {
        /// The path.
        path: String,
    },
    /// A program or argument that cannot be a command grant.
    #[error("cannot grant `{0}`: {1}")]
    Command(String, String),
    /// An `s3://` URI that names no bucket, or whose URL at the S3 endpoint cannot be a grant.
    #[error("cannot grant `{0}`: {1}")]
    S3(String, String),
}

/// The url grant an `s3://bucket/key` URI needs: the object's URL at the S3 endpoint (for
/// `prefix/*`, the prefix's).
fn s3_url(s3: &S3Access, uri: &str) -> Result<UrlPrefix, RequestError> {
    let bad = |why: &str| RequestError::S3(uri.to_owned(), why.to_owned());
    let rest = uri
        .strip_prefix("s3://")
        .ok_or_else(|| bad("not an s3:// URI"))?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(bad("it names no bucket"));
    }
    let key = key.strip_suffix('*').unwrap_or(key);
    let url = s3.object_url(bucket, key);
    UrlPrefix::try_from(url.as_str()).map_err(|e| bad(&format!("its URL `{url}`: {e}")))
}

/// The grant request of one step run, from its resolved inputs.
///
/// # Errors
///
/// A path or command that cannot be expressed as a grant.
pub fn request(
    target: &Target,
    s3: &S3Access,
    action: &str,
    inputs: &Json,
    at: &Location,
) -> Result<GrantRequest, RequestError> {
    fn located<T>(at: &Location) -> impl Fn(T) -> Located<T> + '_ {
        move |value| Located {
            value,
            at: at.clone(),
        }
    }
    let mut req = GrantRequest::default();
    if *target == Target::Host {
        let (readers, writers) = paths(action, inputs);
        let mut dirs: Vec<GrantedDir> = Vec::new();
        for (path, access) in readers
            .iter()
            .map(|p| (p, Access::Read))
            .chain(writers.iter().map(|p| (p, Access::ReadWrite)))
        {
            let dir = parent_dir(path).ok_or_else(|| RequestError::Path { path: path.clone() })?;
            match dirs.iter_mut().find(|d| d.path == dir) {
                Some(d) => d.access = d.access.max(access),
                None => dirs.push(GrantedDir { path: dir, access }),
            }
        }
        req.directories = dirs.into_iter().map(located(at)).collect();
    }
    let str_at = |k: &str| {
        inputs
            .get(k)
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let mut commands = Vec::new();
    match action {
        "ExecuteBash" => commands.extend(command("/bin/bash", &["*"])),
        "ExecuteBinary" => {
            let path = str_at("path");
            let args: Vec<String> = inputs
                .get("arguments")
                .and_then(Json::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let grant = command(&path, &refs).ok_or_else(|| {
                RequestError::Command(
                    format!("{path} {}", args.join(" ")),
                    "the program must be an absolute path and each argument a valid pattern".into(),
                )
            })?;
            commands.push(grant);
        }
        "UpdateOS" => {
            commands.extend(command("/usr/bin/apt-get", &["update"]));
            commands.extend(command("/usr/bin/apt-get", &["-y", "upgrade", "**"]));
        }
        "S3Download" | "S3Upload" => {
            let field = if action == "S3Download" {
                "source"
            } else {
                "destination"
            };
            for e in inputs.as_array().into_iter().flatten() {
                if let Some(uri) = e.get(field).and_then(Json::as_str) {
                    req.urls.push(located(at)(s3_url(s3, uri)?));
                }
            }
        }
        "WebDownload" => {
            for e in inputs.as_array().into_iter().flatten() {
                if let Some(url) = e.get("source").and_then(Json::as_str)
                    && let Ok(prefix) = UrlPrefix::try_from(url)
                {
                    req.urls.push(located(at)(prefix));
                }
            }
        }
        _ => {}
    }
    req.commands = commands.into_iter().map(located(at)).collect();
    Ok(req)
}

/// Checks a step's request against the policy.
///
/// # Errors
///
/// Every refusal, naming the step, the grant and the policy rule.
pub fn check(
    policy: &HostPolicy,
    step: &StepRef,
    request: &GrantRequest,
) -> Result<EffectiveGrant, Vec<Refusal>> {
    policy.check_subject(&Subject::Step(step.clone()), request)
}

/// The sandbox's grants for an effective grant on `target`.
///
/// # Errors
///
/// A directory that cannot be opened (beneath the policy's directory, never through a link
/// out of it).
pub fn sandbox_grants(
    target: &Target,
    grant: &EffectiveGrant,
    deployment_root: &Path,
    s3: Option<S3Access>,
) -> Result<Grants, String> {
    let (mounts, exec_root) = match target {
        Target::Root(dir) => {
            let open = || {
                Root::open_ambient(dir, Resolve::InRoot)
                    .map_err(|e| format!("cannot open the target root `{}`: {e}", dir.display()))
            };
            // Commands run inside the root; with the network only when the step was granted
            // somewhere to reach.
            let exec_root = ExecRoot {
                root: Arc::new(open()?),
                network: !grant.urls.is_empty() || !grant.tcp.is_empty(),
            };
            (
                vec![Mount::new(open()?, "/", Access::ReadWrite)],
                Some(exec_root),
            )
        }
        // As a hook's: beneath the policy's directories, never davit's own state.
        Target::Host => (
            davit_lifecycle::open_granted_dirs(
                Path::new("/"),
                deployment_root,
                &grant.directories,
            )?,
            None,
        ),
    };
    Ok(Grants {
        mounts,
        exec_root,
        s3,
        urls: grant.urls.clone(),
        commands: grant
            .commands
            .iter()
            .map(|c| c.resolve(target.root_dir()))
            .collect(),
        limits: Limits {
            timeout: grant
                .limits
                .timeout
                .min(Duration::from_secs(u32::MAX as u64)),
            memory: grant.limits.memory.bytes(),
            output: grant.limits.output.bytes(),
            services: grant.limits.services,
            ..Limits::default()
        },
        ..Grants::default()
    })
}

/// A step's own temporary directory on this host, under davit's deployment root (which no
/// grant reaches), removed on drop.
pub struct Scratch {
    path: std::path::PathBuf,
}

impl Scratch {
    /// Makes `<deployment_root>/component-runs/scratch/NAME` (NAME's unsafe characters as
    /// `_`), readable by its owner only.
    ///
    /// # Errors
    ///
    /// When it cannot be made.
    pub fn create(deployment_root: &Path, name: &str) -> Result<Scratch, String> {
        use std::os::unix::fs::DirBuilderExt;
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let parent = deployment_root.join("component-runs").join("scratch");
        std::fs::create_dir_all(&parent)
            .map_err(|e| format!("cannot make `{}`: {e}", parent.display()))?;
        let path = std::path::absolute(parent.join(safe))
            .map_err(|e| format!("cannot make a scratch directory: {e}"))?;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| format!("cannot make `{}`: {e}", path.display()))?;
        Ok(Scratch { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory, read-write at its own path for the guest.
    ///
    /// # Errors
    ///
    /// When it cannot be opened.
    pub fn mount(&self) -> Result<Mount, String> {
        let root = Root::open_ambient(&self.path, Resolve::Beneath)
            .map_err(|e| format!("cannot open `{}`: {e}", self.path.display()))?;
        Ok(Mount::new(
            root,
            self.path.display().to_string(),
            Access::ReadWrite,
        ))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s3() -> S3Access {
        S3Access::from_vars(|k| (k == "AWS_ENDPOINT_URL").then(|| "http://127.0.0.1:8333".into()))
            .unwrap()
    }

    fn at() -> Location {
        Location::new("c.yml", 3, 9)
    }

    #[test]
    fn host_paths_become_parent_directory_grants() {
        let inputs = json!([{"source": "/etc/app/a.conf", "destination": "/opt/app/"}]);
        let req = request(&Target::Host, &s3(), "CopyFile", &inputs, &at()).unwrap();
        let dirs: Vec<_> = req
            .directories
            .iter()
            .map(|d| (d.value.path.to_string(), d.value.access))
            .collect();
        assert_eq!(
            dirs,
            [
                ("/etc/app".to_owned(), Access::Read),
                ("/opt".to_owned(), Access::ReadWrite)
            ]
        );
        let err = request(
            &Target::Host,
            &s3(),
            "ReadFile",
            &json!([{"path": "../x"}]),
            &at(),
        );
        assert!(matches!(err, Err(RequestError::Path { .. })));
    }

    #[test]
    fn a_root_needs_no_directory_grants_but_commands_are_policed() {
        let root = Target::Root("/tmp/img".into());
        let req = request(
            &root,
            &s3(),
            "CreateFile",
            &json!([{"path": "/etc/motd"}]),
            &at(),
        )
        .unwrap();
        assert!(req.is_empty());
        let req = request(
            &root,
            &s3(),
            "ExecuteBash",
            &json!({"commands": ["echo"]}),
            &at(),
        )
        .unwrap();
        assert_eq!(req.commands[0].value.to_string(), "/bin/bash *");
        let step = StepRef {
            document: "c.yml".into(),
            phase: "build".into(),
            step: "Hello".into(),
            action: "ExecuteBash".into(),
            timeout: Some(Duration::from_secs(7200)),
            native: false,
            at: at(),
        };
        let refusals = check(&HostPolicy::default(), &step, &req).unwrap_err();
        assert_eq!(
            refusals[0].to_string(),
            "c.yml:3:9: step `build.Hello` (`ExecuteBash`) of `c.yml` requests command \
             `/bin/bash *`, but no rule in (default policy) allows it"
        );
    }
}
