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
use crate::k8s::wait::Bounds;
use crate::observe::trace::TraceContext;
use crate::orchestrate::outcome;
use crate::outcome::Outcome;
use crate::report::{Failure, Report};
use crate::script::compile::{Needs, compile_all};
use crate::script::context;
use crate::script::engine::{self, Limits};
use crate::script::error::{Origins, ScriptErrorKind};
use crate::script::host::{Host, RunSettings};
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
    let settings = ClientSettings {
        rate: request.api_rate,
        traceparent: Some(trace.traceparent()),
    };
    let variable = request.cluster.variable();
    let cluster = KubeCluster::connect(&request.cluster, &settings)
        .await
        .map_err(|e| Refusal::Invalid(vec![Problem::new(Source::Var(variable), e.to_string())]))?;
    let stats = cluster.stats();

    // A workflow task never bootstraps: it needs no bundle.
    let bundle = if request.action == Action::Deploy && !request.task {
        let destinations: Vec<String> = {
            let mut ns: Vec<String> = request.graph.graph.apps().map(|(_, a)| a.namespace.clone()).collect();
            ns.sort();
            ns.dedup();
            ns
        };
        let tier = request.tier.to_string();
        let inputs = BundleInputs {
            bundle_dir: &request.bundle_dir,
            environment: &request.environment,
            tier: &tier,
            secrets: &request.secrets,
            destination_namespaces: destinations,
            executor_image: request.executor_image.clone(),
        };
        Some(bootstrap::load(&inputs).map_err(Refusal::Invalid)?)
    } else {
        None
    };

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
        Lock::new(
            LockSettings::new(
                &request.environment.argocd_namespace,
                &request.environment.name,
                &trace.trace_id,
                request.lock_timeout,
            ),
            cancel.clone(),
        )
    });
    let cluster: Arc<dyn crate::k8s::Cluster> = match (request.action, request.dry_run, &lock) {
        (Action::Validate, _, _) => Arc::new(Guarded::read_only(base.clone(), "validate")),
        (_, true, _) => Arc::new(Guarded::read_only(base.clone(), "a dry run")),
        (_, false, Some(lock)) => Arc::new(Guarded::new(base.clone(), WritePolicy::Locked(lock.clone()))),
        (_, false, None) => base.clone(),
    };
    let host = Host::new(
        cluster,
        tokio::runtime::Handle::current(),
        bounds,
        RunSettings {
            dry_run: request.dry_run,
            retries: request.environment.retries,
            argocd_namespace: request.environment.argocd_namespace.clone(),
            tier: request.tier.to_string(),
            pv_policy: request.pv_policy,
            concurrency: request.concurrency,
            workflow,
            workflows_namespace: (!request.task).then(|| request.environment.workflows_namespace.clone()),
        },
        request.secrets.clone(),
        request.plan.clone(),
        trace.clone(),
        Some(stats.clone()),
        origins.clone(),
    );
    if let Some(bundle) = bundle {
        let _ = host.bundle.set(Arc::new(bundle));
    }
    // Taking the lease from a run active since this one read the cluster:
    // forget what was read, so every later decision reads again.
    if let Some(lock) = &lock {
        let weak = Arc::downgrade(&host);
        lock.on_stale(Box::new(move || {
            if let Some(host) = weak.upgrade() {
                host.index.forget();
            }
        }));
    }
    let library = Library::new(&request.config_dir);
    let mut engine = engine::build(&library, &origins, Limits::default());
    primitives::register_all(&mut engine, &host);
    let engine = Arc::new(engine);
    host.set_engine(&engine);
    let action_script = format!("{}.rhai", request.action.name());
    let compiled = compile_all(
        &engine,
        &library,
        &origins,
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
    let _ = host.scripts.set(Arc::new(compiled));
    // The first request, once every input (scripts included) is known
    // good: a server the kubeconfig's CA does not verify is a kubeconfig
    // problem (exit 3 naming the variable), not an unreachable cluster.
    // Other failures are left to the run's own handling (retries, reasons).
    if let Err(error @ crate::k8s::K8sError::Tls { .. }) = base.version().await {
        return Err(Refusal::Invalid(vec![Problem::new(
            Source::Var(variable),
            format!(
                "cannot use the kubeconfig's context `{}`: {error}",
                request.cluster.context
            ),
        )]));
    }
    let tier = request.tier.to_string();
    let ctx = context::build(&context::ContextParts::of(request, trace, &tier), &host.plan);
    let _ = host.ctx.set(ctx.clone());

    // The deadline and signals cancel every wait; the report is still written.
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let cancel = cancel.clone();
        let interrupted = interrupted.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {
                    warn!(phase = "run", "ACTION_TIMEOUT ({}) reached: stopping", crate::config::duration::format_duration(timeout));
                }
                () = signal() => {
                    interrupted.store(true, std::sync::atomic::Ordering::SeqCst);
                    warn!(phase = "run", "interrupted: stopping, cancelling waits and writing the report");
                }
            }
            cancel.cancel();
        })
    };

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
        Ok(Err(error)) => Some(error.to_string()),
        _ => None,
    };
    if lock.as_ref().is_none_or(|l| !l.refused()) {
        crate::orchestrate::events::record_run(&host, request, &trace.trace_id, script_error.as_deref()).await;
    }
    if let Some(lock) = &lock {
        lock.release(base.as_ref()).await;
    }
    let deadline_passed = Instant::now() >= deadline;
    let was_interrupted = interrupted.load(std::sync::atomic::Ordering::SeqCst);

    // A script thread that panicked while holding the report still left
    // what it had recorded: take it rather than an empty report.
    let parts = match host.report.lock() {
        Ok(mut parts) => std::mem::take(&mut *parts),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    };
    let mut decided = outcome::decide(request.action, &parts, deadline_passed);
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
    }
    if request.action != Action::Teardown {
        outcome::add_stacks(report, &request.plan);
    }
    match result {
        Ok(Ok(())) => {}
        Ok(Err(script_error)) => {
            let (reason, forced) = match script_error.kind {
                ScriptErrorKind::Timeout => ("TimedOut", Outcome::TimedOut),
                ScriptErrorKind::Cancelled if deadline_passed => ("TimedOut", Outcome::TimedOut),
                ScriptErrorKind::Cancelled => ("Interrupted", Outcome::Failed),
                _ if deadline_passed => ("TimedOut", Outcome::TimedOut),
                _ => ("ScriptError", Outcome::Failed),
            };
            error!(phase = "run", "{script_error}");
            let already = report
                .failures
                .iter()
                .any(|f| script_error.message.contains(&f.message) || f.message.contains(&script_error.message));
            if !already {
                report.failures.push(Failure {
                    component: request.action.name().to_owned(),
                    reason: reason.to_owned(),
                    message: script_error.to_string(),
                    diagnostics: script_error.trace.clone(),
                });
            }
            decided = forced;
        }
        Err(join_error) => {
            report.failures.push(Failure {
                component: request.action.name().to_owned(),
                reason: "InternalError".to_owned(),
                message: format!("the action's worker ended abnormally: {join_error}"),
                diagnostics: Vec::new(),
            });
            decided = Outcome::Failed;
        }
    }
    // Refused the environment's lock: the run stopped before its first
    // write; that is the one thing to say.
    if let Some(lock) = lock.as_ref().filter(|l| l.refused()) {
        report.failures = vec![Failure {
            component: request.action.name().to_owned(),
            reason: "Locked".to_owned(),
            message: lock.refusal(),
            diagnostics: Vec::new(),
        }];
        report
            .recommendations
            .push("Wait for the other run to finish, or set LOCK_TIMEOUT to wait for it.".to_owned());
        decided = Outcome::Failed;
    } else if was_interrupted {
        report.failures.push(Failure {
            component: request.action.name().to_owned(),
            reason: "Interrupted".to_owned(),
            message: "the executor received a termination signal".to_owned(),
            diagnostics: Vec::new(),
        });
        report
            .recommendations
            .push("Run the same action again: completed nodes are not redone.".to_owned());
        decided = Outcome::Failed;
    }
    let outcome = decided;
    let outcome = if deadline_passed && outcome != Outcome::Succeeded {
        Outcome::TimedOut
    } else {
        outcome
    };

    report.metrics.insert(
        "apiRequests".to_owned(),
        serde_json::to_value(stats.by_verb()).unwrap_or_default(),
    );
    report
        .metrics
        .insert("apiRequestsTotal".to_owned(), stats.total().into());
    report
        .metrics
        .insert("mutatingRequests".to_owned(), stats.mutating().into());
    report.metrics.insert("retries".to_owned(), stats.retries().into());
    report.metrics.insert(
        "syncRequests".to_owned(),
        host.sync_requests.load(std::sync::atomic::Ordering::Relaxed).into(),
    );
    report.metrics.insert(
        "wallSeconds".to_owned(),
        serde_json::json!(crate::report::round_seconds(started.elapsed().as_secs_f64())),
    );
    Ok(outcome)
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
