//! `dag::*` — hand the graph to the Rust scheduler; call node hooks.

use std::sync::Arc;
use std::time::Duration;

use rhai::{
    CallFnOptions, Dynamic, EvalAltResult, FnPtr, ImmutableString, Map, Module, NativeCallContext, Position, Scope,
    Shared,
};

use super::register;
use crate::dag::scheduler::{self, NodeEnd, NodeOutcome, NodeResult};
use crate::dag::{HookPoint, PlanAction, PlanNode};
use crate::report::{Component, ComponentKind, Failure, round_seconds};
use crate::script::control;
use crate::script::convert::text;
use crate::script::error::{ScriptErrorKind, from_rhai};
use crate::script::host::{Host, script_error};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// Default number of nodes worked on at once.
pub const DEFAULT_CONCURRENCY: usize = 16;

fn map_field(map: &Map, name: &str) -> String {
    map.get(name).map(text).filter(|t| t != "()").unwrap_or_default()
}

/// Reads a thrown value: a map `#{reason, message, diagnostics}` or anything else.
fn thrown(error: &EvalAltResult) -> Option<(String, String, Vec<String>)> {
    let mut current = error;
    loop {
        match current {
            EvalAltResult::ErrorInFunctionCall(_, _, inner, _) | EvalAltResult::ErrorInModule(_, inner, _) => {
                current = inner
            }
            EvalAltResult::ErrorRuntime(value, _) => {
                let map = value.read_lock::<Map>()?;
                let diagnostics = map
                    .get("diagnostics")
                    .and_then(|d| d.read_lock::<rhai::Array>().map(|a| a.iter().map(text).collect()))
                    .unwrap_or_default();
                return Some((map_field(&map, "reason"), map_field(&map, "message"), diagnostics));
            }
            _ => return None,
        }
    }
}

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
                .get()
                .and_then(|s| s.action.as_ref().map(|a| a.source.display.clone()))
                .unwrap_or_else(|| "action script".to_owned());
            let located = from_rhai(&error, &script, &host.origins);
            let (reason, message, diagnostics) = match thrown(&error) {
                Some((reason, message, diagnostics)) => {
                    let reason = if reason.is_empty() {
                        "ScriptError".to_owned()
                    } else {
                        reason
                    };
                    let message = if message.is_empty() {
                        located.to_string()
                    } else {
                        message
                    };
                    (reason, message, diagnostics)
                }
                None => ("ScriptError".to_owned(), located.to_string(), Vec::new()),
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
                _ if reason == "TimedOut" => NodeEnd::TimedOut(message),
                ScriptErrorKind::Cancelled if tokio::time::Instant::now() >= host.bounds.deadline => {
                    NodeEnd::TimedOut(format!("the action's deadline passed: {message}"))
                }
                ScriptErrorKind::Cancelled => NodeEnd::Failed {
                    reason: "Interrupted".to_owned(),
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

fn default_status(action: PlanAction) -> &'static str {
    match action {
        PlanAction::Deploy => "Deployed",
        PlanAction::Validate => "Healthy",
        PlanAction::Teardown => "Removed",
    }
}

/// Records node results as report components (and failures).
fn record(host: &Host, action: PlanAction, nodes: &[PlanNode], results: &[NodeResult<(Dynamic, Vec<String>)>]) {
    host.with_report(|report| {
        for result in results {
            let stack = nodes
                .iter()
                .find(|n| n.name == result.name)
                .map(|n| n.stack.clone())
                .unwrap_or_default();
            let value_map = result
                .value
                .as_ref()
                .and_then(|(v, _)| v.read_lock::<Map>().map(|m| m.clone()))
                .unwrap_or_default();
            let field = |name: &str| map_field(&value_map, name);
            let (status, health, message) = match &result.end {
                NodeEnd::Succeeded => (
                    Some(field("status"))
                        .filter(|s| !s.is_empty())
                        .unwrap_or_else(|| default_status(action).to_owned()),
                    Some(field("health")).filter(|s| !s.is_empty()).unwrap_or_else(|| {
                        if action == PlanAction::Teardown {
                            "Missing".to_owned()
                        } else {
                            "Healthy".to_owned()
                        }
                    }),
                    field("message"),
                ),
                NodeEnd::Failed { message, .. } => (
                    "Failed".to_owned(),
                    Some(field("health"))
                        .filter(|s| !s.is_empty())
                        .unwrap_or_else(|| "Degraded".to_owned()),
                    message.clone(),
                ),
                NodeEnd::TimedOut(message) => ("TimedOut".to_owned(), "Unknown".to_owned(), message.clone()),
                NodeEnd::Skipped(reason) => ("Skipped".to_owned(), "Unknown".to_owned(), format!("skipped: {reason}")),
            };
            report.upsert(Component {
                name: result.name.clone(),
                stack,
                kind: ComponentKind::App,
                status,
                health,
                sync: field("sync"),
                message: message.clone(),
                duration_seconds: round_seconds(result.duration.as_secs_f64()),
                attempts: host.attempts_of(&result.name),
            });
            let diagnostics = result.value.as_ref().map(|(_, d)| d.clone()).unwrap_or_default();
            match &result.end {
                NodeEnd::Failed { reason, message } => report.failures.push(Failure {
                    component: result.name.clone(),
                    reason: reason.clone(),
                    message: message.clone(),
                    diagnostics,
                }),
                NodeEnd::TimedOut(message) => report.failures.push(Failure {
                    component: result.name.clone(),
                    reason: "TimedOut".to_owned(),
                    message: message.clone(),
                    diagnostics,
                }),
                _ => {}
            }
        }
    });
}

fn result_map(result: &NodeResult<(Dynamic, Vec<String>)>) -> Dynamic {
    let mut map = result
        .value
        .as_ref()
        .and_then(|(v, _)| v.read_lock::<Map>().map(|m| m.clone()))
        .unwrap_or_default();
    let (end, reason, message) = match &result.end {
        NodeEnd::Succeeded => ("Succeeded", String::new(), map_field(&map, "message")),
        NodeEnd::Failed { reason, message } => ("Failed", reason.clone(), message.clone()),
        NodeEnd::TimedOut(message) => ("TimedOut", "TimedOut".to_owned(), message.clone()),
        NodeEnd::Skipped(reason) => ("Skipped", "Skipped".to_owned(), reason.clone()),
    };
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

/// The `dag` module.
pub fn module(host: &Arc<Host>) -> Module {
    let mut m = Module::new();

    let h = host.clone();
    register(
        &mut m,
        "run",
        &["plan: Map", "node_fn: FnPtr", "Map"],
        "Hands the plan to the Rust scheduler, which calls `node_fn(node)` for each\nnode on its own thread as soon as the node's prerequisites succeeded\n(dependencies for deploy/validate, dependents for teardown), at most\n`plan.concurrency` (default 16) at once, each within its sync + health\ntimeouts and the action's deadline. A node fails when `node_fn` throws; the\nnodes waiting on it are Skipped; independent branches go on. Returns\n`#{<node>: #{end, ok, reason, message, durationSeconds, ...node_fn's map}}`\nand records every node in the report.\n\n```rhai\nlet results = dag::run(ctx.plan, |node| nodes::deploy(node, ctx));\n```",
        move |context: NativeCallContext, plan: Map, node_fn: FnPtr| -> Result<Map> {
            let engine = h.engine()?;
            let action = match map_field(&plan, "action").as_str() {
                "teardown" => PlanAction::Teardown,
                "validate" => PlanAction::Validate,
                _ => PlanAction::Deploy,
            };
            let concurrency = plan
                .get("concurrency")
                .and_then(|c| c.as_int().ok())
                .and_then(|c| usize::try_from(c).ok())
                .unwrap_or(DEFAULT_CONCURRENCY);
            let node_maps: Vec<Map> = plan
                .get("nodes")
                .and_then(|n| {
                    n.read_lock::<rhai::Array>().map(|a| {
                        a.iter()
                            .filter_map(|n| n.read_lock::<Map>().map(|m| m.clone()))
                            .collect()
                    })
                })
                .ok_or_else(|| script_error("dag::run needs a plan with `nodes` (use ctx.plan)"))?;
            let mut nodes = Vec::with_capacity(node_maps.len());
            for map in &node_maps {
                let name = map_field(map, "name");
                let node = h
                    .plan
                    .node(&name)
                    .ok_or_else(|| script_error(format!("dag::run: `{name}` is not a node of this run's plan")))?;
                nodes.push(node.clone());
            }
            let imports: Vec<(ImmutableString, Shared<Module>)> = context
                .global_runtime_state()
                .iter_imports_raw()
                .map(|(n, m)| (n.clone(), m.clone()))
                .collect();
            let libs: Vec<Shared<Module>> = context.global_runtime_state().lib.to_vec();
            let node_maps: Arc<Vec<Map>> = Arc::new(node_maps);
            let schedule = h.runtime.block_on(scheduler::run(
                &nodes,
                action == PlanAction::Teardown,
                concurrency,
                &h.bounds.cancel,
                |node| {
                    let host = h.clone();
                    let engine = engine.clone();
                    let imports = imports.clone();
                    let libs = libs.clone();
                    // Each node gets its own copy of what the function captured:
                    // parallel nodes must not share (and lock) the same values.
                    let mut node_fn = node_fn.clone();
                    let copies: Vec<Dynamic> = node_fn.curry().iter().map(Dynamic::flatten_clone).collect();
                    node_fn.set_curry(copies);
                    let node_maps = node_maps.clone();
                    async move {
                        let name = node.name.clone();
                        let budget = node.sync_timeout + node.health_timeout;
                        let bounds = host.bounds.within(budget);
                        let span_id = host.trace.child().span_id;
                        let runner_host = host.clone();
                        let progress_name = node.name.clone();
                        crate::observe::progress::started(&progress_name);
                        let joined = tokio::task::spawn_blocking(move || {
                            let span =
                                tracing::info_span!("node", component = name.as_str(), span_id = span_id.as_str());
                            let _entered = span.enter();
                            let arg = node_maps
                                .iter()
                                .find(|m| map_field(m, "name") == name)
                                .cloned()
                                .unwrap_or_default();
                            let result = control::within(
                                control::Scope {
                                    bounds,
                                    node: Some(name.clone()),
                                },
                                || {
                                    let mut global = engine.new_global_runtime_state();
                                    for lib in libs {
                                        global.lib.push(lib);
                                    }
                                    for (alias, module) in imports.into_iter().rev() {
                                        global.push_import(alias, module);
                                    }
                                    let context = NativeCallContext::new_with_all_fields(
                                        &engine,
                                        "dag::run",
                                        None,
                                        &global,
                                        Position::NONE,
                                    );
                                    node_fn.call_raw(&context, None, [Dynamic::from_map(arg)])
                                },
                            );
                            outcome_of(&runner_host, &name, result)
                        })
                        .await;
                        let outcome = match joined {
                            Ok(outcome) => outcome,
                            Err(error) => NodeOutcome {
                                end: NodeEnd::Failed {
                                    reason: "InternalError".to_owned(),
                                    message: format!("the node's worker ended abnormally: {error}"),
                                },
                                value: None,
                            },
                        };
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
            for result in &schedule.results {
                if matches!(result.end, NodeEnd::Skipped(_)) {
                    crate::observe::progress::finished(&result.name, "skipped");
                }
            }
            record(&h, action, &nodes, &schedule.results);
            h.with_report(|r| {
                r.metrics.insert(
                    "schedule".to_owned(),
                    serde_json::json!({
                        "nodes": nodes.len(),
                        "concurrency": concurrency,
                        "wallSeconds": round_seconds(schedule.wall.as_secs_f64()),
                        "criticalPathSeconds": round_seconds(schedule.critical_path.as_secs_f64()),
                    }),
                );
            });
            let mut out = Map::new();
            for result in &schedule.results {
                out.insert(result.name.as_str().into(), result_map(result));
            }
            let _ = Duration::ZERO;
            Ok(out)
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "hook",
        &["node: Map", "point: &str", "Dynamic"],
        "Runs the node's hook for `point` (`pre_sync`, `post_sync`, `health`,\n`pre_delete`, `post_delete`) when `dag.yaml` names one, calling\n`fn <point>(node, ctx)` in the hook script; returns its result, or `()`\nwhen the node has no such hook. An error thrown by the hook fails the node\nwith the hook's message and position.",
        move |node: Map, point: &str| -> Result<Dynamic> {
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
            let Some(plan_node) = h.plan.node(&name) else {
                return Err(script_error(format!(
                    "dag::hook: `{name}` is not a node of this run's plan"
                )));
            };
            let Some(path) = plan_node.hooks.get(point.key()) else {
                return Ok(Dynamic::UNIT);
            };
            let script = h
                .scripts
                .get()
                .and_then(|s| s.hooks.get(path).cloned())
                .ok_or_else(|| script_error(format!("hook {path} was not compiled")))?;
            let engine = h.engine()?;
            let ctx = h.ctx.get().cloned().unwrap_or(Dynamic::UNIT);
            tracing::info!(
                phase = point.function(),
                component = name.as_str(),
                "running hook {}",
                script.source.display
            );
            engine
                .call_fn_with_options::<Dynamic>(
                    CallFnOptions::new(),
                    &mut Scope::new(),
                    &script.ast,
                    point.function(),
                    (Dynamic::from_map(node), ctx),
                )
                .map_err(|error| {
                    if let Some((reason, message, diagnostics)) = thrown(&error) {
                        return super::argocd::failure(
                            if reason.is_empty() { "HookFailed" } else { &reason },
                            format!("hook {} of {name}: {message}", point.function()),
                            diagnostics,
                        );
                    }
                    let located = from_rhai(&error, &script.source.display, &h.origins);
                    super::argocd::failure(
                        "HookFailed",
                        format!("hook {} of {name}: {located}", point.function()),
                        Vec::new(),
                    )
                })
        },
    );
    m
}
