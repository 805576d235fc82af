//! Built-in health of the Argo Workflows `Workflow`, gitops-engine's
//! `getArgoWorkflowHealth` (`gitops-engine/pkg/health/health_argo.go` in
//! argo-cd): the phase decides, the message is the workflow's own.
//!
//! Argo CD has no built-in health for its own `Application` (gitops-engine's
//! `TestApplication` asserts none): the bootstrap installs a check for it
//! into `argocd-cm`, and its twin is the bundled Rhai check
//! `stdlib/health/argoproj.io_Application.rhai`.

use serde_json::Value;

use super::fields::string_or_empty;
use super::{Health, HealthStatus};

/// Workflow: phase Pending or Running (or none yet) → Progressing;
/// Succeeded → Healthy; Failed or Error → Degraded; any other → Unknown.
/// The message is the workflow's `status.message`.
pub(crate) fn workflow(obj: &Value) -> Health {
    let status = match string_or_empty(obj, &["status", "phase"]) {
        "" | "Pending" | "Running" => HealthStatus::Progressing,
        "Succeeded" => HealthStatus::Healthy,
        "Failed" | "Error" => HealthStatus::Degraded,
        _ => HealthStatus::Unknown,
    };
    Health::new(status, string_or_empty(obj, &["status", "message"]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wf(status: Value) -> Value {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "status": status})
    }

    #[test]
    fn workflow_phases_with_the_workflows_message() {
        for (phase, status) in [
            ("", HealthStatus::Progressing),
            ("Pending", HealthStatus::Progressing),
            ("Running", HealthStatus::Progressing),
            ("Succeeded", HealthStatus::Healthy),
            ("Failed", HealthStatus::Degraded),
            ("Error", HealthStatus::Degraded),
            ("Paused", HealthStatus::Unknown),
        ] {
            let health = workflow(&wf(json!({"phase": phase, "message": "m"})));
            assert_eq!((health.status, health.message.as_str()), (status, "m"), "{phase}");
        }
        assert_eq!(
            workflow(&json!({"kind": "Workflow"})),
            Health::new(HealthStatus::Progressing, "")
        );
    }
}
