//! `dag::*` — hand the graph to the Rust scheduler (a script function per
//! node, or the Rust deploy pipeline); call node hooks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use opentelemetry::context::FutureExt as _;
use rhai::plugin::*;
use rhai::{FnPtr, ImmutableString, Map, Shared};
use tracing::Instrument as _;

use super::Result;
use crate::dag::scheduler::{self, NodeEnd, NodeOutcome, NodeResult};
use crate::dag::{Action, HookPoint, PlanNode};
use crate::orchestrate::NodeReport;
use crate::orchestrate::deploy::Deployer;
use crate::orchestrate::script_fn::ScriptFn;
use crate::orchestrate::teardown::Remover;
use crate::report::{Component, ComponentKind, ComponentStatus, Failure, FailureReason, Phase, round_seconds};
use crate::script::control;
use crate::script::error::{ScriptErrorKind, from_rhai, map_field, thrown};
use crate::script::host::{Host, script_error};
use crate::script::plan_view::plan_of;

fn outcome_of(
    host: &Host,
    node: &str,
    result: std::result::Result<Dynamic, Box<EvalAltResult>>,
) -> NodeOutcome<(Dynamic, Vec<String>)> {
    match result {
        Ok(value) => NodeOutcome {
            end: NodeEnd::Succeeded,
            value: Some((value, Vec::new())),
        },
        Err(error) => {
            let script = host
                .scripts
                .action
                .as_ref()
                .map(|a| a.source.display.clone())
                .unwrap_or_else(|| "action script".to_owned());
            let located = from_rhai(&error, &script, &host.origins);
            let (reason, message, diagnostics) = match thrown(&error) {
                Some((reason, message, diagnostics)) => {
                    let reason = reason.unwrap_or(FailureReason::ScriptError);
                    let message = if message.is_empty() {
                        located.to_string()
                    } else {
                        message
                    };
                    (reason, message, diagnostics)
                }
                None => (FailureReason::ScriptError, located.to_string(), Vec::new()),
            };
            let mut diagnostics = diagnostics;
            if thrown(&error).is_some() && located.position.is_some() {
                diagnostics.push(format!(
                    "thrown at {}:{}:{}",
                    located.path,
                    located.position.map_or(0, |p| p.0),
                    located.position.map_or(0, |p| p.1)
                ));
            }
            tracing::error!(phase = "node", component = node, "{message}");
            let end = match located.kind {
                ScriptErrorKind::Timeout => NodeEnd::TimedOut(message),
                _ if reason == FailureReason::TimedOut => NodeEnd::TimedOut(message),
                ScriptErrorKind::Cancelled if tokio::time::Instant::now() >= host.bounds.deadline => {
                    NodeEnd::TimedOut(format!("the action's deadline passed: {message}"))
                }
                ScriptErrorKind::Cancelled => NodeEnd::Failed {
                    reason: FailureReason::Interrupted,
                    message,
                },
                _ => NodeEnd::Failed { reason, message },
            };
            NodeOutcome {
                end,
                value: Some((Dynamic::UNIT, diagnostics)),
            }
        }
    }
}

fn default_status(action: Action) -> ComponentStatus {
    match action {
        Action::Deploy => ComponentStatus::Deployed,
        Action::Validate => ComponentStatus::Healthy,
        Action::Teardown => ComponentStatus::Removed,
    }
}

