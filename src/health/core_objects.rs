//! Built-in health of core and networking objects: Pod,
//! PersistentVolumeClaim, Service and Ingress.
//!
//! Argo CD parity (gitops-engine). Where Argo CD reports a non-Healthy status
//! with an empty message (a Pending claim, a load balancer without an
//! address) we add a short one, so a report says what is being waited for;
//! the status is always Argo CD's.

use serde_json::Value;

use super::fields::{array_at, at, condition, string_or_empty};
use super::{Health, HealthStatus};

/// The annotation that makes a Pod with restart policy `OnFailure` or
/// `Never` be assessed like a long-running one (Argo CD's).
const IGNORE_RESTART_POLICY: &str = "argocd.argoproj.io/ignore-restart-policy";

/// Pod: a long-running pod (restart policy `Always`, the default) whose
/// container waits with an error (`Err*`, `*Error`, `*BackOff`) is Degraded;
/// otherwise by phase: Pending → Progressing, Succeeded → Healthy, Failed →
/// Degraded, Running → Healthy when Ready, Degraded when a container has
/// terminated before, else Progressing; a Running pod that is meant to
/// finish (`OnFailure`/`Never`, typically a hook) stays Progressing. Any
/// other phase (or none yet) is Unknown.
pub(crate) fn pod(obj: &Value) -> Health {
    let restart_policy = match string_or_empty(obj, &["spec", "restartPolicy"]) {
        "" => "Always",
        policy => policy,
    };
    let message = string_or_empty(obj, &["status", "message"]);
    let containers = array_at(obj, &["status", "containerStatuses"]);

    if restart_policy == "Always" {
        let waiting_errors: Vec<&str> = containers
            .iter()
            .filter_map(|c| at(c, &["state", "waiting"]))
            .filter(|waiting| {
                let reason = string_or_empty(waiting, &["reason"]);
                reason.starts_with("Err") || reason.ends_with("Error") || reason.ends_with("BackOff")
            })
            .map(|waiting| string_or_empty(waiting, &["message"]))
            .collect();
        if !waiting_errors.is_empty() {
            return Health::new(HealthStatus::Degraded, waiting_errors.join(", "));
        }
    }

    match string_or_empty(obj, &["status", "phase"]) {
        "Pending" => Health::new(HealthStatus::Progressing, message),
        "Succeeded" => Health::new(HealthStatus::Healthy, message),
        "Failed" => Health::new(HealthStatus::Degraded, failure_message(obj, message)),
        "Running" => {
            let hook_like = matches!(restart_policy, "OnFailure" | "Never");
            let ignore = at(obj, &["metadata", "annotations", IGNORE_RESTART_POLICY]).is_some();
            if hook_like && !ignore {
                return Health::new(HealthStatus::Progressing, message);
            }
            if condition(obj, "Ready").is_some_and(|c| c.is_true()) {
                return Health::new(HealthStatus::Healthy, message);
            }
            let restarted = containers
                .iter()
                .any(|c| at(c, &["lastState", "terminated"]).is_some_and(|t| !t.is_null()));
            let status = if restarted {
                HealthStatus::Degraded
            } else {
                HealthStatus::Progressing
            };
            Health::new(status, message)
        }
        _ => Health::new(HealthStatus::Unknown, message),
    }
}

/// Why a Failed pod failed: its own message, else the first container
/// (init containers first) that terminated with a message, OOMKilled, or a
/// non-zero exit code.
fn failure_message(obj: &Value, message: &str) -> String {
    if !message.is_empty() {
        return message.to_owned();
    }
    let init = array_at(obj, &["status", "initContainerStatuses"]);
    let main = array_at(obj, &["status", "containerStatuses"]);
    init.iter()
        .chain(main)
        .find_map(|container| {
            let terminated = at(container, &["state", "terminated"])?;
            let message = string_or_empty(terminated, &["message"]);
            if !message.is_empty() {
                return Some(message.to_owned());
            }
            let reason = string_or_empty(terminated, &["reason"]);
            if reason == "OOMKilled" {
                return Some(reason.to_owned());
            }
            let code = terminated.get("exitCode").and_then(Value::as_i64)?;
            (code != 0).then(|| {
                format!(
                    "container {:?} failed with exit code {code}",
                    string_or_empty(container, &["name"])
                )
            })
        })
        .unwrap_or_default()
}

