//! Built-in health of the HorizontalPodAutoscaler.
//!
//! Argo CD parity (gitops-engine): the autoscaler's conditions are read in
//! order and the first one that is a known failure (Degraded) or a known
//! steady state (Healthy) decides; otherwise it is still waiting to scale.
//! `autoscaling/v2` keeps the conditions in `status.conditions`;
//! `autoscaling/v1` keeps them as JSON in an annotation.

use serde_json::Value;

use super::fields::{array_at, conditions_in, str_at};
use super::{Health, HealthStatus};

/// Where `autoscaling/v1` objects carry their conditions.
const V1_CONDITIONS: &str = "autoscaling.alpha.kubernetes.io/conditions";

/// `(type, reason)` pairs that mean the autoscaler cannot work.
const DEGRADED: [(&str, &str); 4] = [
    ("AbleToScale", "FailedGetScale"),
    ("AbleToScale", "FailedUpdateScale"),
    ("ScalingActive", "FailedGetResourceMetric"),
    ("ScalingActive", "InvalidSelector"),
];

/// `(type, reason)` pairs that mean the autoscaler is working.
const HEALTHY: [(&str, &str); 4] = [
    ("AbleToScale", "SucceededRescale"),
    ("ScalingLimited", "DesiredWithinRange"),
    ("ScalingLimited", "TooFewReplicas"),
    ("ScalingLimited", "TooManyReplicas"),
];

/// HorizontalPodAutoscaler: the first condition matching a known failure →
/// Degraded, or a known steady state → Healthy (with its message); none →
/// Progressing "Waiting to Autoscale". An unreadable v1 annotation →
/// Unknown.
pub(crate) fn horizontal_pod_autoscaler(obj: &Value) -> Health {
    let from_status = array_at(obj, &["status", "conditions"]);
    let from_annotation: Vec<Value>;
    let list: &[Value] = if !from_status.is_empty() {
        from_status
    } else if let Some(text) = str_at(obj, &["metadata", "annotations", V1_CONDITIONS]) {
        match serde_json::from_str::<Vec<Value>>(text) {
            Ok(parsed) => {
                from_annotation = parsed;
                from_annotation.as_slice()
            }
            Err(err) => {
                return Health::new(
                    HealthStatus::Unknown,
                    format!("cannot read the {V1_CONDITIONS} annotation: {err}"),
                );
            }
        }
    } else {
        &[]
    };
    for condition in conditions_in(list) {
        let key = (condition.kind, condition.reason);
        if DEGRADED.contains(&key) {
            return Health::new(HealthStatus::Degraded, condition.message);
        }
        if HEALTHY.contains(&key) {
            return Health::new(HealthStatus::Healthy, condition.message);
        }
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
            horizontal_pod_autoscaler(&json!({"kind": "HorizontalPodAutoscaler"})),
            HealthStatus::Progressing,
            "Waiting to Autoscale",
        );
    }

    #[test]
    fn hpa_v2_healthy_and_degraded() {
        let healthy = v2(json!([
            {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale", "message": "recommended size matches current size"},
            {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound", "message": "the HPA was able to compute the replica count"},
            {"type": "ScalingLimited", "status": "False", "reason": "DesiredWithinRange", "message": "the desired count is within the acceptable range"}
        ]));
        check(
            horizontal_pod_autoscaler(&healthy),
            HealthStatus::Healthy,
            "the desired count is within the acceptable range",
        );
        let degraded = v2(json!([
            {"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale"},
            {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric",
             "message": "the HPA was unable to compute the replica count: missing request for cpu"}
        ]));
        check(
            horizontal_pod_autoscaler(&degraded),
            HealthStatus::Degraded,
            "the HPA was unable to compute the replica count: missing request for cpu",
        );
    }

    #[test]
    fn hpa_v1_reads_the_annotation() {
        let conditions = r#"[{"type":"AbleToScale","status":"True","reason":"SucceededRescale","message":"rescaled"}]"#;
        let obj = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
                         "metadata": {"annotations": {V1_CONDITIONS: conditions}}});
        check(horizontal_pod_autoscaler(&obj), HealthStatus::Healthy, "rescaled");
        let broken = json!({"kind": "HorizontalPodAutoscaler",
                            "metadata": {"annotations": {V1_CONDITIONS: "not json"}}});
        assert_eq!(horizontal_pod_autoscaler(&broken).status, HealthStatus::Unknown);
    }
}