/// What a script's node function returned, read as a node report.
///
/// # Errors
/// A `status` that is not a [`ComponentStatus`].
fn report_of(
    action: Action,
    end: &NodeEnd,
    value: Option<&(Dynamic, Vec<String>)>,
) -> std::result::Result<NodeReport, crate::report::status::ParseStatusError> {
    let map = value
        .and_then(|(v, _)| v.read_lock::<Map>().map(|m| m.clone()))
        .unwrap_or_default();
    let field = |name: &str| Some(map_field(&map, name)).filter(|s| !s.is_empty());
    let succeeded = *end == NodeEnd::Succeeded;
    Ok(NodeReport {
        status: field("status").map_or(Ok(default_status(action)), |s| s.parse())?,
        health: field("health").unwrap_or_else(|| {
            match (succeeded, action) {
                (true, Action::Teardown) => "Missing",
                (true, _) => "Healthy",
                (false, _) => "Degraded",
            }
            .to_owned()
        }),
        sync: field("sync").unwrap_or_default(),
        message: field("message").unwrap_or_default(),
        diagnostics: value.map(|(_, d)| d.clone()).unwrap_or_default(),
        phases: Vec::new(),
    })
}

/// A script node function's result as a node report; a `status` it
/// returned that is not a [`ComponentStatus`] fails the node, as a script
/// error.
fn typed_result(action: Action, raw: &NodeResult<(Dynamic, Vec<String>)>) -> NodeResult<NodeReport> {
    let (end, report) = match report_of(action, &raw.end, raw.value.as_ref()) {
        Ok(report) => (raw.end.clone(), report),
        Err(error) => (
            NodeEnd::Failed {
                reason: FailureReason::ScriptError,
                message: format!("{}: {error}", raw.name),
            },
            NodeReport::default(),
        ),
    };
    NodeResult {
        name: raw.name.clone(),
        end,
        value: Some(report),
        duration: raw.duration,
        started_after: raw.started_after,
    }
}

/// Records node results as report components (and failures); `began` is
/// when the schedule started, the origin of the results' start times.
fn record(host: &Host, nodes: &[PlanNode], results: &[NodeResult<NodeReport>], began: Option<Instant>) {
    let by_name: HashMap<&str, &PlanNode> = nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    host.with_report(|report| {
        for result in results {
            let node = by_name.get(result.name.as_str());
            let start_seconds = began
                .zip(result.started_after)
                .map(|(began, after)| report.seconds_at(began + after));
            let phases = result.value.as_ref().map_or_else(Vec::new, |own| {
                own.phases
                    .iter()
                    .map(|p| Phase {
                        name: p.name.to_owned(),
                        start_seconds: report.seconds_at(p.began),
                        duration_seconds: round_seconds(p.took.as_secs_f64()),
                    })
                    .collect()
            });
            let own = result.value.clone().unwrap_or_default();
            let (status, health, message) = match &result.end {
                NodeEnd::Succeeded => (own.status, own.health, own.message),
                NodeEnd::Failed { message, .. } => (
                    ComponentStatus::Failed,
                    Some(own.health)
                        .filter(|h| !h.is_empty())
                        .unwrap_or_else(|| "Degraded".to_owned()),
                    message.clone(),
                ),
                NodeEnd::TimedOut(message) => (ComponentStatus::TimedOut, "Unknown".to_owned(), message.clone()),
                NodeEnd::Skipped(reason) => (
                    ComponentStatus::Skipped,
                    "Unknown".to_owned(),
                    format!("skipped: {reason}"),
                ),
            };
            report.upsert(Component {
                name: result.name.clone(),
                stack: node.map(|n| n.stack.clone()).unwrap_or_default(),
                kind: ComponentKind::App,
                status,
                health,
                sync: own.sync,
                message,
                duration_seconds: round_seconds(result.duration.as_secs_f64()),
                attempts: host.attempts_of(&result.name),
                depends_on: node.map(|n| n.depends_on.clone()).unwrap_or_default(),
                start_seconds,
                phases,
            });
            let failed = match &result.end {
                NodeEnd::Failed { reason, message } => Some((reason.clone(), message.clone())),
                NodeEnd::TimedOut(message) => Some((FailureReason::TimedOut, message.clone())),
                _ => None,
            };
            if let Some((reason, message)) = failed {
                report.failures.push(Failure {
                    component: result.name.clone(),
                    reason,
                    message,
                    diagnostics: own.diagnostics,
                });
            }
        }
    });
}