/// PersistentVolumeClaim: Bound → Healthy, Pending → Progressing, Lost →
/// Degraded, anything else (no phase yet) → Unknown.
pub(crate) fn persistent_volume_claim(obj: &Value) -> Health {
    match string_or_empty(obj, &["status", "phase"]) {
        "Bound" => Health::healthy(),
        "Pending" => Health::new(
            HealthStatus::Progressing,
            "Waiting for the claim to be bound to a volume",
        ),
        "Lost" => Health::new(HealthStatus::Degraded, "The claim lost its volume"),
        "" => Health::new(HealthStatus::Unknown, "The claim has no phase yet"),
        other => Health::new(HealthStatus::Unknown, format!("Unknown claim phase {other:?}")),
    }
}

/// Service: type LoadBalancer → Progressing until
/// `status.loadBalancer.ingress` is non-empty; every other type → Healthy.
pub(crate) fn service(obj: &Value) -> Health {
    if string_or_empty(obj, &["spec", "type"]) == "LoadBalancer" {
        load_balanced(obj)
    } else {
        Health::healthy()
    }
}

/// Ingress: Progressing until `status.loadBalancer.ingress` is non-empty
/// (the ingress controller has published an address), then Healthy.
pub(crate) fn ingress(obj: &Value) -> Health {
    load_balanced(obj)
}

