//! Executing a validated request: connect, build the host and engine,
//! compile every script, run the action script, collect the report.
//!
//! Everything up to running the script makes no network request, so a
//! script that does not compile or a bundle that fails its checksum is
//! still an input problem (exit 3) with the cluster untouched.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::bootstrap::{self, BundleInputs};
use crate::config::{Action, Problem, Request, Source};
use crate::k8s::client::{ClientSettings, KubeCluster};
use crate::k8s::guard::{Guarded, WritePolicy};
use crate::k8s::lease::{Lock, LockSettings};
use crate::k8s::stats::ApiStats;
use crate::k8s::wait::Bounds;
use crate::observe::trace::TraceContext;
use crate::orchestrate::outcome;
use crate::outcome::Outcome;
use crate::report::{Failure, FailureReason, Report};
use crate::script::compile::{Compiled, Needs, Script, compile_all};
use crate::script::context;
use crate::script::engine::{self, Limits};
use crate::script::error::{Origins, ScriptError, ScriptErrorKind};
use crate::script::host::{Host, HostParts, ReportParts, RunSettings};
use crate::script::primitives;
use crate::script::source::Library;

/// `ACTION_TIMEOUT` when none is given: no wait is ever unbounded.
pub const DEFAULT_ACTION_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

/// What went wrong before the action script ran.
pub enum Refusal {
    /// Input problems (exit 3).
    Invalid(Vec<Problem>),
}

/// Runs `request` on `runtime`, filling `report`; returns the outcome.
pub fn execute(
    runtime: &tokio::runtime::Runtime,
    request: &Request,
    trace: &TraceContext,
    otel: Option<&crate::observe::otel::OtelSettings>,
    report: &mut Report,
    live_view: bool,
) -> Result<Outcome, Refusal> {
    if live_view {
        let reverse = request.action == Action::Teardown;
        crate::observe::progress::enable(
            request
                .plan
                .nodes
                .iter()
                .map(|n| {
                    (
                        n.name.clone(),
                        if reverse {
                            n.dependents.clone()
                        } else {
                            n.depends_on.clone()
                        },
                    )
                })
                .collect(),
        );
    }
    let outcome = runtime.block_on(run(request, trace, otel, report));
    crate::observe::progress::finish();
    outcome
}

async fn run(
    request: &Request,
    trace: &TraceContext,
    otel: Option<&crate::observe::otel::OtelSettings>,
    report: &mut Report,
) -> Result<Outcome, Refusal> {
    let prepared = prepare(request, trace, otel).await?;
    Ok(run_prepared(prepared, request, trace, report).await)
}

/// A run ready to start: every input known good, its host bound.
struct Prepared {
    host: Arc<Host>,
    engine: Arc<rhai::Engine>,
    script: Script,
    ctx: rhai::Dynamic,
    base: Arc<dyn crate::k8s::Cluster>,
    lock: Option<Arc<Lock>>,
    stats: Arc<ApiStats>,
    cancel: CancellationToken,
    deadline: Instant,
    timeout: Duration,
}

/// Connects, loads the bundle, compiles every script and binds the host;
/// the one request made is the TLS preflight, after all of that.
async fn prepare(
    request: &Request,
    trace: &TraceContext,
    otel: Option<&crate::observe::otel::OtelSettings>,
) -> Result<Prepared, Refusal> {
    let settings = ClientSettings {
        rate: request.api_rate,
        traceparent: Some(trace.traceparent()),
    };
    let variable = request.cluster.variable();
    let cluster = KubeCluster::connect(&request.cluster, &settings)
        .await
        .map_err(|e| Refusal::Invalid(vec![Problem::new(Source::Var(variable), e.to_string())]))?;
    let stats = cluster.stats();

    let bundle = load_bundle(request)?;

    let workflow = workflow_settings(request, otel)?;

    let cancel = CancellationToken::new();
    let timeout = request.action_timeout.unwrap_or(DEFAULT_ACTION_TIMEOUT);
    let deadline = Instant::now() + timeout;
    let bounds = Bounds {
        deadline,
        cancel: cancel.clone(),
    };
    let origins = Origins::default();
    // validate and a dry run cannot write, whatever a script asks; deploy
    // and teardown take the environment's lock before their first write (a
    // Workflow's task runs under its driver's).
    let base: Arc<dyn crate::k8s::Cluster> = Arc::new(cluster);
    let lock = (!request.task).then(|| {
        let settings = LockSettings::new(
            &request.environment.argocd_namespace,
            &request.environment.name,
            &trace.trace_id,
            request.lock_timeout,
        );
        Lock::new(settings, cancel.clone())
    });
    let (engine, compiled, script) = compile(request, &origins)?;
    let plan = Arc::new(request.plan.clone());
    let tier = request.tier.to_string();
    let ctx = context::build(&context::ContextParts::of(request, trace, &tier), &plan);
    let (engine, host) = Host::bind(
        engine,
        HostParts {
            cluster: guarded(request, &base, lock.as_ref()),
            runtime: tokio::runtime::Handle::current(),
            bounds,
            settings: RunSettings {
                dry_run: request.dry_run,
                retries: request.environment.retries,
                argocd_namespace: request.environment.argocd_namespace.clone(),
                tier: tier.clone(),
                pv_policy: request.pv_policy,
                concurrency: request.concurrency,
                workflow,
                workflows_namespace: (!request.task).then(|| request.environment.workflows_namespace.clone()),
            },
            secrets: request.secrets.clone(),
            plan,
            trace: trace.clone(),
            stats: Some(stats.clone()),
            origins,
            scripts: Arc::new(compiled),
            ctx: ctx.clone(),
            bundle: bundle.map(Arc::new),
        },
    );
    if let Some(lock) = &lock {
        forget_when_stale(lock, &host);
    }
    // The first request, once every input (scripts included) is known
    // good: a server the kubeconfig's CA does not verify is a kubeconfig
    // problem (exit 3 naming the variable), not an unreachable cluster.
    // Other failures are left to the run's own handling (retries, reasons).
    tls_preflight(request, base.as_ref()).await?;

    Ok(Prepared {
        host,
        engine,
        script,
        ctx,
        base,
        lock,
        stats,
        cancel,
        deadline,
        timeout,
    })
}

