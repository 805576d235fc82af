//! `ctx`: what every script sees of the validated request.
//!
//! Its shape is part of the contract an operator's replacement script
//! follows (documented in docs/scripting.md):
//! `ctx.action`, `ctx.environment` (ENVIRONMENT), `ctx.dry_run`, `ctx.scope`,
//! `ctx.pv_policy`, `ctx.teardown_crds`, `ctx.critical` (application →
//! critical?), `ctx.config` (environment.yaml with
//! defaults applied), `ctx.plan` (the plan: `action`, `scope`, `nodes[]`,
//! `stacks[]`), `ctx.labels` (labels every object the executor creates
//! carries), `ctx.trace` (`trace_id`, `span_id`, `traceparent`).

use rhai::Dynamic;
use serde_json::{Value, json};

use crate::config::Request;
use crate::observe::trace::TraceContext;
use crate::script::convert::to_dynamic;

/// Label naming the tool that manages an object.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Label recording the environment (`ENVIRONMENT`) an object belongs to.
pub const ENVIRONMENT_LABEL: &str = "executor.io/environment";

/// The `ctx` value as JSON (also used by tests and docs).
pub fn context_json(request: &Request, trace: &TraceContext, teardown_crds: bool) -> Value {
    let env = &request.environment;
    json!({
        "action": request.action.name(),
        "environment": request.tier.to_string(),
        "dry_run": request.dry_run,
        "scope": request.scope.to_string(),
        "pv_policy": request.pv_policy.to_string(),
        "teardown_crds": teardown_crds,
        "config": {
            "name": env.name,
            "domain": env.domain,
            "gitRepository": env.git_repository,
            "gitRevision": env.git_revision,
            "clusterName": env.cluster_name,
            "argocdNamespace": env.argocd_namespace,
            "workflowsNamespace": env.workflows_namespace,
            "timeouts": {
                "sync": crate::config::duration::format_duration(env.timeouts.sync),
                "health": crate::config::duration::format_duration(env.timeouts.health),
            },
            "retries": {
                "maxAttempts": env.retries.max_attempts,
                "backoff": crate::config::duration::format_duration(env.retries.backoff),
            },
        },
        "plan": serde_json::to_value(&request.plan).unwrap_or(Value::Null),
        "critical": request.critical,
        "labels": {
            MANAGED_BY_LABEL: "executor",
            ENVIRONMENT_LABEL: request.tier.to_string(),
        },
        "trace": {
            "trace_id": trace.trace_id,
            "span_id": trace.span_id,
            "traceparent": trace.traceparent(),
        },
    })
}

/// The `ctx` value scripts see.
pub fn build(request: &Request, trace: &TraceContext, teardown_crds: bool) -> Dynamic {
    to_dynamic(&context_json(request, trace, teardown_crds))
}
