//! One invocation: a fresh store and WASI context built from the grant, run under its limits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};
use wasmtime_wasi_http::WasiHttpCtx;

use crate::bindings::types::{ActionNext as WitActionNext, Next};
use crate::dns::{GrantedNames, Resolver};
use crate::egress::Egress;
use crate::grants::{Access, Grants};
use crate::limiter::MemoryLimiter;
use crate::resources::Budget;
use crate::service::Service;
use crate::sink::{LineObserver, LogLine, Sink, Stream};
use crate::state::HookState;
use crate::{Context, Fault, Job, PackageAction, Plugin, PluginKind, Pre, Sandbox, SandboxError};

/// One call of a plugin.
#[derive(Clone, Default)]
pub struct Call {
    pub context: Context,
    pub grants: Grants,
    /// Sees each log line as it arrives.
    pub observer: Option<LineObserver>,
    /// For an action plugin: which action, with which inputs. None for hooks and checks.
    pub action: Option<ActionInput>,
    /// For a package plugin: only ask which actions it implements ([`Verdict::Actions`]),
    /// instead of running the action of the context's package step.
    pub query_actions: bool,
}

/// The step an action plugin runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionInput {
    /// The module's name (`CreateFile`).
    pub name: String,
    /// The step's inputs as JSON, every reference resolved.
    pub inputs: String,
}

/// What the host does once an action has run (WIT `action-next`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionNext {
    Proceed,
    /// Reboot, then go on with the next step.
    Reboot,
    /// Reboot, then run this step again.
    RebootAndRerun,
}

/// What a plugin said when it returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A hook returned `ok(proceed)`.
    Succeeded,
    /// A hook returned `ok(reboot)`: it succeeded, and the host is to reboot before the next
    /// event.
    Reboot,
    /// A hook returned `err(message)`, or a health check could not run.
    Failed(String),
    /// A health check reported healthy, with its detail.
    Healthy(String),
    /// A health check reported unhealthy, with its detail.
    Unhealthy(String),
    /// An action returned: its outputs (a JSON object) and what comes next.
    Action { outputs: String, next: ActionNext },
    /// A package component's answer to [`Call::query_actions`].
    Actions(Vec<PackageAction>),
    /// A package component does not implement the action it was called for (it was not
    /// called).
    Unsupported(PackageAction),
}

impl Verdict {
    /// True when the event may go on.
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            Verdict::Succeeded | Verdict::Reboot | Verdict::Healthy(_) | Verdict::Action { .. }
        )
    }
}

/// How an invocation ended, with everything it printed.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub result: Result<Verdict, Fault>,
    pub logs: Vec<LogLine>,
    /// Bytes of output dropped past the output limit.
    pub dropped_output: u64,
    pub elapsed: Duration,
    /// Most linear memory in use at once, in bytes.
    pub peak_memory: u64,
    /// The services it started with `spawn` (still running or not).
    pub services: Vec<Service>,
}

impl Outcome {
    /// True when the plugin returned a verdict that lets the event go on.
    pub fn succeeded(&self) -> bool {
        matches!(&self.result, Ok(v) if v.is_success())
    }
}

impl Sandbox {
    /// The actions a package component implements: its `actions` export, called with nothing
    /// granted.
    ///
    /// # Errors
    ///
    /// A line saying why it could not be asked (not a package component, or it failed).
    pub async fn package_actions(&self, plugin: &Plugin) -> Result<Vec<PackageAction>, String> {
        if plugin.kind() != PluginKind::Package {
            return Err(format!(
                "it is a {:?} plugin, not a package's scripts",
                plugin.kind()
            ));
        }
        let call = Call {
            query_actions: true,
            ..Call::default()
        };
        let outcome = self.invoke(plugin, call).await.map_err(|e| e.to_string())?;
        match outcome.result {
            Ok(Verdict::Actions(actions)) => Ok(actions),
            Ok(other) => Err(format!("its `actions` export answered {other:?}")),
            Err(fault) => Err(format!("its `actions` export {fault}")),
        }
    }

