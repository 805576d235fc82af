//! Built-in health of the `apps` workload controllers: Deployment,
//! StatefulSet, DaemonSet and ReplicaSet.
//!
//! These follow Argo CD's gitops-engine (`gitops-engine/pkg/health/
//! health_{deployment,statefulset,daemonset,replicaset}.go` in argo-cd),
//! which follows `kubectl rollout status`: a workload is healthy once its
//! controller has observed the latest spec and every replica is updated and
//! available. Statuses and messages are Argo CD's, word for word. Like
//! Argo CD, only `apps/v1` is assessed; another version of these kinds is
//! Unknown ("unsupported Deployment GVK: ...").

use serde_json::Value;

use super::fields::{
    api_version_in, at, condition, generation, int_at, int_or_zero, is_true, name, string_or_empty, unsupported,
};
use super::{Health, HealthStatus};

/// Deployment: paused → Suspended; spec not yet observed → Progressing;
/// progress deadline exceeded → Degraded; replicas still updating,
/// terminating or becoming available → Progressing; else Healthy.
pub(crate) fn deployment(obj: &Value) -> Health {
    if !api_version_in(obj, &["apps/v1"]) {
        return unsupported(obj);
    }
    if is_true(obj, &["spec", "paused"]) {
        return Health::new(HealthStatus::Suspended, "Deployment is paused");
    }
    if generation(obj) > int_or_zero(obj, &["status", "observedGeneration"]) {
        return Health::new(
            HealthStatus::Progressing,
            "Waiting for rollout to finish: observed deployment generation less than desired generation",
        );
    }
    if condition(obj, "Progressing").is_some_and(|c| c.reason == "ProgressDeadlineExceeded") {
        return Health::new(
            HealthStatus::Degraded,
            format!("Deployment {:?} exceeded its progress deadline", name(obj)),
        );
    }
    let updated = int_or_zero(obj, &["status", "updatedReplicas"]);
    let current = int_or_zero(obj, &["status", "replicas"]);
    let available = int_or_zero(obj, &["status", "availableReplicas"]);
    if let Some(desired) = int_at(obj, &["spec", "replicas"])
        && updated < desired
    {
        return progressing(format!(
            "Waiting for rollout to finish: {updated} out of {desired} new replicas have been updated..."
        ));
    }
    if current > updated {
        return progressing(format!(
            "Waiting for rollout to finish: {} old replicas are pending termination...",
            current - updated
        ));
    }
    if available < updated {
        return progressing(format!(
            "Waiting for rollout to finish: {available} of {updated} updated replicas are available..."
        ));
    }
    Health::healthy()
}

/// StatefulSet: spec not yet observed → Progressing; not every replica ready
/// → Progressing; a RollingUpdate with a partition → Progressing until the
/// pods above the partition are updated; OnDelete → Healthy once ready;
/// otherwise Healthy once the update revision is the current one.
pub(crate) fn stateful_set(obj: &Value) -> Health {
    if !api_version_in(obj, &["apps/v1"]) {
        return unsupported(obj);
    }
    let observed = int_or_zero(obj, &["status", "observedGeneration"]);
    if observed == 0 || generation(obj) > observed {
        return progressing("Waiting for statefulset spec update to be observed...");
    }
    let desired = int_at(obj, &["spec", "replicas"]);
    let ready = int_or_zero(obj, &["status", "readyReplicas"]);
    let updated = int_or_zero(obj, &["status", "updatedReplicas"]);
    if let Some(desired) = desired
        && ready < desired
    {
        return progressing(format!("Waiting for {} pods to be ready...", desired - ready));
    }
    let strategy = string_or_empty(obj, &["spec", "updateStrategy", "type"]);
    let rolling = at(obj, &["spec", "updateStrategy", "rollingUpdate"]).filter(|v| !v.is_null());
    if strategy == "RollingUpdate"
        && let Some(rolling) = rolling
    {
        if let (Some(desired), Some(partition)) = (desired, int_at(rolling, &["partition"])) {
            let to_update = desired - partition;
            if updated < to_update {
                return progressing(format!(
                    "Waiting for partitioned roll out to finish: {updated} out of {to_update} new pods have been updated..."
                ));
            }
        }
        return Health::new(
            HealthStatus::Healthy,
            format!("partitioned roll out complete: {updated} new pods have been updated..."),
        );
    }
    if strategy == "OnDelete" {
        return Health::new(HealthStatus::Healthy, format!("statefulset has {ready} ready pods"));
    }
    let update_revision = string_or_empty(obj, &["status", "updateRevision"]);
    let current_revision = string_or_empty(obj, &["status", "currentRevision"]);
    if update_revision != current_revision {
        return progressing(format!(
            "waiting for statefulset rolling update to complete {updated} pods at revision {update_revision}..."
        ));
    }
    Health::new(
        HealthStatus::Healthy,
        format!(
            "statefulset rolling update complete {} pods at revision {current_revision}...",
            int_or_zero(obj, &["status", "currentReplicas"])
        ),
    )
}

