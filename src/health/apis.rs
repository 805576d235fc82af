//! Built-in health of the objects that extend the Kubernetes API:
//! APIService (aggregated APIs, e.g. metrics-server) and
//! CustomResourceDefinition.
//!
//! Both gate dependents in practice: an operator's custom resources cannot
//! be created until its CRDs are Established, and `kubectl` discovery fails
//! while an APIService is unavailable. APIService is gitops-engine's
//! (`gitops-engine/pkg/health/health_apiservice.go` in argo-cd); the CRD is
//! Argo CD's bundled Lua check (`resource_customizations/
//! apiextensions.k8s.io/CustomResourceDefinition/health.lua`), word for word.

use serde_json::Value;

use super::fields::{api_version_in, at, conditions, unsupported};
use super::{Health, HealthStatus};

/// APIService (`v1`, `v1beta1`): the `Available` condition decides,
/// `"True"` → Healthy, else Progressing, with the message
/// `"<reason>: <message>"`; no such condition yet → Progressing "Waiting to
/// be processed".
pub(crate) fn api_service(obj: &Value) -> Health {
    if !api_version_in(obj, &["apiregistration.k8s.io/v1", "apiregistration.k8s.io/v1beta1"]) {
        return unsupported(obj);
    }
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

/// CustomResourceDefinition (Argo CD's Lua): being deleted → Progressing
/// "CRD is terminating"; no conditions → Progressing; then, in condition
/// order, the first of `Terminating` True (Progressing), `NamesAccepted`
/// False or `NonStructuralSchema` True (Degraded), `Established` not True
/// with reason `Installing` (Progressing "CRD is being installed") decides;
/// otherwise Healthy if `Established` is True, else Degraded.
pub(crate) fn custom_resource_definition(obj: &Value) -> Health {
    if at(obj, &["metadata", "deletionTimestamp"]).is_some_and(|v| !v.is_null()) {
        return Health::new(HealthStatus::Progressing, "CRD is terminating");
    }
    let mut established = false;
    let mut any = false;
    for condition in conditions(obj) {
        any = true;
        match (condition.kind, condition.status) {
            ("Terminating", "True") => {
                return Health::new(
                    HealthStatus::Progressing,
                    format!("CRD is terminating: {}", condition.message),
                );
            }
            ("NamesAccepted", "False") => {
                return Health::new(
                    HealthStatus::Degraded,
                    format!("CRD names have not been accepted: {}", condition.message),
                );
            }
            ("NonStructuralSchema", "True") => {
                return Health::new(
                    HealthStatus::Degraded,
                    format!("Schema violations found: {}", condition.message),
                );
            }
            ("Established", "True") => established = true,
            ("Established", _) if condition.reason == "Installing" => {
                return Health::new(HealthStatus::Progressing, "CRD is being installed");
            }
            _ => {}
        }
    }
    if !any {
        return Health::new(HealthStatus::Progressing, "Status conditions not found");
    }
    if !established {
        return Health::new(HealthStatus::Degraded, "CRD is not established");
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

    fn with_conditions(api_version: &str, kind: &str, conditions: Value) -> Value {
        json!({"apiVersion": api_version, "kind": kind, "status": {"conditions": conditions}})
    }

    #[test]
    fn apiservice_rules() {
        check(
            api_service(&json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService"})),
            HealthStatus::Progressing,
            "Waiting to be processed",
        );
        check(
            api_service(&with_conditions(
                "apiregistration.k8s.io/v1",
                "APIService",
                json!([{"type": "Available", "status": "False", "reason": "MissingEndpoints", "message": "no addresses"}]),
            )),
            HealthStatus::Progressing,
            "MissingEndpoints: no addresses",
        );
        check(
            api_service(&json!({"apiVersion": "apiregistration.k8s.io/v2", "kind": "APIService"})),
            HealthStatus::Unknown,
            "unsupported APIService GVK: apiregistration.k8s.io/v2, Kind=APIService",
        );
    }

    fn crd(conditions: Value) -> Value {
        with_conditions("apiextensions.k8s.io/v1", "CustomResourceDefinition", conditions)
    }

    #[test]
    fn crd_follows_argo_cds_lua() {
        check(
            custom_resource_definition(&crd(json!([]))),
            HealthStatus::Progressing,
            "Status conditions not found",
        );
        check(
            custom_resource_definition(&crd(json!([
                {"type": "NamesAccepted", "status": "True"},
                {"type": "Established", "status": "False", "reason": "Installing"}
            ]))),
            HealthStatus::Progressing,
            "CRD is being installed",
        );
        check(
            custom_resource_definition(&crd(json!([
                {"type": "NamesAccepted", "status": "True"},
                {"type": "Established", "status": "True"}
            ]))),
            HealthStatus::Healthy,
            "CRD is healthy",
        );
        check(
            custom_resource_definition(&crd(
                json!([{"type": "Established", "status": "False", "reason": "NotAccepted"}]),
            )),
            HealthStatus::Degraded,
            "CRD is not established",
        );
        let mut deleting = crd(json!([{"type": "Established", "status": "True"}]));
        deleting["metadata"] = json!({"deletionTimestamp": "2024-05-01T10:00:00Z"});
        check(
            custom_resource_definition(&deleting),
            HealthStatus::Progressing,
            "CRD is terminating",
        );
    }
}
