//! `ctx`: what every script sees of the validated request.
//!
//! Its shape is part of the contract an operator's replacement script
//! follows (documented in docs/scripting.md):
//! `ctx.action`, `ctx.environment` (ENVIRONMENT), `ctx.dry_run`, `ctx.scope`,
//! `ctx.pv_policy`, `ctx.teardown_crds`, `ctx.task` (one task of an
//! orchestration Workflow), `ctx.orchestration` (`local` or `workflow`),
//! `ctx.critical` (application →
//! critical?), `ctx.config` (environment.yaml with
//! defaults applied), `ctx.plan` (the plan: `action`, `scope`, `nodes[]`,
//! `stacks[]`), `ctx.labels` (labels every object the executor creates
//! carries), `ctx.trace` (`trace_id`, `span_id`, `traceparent`).

use rhai::Dynamic;
use serde_json::{Value, json};

use std::collections::BTreeMap;

use crate::config::{EnvironmentConfig, PvPolicy, Request};
use crate::dag::Plan;
use crate::observe::trace::TraceContext;
use crate::script::convert::to_dynamic;
use crate::script::plan_view::PlanView;

/// Label naming the tool that manages an object.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Label recording the environment (`ENVIRONMENT`) an object belongs to.
pub const ENVIRONMENT_LABEL: &str = "executor.io/environment";

/// What `ctx` is made of.
#[derive(Debug, Clone)]
pub struct ContextParts<'a> {
    /// `deploy`, `validate` or `teardown`.
    pub action: &'a str,
    /// `ENVIRONMENT`.
    pub tier: &'a str,
    /// `DRY_RUN`.
    pub dry_run: bool,
    /// `TARGET_SCOPE`.
    pub scope: String,
    /// `PV_POLICY`.
    pub pv_policy: PvPolicy,
    /// `TEARDOWN_CRDS`.
    pub teardown_crds: bool,
    /// environment.yaml.
    pub environment: &'a EnvironmentConfig,
    /// The plan.
    pub plan: &'a Plan,
    /// Criticality per application.
    pub critical: &'a BTreeMap<String, bool>,
    /// Trace context of the run.
    pub trace: &'a TraceContext,
    /// One task of an orchestration Workflow (`EXECUTOR_TASK`).
    pub task: bool,
    /// `ORCHESTRATION`.
    pub orchestration: crate::config::Orchestration,
}

impl<'a> ContextParts<'a> {
    /// The parts of a validated request.
    pub fn of(request: &'a Request, trace: &'a TraceContext, tier: &'a str) -> Self {
        ContextParts {
            action: request.action.name(),
            tier,
            dry_run: request.dry_run,
            scope: request.scope.to_string(),
            pv_policy: request.pv_policy,
            teardown_crds: request.teardown_crds,
            environment: &request.environment,
            plan: &request.plan,
            critical: &request.critical,
            trace,
            task: request.task,
            orchestration: request.orchestration,
        }
    }
}

/// The `ctx` value as JSON (also used by tests and docs).
pub fn context_json(parts: &ContextParts<'_>) -> Value {
    let env = parts.environment;
    json!({
        "action": parts.action,
        "environment": parts.tier,
        "dry_run": parts.dry_run,
        "scope": parts.scope,
        "pv_policy": parts.pv_policy.to_string(),
        "teardown_crds": parts.teardown_crds,
        "task": parts.task,
        "orchestration": parts.orchestration.to_string(),
        "config": {
            "name": env.name,
            "domain": env.domain,
            "gitRepository": env.git_repository,
            "gitRevision": env.git_revision,
            "clusterName": env.cluster_name,
            "argocdNamespace": env.argocd_namespace,
            "workflowsNamespace": env.workflows_namespace,
            "timeouts": {
                "sync": crate::input::duration::format_duration(env.timeouts.sync),
                "health": crate::input::duration::format_duration(env.timeouts.health),
            },
            "retries": {
                "maxAttempts": env.retries.max_attempts,
                "backoff": crate::input::duration::format_duration(env.retries.backoff),
            },
        },
        "plan": serde_json::to_value(parts.plan).unwrap_or(Value::Null),
        "critical": parts.critical,
        "labels": {
            MANAGED_BY_LABEL: "executor",
            ENVIRONMENT_LABEL: parts.tier,
        },
        "trace": {
            "trace_id": parts.trace.trace_id,
            "span_id": parts.trace.span_id,
            "traceparent": parts.trace.traceparent(),
        },
    })
}

/// The `ctx` value scripts see; `ctx.plan` is the shared [`PlanView`] of
/// `plan` (not a map: copying `ctx` must not copy the whole plan).
pub fn build(parts: &ContextParts<'_>, plan: &std::sync::Arc<Plan>) -> Dynamic {
    let mut ctx = to_dynamic(&context_json(parts));
    if let Some(mut map) = ctx.write_lock::<rhai::Map>() {
        map.insert("plan".into(), Dynamic::from(PlanView::new(plan.clone())));
    }
    ctx
}