fn load_balanced(obj: &Value) -> Health {
    if array_at(obj, &["status", "loadBalancer", "ingress"]).is_empty() {
        Health::new(
            HealthStatus::Progressing,
            "Waiting for the load balancer to publish an address",
        )
    } else {
        Health::healthy()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(health: Health, status: HealthStatus, message: &str) {
        assert_eq!((health.status, health.message.as_str()), (status, message));
    }

    fn running(ready: &str) -> Value {
        json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {},
               "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": ready}]}})
    }

    #[test]
    fn pod_running_and_ready_is_healthy() {
        check(pod(&running("True")), HealthStatus::Healthy, "");
    }

    #[test]
    fn pod_running_not_ready_is_progressing_until_a_container_restarts() {
        check(pod(&running("False")), HealthStatus::Progressing, "");
        let mut restarted = running("False");
        restarted["status"]["containerStatuses"] =
            json!([{"name": "app", "lastState": {"terminated": {"exitCode": 1}}}]);
        check(pod(&restarted), HealthStatus::Degraded, "");
    }

    #[test]
    fn pod_crash_looping_is_degraded_with_the_container_messages() {
        let obj = json!({"kind": "Pod", "spec": {"restartPolicy": "Always"}, "status": {
        "phase": "Running",
        "containerStatuses": [
            {"name": "a", "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting"}}},
            {"name": "b", "state": {"waiting": {"reason": "ErrImagePull", "message": "pull failed"}}},
            {"name": "c", "state": {"waiting": {"reason": "ContainerCreating"}}}
        ]}});
        check(
            pod(&obj),
            HealthStatus::Degraded,
            "back-off 5m0s restarting, pull failed",
        );
    }

    #[test]
    fn pod_hook_errors_do_not_degrade_a_pod_meant_to_finish() {
        let obj = json!({"kind": "Pod", "spec": {"restartPolicy": "Never"}, "status": {
            "phase": "Pending",
            "containerStatuses": [{"name": "a", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "x"}}}]}});
        check(pod(&obj), HealthStatus::Progressing, "");
    }

    #[test]
    fn pod_phases() {
        let with_phase = |phase: &str| json!({"kind": "Pod", "status": {"phase": phase, "message": "m"}});
        check(pod(&with_phase("Pending")), HealthStatus::Progressing, "m");
        check(pod(&with_phase("Succeeded")), HealthStatus::Healthy, "m");
        check(pod(&with_phase("Failed")), HealthStatus::Degraded, "m");
        check(pod(&with_phase("Weird")), HealthStatus::Unknown, "m");
        check(pod(&json!({"kind": "Pod"})), HealthStatus::Unknown, "");
    }

    #[test]
    fn pod_failed_explains_itself_from_its_containers() {
        let failed =
            |statuses: Value| json!({"kind": "Pod", "status": {"phase": "Failed", "containerStatuses": statuses}});
        check(
            pod(&failed(
                json!([{"name": "app", "state": {"terminated": {"exitCode": 2}}}]),
            )),
            HealthStatus::Degraded,
            "container \"app\" failed with exit code 2",
        );
        check(
            pod(&failed(
                json!([{"name": "app", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]),
            )),
            HealthStatus::Degraded,
            "OOMKilled",
        );
        check(
            pod(&failed(
                json!([{"name": "app", "state": {"terminated": {"exitCode": 1, "message": "panic: boom"}}}]),
            )),
            HealthStatus::Degraded,
            "panic: boom",
        );
        let init_first = json!({"kind": "Pod", "status": {"phase": "Failed",
            "initContainerStatuses": [{"name": "init", "state": {"terminated": {"exitCode": 3}}}],
            "containerStatuses": [{"name": "app", "state": {"terminated": {"exitCode": 4}}}]}});
        check(
            pod(&init_first),
            HealthStatus::Degraded,
            "container \"init\" failed with exit code 3",
        );
        check(pod(&failed(json!([]))), HealthStatus::Degraded, "");
    }

    #[test]
    fn pod_running_to_completion_is_progressing_unless_annotated() {
        let mut obj = running("True");
        obj["spec"]["restartPolicy"] = json!("OnFailure");
        check(pod(&obj), HealthStatus::Progressing, "");
        obj["metadata"]["annotations"] = json!({IGNORE_RESTART_POLICY: "true"});
        check(pod(&obj), HealthStatus::Healthy, "");
    }

    #[test]
    fn pvc_phases() {
        let claim = |phase: Value| json!({"kind": "PersistentVolumeClaim", "status": {"phase": phase}});
        check(
            persistent_volume_claim(&claim(json!("Bound"))),
            HealthStatus::Healthy,
            "",
        );
        assert_eq!(
            persistent_volume_claim(&claim(json!("Pending"))).status,
            HealthStatus::Progressing
        );
        assert_eq!(
            persistent_volume_claim(&claim(json!("Lost"))).status,
            HealthStatus::Degraded
        );
        assert_eq!(
            persistent_volume_claim(&json!({"kind": "PersistentVolumeClaim"})).status,
            HealthStatus::Unknown
        );
        check(
            persistent_volume_claim(&claim(json!("Resizing"))),
            HealthStatus::Unknown,
            "Unknown claim phase \"Resizing\"",
        );
    }

    #[test]
    fn service_load_balancer_waits_for_an_address() {
        let lb = json!({"kind": "Service", "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {}}});
        assert_eq!(service(&lb).status, HealthStatus::Progressing);
        let no_status = json!({"kind": "Service", "spec": {"type": "LoadBalancer"}});
        assert_eq!(service(&no_status).status, HealthStatus::Progressing);
        let empty =
            json!({"kind": "Service", "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": []}}});
        assert_eq!(service(&empty).status, HealthStatus::Progressing);
        let ready = json!({"kind": "Service", "spec": {"type": "LoadBalancer"},
                           "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.10"}]}}});
        check(service(&ready), HealthStatus::Healthy, "");
    }

    #[test]
    fn service_of_other_types_is_healthy() {
        for kind in ["ClusterIP", "NodePort", "ExternalName"] {
            let obj = json!({"kind": "Service", "spec": {"type": kind}});
            check(service(&obj), HealthStatus::Healthy, "");
        }
        check(
            service(&json!({"kind": "Service", "spec": {}})),
            HealthStatus::Healthy,
            "",
        );
    }

    #[test]
    fn ingress_waits_for_an_address() {
        let pending = json!({"kind": "Ingress", "status": {"loadBalancer": {}}});
        check(
            ingress(&pending),
            HealthStatus::Progressing,
            "Waiting for the load balancer to publish an address",
        );
        let ready = json!({"kind": "Ingress", "status": {"loadBalancer": {"ingress": [{"hostname": "lb.example"}]}}});
        check(ingress(&ready), HealthStatus::Healthy, "");
    }
}
