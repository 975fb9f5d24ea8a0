//! `davit hook run`: run one hook outside a deployment, under the same sandbox and limits.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;
use davit_sandbox::{
    Access, CacheUse, Call, Context as HookContext, DeploymentInfo, Grants, Job, Limits, LogLine,
    Mount, Sandbox, Verdict,
};
use davit_spec::{
    AbsPath, ArgPattern, ByteSize, CommandGrant, Event, TcpTarget, UrlPrefix, parse_duration,
};
use serde::Serialize;

use crate::Exit;
use crate::output::{self, Format};
use crate::render::hint;

#[derive(Subcommand)]
pub enum HookCommand {
    /// Run a hook component once and print its logs, result, time and peak memory
    Run(RunArgs),
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// The hook or health-check component: a .wasm file, or `builtin:NAME` (see `davit plugin list`)
    file: PathBuf,
    /// Lifecycle event the hook is told it serves
    #[arg(long, default_value = "AfterInstall")]
    event: String,
    /// A grant, repeatable: `dir=/path[:rw]`, `tcp=HOST:PORT`, `url=PREFIX`,
    /// `cmd=/abs/program ARG-PATTERN…`, `env=NAME[=VALUE]`
    #[arg(long = "grant", value_name = "KIND=VALUE")]
    grants: Vec<String>,
    /// A hook parameter, repeatable: `key=value`
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// Directory mounted read-only at `/bundle`, as a revision's files are
    #[arg(long)]
    bundle_dir: Option<PathBuf>,
    /// Granted directories and `{target-root}` in commands are re-rooted under this directory
    #[arg(long, default_value = "/")]
    target_root: PathBuf,
    /// Wall-clock limit, e.g. `30s`, `2m`
    #[arg(long, default_value = "60s")]
    timeout: String,
    /// Memory limit, e.g. `64MiB`
    #[arg(long, default_value = "128MiB")]
    memory: String,
    /// Output limit (logs, stdout, stderr), e.g. `1MiB`
    #[arg(long, default_value = "1MiB")]
    output_limit: String,
    /// Where compiled components are cached [default: none, compile every time]
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    output: Format,
}

#[derive(Serialize)]
struct RunResult {
    component: String,
    digest: String,
    kind: String,
    compile: String,
    load_ms: f64,
    result: String,
    succeeded: bool,
    detail: Option<String>,
    elapsed_ms: f64,
    peak_memory_bytes: u64,
    dropped_output_bytes: u64,
    logs: Vec<(String, String)>,
}

pub async fn run(cmd: HookCommand) -> Result<(), Exit> {
    let HookCommand::Run(args) = cmd;
    Event::parse(&args.event).map_err(|e| Exit::invalid(anyhow::anyhow!("`--event`: {e}")))?;
    let grants = grants(&args).map_err(Exit::invalid)?;
    let wasm = component(&args.file).map_err(Exit::invalid)?;
    let sandbox = Sandbox::new(args.cache_dir.clone()).context("cannot start the sandbox")?;
    let plugin = sandbox.load(&wasm).map_err(Exit::invalid)?;
    let (cache_use, load_time) = plugin.load_stats();
    let observer: Option<davit_sandbox::LineObserver> = match args.output {
        Format::Text => Some(Arc::new(|l: &LogLine| {
            eprintln!("[{}] {}", l.stream.as_str(), l.text)
        })),
        Format::Json => None,
    };
    let parameters = args
        .params
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| {
                    Exit::invalid(anyhow::anyhow!("`--param {p}`: expected `key=value`"))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let call = Call {
        context: HookContext {
            job: Job::deployment(
                args.event.clone(),
                DeploymentInfo {
                    id: "d-LOCALHOOK".into(),
                    application: "hook-run".into(),
                    deployment_group: "hook-run".into(),
                    revision: plugin.digest().to_string(),
                    last_good_revision: None,
                },
            ),
            bundle_dir: davit_lifecycle::BUNDLE_GUEST_DIR.into(),
            target_root: args.target_root.display().to_string(),
            parameters,
        },
        grants,
        observer,
        action: None,
        query_actions: false,
    };
    let outcome = sandbox.invoke(&plugin, call).await.map_err(Exit::invalid)?;
    let (result, detail) = match &outcome.result {
        Ok(Verdict::Succeeded) => ("succeeded", None),
        Ok(Verdict::Reboot) => (
            "succeeded",
            Some("the hook asks for a reboot before the next event".to_owned()),
        ),
        Ok(Verdict::Failed(m)) => ("failed", Some(m.clone())),
        Ok(Verdict::Healthy(d)) => ("healthy", Some(d.clone())),
        Ok(Verdict::Unhealthy(d)) => ("unhealthy", Some(d.clone())),
        Ok(Verdict::Action { outputs, .. }) => ("succeeded", Some(outputs.clone())),
        Ok(Verdict::Actions(actions)) => ("succeeded", Some(format!("{actions:?}"))),
        Ok(Verdict::Unsupported(action)) => ("failed", Some(format!("no `{action}` action"))),
        Err(fault) => ("fault", Some(fault.to_string())),
    };
    let summary = RunResult {
        component: args.file.display().to_string(),
        digest: plugin.digest().to_string(),
        kind: format!("{:?}", plugin.kind()),
        compile: match cache_use {
            CacheUse::Compiled => "compiled".into(),
            CacheUse::Cached => "cached".into(),
        },
        load_ms: load_time.as_secs_f64() * 1000.0,
        result: result.into(),
        succeeded: outcome.succeeded(),
        detail,
        elapsed_ms: outcome.elapsed.as_secs_f64() * 1000.0,
        peak_memory_bytes: outcome.peak_memory,
        dropped_output_bytes: outcome.dropped_output,
        logs: outcome
            .logs
            .iter()
            .map(|l| (l.stream.as_str().to_string(), l.text.clone()))
            .collect(),
    };
    match args.output {
        Format::Json => output::json(&summary)?,
        Format::Text => {
            println!(
                "result: {}{}",
                summary.result,
                summary
                    .detail
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            );
            println!(
                "time: {:.2} ms (load {:.2} ms, {}), peak memory: {:.1} KiB{}",
                summary.elapsed_ms,
                summary.load_ms,
                summary.compile,
                summary.peak_memory_bytes as f64 / 1024.0,
                if summary.dropped_output_bytes > 0 {
                    format!(", {} bytes of output dropped", summary.dropped_output_bytes)
                } else {
                    String::new()
                }
            );
        }
    }
    if summary.succeeded {
        Ok(())
    } else {
        Err(Exit::failed())
    }
}

/// The component's bytes: a built-in plugin's for `builtin:NAME`, else the file's.
fn component(file: &Path) -> anyhow::Result<Cow<'static, [u8]>> {
    let text = file.to_string_lossy();
    if let Some(name) = text.strip_prefix(davit_plugins::PREFIX) {
        // `hook run` runs hooks and health checks; the image actions run with `component run`.
        return match davit_plugins::find(name) {
            Some(builtin) if builtin.world != davit_plugins::World::Action => {
                Ok(Cow::Borrowed(builtin.wasm))
            }
            _ => Err(hint(
                anyhow::anyhow!("davit has no built-in hook or health check `{name}`"),
                format!(
                    "the built-in hooks and health checks are: {}",
                    davit_plugins::hook_names()
                ),
            )),
        };
    }
    let wasm = std::fs::read(file).with_context(|| format!("cannot read `{}`", file.display()))?;
    Ok(Cow::Owned(wasm))
}