/// The result of one node as scripts see it: `#{end, ok, reason, message,
/// durationSeconds, status, health, sync}` plus whatever else the node
/// function returned.
fn result_map(result: &NodeResult<NodeReport>, extra: Option<&Dynamic>) -> Dynamic {
    let mut map = extra
        .and_then(|v| v.read_lock::<Map>().map(|m| m.clone()))
        .unwrap_or_default();
    let own = result.value.clone().unwrap_or_default();
    let (reason, message) = match &result.end {
        NodeEnd::Succeeded => (String::new(), own.message.clone()),
        NodeEnd::Failed { reason, message } => (reason.to_string(), message.clone()),
        NodeEnd::TimedOut(message) | NodeEnd::Skipped(message) => (result.end.name().to_owned(), message.clone()),
    };
    let end = result.end.name();
    if result.end == NodeEnd::Succeeded {
        map.insert("status".into(), Dynamic::from(own.status.to_string()));
        for (key, value) in [("health", &own.health), ("sync", &own.sync)] {
            if !value.is_empty() {
                map.insert(key.into(), Dynamic::from(value.clone()));
            }
        }
    }
    map.insert("end".into(), Dynamic::from(end.to_owned()));
    map.insert("ok".into(), Dynamic::from_bool(result.end == NodeEnd::Succeeded));
    map.insert("reason".into(), Dynamic::from(reason));
    map.insert("message".into(), Dynamic::from(message));
    map.insert(
        "durationSeconds".into(),
        Dynamic::from_float(round_seconds(result.duration.as_secs_f64())),
    );
    Dynamic::from_map(map)
}

/// The plan a primitive was handed, its action and typed nodes.
fn plan_nodes(host: &Host, plan: &Dynamic) -> Result<(Action, Vec<PlanNode>)> {
    let view = plan_of(plan, &host.plan)?;
    Ok((view.action(), view.nodes().into_iter().cloned().collect()))
}

/// A skipped node never ran; it is still a span of the run's trace (no
/// duration, outcome `Skipped`), so the trace shows the whole plan.
fn trace_skipped<T>(host: &Host, nodes: &[PlanNode], results: &[NodeResult<T>]) {
    if !crate::observe::otel::enabled() {
        return;
    }
    for result in results.iter().filter(|r| matches!(r.end, NodeEnd::Skipped(_))) {
        if let Some(node) = nodes.iter().find(|n| n.name == result.name) {
            let span_id = host.trace.child().span_id;
            let cx = crate::observe::span::node(node, &span_id, &host.settings.argocd_namespace);
            crate::observe::span::end_node(&cx, &result.end, 0);
        }
    }
}

/// Records the schedule's figures in the report's metrics.
fn record_schedule<T>(host: &Host, schedule: &scheduler::Schedule<T>, nodes: usize, concurrency: usize) {
    for result in &schedule.results {
        if matches!(result.end, NodeEnd::Skipped(_)) {
            crate::observe::progress::finished(&result.name, "skipped");
        }
    }
    host.with_report(|r| {
        r.metrics.insert(
            "schedule".to_owned(),
            serde_json::json!({
                "nodes": nodes,
                "concurrency": concurrency,
                "wallSeconds": round_seconds(schedule.wall.as_secs_f64()),
                "criticalPathSeconds": round_seconds(schedule.critical_path.as_secs_f64()),
            }),
        );
    });
}