/// Runs the action script of a prepared run, then records on the cluster
/// and in `report` how it ended.
async fn run_prepared(prepared: Prepared, request: &Request, trace: &TraceContext, report: &mut Report) -> Outcome {
    let Prepared {
        host,
        engine,
        script,
        ctx,
        base,
        lock,
        stats,
        cancel,
        deadline,
        timeout,
    } = prepared;
    // The deadline and signals cancel every wait; the report is still written.
    let (watchdog, interrupted) = watchdog(deadline, timeout, &cancel);

    info!(
        phase = "run",
        "{} {} ({} applications){}",
        request.action.name(),
        request.scope,
        request.plan.nodes.len(),
        if request.dry_run { ", dry run" } else { "" }
    );
    let started = Instant::now();
    host.with_report(|parts| parts.origin = Some(started.into_std()));
    let runner_host = host.clone();
    let runner_engine = engine.clone();
    // The script's thread runs inside the action span; the phases it
    // starts (`log::phase`) end with it.
    let action_span = opentelemetry::Context::current();
    let result = tokio::task::spawn_blocking(move || {
        let _attached = action_span.attach();
        let result = crate::script::run::run_action(&runner_host, &runner_engine, &script, ctx);
        let failure = result.as_ref().err().map(ToString::to_string);
        crate::observe::span::end_last_phase(failure.as_deref());
        result
    })
    .await;
    watchdog.abort();
    // Failures on the Applications themselves, while the lock is held.
    let script_error = match &result {
        Ok(Err(error)) => Some(error),
        _ => None,
    };
    if lock.as_ref().is_none_or(|l| !l.refused()) {
        crate::orchestrate::events::record_run(&host, request, &trace.trace_id, script_error).await;
    }
    if let Some(lock) = &lock {
        lock.release(base.as_ref()).await;
    }
    let deadline_passed = Instant::now() >= deadline;
    let was_interrupted = interrupted.load(std::sync::atomic::Ordering::SeqCst);

    let decided = fill_report(report, request, host.with_report(std::mem::take), deadline_passed);
    let decided = record_script_end(report, request, result, deadline_passed).unwrap_or(decided);
    let decided = record_refusal(report, request, lock.as_ref(), was_interrupted).unwrap_or(decided);
    let outcome = if deadline_passed && decided != Outcome::Succeeded {
        Outcome::TimedOut
    } else {
        decided
    };
    request_metrics(report, &stats, &host, started);
    outcome
}

/// Taking the lease from a run active since this one read the cluster:
/// forget what was read, so every later decision reads again.
fn forget_when_stale(lock: &Lock, host: &Arc<Host>) {
    let weak = Arc::downgrade(host);
    lock.on_stale(Box::new(move || {
        if let Some(host) = weak.upgrade() {
            host.index.forget();
        }
    }));
}

/// The bootstrap bundle, loaded and verified before the run: deploy only
/// (a workflow task never bootstraps).
fn load_bundle(request: &Request) -> Result<Option<bootstrap::Bundle>, Refusal> {
    if request.action != Action::Deploy || request.task {
        return Ok(None);
    }
    let mut destinations: Vec<String> = request.graph.graph.apps().map(|(_, a)| a.namespace.clone()).collect();
    destinations.sort();
    destinations.dedup();
    let tier = request.tier.to_string();
    let inputs = BundleInputs {
        bundle_dir: &request.bundle_dir,
        environment: &request.environment,
        tier: &tier,
        secrets: &request.secrets,
        destination_namespaces: destinations,
        executor_image: request.executor_image.clone(),
    };
    bootstrap::load(&inputs).map(Some).map_err(Refusal::Invalid)
}