/// DaemonSet: spec not yet observed → Progressing; OnDelete → Healthy;
/// pods still updating or becoming available on every node → Progressing;
/// else Healthy.
pub(crate) fn daemon_set(obj: &Value) -> Health {
    if !api_version_in(obj, &["apps/v1"]) {
        return unsupported(obj);
    }
    if generation(obj) > int_or_zero(obj, &["status", "observedGeneration"]) {
        return progressing(
            "Waiting for rollout to finish: observed daemon set generation less than desired generation",
        );
    }
    let desired = int_or_zero(obj, &["status", "desiredNumberScheduled"]);
    let updated = int_or_zero(obj, &["status", "updatedNumberScheduled"]);
    let available = int_or_zero(obj, &["status", "numberAvailable"]);
    if string_or_empty(obj, &["spec", "updateStrategy", "type"]) == "OnDelete" {
        return Health::new(
            HealthStatus::Healthy,
            format!("daemon set {updated} out of {desired} new pods have been updated"),
        );
    }
    if updated < desired {
        return progressing(format!(
            "Waiting for daemon set {:?} rollout to finish: {updated} out of {desired} new pods have been updated...",
            name(obj)
        ));
    }
    if available < desired {
        return progressing(format!(
            "Waiting for daemon set {:?} rollout to finish: {available} of {desired} updated pods are available...",
            name(obj)
        ));
    }
    Health::healthy()
}

/// ReplicaSet: spec not yet observed → Progressing; a true `ReplicaFailure`
/// condition → Degraded; fewer available replicas than desired →
/// Progressing; else Healthy.
pub(crate) fn replica_set(obj: &Value) -> Health {
    if !api_version_in(obj, &["apps/v1"]) {
        return unsupported(obj);
    }
    if generation(obj) > int_or_zero(obj, &["status", "observedGeneration"]) {
        return progressing(
            "Waiting for rollout to finish: observed replica set generation less than desired generation",
        );
    }
    if let Some(failure) = condition(obj, "ReplicaFailure").filter(|c| c.is_true()) {
        return Health::new(HealthStatus::Degraded, failure.message);
    }
    let available = int_or_zero(obj, &["status", "availableReplicas"]);
    if let Some(desired) = int_at(obj, &["spec", "replicas"])
        && available < desired
    {
        return progressing(format!(
            "Waiting for rollout to finish: {available} out of {desired} new replicas are available..."
        ));
    }
    Health::healthy()
}