    /// Runs `plugin` once under `call`'s grants and limits.
    ///
    /// # Errors
    ///
    /// A [`SandboxError`] when the grant cannot be set up (a granted directory is missing, a
    /// tcp grant does not resolve). Whatever the guest does is reported in the [`Outcome`].
    pub async fn invoke(&self, plugin: &Plugin, call: Call) -> Result<Outcome, SandboxError> {
        let started = Instant::now();
        let wrong = |reason| SandboxError::WrongCall {
            digest: plugin.digest().to_owned(),
            kind: plugin.kind(),
            reason,
        };
        match (plugin.kind(), &call.action) {
            (PluginKind::Action, None) => return Err(wrong("it needs an action and its inputs")),
            (PluginKind::Hook | PluginKind::HealthCheck | PluginKind::Package, Some(_)) => {
                return Err(wrong("it takes no action"));
            }
            (PluginKind::Package, None)
                if !call.query_actions && !matches!(call.context.job, Job::Package(_)) =>
            {
                return Err(wrong("it runs only for a package's step"));
            }
            _ => {}
        }
        let export = match (call.action, &call.context.job) {
            (Some(input), _) => Export::Action(input),
            (None, _) if call.query_actions => Export::Actions,
            (None, Job::Package(step)) => Export::Package(step.action),
            (None, _) => Export::Plain,
        };
        let grants = Arc::new(call.grants);
        let sink = Sink::new(grants.limits.output, call.observer);
        let budget = Budget::new(&grants.limits, sink.clone());
        let (wasi, names) = wasi_context(&grants, &sink, self.resolver.as_ref(), &budget).await?;
        let signed = crate::s3::Signed::default();
        let state = HookState {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            egress: Egress {
                urls: Arc::new(grants.urls.clone()),
                sink: sink.clone(),
                budget: budget.clone(),
                resolver: self.resolver.clone(),
                signed: signed.clone(),
                record: grants.record.clone(),
            },
            limiter: MemoryLimiter::new(grants.limits.memory),
            sink: sink.clone(),
            grants: grants.clone(),
            names,
            budget,
            services: Arc::default(),
            cancelled: Arc::default(),
            signed,
        };
        let services = state.services.clone();
        let cancelled = state.cancelled.clone();
        let budget = state.budget.clone();
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        crate::resources::apply(&mut store, &grants.limits);

        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore never closed");
        let context = call.context.to_wit();
        let plugin = plugin.clone();
        // File system calls block the thread they run on (see `wasi_context`). When the guest
        // can reach a directory davit did not create itself, or run commands, a call could block
        // for good (a FIFO): then it runs on a thread of its own, so that the timeout still ends
        // the invocation; its future is dropped there (killing the process group of a command
        // it waits for) as soon as that thread can run, and the guest is interrupted at its next
        // epoch tick. Otherwise it runs here, without the thread hop.
        let limit = grants.limits.timeout;
        let inline = grants.commands.is_empty() && grants.mounts.iter().all(|m| m.own);
        let (result, peak_memory) = if inline {
            let _permit = permit;
            match tokio::time::timeout(limit, run_export(plugin, store, context, export)).await {
                Err(_) => (Err(Fault::Timeout { limit }), 0),
                Ok(ran) => ran,
            }
        } else {
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let runtime = tokio::runtime::Handle::current();
            let task = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                runtime.block_on(async move {
                    tokio::select! {
                        ran = run_export(plugin, store, context, export) => ran,
                        _ = stopped => (Err(Fault::Timeout { limit }), 0),
                    }
                })
            });
            match tokio::time::timeout(limit, task).await {
                Err(_) => {
                    cancelled.store(true, std::sync::atomic::Ordering::Relaxed);
                    let _ = stop.send(());
                    (Err(Fault::Timeout { limit }), 0)
                }
                Ok(Ok(ran)) => ran,
                Ok(Err(failed)) => (
                    Err(Fault::Trap {
                        message: format!("the invocation's thread failed: {failed}"),
                    }),
                    0,
                ),
            }
        };
        // A bound the guest reached is how it ended, whatever it did after.
        let result = match budget.fault(None) {
            Some(fault) => Err(fault),
            None => result,
        };
        let services = std::mem::take(&mut *services.lock().expect("services"));
        if let Err(fault) = &result {
            sink.fault_line(&format!("sandbox: hook {fault}"));
        }
        let (logs, dropped_output) = sink.finish();
        Ok(Outcome {
            result,
            logs,
            dropped_output,
            elapsed: started.elapsed(),
            peak_memory,
            services,
        })
    }
}

/// Which export a call runs, beyond the one a hook or a check has.
enum Export {
    Plain,
    Action(ActionInput),
    Actions,
    Package(PackageAction),
}

