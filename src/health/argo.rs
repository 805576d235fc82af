//! Built-in health of Argo's own kinds: the Argo CD Application and the Argo
//! Workflows Workflow.
//!
//! Application health is the point of this whole module: since Argo CD 1.8
//! an Application's health no longer rolls up into its parent, so the design
//! configures Argo CD with a custom check that reports the child's own
//! `status.health`, and the executor reads an Application the same way. An
//! Application whose health has not been reported yet is Progressing, as
//! that custom check (Argo CD's documented Lua) says.

use serde_json::Value;

use super::fields::{str_at, string_or_empty};
use super::{Health, HealthStatus};

/// Application: `status.health.status` and `status.health.message`, as
/// reported by Argo CD. Not reported yet → Progressing. A status Argo CD
/// does not define (including our own `Failed`) → Unknown.
pub(crate) fn application(obj: &Value) -> Health {
    let Some(reported) = str_at(obj, &["status", "health", "status"]) else {
        return Health::new(
            HealthStatus::Progressing,
            "Waiting for Argo CD to report the application's health",
        );
    };
    let message = string_or_empty(obj, &["status", "health", "message"]);
    match reported.parse::<HealthStatus>() {
        Ok(HealthStatus::Failed) | Err(_) => Health::new(
            HealthStatus::Unknown,
            format!("Argo CD reported an unknown health status {reported:?}"),
        ),
        Ok(status) => Health::new(status, message),
    }
}

/// Workflow: phase Pending or Running (or none yet) → Progressing;
/// Succeeded → Healthy; Failed or Error → Degraded; any other → Unknown.
/// The message is the workflow's `status.message`.
pub(crate) fn workflow(obj: &Value) -> Health {
    let phase = string_or_empty(obj, &["status", "phase"]);
    let message = string_or_empty(obj, &["status", "message"]);
    let status = match phase {
        "" | "Pending" | "Running" => HealthStatus::Progressing,
        "Succeeded" => HealthStatus::Healthy,
        "Failed" | "Error" => HealthStatus::Degraded,
        _ => HealthStatus::Unknown,
    };
    let message = match (message, phase) {
        ("", "") => "Waiting for the workflow controller to start the workflow".to_owned(),
        ("", _) if status != HealthStatus::Healthy => format!("Workflow is {phase}"),
        _ => message.to_owned(),
    };
    Health::new(status, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(health: Health, status: HealthStatus, message: &str) {
        assert_eq!((health.status, health.message.as_str()), (status, message));
    }

    fn app(health: Value) -> Value {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
               "metadata": {"name": "vault"}, "status": {"health": health}})
    }

    #[test]
    fn application_reports_the_childs_own_health() {
        for status in ["Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"] {
            let health = application(&app(json!({"status": status, "message": "m"})));
            assert_eq!(health.status.as_str(), status);
            assert_eq!(health.message, "m");
        }
        check(
            application(&app(json!({"status": "Healthy"}))),
            HealthStatus::Healthy,
            "",
        );
    }

    #[test]
    fn application_without_status_is_progressing() {
        let bare = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "vault"}});
        check(
            application(&bare),
            HealthStatus::Progressing,
            "Waiting for Argo CD to report the application's health",
        );
        let no_health = json!({"kind": "Application", "status": {"sync": {"status": "Synced"}}});
        assert_eq!(application(&no_health).status, HealthStatus::Progressing);
    }

    #[test]
    fn application_with_a_status_argo_cd_does_not_define_is_unknown() {
        check(
            application(&app(json!({"status": "Failed"}))),
            HealthStatus::Unknown,
            "Argo CD reported an unknown health status \"Failed\"",
        );
        assert_eq!(
            application(&app(json!({"status": "healthy"}))).status,
            HealthStatus::Unknown
        );
    }

    fn wf(status: Value) -> Value {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "status": status})
    }

    #[test]
    fn workflow_phases() {
        check(
            workflow(&json!({"kind": "Workflow"})),
            HealthStatus::Progressing,
            "Waiting for the workflow controller to start the workflow",
        );
        check(
            workflow(&wf(json!({"phase": "Pending"}))),
            HealthStatus::Progressing,
            "Workflow is Pending",
        );
        check(
            workflow(&wf(json!({"phase": "Running"}))),
            HealthStatus::Progressing,
            "Workflow is Running",
        );
        check(workflow(&wf(json!({"phase": "Succeeded"}))), HealthStatus::Healthy, "");
        check(
            workflow(&wf(json!({"phase": "Failed", "message": "child 'sync' failed"}))),
            HealthStatus::Degraded,
            "child 'sync' failed",
        );
        check(
            workflow(&wf(json!({"phase": "Error", "message": "pod deleted"}))),
            HealthStatus::Degraded,
            "pod deleted",
        );
        assert_eq!(workflow(&wf(json!({"phase": "Paused"}))).status, HealthStatus::Unknown);
    }
}