fn progressing(message: impl Into<String>) -> Health {
    Health::new(HealthStatus::Progressing, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn assert_health(health: Health, status: HealthStatus, message: &str) {
        assert_eq!(
            (health.status, health.message.as_str()),
            (status, message),
            "expected {status}: {message:?}"
        );
    }

    fn deploy(spec: Value, status: Value) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "generation": 2},
            "spec": spec, "status": status,
        })
    }

    #[test]
    fn deployment_fully_rolled_out_is_healthy() {
        let obj = deploy(
            json!({"replicas": 3}),
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}),
        );
        assert_health(deployment(&obj), HealthStatus::Healthy, "");
    }

    #[test]
    fn deployment_without_status_waits_for_the_controller() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "generation": 1}, "spec": {"replicas": 1}});
        assert_health(
            deployment(&obj),
            HealthStatus::Progressing,
            "Waiting for rollout to finish: observed deployment generation less than desired generation",
        );
    }

    #[test]
    fn deployment_with_old_observed_generation_is_progressing() {
        let obj = deploy(
            json!({"replicas": 3}),
            json!({"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}),
        );
        assert_eq!(deployment(&obj).status, HealthStatus::Progressing);
    }

    #[test]
    fn deployment_paused_is_suspended_even_mid_rollout() {
        let obj = deploy(json!({"replicas": 3, "paused": true}), json!({"observedGeneration": 1}));
        assert_health(deployment(&obj), HealthStatus::Suspended, "Deployment is paused");
    }

    #[test]
    fn deployment_past_its_progress_deadline_is_degraded() {
        let obj = deploy(
            json!({"replicas": 3}),
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1,
                   "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}),
        );
        assert_health(
            deployment(&obj),
            HealthStatus::Degraded,
            "Deployment \"web\" exceeded its progress deadline",
        );
    }

    #[test]
    fn deployment_progressing_condition_with_another_reason_is_not_degraded() {
        let obj = deploy(
            json!({"replicas": 1}),
            json!({"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1,
                   "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}),
        );
        assert_health(deployment(&obj), HealthStatus::Healthy, "");
    }

    #[test]
    fn deployment_updating_replicas_is_progressing() {
        let obj = deploy(
            json!({"replicas": 3}),
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 3}),
        );
        assert_health(
            deployment(&obj),
            HealthStatus::Progressing,
            "Waiting for rollout to finish: 1 out of 3 new replicas have been updated...",
        );
    }

    #[test]
    fn deployment_with_old_replicas_terminating_is_progressing() {
        let obj = deploy(
            json!({"replicas": 3}),
            json!({"observedGeneration": 2, "replicas": 5, "updatedReplicas": 3, "availableReplicas": 3}),
        );
        assert_health(
            deployment(&obj),
            HealthStatus::Progressing,
            "Waiting for rollout to finish: 2 old replicas are pending termination...",
        );
    }

    #[test]
    fn deployment_partially_available_is_progressing() {
        let obj = deploy(
            json!({"replicas": 3}),
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 2}),
        );
        assert_health(
            deployment(&obj),
            HealthStatus::Progressing,
            "Waiting for rollout to finish: 2 of 3 updated replicas are available...",
        );
    }

    #[test]
    fn other_versions_are_unknown_as_in_argo_cd() {
        let mut obj = deploy(json!({"replicas": 1}), json!({}));
        obj["apiVersion"] = json!("apps/v1beta2");
        assert_health(
            deployment(&obj),
            HealthStatus::Unknown,
            "unsupported Deployment GVK: apps/v1beta2, Kind=Deployment",
        );
        obj["kind"] = json!("DaemonSet");
        obj["apiVersion"] = json!("extensions/v1beta1");
        assert_health(
            daemon_set(&obj),
            HealthStatus::Unknown,
            "unsupported DaemonSet GVK: extensions/v1beta1, Kind=DaemonSet",
        );
    }

    #[test]
    fn deployment_scaled_to_zero_is_healthy() {
        let obj = deploy(json!({"replicas": 0}), json!({"observedGeneration": 2}));
        assert_health(deployment(&obj), HealthStatus::Healthy, "");
    }

    fn sts(spec: Value, status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "generation": 3}, "spec": spec, "status": status})
    }

    #[test]
    fn statefulset_never_observed_is_progressing() {
        let obj = sts(json!({"replicas": 1}), json!({}));
        assert_health(
            stateful_set(&obj),
            HealthStatus::Progressing,
            "Waiting for statefulset spec update to be observed...",
        );
        let old = sts(json!({"replicas": 1}), json!({"observedGeneration": 2}));
        assert_eq!(stateful_set(&old).status, HealthStatus::Progressing);
    }

    #[test]
    fn statefulset_waiting_for_ready_pods_is_progressing() {
        let obj = sts(
            json!({"replicas": 3}),
            json!({"observedGeneration": 3, "readyReplicas": 1}),
        );
        assert_health(
            stateful_set(&obj),
            HealthStatus::Progressing,
            "Waiting for 2 pods to be ready...",
        );
    }

    #[test]
    fn statefulset_partitioned_rollout() {
        let spec =
            json!({"replicas": 4, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}});
        let waiting = sts(
            spec.clone(),
            json!({"observedGeneration": 3, "readyReplicas": 4, "updatedReplicas": 2}),
        );
        assert_health(
            stateful_set(&waiting),
            HealthStatus::Progressing,
            "Waiting for partitioned roll out to finish: 2 out of 3 new pods have been updated...",
        );
        let done = sts(
            spec,
            json!({"observedGeneration": 3, "readyReplicas": 4, "updatedReplicas": 3}),
        );
        assert_health(
            stateful_set(&done),
            HealthStatus::Healthy,
            "partitioned roll out complete: 3 new pods have been updated...",
        );
    }

    #[test]
    fn statefulset_on_delete_is_healthy_once_ready() {
        let obj = sts(
            json!({"replicas": 2, "updateStrategy": {"type": "OnDelete"}}),
            json!({"observedGeneration": 3, "readyReplicas": 2, "updatedReplicas": 1}),
        );
        assert_health(
            stateful_set(&obj),
            HealthStatus::Healthy,
            "statefulset has 2 ready pods",
        );
    }

    #[test]
    fn statefulset_revision_rollout() {
        let rolling = sts(
            json!({"replicas": 2}),
            json!({"observedGeneration": 3, "readyReplicas": 2, "updatedReplicas": 1,
                   "currentRevision": "db-1", "updateRevision": "db-2"}),
        );
        assert_health(
            stateful_set(&rolling),
            HealthStatus::Progressing,
            "waiting for statefulset rolling update to complete 1 pods at revision db-2...",
        );
        let done = sts(
            json!({"replicas": 2}),
            json!({"observedGeneration": 3, "readyReplicas": 2, "currentReplicas": 2,
                   "currentRevision": "db-2", "updateRevision": "db-2"}),
        );
        assert_health(
            stateful_set(&done),
            HealthStatus::Healthy,
            "statefulset rolling update complete 2 pods at revision db-2...",
        );
    }

    fn ds(spec: Value, status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "generation": 1}, "spec": spec, "status": status})
    }

    #[test]
    fn daemonset_rules() {
        let unobserved = ds(json!({}), json!({}));
        assert_health(
            daemon_set(&unobserved),
            HealthStatus::Progressing,
            "Waiting for rollout to finish: observed daemon set generation less than desired generation",
        );
        let updating = ds(
            json!({}),
            json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 1, "numberAvailable": 3}),
        );
        assert_health(
            daemon_set(&updating),
            HealthStatus::Progressing,
            "Waiting for daemon set \"agent\" rollout to finish: 1 out of 3 new pods have been updated...",
        );
        let unavailable = ds(
            json!({}),
            json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 2}),
        );
        assert_health(
            daemon_set(&unavailable),
            HealthStatus::Progressing,
            "Waiting for daemon set \"agent\" rollout to finish: 2 of 3 updated pods are available...",
        );
        let on_delete = ds(
            json!({"updateStrategy": {"type": "OnDelete"}}),
            json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 1}),
        );
        assert_health(
            daemon_set(&on_delete),
            HealthStatus::Healthy,
            "daemon set 1 out of 3 new pods have been updated",
        );
        let done = ds(
            json!({}),
            json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3}),
        );
        assert_health(daemon_set(&done), HealthStatus::Healthy, "");
    }

    fn rs(spec: Value, status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web-1", "generation": 1}, "spec": spec, "status": status})
    }

    #[test]
    fn replicaset_rules() {
        let unobserved = rs(json!({"replicas": 1}), json!({}));
        assert_health(
            replica_set(&unobserved),
            HealthStatus::Progressing,
            "Waiting for rollout to finish: observed replica set generation less than desired generation",
        );
        let failing = rs(
            json!({"replicas": 2}),
            json!({"observedGeneration": 1, "conditions": [
                {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "pods \"web-1-x\" is forbidden: exceeded quota"}
            ]}),
        );
        assert_health(
            replica_set(&failing),
            HealthStatus::Degraded,
            "pods \"web-1-x\" is forbidden: exceeded quota",
        );
        let recovered = rs(
            json!({"replicas": 2}),
            json!({"observedGeneration": 1, "availableReplicas": 2, "conditions": [
                {"type": "ReplicaFailure", "status": "False"}
            ]}),
        );
        assert_health(replica_set(&recovered), HealthStatus::Healthy, "");
        let partial = rs(
            json!({"replicas": 2}),
            json!({"observedGeneration": 1, "availableReplicas": 1}),
        );
        assert_health(
            replica_set(&partial),
            HealthStatus::Progressing,
            "Waiting for rollout to finish: 1 out of 2 new replicas are available...",
        );
    }
}