/// The run's engine, its primitives registered, and every script the
/// action needs compiled up front (a compile error is exit 3, before any
/// request): the engine, the compiled scripts (for the host) and the
/// action script.
fn compile(request: &Request, origins: &Origins) -> Result<(rhai::Engine, Compiled, Script), Refusal> {
    let library = Library::new(&request.config_dir);
    let mut engine = engine::build(&library, origins, Limits::default());
    primitives::register_modules(&mut engine);
    let action_script = format!("{}.rhai", request.action.name());
    let compiled = compile_all(
        &engine,
        &library,
        origins,
        Needs {
            action: Some(&action_script),
            plan: Some(&request.plan),
            health: true,
            policies: request.action == Action::Validate,
        },
    )
    .map_err(Refusal::Invalid)?;
    let Some(script) = compiled.action.clone() else {
        return Err(Refusal::Invalid(vec![Problem::new(Source::Args, "no action script")]));
    };
    Ok((engine, compiled, script))
}

/// The cluster the run's primitives see: validate and a dry run cannot
/// write, whatever a script asks; deploy and teardown take the
/// environment's lock before their first write (a Workflow's task runs
/// under its driver's).
fn guarded(
    request: &Request,
    base: &Arc<dyn crate::k8s::Cluster>,
    lock: Option<&Arc<Lock>>,
) -> Arc<dyn crate::k8s::Cluster> {
    match (request.action, request.dry_run, lock) {
        (Action::Validate, _, _) => Arc::new(Guarded::read_only(base.clone(), "validate")),
        (_, true, _) => Arc::new(Guarded::read_only(base.clone(), "a dry run")),
        (_, false, Some(lock)) => Arc::new(Guarded::new(base.clone(), WritePolicy::Locked(lock.clone()))),
        (_, false, None) => base.clone(),
    }
}

/// The first request, once every input (scripts included) is known good: a
/// server the kubeconfig's CA does not verify is a kubeconfig problem (exit
/// 3 naming the variable), not an unreachable cluster. Other failures are
/// left to the run's own handling (retries, reasons).
async fn tls_preflight(request: &Request, base: &dyn crate::k8s::Cluster) -> Result<(), Refusal> {
    match base.version().await {
        Err(error @ crate::k8s::K8sError::Tls { .. }) => Err(Refusal::Invalid(vec![Problem::new(
            Source::Var(request.cluster.variable()),
            format!(
                "cannot use the kubeconfig's context `{}`: {error}",
                request.cluster.context
            ),
        )])),
        _ => Ok(()),
    }
}

/// Cancels the run at its deadline or on SIGTERM/SIGINT (then the flag
/// says it was interrupted).
fn watchdog(
    deadline: Instant,
    timeout: Duration,
    cancel: &CancellationToken,
) -> (tokio::task::JoinHandle<()>, Arc<std::sync::atomic::AtomicBool>) {
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let handle = {
        let cancel = cancel.clone();
        let interrupted = interrupted.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {
                    warn!(phase = "run", "ACTION_TIMEOUT ({}) reached: stopping", crate::input::duration::format_duration(timeout));
                }
                () = signal() => {
                    interrupted.store(true, std::sync::atomic::Ordering::SeqCst);
                    warn!(phase = "run", "interrupted: stopping, cancelling waits and writing the report");
                }
            }
            cancel.cancel();
        })
    };
    (handle, interrupted)
}

/// Moves what the run recorded into the report; returns the outcome the
/// components (or a script's decision) say.
fn fill_report(report: &mut Report, request: &Request, parts: ReportParts, deadline_passed: bool) -> Outcome {
    let decided = outcome::decide(request.action, &parts, deadline_passed);
    report.components = parts.components;
    report.failures = parts.failures;
    report.recommendations = parts.recommendations;
    report.metrics.extend(parts.metrics);
    report.compliance = parts.compliance;
    report.orchestration = parts.orchestration;
    report.bootstrap_phases = parts.bootstrap_phases;
    if request.action == Action::Teardown {
        report.removed = Some(parts.removed);
        report.retained = Some(parts.retained);
        report.orphans = Some(parts.orphans);
    } else {
        outcome::add_stacks(report, &request.plan);
    }
    decided
}