/// Turns `--grant` flags and limits into the sandbox's grants.
fn grants(args: &RunArgs) -> anyhow::Result<Grants> {
    let bad = |flag: &str, e: &dyn std::fmt::Display| {
        hint(
            anyhow::anyhow!("`--grant {flag}`: {e}"),
            "grants look like `dir=/srv/app:rw`, `tcp=127.0.0.1:5432`, `url=http://127.0.0.1:8080/`, `cmd=/usr/bin/systemctl restart app`, `env=LANG`",
        )
    };
    let mut grants = Grants {
        limits: Limits {
            timeout: parse_duration(&args.timeout)
                .map_err(|e| anyhow::anyhow!("`--timeout`: {e}"))?,
            memory: ByteSize::try_from(args.memory.as_str())
                .map_err(|e| anyhow::anyhow!("`--memory`: {e}"))?
                .bytes(),
            output: ByteSize::try_from(args.output_limit.as_str())
                .map_err(|e| anyhow::anyhow!("`--output-limit`: {e}"))?
                .bytes(),
            ..Limits::default()
        },
        ..Grants::default()
    };
    if let Some(dir) = &args.bundle_dir {
        let mount = Mount::open(dir, davit_lifecycle::BUNDLE_GUEST_DIR, Access::Read)
            .map_err(|e| anyhow::anyhow!("cannot open `{}`: {e}", dir.display()))?;
        grants.mounts.push(mount);
    }
    for flag in &args.grants {
        let (kind, value) = flag
            .split_once('=')
            .ok_or_else(|| bad(flag, &"expected `KIND=VALUE`"))?;
        match kind {
            "dir" => {
                let (path, access) = match value.rsplit_once(':') {
                    Some((p, "rw")) => (p, Access::ReadWrite),
                    Some((p, "ro")) => (p, Access::Read),
                    _ => (value, Access::Read),
                };
                let path = AbsPath::try_from(path).map_err(|e| bad(flag, &e))?;
                let host = davit_lifecycle::reroot(&args.target_root, path.as_path());
                let mount = Mount::open(&host, path.as_str(), access).map_err(|e| {
                    anyhow::anyhow!("`--grant {flag}`: cannot open `{}`: {e}", host.display())
                })?;
                grants.mounts.push(mount);
            }
            "tcp" => grants
                .tcp
                .push(TcpTarget::try_from(value).map_err(|e| bad(flag, &e))?),
            "url" => grants
                .urls
                .push(UrlPrefix::try_from(value).map_err(|e| bad(flag, &e))?),
            "cmd" => {
                let mut words = value.split_whitespace();
                let program = AbsPath::try_from(words.next().unwrap_or_default())
                    .map_err(|e| bad(flag, &e))?;
                let patterns = words
                    .map(ArgPattern::try_from)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| bad(flag, &e))?;
                let grant = CommandGrant::new(program, patterns).map_err(|e| bad(flag, &e))?;
                grants.commands.push(grant.resolve(&args.target_root));
            }
            "env" => {
                let (name, value) = match value.split_once('=') {
                    Some((n, v)) => (n.to_string(), v.to_string()),
                    None => (value.to_string(), std::env::var(value).unwrap_or_default()),
                };
                grants.env.push((name, value));
            }
            other => return Err(bad(flag, &format!("unknown grant kind `{other}`"))),
        }
    }
    Ok(grants)
}
