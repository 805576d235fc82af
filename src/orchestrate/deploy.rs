//! Deploying one node: its `pre_sync` hook, its Application (built by the
//! script, written only if it differs), a sync only when Argo CD will not
//! do one itself, the wait until Synced and Healthy on the shared watch,
//! its resource gates, its `health` and `post_sync` hooks. The sync
//! request and the wait are spans of the node's in the run's trace (the
//! hooks' are made in `hooks`).
//!
//! The steps are a future: a node that waits holds no thread and no
//! connection. Writes and sync requests take a permit of the run's
//! semaphore, so the concurrency bound limits the load on the API server
//! and Argo CD, not the number of nodes in flight.

use std::sync::Arc;

use opentelemetry::KeyValue;
use rhai::Dynamic;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::script_fn::ScriptFn;
use super::sync::{self, failure_of};
use super::{NodeFailure, NodeReport, Timeline, hooks};
use crate::argocd::store::AppStore;
use crate::argocd::{self as acd, Expectation};
use crate::dag::scheduler::{NodeEnd, NodeOutcome};
use crate::dag::{HookPoint, PlanNode};
use crate::health::{Health, HealthStatus};
use crate::k8s::apply::{self, ApplyAction};
use crate::k8s::wait::Bounds;
use crate::k8s::{K8sError, ObjectKey};
use crate::observe::span;
use crate::report::{ComponentStatus, FailureReason};
use crate::script::convert::to_json;
use crate::script::host::Host;

/// What deploying the nodes of one run shares.
pub struct Deployer {
    host: Arc<Host>,
    permits: Semaphore,
    application: Arc<ScriptFn>,
}

impl std::fmt::Debug for Deployer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployer").finish_non_exhaustive()
    }
}

impl Deployer {
    /// A deployer whose Applications `application(node)` builds, with at
    /// most `concurrency` writes and sync requests in flight.
    pub fn new(host: Arc<Host>, application: ScriptFn, concurrency: usize) -> Deployer {
        Deployer {
            host,
            permits: Semaphore::new(concurrency.max(1)),
            application: Arc::new(application),
        }
    }

    /// The shared watch of Applications, started at the first wait: a run
    /// The run's shared watch of Applications, started at the first wait:
    /// a run with nothing to wait for (a no-op re-deploy) never opens it.
    fn store(&self) -> &AppStore {
        self.host.app_store()
    }

    /// Deploys `node` within its sync and health timeouts.
    pub async fn node(&self, node: &PlanNode) -> NodeOutcome<NodeReport> {
        let bounds = self.host.bounds.within(node.sync_timeout + node.health_timeout);
        let mut timeline = Timeline::default();
        let steps = self.steps(node, &bounds, &mut timeline).await;
        let phases = timeline.finish();
        let mut outcome = match steps {
            Ok(report) => NodeOutcome {
                end: NodeEnd::Succeeded,
                value: Some(report),
            },
            Err(failure) => {
                tracing::error!(phase = "node", component = node.name.as_str(), "{}", failure.message);
                let deadline_passed = tokio::time::Instant::now() >= self.host.bounds.deadline;
                let failure = if failure.reason == FailureReason::Interrupted && deadline_passed {
                    NodeFailure {
                        reason: FailureReason::TimedOut,
                        message: format!("the action's deadline passed: {}", failure.message),
                        ..failure
                    }
                } else {
                    failure
                };
                failure.into_outcome()
            }
        };
        if let Some(report) = outcome.value.as_mut() {
            report.phases = phases;
        }
        outcome
    }