/// Runs a script function per node, each on its own blocking thread (the
/// general form: the function may wait).
fn run(host: &Arc<Host>, context: &NativeCallContext, plan: &Dynamic, node_fn: FnPtr) -> Result<Map> {
    let (action, nodes) = plan_nodes(host, plan)?;
    let engine = host.engine()?;
    let concurrency = host.settings.concurrency;
    let imports: Vec<(ImmutableString, Shared<Module>)> = context
        .global_runtime_state()
        .iter_imports_raw()
        .map(|(n, m)| (n.clone(), m.clone()))
        .collect();
    let libs: Vec<Shared<Module>> = context.global_runtime_state().lib.to_vec();
    let began = Instant::now();
    let schedule = host.block_on(scheduler::run(
        &nodes,
        action == Action::Teardown,
        concurrency,
        &host.bounds.cancel,
        |node| {
            let host = host.clone();
            let engine = engine.clone();
            let imports = imports.clone();
            let libs = libs.clone();
            // Each node gets its own copy of what the function captured:
            // parallel nodes must not share (and lock) the same values.
            let mut node_fn = node_fn.clone();
            let copies: Vec<Dynamic> = node_fn.curry().iter().map(Dynamic::flatten_clone).collect();
            node_fn.set_curry(copies);
            async move {
                let name = node.name.clone();
                let bounds = host.bounds.within(node.sync_timeout + node.health_timeout);
                let span_id = host.trace.child().span_id;
                let node_span = crate::observe::span::node(&node, &span_id, &host.settings.argocd_namespace);
                let runner_host = host.clone();
                crate::observe::progress::started(&name);
                let progress_name = name.clone();
                let joined = tokio::task::spawn_blocking(move || {
                    let span = tracing::info_span!("node", component = name.as_str(), span_id = span_id.as_str());
                    let _entered = span.enter();
                    let _traced = node_span.clone().attach();
                    let arg = crate::orchestrate::hooks::node_value(&node);
                    let scope = control::Scope {
                        bounds,
                        node: Some(name.clone()),
                    };
                    let result = control::within(scope, || {
                        let mut global = engine.new_global_runtime_state();
                        for lib in libs {
                            global.lib.push(lib);
                        }
                        for (alias, module) in imports.into_iter().rev() {
                            global.push_import(alias, module);
                        }
                        let context =
                            NativeCallContext::new_with_all_fields(&engine, "dag::run", None, &global, Position::NONE);
                        node_fn.call_raw(&context, None, [arg])
                    });
                    let outcome = outcome_of(&runner_host, &name, result);
                    crate::observe::span::end_node(&node_span, &outcome.end, runner_host.attempts_of(&name));
                    outcome
                })
                .await;
                let outcome = joined.unwrap_or_else(|error| NodeOutcome {
                    end: NodeEnd::Failed {
                        reason: FailureReason::InternalError,
                        message: format!("the node's worker ended abnormally: {error}"),
                    },
                    value: None,
                });
                let end = if outcome.end == NodeEnd::Succeeded {
                    "healthy"
                } else {
                    "failed"
                };
                crate::observe::progress::finished(&progress_name, end);
                outcome
            }
        },
    ));
    trace_skipped(host, &nodes, &schedule.results);
    record_schedule(host, &schedule, nodes.len(), concurrency);
    let typed: Vec<NodeResult<NodeReport>> = schedule.results.iter().map(|r| typed_result(action, r)).collect();
    record(host, &nodes, &typed, Some(began));
    Ok(schedule
        .results
        .iter()
        .zip(&typed)
        .map(|(raw, result)| {
            let extra = raw.value.as_ref().map(|(v, _)| v);
            (result.name.as_str().into(), result_map(result, extra))
        })
        .collect())
}

