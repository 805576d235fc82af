//! Built-in health of the HorizontalPodAutoscaler.
//!
//! gitops-engine's `getHPAHealth` (`gitops-engine/pkg/health/health_hpa.go`
//! in argo-cd, main): any condition that is a known failure makes it
//! Degraded; otherwise the first `AbleToScale` or `ScalingLimited` condition
//! that is `"True"` makes it Healthy; otherwise it is still waiting to
//! scale. `autoscaling/v2` keeps the conditions in `status.conditions`;
//! `autoscaling/v1` keeps them as JSON in an annotation. Other versions
//! (`v2beta1`, `v2beta2`) are Unknown, as in current Argo CD.

use serde_json::Value;

use super::fields::{array_at, conditions_in, str_at, string_or_empty, unsupported};
use super::{Health, HealthStatus};

/// Where `autoscaling/v1` objects carry their conditions.
const V1_CONDITIONS: &str = "autoscaling.alpha.kubernetes.io/conditions";

/// `(type, reason)` pairs that mean the autoscaler cannot work.
const DEGRADED: [(&str, &str); 8] = [
    ("AbleToScale", "FailedGetScale"),
    ("AbleToScale", "FailedUpdateScale"),
    ("ScalingActive", "FailedGetResourceMetric"),
    ("ScalingActive", "FailedGetObjectMetric"),
    ("ScalingActive", "FailedGetPodsMetric"),
    ("ScalingActive", "FailedGetExternalMetric"),
    ("ScalingActive", "FailedComputeMetricsReplicas"),
    ("ScalingActive", "InvalidSelector"),
];

/// Condition types that, when `"True"`, mean the autoscaler is working.
const HEALTHY: [&str; 2] = ["AbleToScale", "ScalingLimited"];

/// HorizontalPodAutoscaler (see the module comment). An unreadable v1
/// annotation is Unknown with the parse error.
pub(crate) fn horizontal_pod_autoscaler(obj: &Value) -> Health {
    let from_annotation: Vec<Value>;
    let list: &[Value] = match string_or_empty(obj, &["apiVersion"]) {
        "autoscaling/v2" => array_at(obj, &["status", "conditions"]),
        "autoscaling/v1" => match str_at(obj, &["metadata", "annotations", V1_CONDITIONS]) {
            None => &[],
            Some(text) => match serde_json::from_str::<Vec<Value>>(text) {
                Ok(parsed) => {
                    from_annotation = parsed;
                    from_annotation.as_slice()
                }
                Err(err) => {
                    return Health::new(
                        HealthStatus::Unknown,
                        format!("failed to convert conditions annotation to typed: {err}"),
                    );
                }
            },
        },
        _ => return unsupported(obj),
    };
    let conditions: Vec<_> = conditions_in(list).collect();
    if let Some(failure) = conditions.iter().find(|c| DEGRADED.contains(&(c.kind, c.reason))) {
        return Health::new(HealthStatus::Degraded, failure.message);
    }
    if let Some(working) = conditions.iter().find(|c| HEALTHY.contains(&c.kind) && c.is_true()) {
        return Health::new(HealthStatus::Healthy, working.message);
    }
    Health::new(HealthStatus::Progressing, "Waiting to Autoscale")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(health: Health, status: HealthStatus, message: &str) {
        assert_eq!((health.status, health.message.as_str()), (status, message));
    }

    fn v2(conditions: Value) -> Value {
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
               "status": {"conditions": conditions}})
    }

    #[test]
    fn hpa_without_conditions_waits() {
        check(
            horizontal_pod_autoscaler(&v2(json!([]))),
            HealthStatus::Progressing,
            "Waiting to Autoscale",
        );
    }

    #[test]
    fn any_failure_wins_over_an_earlier_healthy_condition() {
        let obj = v2(json!([
            {"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale", "message": "ok"},
            {"type": "ScalingActive", "status": "False", "reason": "FailedGetExternalMetric", "message": "no metric"}
        ]));
        check(horizontal_pod_autoscaler(&obj), HealthStatus::Degraded, "no metric");
    }

    #[test]
    fn healthy_needs_able_to_scale_or_scaling_limited_true() {
        let limited_false = v2(json!([
            {"type": "ScalingLimited", "status": "False", "reason": "DesiredWithinRange", "message": "within range"}
        ]));
        check(
            horizontal_pod_autoscaler(&limited_false),
            HealthStatus::Progressing,
            "Waiting to Autoscale",
        );
        let able = v2(json!([
            {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound", "message": "valid"},
            {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale", "message": "ready"}
        ]));
        check(horizontal_pod_autoscaler(&able), HealthStatus::Healthy, "ready");
    }

    #[test]
    fn hpa_v1_reads_the_annotation_and_other_versions_are_unknown() {
        let conditions = r#"[{"type":"AbleToScale","status":"True","reason":"SucceededRescale","message":"rescaled"}]"#;
        let obj = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
                         "metadata": {"annotations": {V1_CONDITIONS: conditions}}});
        check(horizontal_pod_autoscaler(&obj), HealthStatus::Healthy, "rescaled");
        let broken = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
                            "metadata": {"annotations": {V1_CONDITIONS: "not json"}}});
        assert_eq!(horizontal_pod_autoscaler(&broken).status, HealthStatus::Unknown);
        let beta = json!({"apiVersion": "autoscaling/v2beta2", "kind": "HorizontalPodAutoscaler"});
        check(
            horizontal_pod_autoscaler(&beta),
            HealthStatus::Unknown,
            "unsupported HPA GVK: autoscaling/v2beta2, Kind=HorizontalPodAutoscaler",
        );
    }
}
