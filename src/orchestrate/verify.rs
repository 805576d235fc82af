//! Step 5 of a deploy: the final health verification of what the run
//! changed, whose verdict the outcome follows.
//!
//! An Application that degrades after its node finished (a dependency broke
//! it, an operator rolled it back) is found here; its component is then
//! `Failed` like a node that failed during the run, so the outcome (and the
//! exit code) follows the same rules and no report lists a failure under a
//! `Succeeded` summary.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::argocd as acd;
use crate::k8s::wait::Bounds;
use crate::k8s::{K8sError, Kind};
use crate::report::{ComponentStatus, Failure, FailureReason};
use crate::script::host::Host;

/// Checks that every Application whose node the run changed and finished
/// (`changed`) is Synced and Healthy now (one list); marks the components
/// of those that are not as failed, with what was found. Returns their names.
///
/// # Errors
/// The API's error on the list.
pub async fn verify(host: &Host, changed: &[String], selector: &str, bounds: &Bounds) -> Result<Vec<String>, K8sError> {
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    // The run's shared watch of Applications already holds their state
    // (every changed node waited on it); otherwise one list.
    let apps: Vec<Arc<Value>> = match host.started_app_store().filter(|s| s.is_live()) {
        Some(store) => changed.iter().filter_map(|n| store.current(n)).collect(),
        None => {
            let kind: Kind = acd::application_kind();
            let namespace = host.settings.argocd_namespace.clone();
            bounds
                .run(
                    "listing Applications for the final check",
                    host.cluster.list(&kind, Some(&namespace), Some(selector)),
                )
                .await?
                .into_iter()
                .map(Arc::new)
                .collect()
        }
    };
    let by_name: HashMap<&str, &Value> = apps
        .iter()
        .filter_map(|a| a["metadata"]["name"].as_str().map(|n| (n, a.as_ref())))
        .collect();
    let mut unhealthy = Vec::new();
    for name in changed {
        let app = by_name.get(name.as_str()).copied();
        let state = app.map(acd::state).unwrap_or_default();
        let (sync, health) = match app {
            None => ("Missing".to_owned(), "Missing".to_owned()),
            Some(_) => (state.sync.clone(), state.health.clone()),
        };
        if sync == "Synced" && health == "Healthy" {
            continue;
        }
        let message = format!("final check: {name} is {sync}/{health}");
        tracing::error!(phase = "verify", component = name.as_str(), "{message}");
        let diagnostics = app.map(acd::diagnostics).unwrap_or_default();
        host.with_report(|report| {
            if let Some(component) = report
                .components
                .iter_mut()
                .find(|c| c.name == *name && c.kind == crate::report::ComponentKind::App)
            {
                component.status = ComponentStatus::Failed;
                component.health = if health.is_empty() {
                    "Unknown".to_owned()
                } else {
                    health.clone()
                };
                component.sync = sync.clone();
                component.message = message.clone();
            }
            report.failures.push(Failure {
                component: name.clone(),
                reason: FailureReason::NotHealthy,
                message: message.clone(),
                diagnostics,
            });
        });
        unhealthy.push(name.clone());
    }
    Ok(unhealthy)
}
