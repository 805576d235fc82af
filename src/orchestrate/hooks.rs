//! Node hooks: the `pre_sync`, `post_sync`, `health`, `pre_delete` and
//! `post_delete` functions a node's hook script (named in `dag.yaml`)
//! defines, called with `(node, ctx)`.
//!
//! A hook runs on a blocking thread for as long as its script runs, within
//! the node's deadline; a node without a hook for a point costs nothing.
//! What a hook throws fails the node with the hook's message and position.

use std::sync::Arc;

use rhai::{CallFnOptions, Dynamic, Scope};

use super::NodeFailure;
use crate::dag::{HookPoint, PlanNode};
use crate::k8s::wait::Bounds;
use crate::report::FailureReason;
use crate::script::control;
use crate::script::convert::to_dynamic;
use crate::script::error::{from_rhai, thrown};
use crate::script::host::Host;

/// The node as scripts see it (`ctx.plan.nodes[]` entries).
pub fn node_value(node: &PlanNode) -> Dynamic {
    to_dynamic(&serde_json::to_value(node).unwrap_or_default())
}

/// Calls `point` of `node`'s hook script on this thread; `()` when the node
/// has no hook there.
///
/// # Errors
/// The hook's failure (`HookFailed`, or the reason it threw).
pub fn call(host: &Host, node: &PlanNode, node_arg: Dynamic, point: HookPoint) -> Result<Dynamic, NodeFailure> {
    let name = &node.name;
    let Some(path) = node.hooks.get(point.key()) else {
        return Ok(Dynamic::UNIT);
    };
    let failed = |message: String| NodeFailure::new(FailureReason::HookFailed, message, Vec::new());
    let script = host
        .scripts
        .hooks
        .get(path)
        .cloned()
        .ok_or_else(|| failed(format!("hook {path} was not compiled")))?;
    let engine = host.engine().map_err(|e| failed(e.to_string()))?;
    let ctx = host.ctx.clone();
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
            (node_arg, ctx),
        )
        .map_err(|error| {
            if let Some((reason, message, diagnostics)) = thrown(&error) {
                return NodeFailure::new(
                    reason.unwrap_or(FailureReason::HookFailed),
                    format!("hook {} of {name}: {message}", point.function()),
                    diagnostics,
                );
            }
            let located = from_rhai(&error, &script.source.display, &host.origins);
            failed(format!("hook {} of {name}: {located}", point.function()))
        })
}

/// Runs `point` of `node`'s hook on a blocking thread, within `bounds`.
///
/// # Errors
/// As [`call`].
pub async fn run(host: &Arc<Host>, node: &PlanNode, point: HookPoint, bounds: &Bounds) -> Result<Dynamic, NodeFailure> {
    if !node.hooks.contains_key(point.key()) {
        return Ok(Dynamic::UNIT);
    }
    let host = host.clone();
    let node = node.clone();
    let bounds = bounds.clone();
    let span = tracing::Span::current();
    // The hook is a span of the node's, in the run's trace.
    let traced = crate::observe::span::start(
        format!("hook {}", point.key()),
        &opentelemetry::Context::current(),
        vec![opentelemetry::KeyValue::new("executor.hook", point.key())],
    );
    let inside = traced.clone();
    let result = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let _traced = inside.attach();
        let scope = control::Scope {
            bounds,
            node: Some(node.name.clone()),
        };
        control::within(scope, || call(&host, &node, node_value(&node), point))
    })
    .await
    .unwrap_or_else(|error| {
        Err(NodeFailure::new(
            FailureReason::HookFailed,
            format!("the hook's worker ended abnormally: {error}"),
            Vec::new(),
        ))
    });
    let failure = result.as_ref().err().map(ToString::to_string);
    crate::observe::span::end(&traced, failure.as_deref(), Vec::new());
    result
}
