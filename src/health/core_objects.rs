//! Built-in health of core and networking objects: Pod,
//! PersistentVolumeClaim, Service and Ingress.
//!
//! Word for word Argo CD's gitops-engine (`gitops-engine/pkg/health/
//! health_{pod,pvc,service,ingress}.go` in argo-cd, main): statuses and
//! messages, empty messages included. Pods, claims and Services are
//! assessed in `v1` only, like Argo CD; Ingresses in any version of
//! `networking.k8s.io` and `extensions`.

use serde_json::Value;

use super::fields::{api_version_in, array_at, at, condition, str_at, string_or_empty, unsupported};
use super::hooks::is_hook;
use super::{Health, HealthStatus};

/// The annotation that makes a Pod with restart policy `OnFailure` or
/// `Never` be assessed like a long-running one (Argo CD's, value `"true"`;
/// not honoured on hooks).
const IGNORE_RESTART_POLICY: &str = "argocd.argoproj.io/ignore-restart-policy";

/// Pod, as gitops-engine's `getCorev1PodHealth`: a long-running pod
/// (restart policy `Always`, or the ignore annotation on a non-hook) whose
/// container waits with an error (`Err*`, `*Error`, `*BackOff`) is Degraded
/// with their messages; then by phase: Pending → Progressing, Succeeded →
/// Healthy, Failed → Degraded (the pod's message, else the first failing
/// container's), Running → Healthy when Ready, Degraded when a container
/// terminated before, else Progressing; Running with `OnFailure`/`Never` →
/// Progressing (a hook meant to finish). Anything else is Unknown. The
/// restart policy is read as written (the API server always sets it).
pub(crate) fn pod(obj: &Value) -> Health {
    if !api_version_in(obj, &["v1"]) {
        return unsupported(obj);
    }
    let policy = string_or_empty(obj, &["spec", "restartPolicy"]);
    let ignore = str_at(obj, &["metadata", "annotations", IGNORE_RESTART_POLICY]) == Some("true");
    let long_running = policy == "Always" || (ignore && !is_hook(obj));
    let message = string_or_empty(obj, &["status", "message"]);
    let containers = array_at(obj, &["status", "containerStatuses"]);

    if long_running {
        let waiting_errors: Vec<&str> = containers
            .iter()
            .filter_map(|c| at(c, &["state", "waiting"]).filter(|w| w.is_object()))
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
        "Running" if long_running => {
            if condition(obj, "Ready").is_some_and(|c| c.is_true()) {
                return Health::new(HealthStatus::Healthy, message);
            }
            let restarted = containers
                .iter()
                .any(|c| at(c, &["lastState", "terminated"]).is_some_and(Value::is_object));
            let status = if restarted {
                HealthStatus::Degraded
            } else {
                HealthStatus::Progressing
            };
            Health::new(status, message)
        }
        "Running" if matches!(policy, "OnFailure" | "Never") => Health::new(HealthStatus::Progressing, message),
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
            let terminated = at(container, &["state", "terminated"]).filter(|t| t.is_object())?;
            let message = string_or_empty(terminated, &["message"]);
            if !message.is_empty() {
                return Some(message.to_owned());
            }
            let reason = string_or_empty(terminated, &["reason"]);
            if reason == "OOMKilled" {
                return Some(reason.to_owned());
            }
            let code = terminated.get("exitCode").and_then(Value::as_i64).unwrap_or(0);
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
/// Degraded, anything else (no phase yet) → Unknown; no message.
pub(crate) fn persistent_volume_claim(obj: &Value) -> Health {
    if !api_version_in(obj, &["v1"]) {
        return unsupported(obj);
    }
    let status = match string_or_empty(obj, &["status", "phase"]) {
        "Bound" => HealthStatus::Healthy,
        "Pending" => HealthStatus::Progressing,
        "Lost" => HealthStatus::Degraded,
        _ => HealthStatus::Unknown,
    };
    Health::new(status, "")
}

/// Service: type LoadBalancer → Progressing until
/// `status.loadBalancer.ingress` is non-empty; every other type → Healthy.
pub(crate) fn service(obj: &Value) -> Health {
    if !api_version_in(obj, &["v1"]) {
        return unsupported(obj);
    }
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
        Health::new(HealthStatus::Progressing, "")
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

    fn pod_with(policy: &str, status: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
               "spec": {"restartPolicy": policy}, "status": status})
    }

    fn running(ready: &str) -> Value {
        pod_with(
            "Always",
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": ready}]}),
        )
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
        let obj = pod_with(
            "Always",
            json!({"phase": "Running", "containerStatuses": [
                {"name": "a", "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting"}}},
                {"name": "b", "state": {"waiting": {"reason": "ErrImagePull", "message": "pull failed"}}},
                {"name": "c", "state": {"waiting": {"reason": "ContainerCreating"}}}
            ]}),
        );
        check(
            pod(&obj),
            HealthStatus::Degraded,
            "back-off 5m0s restarting, pull failed",
        );
    }

    #[test]
    fn pod_hook_errors_do_not_degrade_a_pod_meant_to_finish() {
        let obj = pod_with(
            "Never",
            json!({"phase": "Pending", "containerStatuses": [
                {"name": "a", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "x"}}}]}),
        );
        check(pod(&obj), HealthStatus::Progressing, "");
    }

    #[test]
    fn pod_phases() {
        let with_phase = |phase: &str| pod_with("Always", json!({"phase": phase, "message": "m"}));
        check(pod(&with_phase("Pending")), HealthStatus::Progressing, "m");
        check(pod(&with_phase("Succeeded")), HealthStatus::Healthy, "m");
        check(pod(&with_phase("Failed")), HealthStatus::Degraded, "m");
        check(pod(&with_phase("Weird")), HealthStatus::Unknown, "m");
        check(
            pod(&json!({"apiVersion": "v1", "kind": "Pod"})),
            HealthStatus::Unknown,
            "",
        );
        // No restart policy (the API server always sets one): Argo CD reads
        // the field as written, so a running pod matches no case.
        check(
            pod(&pod_with("", json!({"phase": "Running"}))),
            HealthStatus::Unknown,
            "",
        );
    }

    #[test]
    fn pod_failed_explains_itself_from_its_containers() {
        let failed = |statuses: Value| pod_with("Never", json!({"phase": "Failed", "containerStatuses": statuses}));
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
        let init_first = pod_with(
            "Never",
            json!({"phase": "Failed",
                   "initContainerStatuses": [{"name": "init", "state": {"terminated": {"exitCode": 3}}}],
                   "containerStatuses": [{"name": "app", "state": {"terminated": {"exitCode": 4}}}]}),
        );
        check(
            pod(&init_first),
            HealthStatus::Degraded,
            "container \"init\" failed with exit code 3",
        );
        check(pod(&failed(json!([]))), HealthStatus::Degraded, "");
    }

    #[test]
    fn pod_running_to_completion_is_progressing_unless_annotated_and_not_a_hook() {
        let mut obj = running("True");
        obj["spec"]["restartPolicy"] = json!("OnFailure");
        check(pod(&obj), HealthStatus::Progressing, "");
        obj["metadata"]["annotations"] = json!({IGNORE_RESTART_POLICY: "false"});
        check(pod(&obj), HealthStatus::Progressing, "");
        obj["metadata"]["annotations"] = json!({IGNORE_RESTART_POLICY: "true"});
        check(pod(&obj), HealthStatus::Healthy, "");
        obj["metadata"]["annotations"]["argocd.argoproj.io/hook"] = json!("PostSync");
        check(pod(&obj), HealthStatus::Progressing, "");
    }

    #[test]
    fn pvc_phases_without_messages() {
        let claim =
            |phase: &str| json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "status": {"phase": phase}});
        check(persistent_volume_claim(&claim("Bound")), HealthStatus::Healthy, "");
        check(
            persistent_volume_claim(&claim("Pending")),
            HealthStatus::Progressing,
            "",
        );
        check(persistent_volume_claim(&claim("Lost")), HealthStatus::Degraded, "");
        check(persistent_volume_claim(&claim("")), HealthStatus::Unknown, "");
    }

    #[test]
    fn service_load_balancer_waits_for_an_address() {
        let lb = |status: Value| json!({"apiVersion": "v1", "kind": "Service", "spec": {"type": "LoadBalancer"}, "status": status});
        check(service(&lb(json!({"loadBalancer": {}}))), HealthStatus::Progressing, "");
        check(
            service(&lb(json!({"loadBalancer": {"ingress": []}}))),
            HealthStatus::Progressing,
            "",
        );
        check(
            service(&lb(json!({"loadBalancer": {"ingress": [{"ip": "10.0.0.10"}]}}))),
            HealthStatus::Healthy,
            "",
        );
        for kind in ["ClusterIP", "NodePort", "ExternalName"] {
            let obj = json!({"apiVersion": "v1", "kind": "Service", "spec": {"type": kind}});
            check(service(&obj), HealthStatus::Healthy, "");
        }
    }

    #[test]
    fn ingress_waits_for_an_address() {
        check(
            ingress(&json!({"kind": "Ingress", "status": {"loadBalancer": {}}})),
            HealthStatus::Progressing,
            "",
        );
        let ready = json!({"kind": "Ingress", "status": {"loadBalancer": {"ingress": [{"hostname": "lb.example"}]}}});
        check(ingress(&ready), HealthStatus::Healthy, "");
    }
}