/// Runs `nodes` with a Rust node pipeline (`run_node`), each node a task
/// of its own, with no bound on the nodes in flight (the pipeline bounds
/// its writes), and records the results.
fn run_pipeline<F, Fut>(host: &Arc<Host>, nodes: &[PlanNode], reverse: bool, concurrency: usize, run_node: F) -> Map
where
    F: Fn(PlanNode) -> Fut,
    Fut: Future<Output = NodeOutcome<NodeReport>> + Send + 'static,
{
    let began = Instant::now();
    let schedule = host.block_on(scheduler::run(
        nodes,
        reverse,
        usize::MAX,
        &host.bounds.cancel,
        |node| {
            let span_id = host.trace.child().span_id;
            let name = node.name.clone();
            let span = tracing::info_span!("node", component = name.as_str(), span_id = span_id.as_str());
            let node_span = crate::observe::span::node(&node, &span_id, &host.settings.argocd_namespace);
            let attempts_host = host.clone();
            let future = run_node(node);
            async move {
                crate::observe::progress::started(&name);
                let outcome = tokio::spawn(future.instrument(span).with_context(node_span.clone()))
                    .await
                    .unwrap_or_else(|error| NodeOutcome {
                        end: NodeEnd::Failed {
                            reason: FailureReason::InternalError,
                            message: format!("the node's task ended abnormally: {error}"),
                        },
                        value: None,
                    });
                let end = if outcome.end == NodeEnd::Succeeded {
                    "healthy"
                } else {
                    "failed"
                };
                crate::observe::span::end_node(&node_span, &outcome.end, attempts_host.attempts_of(&name));
                crate::observe::progress::finished(&name, end);
                outcome
            }
        },
    ));
    trace_skipped(host, nodes, &schedule.results);
    record_schedule(host, &schedule, nodes.len(), concurrency);
    record(host, nodes, &schedule.results, Some(began));
    schedule
        .results
        .iter()
        .map(|result| (result.name.as_str().into(), result_map(result, None)))
        .collect()
}

/// Runs the deploy of the plan's nodes with the Rust node pipeline.
fn deploy(host: &Arc<Host>, context: &NativeCallContext, plan: &Dynamic, application: FnPtr) -> Result<Map> {
    let (action, nodes) = plan_nodes(host, plan)?;
    if action != Action::Deploy {
        return Err(script_error("dag::deploy needs a deploy plan (ctx.plan of a deploy)"));
    }
    let engine = host.engine()?;
    let concurrency = host.settings.concurrency;
    let builder = ScriptFn::capture(context, engine, application);
    let deployer = Arc::new(Deployer::new(host.clone(), builder, concurrency));
    if let Some(workflow) = host.settings.workflow.clone() {
        return deploy_as_workflow(host, &workflow, &deployer, &nodes);
    }
    record_orchestration(host, None);
    Ok(run_pipeline(host, &nodes, false, concurrency, |node| {
        let deployer = deployer.clone();
        async move { deployer.node(&node).await }
    }))
}

/// Records which engine ran the graph (`report.orchestration`): `local`, or
/// `argo-workflows` with the Workflow it submitted (none: nothing to do).
fn record_orchestration(host: &Host, workflow: Option<String>) {
    let engine = if host.settings.workflow.is_some() {
        "argo-workflows"
    } else {
        "local"
    };
    host.with_report(|r| {
        r.orchestration = Some(crate::report::Orchestration {
            engine: engine.to_owned(),
            workflow,
        });
    });
}

/// The seam of `ORCHESTRATION=workflow` for deploy: what each node would
/// do is decided here (nothing to do: no Workflow at all, as a local run
/// writes nothing); the rest runs as one Argo Workflow.
fn deploy_as_workflow(
    host: &Arc<Host>,
    workflow: &crate::workflow::WorkflowSettings,
    deployer: &Arc<Deployer>,
    nodes: &[PlanNode],
) -> Result<Map> {
    let planned = host.block_on(async {
        let mut planned = HashMap::new();
        let mut all_ready = true;
        for node in nodes {
            match deployer.plan_node(node).await {
                Ok((status, ready)) => {
                    all_ready &= ready;
                    planned.insert(node.name.clone(), status);
                }
                Err(failure) => return Err(failure),
            }
        }
        Ok((planned, all_ready))
    });
    let (planned, all_ready) = planned.map_err(|f| super::argocd::failure(&f.reason, f.message, f.diagnostics))?;
    if all_ready {
        tracing::info!(
            phase = "orchestration",
            "every node is Synced, Healthy and unchanged: no Workflow to submit"
        );
        let report = NodeReport {
            status: ComponentStatus::Unchanged,
            health: "Healthy".to_owned(),
            sync: "Synced".to_owned(),
            ..NodeReport::default()
        };
        return Ok(nothing_to_do(host, nodes, &report, false));
    }
    run_workflow(host, workflow, Action::Deploy, nodes, &planned)
}