    async fn steps(
        &self,
        node: &PlanNode,
        bounds: &Bounds,
        timeline: &mut Timeline,
    ) -> Result<NodeReport, NodeFailure> {
        let host = &self.host;
        let dry_run = host.settings.dry_run;
        if !dry_run && node.hooks.contains_key(HookPoint::PreSync.key()) {
            timeline.begin("hook");
            let _: Dynamic = hooks::run(host, node, HookPoint::PreSync, bounds).await?;
        }
        timeline.begin("sync");
        let application = self.build(node, bounds).await?;
        if let Some(revision) = application["spec"]["source"]["targetRevision"].as_str() {
            span::annotate("executor.revision", revision.to_owned());
        }
        let written_at = jiff::Timestamp::now();
        let applied = {
            let _permit = self.permits.acquire().await;
            let key = ObjectKey::of(&application)
                .map_err(|e| NodeFailure::new(FailureReason::ScriptError, e.to_string(), Vec::new()))?;
            let applied = bounds
                .run(
                    &format!("applying {key}"),
                    apply::ensure(host.cluster.as_ref(), &host.index, &application, dry_run),
                )
                .await
                .map_err(|e| failure_of(e, Vec::new()))?;
            match applied.action {
                ApplyAction::Unchanged => tracing::debug!(phase = "apply", "{key} unchanged"),
                action => tracing::info!(phase = "apply", "{key} {action:?}: {}", applied.why.join("; ")),
            }
            applied
        };
        let changed = applied.action.changed();
        let message = if changed { applied.why.join("; ") } else { String::new() };
        if dry_run {
            return Ok(NodeReport {
                status: ComponentStatus::of_apply(applied.action),
                health: "Unknown".to_owned(),
                message,
                ..NodeReport::default()
            });
        }
        let status = match applied.action {
            ApplyAction::Created => ComponentStatus::Deployed,
            ApplyAction::Updated => ComponentStatus::Updated,
            _ => ComponentStatus::Unchanged,
        };
        let live = applied.live.clone();
        let automated = acd::is_automated(&application);
        // Argo CD syncs a new spec itself when its policy is automated; the
        // executor asks only when Argo CD will not.
        let ask = if changed { !automated } else { acd::needs_request(&live) };
        let sent = if ask {
            let _permit = self.permits.acquire().await;
            let revision = application["spec"]["source"]["targetRevision"]
                .as_str()
                .unwrap_or("HEAD");
            span::child(
                "sync",
                vec![KeyValue::new("executor.revision", revision.to_owned())],
                sync::request(host, &node.name, revision),
            )
            .await
            .map_err(|e| failure_of(e, Vec::new()))?
        } else {
            None
        };
        let mut final_state = live.clone();
        let ready = acd::verdict(Some(&live), None) == acd::Verdict::Ready;
        timeline.begin("wait");
        if changed || sent.is_some() || !ready {
            let expect = Expectation {
                request: None,
                spec: (changed && sent.is_none()).then(|| application["spec"].clone()),
                since: Some(written_at),
            };
            let store = self.store();
            final_state = span::child(
                "wait",
                Vec::new(),
                sync::wait_ready(host, store, &node.name, expect, sent, bounds),
            )
            .await?;
        }
        self.gates(node, &final_state, bounds).await?;
        if [HookPoint::Health, HookPoint::PostSync]
            .iter()
            .any(|point| node.hooks.contains_key(point.key()))
        {
            timeline.begin("hook");
        }
        let verdict = hooks::run(host, node, HookPoint::Health, bounds).await?;
        if let Some(health) = hook_verdict(&verdict)
            && health.status != HealthStatus::Healthy
        {
            return Err(NodeFailure::new(
                FailureReason::HealthHook,
                format!("health hook of {}: {}: {}", node.name, health.status, health.message),
                Vec::new(),
            ));
        }
        let _: Dynamic = hooks::run(host, node, HookPoint::PostSync, bounds).await?;
        Ok(NodeReport {
            status,
            health: "Healthy".to_owned(),
            sync: acd::state(&final_state).sync,
            message,
            ..NodeReport::default()
        })
    }

    /// What deploying `node` would do, without writing: the status it would
    /// end with (`Deployed`, `Updated`, `Unchanged`) and whether its
    /// Application is Synced and Healthy already. The workflow backend
    /// decides with it whether there is anything to submit.
    ///
    /// # Errors
    /// The Application builder's failure, or the API's.
    pub async fn plan_node(&self, node: &PlanNode) -> Result<(ComponentStatus, bool), NodeFailure> {
        let bounds = self.host.bounds.within(node.sync_timeout);
        let application = self.build(node, &bounds).await?;
        let applied = bounds
            .run(
                &format!("comparing the Application of {}", node.name),
                apply::ensure(self.host.cluster.as_ref(), &self.host.index, &application, true),
            )
            .await
            .map_err(|e| failure_of(e, Vec::new()))?;
        let status = match applied.action {
            ApplyAction::Created | ApplyAction::WouldCreate => ComponentStatus::Deployed,
            ApplyAction::Updated | ApplyAction::WouldUpdate => ComponentStatus::Updated,
            ApplyAction::Unchanged => ComponentStatus::Unchanged,
        };
        let ready =
            applied.action == ApplyAction::Unchanged && acd::verdict(Some(&applied.live), None) == acd::Verdict::Ready;
        Ok((status, ready))
    }

    /// The node's Application, as the script builds it.
    async fn build(&self, node: &PlanNode, bounds: &Bounds) -> Result<Value, NodeFailure> {
        let built = self
            .application
            .call_async(bounds.clone(), Some(node.name.clone()), vec![hooks::node_value(node)])
            .await
            .map_err(|error| {
                let located = crate::script::error::from_rhai(&error, "the Application builder", &self.host.origins);
                NodeFailure::new(
                    FailureReason::ScriptError,
                    format!("building the Application of {}: {located}", node.name),
                    Vec::new(),
                )
            })?;
        let mut application = to_json(&built).map_err(|e| {
            NodeFailure::new(
                FailureReason::ScriptError,
                format!("the Application of {}: {e}", node.name),
                Vec::new(),
            )
        })?;
        if !application.is_object() {
            return Err(NodeFailure::new(
                FailureReason::ScriptError,
                format!(
                    "the Application builder returned {} for {}, not an object map",
                    built.type_name(),
                    node.name
                ),
                Vec::new(),
            ));
        }
        if application["metadata"]["namespace"].is_null() {
            application["metadata"]["namespace"] = json!(self.host.settings.argocd_namespace);
        }
        Ok(application)
    }