/// How the action script ended, in the report: a script error or a worker
/// that died is a failure of the action and forces the outcome.
fn record_script_end(
    report: &mut Report,
    request: &Request,
    result: Result<Result<(), ScriptError>, tokio::task::JoinError>,
    deadline_passed: bool,
) -> Option<Outcome> {
    let action = request.action.name().to_owned();
    match result {
        Ok(Ok(())) => None,
        Ok(Err(script_error)) => {
            let (reason, forced) = match script_error.kind {
                ScriptErrorKind::Timeout => (FailureReason::TimedOut, Outcome::TimedOut),
                ScriptErrorKind::Cancelled if deadline_passed => (FailureReason::TimedOut, Outcome::TimedOut),
                ScriptErrorKind::Cancelled => (FailureReason::Interrupted, Outcome::Failed),
                _ if deadline_passed => (FailureReason::TimedOut, Outcome::TimedOut),
                _ => (FailureReason::ScriptError, Outcome::Failed),
            };
            error!(phase = "run", "{script_error}");
            let already = report
                .failures
                .iter()
                .any(|f| script_error.message.contains(&f.message) || f.message.contains(&script_error.message));
            if !already {
                report.failures.push(Failure {
                    component: action,
                    reason,
                    message: script_error.to_string(),
                    diagnostics: script_error.trace.clone(),
                });
            }
            Some(forced)
        }
        Err(join_error) => {
            report.failures.push(Failure {
                component: action,
                reason: FailureReason::InternalError,
                message: format!("the action's worker ended abnormally: {join_error}"),
                diagnostics: Vec::new(),
            });
            Some(Outcome::Failed)
        }
    }
}

/// A run refused the environment's lock stopped before its first write:
/// that is the one thing to say. An interrupted run says so.
fn record_refusal(
    report: &mut Report,
    request: &Request,
    lock: Option<&Arc<Lock>>,
    interrupted: bool,
) -> Option<Outcome> {
    let component = request.action.name().to_owned();
    if let Some(lock) = lock.filter(|l| l.refused()) {
        report.failures = vec![Failure {
            component,
            reason: FailureReason::Locked,
            message: lock.refusal(),
            diagnostics: Vec::new(),
        }];
        report
            .recommendations
            .push("Wait for the other run to finish, or set LOCK_TIMEOUT to wait for it.".to_owned());
        return Some(Outcome::Failed);
    }
    if !interrupted {
        return None;
    }
    report.failures.push(Failure {
        component,
        reason: FailureReason::Interrupted,
        message: "the executor received a termination signal".to_owned(),
        diagnostics: Vec::new(),
    });
    report
        .recommendations
        .push("Run the same action again: completed nodes are not redone.".to_owned());
    Some(Outcome::Failed)
}

/// The run's request counts and wall time, in the report's metrics.
fn request_metrics(report: &mut Report, stats: &ApiStats, host: &Host, started: Instant) {
    let metrics = [
        ("apiRequests", serde_json::to_value(stats.by_verb()).unwrap_or_default()),
        ("apiRequestsTotal", stats.total().into()),
        ("mutatingRequests", stats.mutating().into()),
        ("retries", stats.retries().into()),
        (
            "syncRequests",
            host.sync_requests.load(std::sync::atomic::Ordering::Relaxed).into(),
        ),
        (
            "wallSeconds",
            serde_json::json!(crate::report::round_seconds(started.elapsed().as_secs_f64())),
        ),
    ];
    for (name, value) in metrics {
        report.metrics.insert(name.to_owned(), value);
    }
}

/// What `ORCHESTRATION=workflow` needs, read before the run (a problem with
/// it is an input problem): deploy and teardown only, not in a dry run.
fn workflow_settings(
    request: &Request,
    otel: Option<&crate::observe::otel::OtelSettings>,
) -> Result<Option<Arc<crate::workflow::WorkflowSettings>>, Refusal> {
    let wanted = request.orchestration == crate::config::Orchestration::Workflow;
    if !wanted || request.action == Action::Validate || request.dry_run {
        if wanted {
            tracing::debug!(
                phase = "orchestration",
                "ORCHESTRATION=workflow: {} runs here (it creates nothing in the cluster)",
                if request.dry_run { "a dry run" } else { "validate" }
            );
        }
        return Ok(None);
    }
    let config = crate::workflow::config::ConfigFiles::read(&request.config_dir)
        .map_err(|message| Refusal::Invalid(vec![Problem::new(Source::Var("CONFIG_DIR"), message)]))?;
    Ok(Some(Arc::new(crate::workflow::WorkflowSettings {
        namespace: request.environment.workflows_namespace.clone(),
        environment_name: request.environment.name.clone(),
        image: request.executor_image.clone(),
        config: Arc::new(config),
        teardown_confirm: request.teardown_confirm.clone(),
        otel: otel.cloned(),
    })))
}

/// Resolves on SIGTERM or SIGINT.
async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
            std::future::pending::<()>().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