/// Runs the nodes as one Workflow and records the results.
fn run_workflow(
    host: &Arc<Host>,
    workflow: &crate::workflow::WorkflowSettings,
    action: Action,
    nodes: &[PlanNode],
    planned: &HashMap<String, ComponentStatus>,
) -> Result<Map> {
    // The Workflow's run keeps to the deadline itself: at ACTION_TIMEOUT
    // or on a signal it stops the Workflow and maps what ran.
    let (schedule, name) = host
        .block_winding_down(crate::workflow::run(host, workflow, action, nodes, planned))
        .map_err(|e| script_error(format!("orchestration on Argo Workflows: {e}")))?;
    record_orchestration(host, Some(name));
    Ok(record_results(
        host,
        nodes,
        schedule.results,
        schedule.wall,
        action == Action::Teardown,
    ))
}

/// The same finished result for every node (nothing to do).
/// Workflow mode with nothing to do: no Workflow is submitted (as a local
/// run writes nothing), every node ends at once with `report`.
fn nothing_to_do(host: &Arc<Host>, nodes: &[PlanNode], report: &NodeReport, teardown: bool) -> Map {
    record_orchestration(host, None);
    let results = nodes
        .iter()
        .map(|node| NodeResult {
            name: node.name.clone(),
            end: NodeEnd::Succeeded,
            value: Some(report.clone()),
            duration: std::time::Duration::ZERO,
            started_after: None,
        })
        .collect();
    record_results(host, nodes, results, std::time::Duration::ZERO, teardown)
}

/// Records results that did not come from the local scheduler.
fn record_results(
    host: &Host,
    nodes: &[PlanNode],
    results: Vec<NodeResult<NodeReport>>,
    wall: std::time::Duration,
    reverse: bool,
) -> Map {
    let schedule = scheduler::Schedule {
        critical_path: scheduler::critical_path_of(
            nodes,
            results.iter().map(|r| (r.name.as_str(), r.duration)),
            reverse,
        ),
        results,
        wall,
    };
    record_schedule(host, &schedule, nodes.len(), host.settings.concurrency);
    record(host, nodes, &schedule.results, None);
    schedule
        .results
        .iter()
        .map(|result| (result.name.as_str().into(), result_map(result, None)))
        .collect()
}

/// Runs the teardown of the plan's nodes, dependents first.
fn teardown(host: &Arc<Host>, plan: &Dynamic) -> Result<Map> {
    let (action, nodes) = plan_nodes(host, plan)?;
    if action != Action::Teardown {
        return Err(script_error(
            "dag::teardown needs a teardown plan (ctx.plan of a teardown)",
        ));
    }
    let concurrency = host.settings.concurrency;
    let kind = crate::argocd::application_kind();
    let namespace = host.settings.argocd_namespace.clone();
    let bounds = host.current_bounds();
    // A Workflow of this environment still running (its driver may be
    // gone) drives it: removing anything under it, Argo Workflows least
    // of all, is refused. A teardown Workflow of our own is attached to
    // when submitting (a restarted driver), so only others count here.
    if let Some(workflows) = host.settings.workflows_namespace.as_deref() {
        let except = host.settings.workflow.is_some().then_some("action:teardown");
        host.block(
            "looking for a running Workflow of this environment",
            crate::workflow::refuse_if_running(host.cluster.as_ref(), workflows, &host.settings.tier, except),
        )?;
    }
    let apps = host.block(
        "listing Applications",
        crate::orchestrate::teardown::list_served(host.cluster.as_ref(), &kind, Some(&namespace), None, &bounds),
    )?;
    if let Some(workflow) = host.settings.workflow.clone() {
        let present: std::collections::BTreeSet<&str> =
            apps.iter().filter_map(|a| a["metadata"]["name"].as_str()).collect();
        let planned: HashMap<String, ComponentStatus> = nodes
            .iter()
            .map(|n| {
                let status = if present.contains(n.name.as_str()) {
                    ComponentStatus::Removed
                } else {
                    ComponentStatus::Absent
                };
                (n.name.clone(), status)
            })
            .collect();
        if planned.values().all(|s| *s == ComponentStatus::Absent) {
            // Nothing to remove: no Workflow, as a local run writes nothing.
            let report = NodeReport {
                status: ComponentStatus::Absent,
                health: "Missing".to_owned(),
                message: "nothing to remove".to_owned(),
                ..NodeReport::default()
            };
            return Ok(nothing_to_do(host, &nodes, &report, true));
        }
        return run_workflow(host, &workflow, Action::Teardown, &nodes, &planned);
    }
    record_orchestration(host, None);
    let remover = Arc::new(Remover::new(host.clone(), apps, host.settings.pv_policy, concurrency));
    Ok(run_pipeline(host, &nodes, true, concurrency, |node| {
        let remover = remover.clone();
        async move { remover.node(&node).await }
    }))
}

