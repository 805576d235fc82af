//! Built-in health of the objects that extend the Kubernetes API:
//! APIService (aggregated APIs, e.g. metrics-server) and
//! CustomResourceDefinition.
//!
//! Both gate dependents in practice: an operator's custom resources cannot
//! be created until its CRDs are Established, and `kubectl` discovery fails
//! while an APIService is unavailable. Argo CD parity (gitops-engine).

use serde_json::Value;

use super::fields::conditions;
use super::{Health, HealthStatus};

/// APIService: the `Available` condition decides, `"True"` → Healthy, else
/// Progressing, with the message `"<reason>: <message>"`; no such condition
/// yet → Progressing "Waiting to be processed".
pub(crate) fn api_service(obj: &Value) -> Health {
    match conditions(obj).find(|c| c.kind == "Available") {
        Some(available) => {
            let status = if available.is_true() {
                HealthStatus::Healthy
            } else {
                HealthStatus::Progressing
            };
            Health::new(status, format!("{}: {}", available.reason, available.message))
        }
        None => Health::new(HealthStatus::Progressing, "Waiting to be processed"),
    }
}

/// CustomResourceDefinition: no conditions yet → Progressing; `Terminating`
/// → Progressing; `NamesAccepted` false → Degraded; not `Established` →
/// Degraded; `NonStructuralSchema` → Degraded; else Healthy.
pub(crate) fn custom_resource_definition(obj: &Value) -> Health {
    // Each finding keeps its own condition's message (Argo CD keeps only the
    // last message seen, which can explain one finding with another's text).
    let mut any = false;
    let mut established = false;
    let mut not_established = "";
    let mut terminating = None;
    let mut names_rejected = None;
    let mut non_structural = None;
    for condition in conditions(obj) {
        any = true;
        match (condition.kind, condition.status) {
            ("Terminating", "True") => terminating = Some(condition.message),
            ("NamesAccepted", "False") => names_rejected = Some(condition.message),
            ("Established", "True") => established = true,
            ("Established", _) => not_established = condition.message,
            ("NonStructuralSchema", "True") => non_structural = Some(condition.message),
            _ => {}
        }
    }
    if !any {
        return Health::new(HealthStatus::Progressing, "Status conditions not found");
    }
    if let Some(message) = terminating {
        return Health::new(HealthStatus::Progressing, format!("CRD is being terminated: {message}"));
    }
    if let Some(message) = names_rejected {
        return Health::new(
            HealthStatus::Degraded,
            format!("CRD names have not been accepted: {message}"),
        );
    }
    if !established {
        return Health::new(
            HealthStatus::Degraded,
            format!("CRD is not established: {not_established}"),
        );
    }
    if let Some(message) = non_structural {
        return Health::new(HealthStatus::Degraded, format!("Schema violations found: {message}"));
    }
    Health::new(HealthStatus::Healthy, "CRD is healthy")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(health: Health, status: HealthStatus, message: &str) {
        assert_eq!((health.status, health.message.as_str()), (status, message));
    }

    fn with_conditions(kind: &str, conditions: Value) -> Value {
        json!({"kind": kind, "status": {"conditions": conditions}})
    }

    #[test]
    fn apiservice_rules() {
        check(
            api_service(&json!({"kind": "APIService"})),
            HealthStatus::Progressing,
            "Waiting to be processed",
        );
        check(
            api_service(&with_conditions(
                "APIService",
                json!([{"type": "Available", "status": "True", "reason": "Passed", "message": "all checks passed"}]),
            )),
            HealthStatus::Healthy,
            "Passed: all checks passed",
        );
        check(
            api_service(&with_conditions(
                "APIService",
                json!([{"type": "Available", "status": "False", "reason": "MissingEndpoints",
                        "message": "endpoints for service/metrics-server in \"kube-system\" have no addresses"}]),
            )),
            HealthStatus::Progressing,
            "MissingEndpoints: endpoints for service/metrics-server in \"kube-system\" have no addresses",
        );
    }

    fn crd(conditions: Value) -> Value {
        with_conditions("CustomResourceDefinition", conditions)
    }

    #[test]
    fn crd_without_conditions_is_progressing() {
        check(
            custom_resource_definition(&json!({"kind": "CustomResourceDefinition"})),
            HealthStatus::Progressing,
            "Status conditions not found",
        );
        check(
            custom_resource_definition(&crd(json!([]))),
            HealthStatus::Progressing,
            "Status conditions not found",
        );
    }

    #[test]
    fn crd_established_with_names_accepted_is_healthy() {
        let obj = crd(json!([
            {"type": "NamesAccepted", "status": "True", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "message": "the initial names have been accepted"}
        ]));
        check(
            custom_resource_definition(&obj),
            HealthStatus::Healthy,
            "CRD is healthy",
        );
    }

    #[test]
    fn crd_not_established_is_degraded() {
        let obj = crd(json!([
            {"type": "NamesAccepted", "status": "True"},
            {"type": "Established", "status": "False", "message": "not all names are accepted"}
        ]));
        check(
            custom_resource_definition(&obj),
            HealthStatus::Degraded,
            "CRD is not established: not all names are accepted",
        );
    }

    #[test]
    fn crd_with_rejected_names_is_degraded() {
        let obj = crd(json!([
            {"type": "NamesAccepted", "status": "False", "message": "\"pgs\" is already in use"},
            {"type": "Established", "status": "False", "message": "not all names are accepted"}
        ]));
        check(
            custom_resource_definition(&obj),
            HealthStatus::Degraded,
            "CRD names have not been accepted: \"pgs\" is already in use",
        );
    }

    #[test]
    fn crd_terminating_is_progressing() {
        let obj = crd(json!([
            {"type": "Established", "status": "True"},
            {"type": "Terminating", "status": "True", "message": "deletion in progress"}
        ]));
        check(
            custom_resource_definition(&obj),
            HealthStatus::Progressing,
            "CRD is being terminated: deletion in progress",
        );
    }

    #[test]
    fn crd_with_a_non_structural_schema_is_degraded() {
        let obj = crd(json!([
            {"type": "Established", "status": "True"},
            {"type": "NonStructuralSchema", "status": "True", "message": "spec.versions[0].schema.openAPIV3Schema.type: Required value"}
        ]));
        check(
            custom_resource_definition(&obj),
            HealthStatus::Degraded,
            "Schema violations found: spec.versions[0].schema.openAPIV3Schema.type: Required value",
        );
    }
}