    /// Waits until each resource gate of `node` is Healthy, as judged by
    /// Argo CD when the node's Application manages the resource (read from
    /// the shared watch), else by the executor (docs/health.md).
    async fn gates(&self, node: &PlanNode, app: &Arc<Value>, bounds: &Bounds) -> Result<(), NodeFailure> {
        for gate in &node.resources {
            let namespace = gate.namespace.clone().unwrap_or_else(|| node.namespace.clone());
            let label = format!("{} {namespace}/{}", gate.kind, gate.name);
            let recorded = |state: &Value| {
                crate::health::recorded(state, &gate.api_version, &gate.kind, &namespace, &gate.name)
                    .and_then(|r| r.health)
            };
            let by_argo = !gate.by_executor() && recorded(app).is_some();
            if !by_argo {
                self.gate_by_executor(node, gate, &namespace, bounds).await?;
                continue;
            }
            if recorded(app).is_some_and(|h| h.status == HealthStatus::Healthy) {
                continue;
            }
            let who = format!("Argo CD, Application {}", node.name);
            tracing::info!(
                component = node.name.as_str(),
                phase = "gate",
                "waiting for {label} to be healthy ({who})"
            );
            let mut last = Health::new(HealthStatus::Unknown, "not seen yet");
            let store = self.store();
            let what = format!("{label} to be Healthy ({who})");
            let result = store
                .wait(
                    self.host.cluster.as_ref(),
                    &node.name,
                    |state| {
                        last = state.and_then(recorded).unwrap_or_else(|| {
                            Health::new(HealthStatus::Unknown, "no longer listed by its Application")
                        });
                        match last.status {
                            HealthStatus::Healthy => Ok(true),
                            HealthStatus::Degraded => Err(K8sError::Invalid(last.message.clone())),
                            _ => Ok(false),
                        }
                    },
                    bounds,
                    &what,
                )
                .await;
            let described = format!("{label}: {} ({who}): {}", last.status, last.message);
            match result {
                Ok(_) => {}
                Err(failure) => {
                    return Err(match failure.error {
                        K8sError::Invalid(_) => {
                            NodeFailure::new(FailureReason::Degraded, described.clone(), vec![described])
                        }
                        K8sError::Timeout { .. } => NodeFailure::new(
                            FailureReason::TimedOut,
                            format!("{}; {described}", failure.error),
                            vec![described],
                        ),
                        other => failure_of(other, vec![described]),
                    });
                }
            }
        }
        Ok(())
    }

    /// A gate the executor judges (no Application records the resource, or
    /// the gate asks for `check: executor`): the general gate primitive on
    /// a blocking thread, since a mounted Rhai check may judge it.
    async fn gate_by_executor(
        &self,
        node: &PlanNode,
        gate: &crate::dag::model::ResourceGate,
        namespace: &str,
        bounds: &Bounds,
    ) -> Result<(), NodeFailure> {
        let host = self.host.clone();
        let mut gate_value = serde_json::to_value(gate).unwrap_or_default();
        gate_value["namespace"] = json!(namespace);
        let options = json!({"app": node.name, "timeout": bounds.remaining().as_secs_f64().max(0.001)});
        let scope = crate::script::control::Scope {
            bounds: bounds.clone(),
            node: Some(node.name.clone()),
        };
        let span = tracing::Span::current();
        let result = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            crate::script::control::within(scope, || {
                crate::script::primitives::gate::gate(&host, &gate_value, &options).map(|_| ())
            })
        })
        .await
        .unwrap_or_else(|e| Err(crate::script::host::script_error(e.to_string())));
        result.map_err(|error| match crate::script::error::thrown(&error) {
            Some((reason, message, diagnostics)) => {
                // A throw without a reason keeps none, as thrown.
                NodeFailure::new(
                    reason.unwrap_or(FailureReason::Other(String::new())),
                    message,
                    diagnostics,
                )
            }
            None => NodeFailure::new(FailureReason::ScriptError, error.to_string(), Vec::new()),
        })
    }
}

/// A `health` hook's verdict: `#{status, message}`, or nothing.
fn hook_verdict(value: &Dynamic) -> Option<Health> {
    if value.is_unit() {
        return None;
    }
    Some(
        crate::script::primitives::health::health_of(value)
            .unwrap_or_else(|message| Health::new(HealthStatus::Unknown, message)),
    )
}