/// Step 5 of a deploy: the nodes of `results` that changed and finished,
/// verified Synced and Healthy now; returns those that are not.
fn verify(host: &Host, results: &Map, selector: &str) -> Result<rhai::Array> {
    let changed: Vec<String> = results
        .iter()
        .filter(|(_, r)| {
            r.read_lock::<Map>().is_some_and(|r| {
                r.get("ok").and_then(|o| o.as_bool().ok()) == Some(true)
                    && map_field(&r, "status")
                        .parse::<ComponentStatus>()
                        .map_or(true, ComponentStatus::is_change)
            })
        })
        .map(|(name, _)| name.to_string())
        .collect();
    let bounds = host.current_bounds();
    let unhealthy = host.block(
        "verifying the platform's health",
        crate::orchestrate::verify::verify(host, &changed, selector, &bounds),
    )?;
    Ok(unhealthy.into_iter().map(Dynamic::from).collect())
}

/// Runs the hook of `node` (a node map of this run's plan) for `point`.
fn hook(host: &Arc<Host>, node: Map, point: &str) -> Result<Dynamic> {
    let name = map_field(&node, "name");
    let Some(point) = HookPoint::ALL
        .iter()
        .copied()
        .find(|p| p.function() == point || p.key() == point)
    else {
        return Err(script_error(format!(
            "unknown hook point `{point}`; expected pre_sync, post_sync, health, pre_delete or post_delete"
        )));
    };
    let Some(plan_node) = host.plan.node(&name) else {
        return Err(script_error(format!(
            "dag::hook: `{name}` is not a node of this run's plan"
        )));
    };
    crate::orchestrate::hooks::call(host, plan_node, Dynamic::from_map(node), point)
        .map_err(|f| super::argocd::failure(&f.reason, f.message, f.diagnostics))
}

/// The `dag` primitives, one function each; `docs/scripting-api.md` is
/// generated from their doc comments.
#[export_module]
pub mod api {
    use rhai::{Array, Dynamic, FnPtr, Map, NativeCallContext};

    use super::super::{Plan, Result, with_host};

    /// Hands the plan to the Rust scheduler, which calls `node_fn(node)` for each
    /// node on its own thread as soon as the node's prerequisites succeeded
    /// (dependencies for deploy/validate, dependents for teardown), at most
    /// `CONCURRENCY` (default 16) at once, each within its sync + health
    /// timeouts and the action's deadline. A node fails when `node_fn` throws; the
    /// nodes waiting on it are Skipped; independent branches go on. Returns
    /// `#{<node>: #{end, ok, reason, message, durationSeconds, ...node_fn's map}}`
    /// and records every node in the report. (Deploy uses `dag::deploy`, whose
    /// waiting nodes hold no thread.)
    ///
    /// ```rhai
    /// let results = dag::run(ctx.plan, |node| dag::hook(node, "health"));
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn run(ctx: NativeCallContext, plan: Plan, node_fn: FnPtr) -> Result<Map> {
        with_host(&ctx, |h| super::run(h, &ctx, &plan, node_fn))
    }