/// Instantiates the plugin and calls its export; the verdict or fault and the peak memory.
async fn run_export(
    plugin: Plugin,
    mut store: Store<HookState>,
    context: crate::bindings::types::Context,
    export: Export,
) -> (Result<Verdict, Fault>, u64) {
    let run = async {
        match &plugin.inner.pre {
            Pre::Hook(pre) => {
                let hook = pre.instantiate_async(&mut store).await.map_err(Start)?;
                let result = hook.call_run(&mut store, &context).await.map_err(Run)?;
                Ok(match result {
                    Ok(Next::Proceed) => Verdict::Succeeded,
                    Ok(Next::Reboot) => Verdict::Reboot,
                    Err(message) => Verdict::Failed(message),
                })
            }
            Pre::Check(pre) => {
                let check = pre.instantiate_async(&mut store).await.map_err(Start)?;
                let result = check.call_check(&mut store, &context).await.map_err(Run)?;
                Ok(match result {
                    Ok(h) if h.healthy => Verdict::Healthy(h.detail),
                    Ok(h) => Verdict::Unhealthy(h.detail),
                    Err(message) => Verdict::Failed(message),
                })
            }
            Pre::Package(pre) => {
                let scripts = pre.instantiate_async(&mut store).await.map_err(Start)?;
                let actions: Vec<PackageAction> = scripts
                    .call_actions(&mut store)
                    .await
                    .map_err(Run)?
                    .into_iter()
                    .map(PackageAction::from_wit)
                    .collect();
                let action = match export {
                    Export::Package(action) => action,
                    _ => return Ok(Verdict::Actions(actions)),
                };
                if !actions.contains(&action) {
                    return Ok(Verdict::Unsupported(action));
                }
                let result = match action {
                    PackageAction::Install => scripts.call_install(&mut store, &context).await,
                    PackageAction::Uninstall => scripts.call_uninstall(&mut store, &context).await,
                    PackageAction::Update => scripts.call_update(&mut store, &context).await,
                    PackageAction::Validate => scripts.call_validate(&mut store, &context).await,
                }
                .map_err(Run)?;
                Ok(match result {
                    Ok(Next::Proceed) => Verdict::Succeeded,
                    Ok(Next::Reboot) => Verdict::Reboot,
                    Err(message) => Verdict::Failed(message),
                })
            }
            Pre::Action(pre) => {
                let Export::Action(input) = export else {
                    unreachable!("checked before the call")
                };
                let instance = pre.instantiate_async(&mut store).await.map_err(Start)?;
                let result = instance
                    .call_execute(&mut store, &context, &input.name, &input.inputs)
                    .await
                    .map_err(Run)?;
                Ok(match result {
                    Ok(done) => Verdict::Action {
                        outputs: done.outputs,
                        next: match done.next {
                            WitActionNext::Proceed => ActionNext::Proceed,
                            WitActionNext::Reboot => ActionNext::Reboot,
                            WitActionNext::RebootAndRerun => ActionNext::RebootAndRerun,
                        },
                    },
                    Err(message) => Verdict::Failed(message),
                })
            }
        }
    };
    let result = match run.await {
        Ok(verdict) => Ok(verdict),
        Err(Start(e)) => Err(Fault::Instantiate {
            message: format!("{e:#}"),
        }),
        Err(Run(e)) => Err(store
            .data()
            .budget
            .fault(Some(&e))
            .unwrap_or_else(|| classify(&e, &store.data().limiter))),
    };
    (result, store.data().limiter.peak)
}

/// Failure while instantiating, or while the export ran.
enum Failure {
    Start(wasmtime::Error),
    Run(wasmtime::Error),
}
use Failure::{Run, Start};

fn classify(error: &wasmtime::Error, limiter: &MemoryLimiter) -> Fault {
    if let Some(exit) = error.downcast_ref::<I32Exit>() {
        return Fault::Exit { code: exit.0 };
    }
    if let Some(requested) = limiter.refused {
        return Fault::MemoryLimit {
            limit: limiter.limit(),
            requested,
        };
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => Fault::StackOverflow,
        Some(trap) => Fault::Trap {
            message: trap.to_string(),
        },
        None => Fault::Trap {
            message: format!("{error:#}"),
        },
    }
}

/// Builds a WASI context that holds exactly what `grants` allow, and nothing ambient.
async fn wasi_context(
    grants: &Grants,
    sink: &Sink,
    resolver: &dyn Resolver,
    budget: &Arc<Budget>,
) -> Result<(wasmtime_wasi::WasiCtx, GrantedNames), SandboxError> {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(sink.stream(Stream::Stdout))
        .stderr(sink.stream(Stream::Stderr))
        .max_random_size(1 << 20)
        // File system calls run on the invocation's own thread instead of a hop to tokio's
        // blocking pool each (a hook that writes files ran 2-4x slower).
        .allow_blocking_current_thread(true)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    for (name, value) in &grants.env {
        builder.env(name, value);
    }
    for mount in &grants.mounts {
        let perms = match mount.access {
            Access::Read => FsPerms::ReadOnly,
            Access::ReadWrite => FsPerms::ReadWrite,
        };
        builder
            .preopened_dir(mount.dir.fd_path(), &mount.guest, perms)
            .map_err(|e| SandboxError::Mount {
                host: mount.host().to_owned(),
                guest: mount.guest.clone(),
                reason: format!("{e:#}"),
            })?;
    }
    let names = crate::net::grant_tcp(
        &mut builder,
        &grants.tcp,
        resolver,
        budget.clone(),
        grants.record.clone(),
    )
    .await?;
    Ok((builder.build(), names))
}