    /// Deploys the plan's nodes, each as soon as its dependencies are Healthy:
    /// its `pre_sync` hook, the Application `application(node)` returns (written
    /// only if it differs), a sync unless Argo CD's automated policy does it, the
    /// wait (on one shared watch) until Synced and Healthy, its resource gates,
    /// its `health` and `post_sync` hooks. A waiting node holds no thread;
    /// `CONCURRENCY` (default 16) bounds the writes and sync requests in
    /// flight. A failed node skips its dependents; independent branches go on.
    /// Returns `#{<node>: #{end, ok, reason, message, status, health, sync,
    /// durationSeconds}}` and records every node in the report.
    ///
    /// ```rhai
    /// import "stdlib/platform" as platform;
    /// let results = dag::deploy(ctx.plan, |node| platform::application(node, ctx));
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn deploy(ctx: NativeCallContext, plan: Plan, application: FnPtr) -> Result<Map> {
        with_host(&ctx, |h| super::deploy(h, &ctx, &plan, application))
    }

    /// Step 5 of a deploy: every Application whose node `results` (from
    /// `dag::deploy`) shows changed and finished must be Synced and Healthy now
    /// (one list of the Applications matching `label_selector`). Those that are
    /// not turn their component `Failed`, with a `NotHealthy` failure saying
    /// what was found, so the outcome follows as for a node that failed during
    /// the run. Returns their names (empty: all verified).
    ///
    /// ```rhai
    /// import "stdlib/platform" as platform;
    /// let results = dag::deploy(ctx.plan, |node| platform::application(node, ctx));
    /// let unhealthy = dag::verify(results, "app.kubernetes.io/managed-by=executor");
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn verify(ctx: NativeCallContext, results: Map, label_selector: &str) -> Result<Array> {
        with_host(&ctx, |h| super::verify(h, &results, label_selector))
    }

    /// Removes the plan's nodes, each once every node that depends on it is
    /// gone: its `pre_delete` hook, its volume claims per `PV_POLICY` (retain:
    /// kept and marked so Argo CD leaves them; delete: removed), its Application
    /// with Argo CD's cascade finalizer, waited until gone (on one shared
    /// watch), the absence of every resource it had verified, its `post_delete`
    /// hook. In a dry run, says what would go. A node that fails skips what it
    /// depends on. Returns `#{<node>: #{end, ok, reason, message, status}}`
    /// and records every node and removed object in the report.
    ///
    /// ```rhai
    /// let results = dag::teardown(ctx.plan);
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn teardown(ctx: NativeCallContext, plan: Plan) -> Result<Map> {
        with_host(&ctx, |h| super::teardown(h, &plan))
    }

    /// Runs the node's hook for `point` (`pre_sync`, `post_sync`, `health`,
    /// `pre_delete`, `post_delete`) when `dag.yaml` names one, calling
    /// `fn <point>(node, ctx)` in the hook script; returns its result, or `()`
    /// when the node has no such hook. An error thrown by the hook fails the node
    /// with the hook's message and position.
    ///
    /// ```rhai
    /// for node in ctx.plan.nodes {
    ///     let verdict = dag::hook(node, "health");
    ///     if verdict != () && verdict.status != "Healthy" { log::warn(`${node.name}: ${verdict.message}`) }
    /// }
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn hook(ctx: NativeCallContext, node: Map, point: &str) -> Result<Dynamic> {
        with_host(&ctx, |h| super::hook(h, node, point))
    }
}
