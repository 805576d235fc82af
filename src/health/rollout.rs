//! Built-in health of the Argo Rollouts `Rollout`.
//!
//! Argo CD assesses Rollouts with a Lua check it bundles
//! (`resource_customizations/argoproj.io/Rollout/health.lua` in argo-cd);
//! this is the same logic, word for word. Since Argo Rollouts v1.0 the controller records its own verdict in
//! `status.phase`/`status.message`, which is trusted once the controller has
//! observed the current spec (and, for a Rollout that references a
//! Deployment, that Deployment's current generation). Older controllers get
//! the legacy assessment from conditions, replicas and the stable ReplicaSet.

use serde_json::Value;

use super::fields::{at, conditions, generation, int_at, int_or_zero, is_true, str_at};
use super::{Health, HealthStatus};

/// Annotation on which the controller records the referenced workload's
/// generation.
const WORKLOAD_GENERATION: &str = "rollout.argoproj.io/workload-generation";

const NOT_OBSERVED: &str = "Waiting for rollout spec update to be observed";

/// Rollout: spec (or referenced workload) not yet observed → Progressing;
/// then `status.phase` (`Paused` → Suspended, `Healthy`/`Progressing`/
/// `Degraded` as is); without a phase, the legacy rules: invalid spec,
/// aborted or past its deadline → Degraded; paused → Suspended; replicas or
/// steps still rolling → Progressing; else Healthy.
pub(crate) fn rollout(obj: &Value) -> Health {
    if !generation_observed(obj) || !workload_generation_observed(obj) {
        return progressing(NOT_OBSERVED);
    }
    if let Some(phase) = str_at(obj, &["status", "phase"]) {
        let message = str_at(obj, &["status", "message"]).unwrap_or_default();
        return match phase {
            "Paused" => Health::new(HealthStatus::Suspended, message),
            "Healthy" => Health::new(HealthStatus::Healthy, message),
            "Progressing" => Health::new(HealthStatus::Progressing, message),
            "Degraded" => Health::new(HealthStatus::Degraded, message),
            // The Lua passes the phase through; Argo CD turns a status it
            // does not define into this (util/lua/lua.go).
            _ => Health::new(HealthStatus::Unknown, "Lua returned an invalid health status"),
        };
    }
    legacy(obj)
}

/// Whether the controller has seen the current spec. Controllers before
/// v0.10 wrote a hash, not a number, into `observedGeneration`: that (or a
/// number ahead of `metadata.generation`) counts as observed.
fn generation_observed(obj: &Value) -> bool {
    if at(obj, &["status"]).is_none_or(Value::is_null) {
        return false;
    }
    match int_at(obj, &["status", "observedGeneration"]) {
        None => true,
        Some(observed) if observed > generation(obj) => true,
        Some(observed) => observed == generation(obj),
    }
}

/// Whether the controller has seen the current generation of the workload a
/// Rollout references (`spec.workloadRef`, v1.1 and later).
fn workload_generation_observed(obj: &Value) -> bool {
    let references_workload = at(obj, &["spec", "workloadRef"]).is_some_and(|v| !v.is_null());
    let annotated = at(obj, &["metadata", "annotations"]).is_some_and(|v| !v.is_null());
    if !references_workload || !annotated {
        return true;
    }
    int_at(obj, &["metadata", "annotations", WORKLOAD_GENERATION])
        == int_at(obj, &["status", "workloadObservedGeneration"])
}

/// The assessment for controllers that do not record `status.phase`.
fn legacy(obj: &Value) -> Health {
    for condition in conditions(obj) {
        let degraded = condition.kind == "InvalidSpec"
            || (condition.kind == "Progressing"
                && matches!(condition.reason, "RolloutAborted" | "ProgressDeadlineExceeded"));
        if degraded {
            return Health::new(HealthStatus::Degraded, condition.message);
        }
    }
    let pause_conditions = at(obj, &["status", "pauseConditions"])
        .and_then(Value::as_array)
        .is_some_and(|list| !list.is_empty());
    if pause_conditions || is_true(obj, &["spec", "paused"]) {
        return Health::new(HealthStatus::Suspended, "Rollout is paused");
    }
    let Some(current_hash) = str_at(obj, &["status", "currentPodHash"]) else {
        return progressing("Waiting for rollout to finish: status has not been reconciled.");
    };

    let desired = int_at(obj, &["spec", "replicas"]).unwrap_or(1);
    let replicas = int_or_zero(obj, &["status", "replicas"]);
    let updated = int_or_zero(obj, &["status", "updatedReplicas"]);
    let available = int_or_zero(obj, &["status", "availableReplicas"]);
    if updated < desired {
        return progressing("Waiting for roll out to finish: More replicas need to be updated");
    }
    if available < updated {
        return progressing("Waiting for roll out to finish: updated replicas are still becoming available");
    }

    // Argo Rollouts v0.8 moved `status.canary.stableRS` to `status.stableRS`.
    let stable = str_at(obj, &["status", "stableRS"])
        .or_else(|| str_at(obj, &["status", "canary", "stableRS"]))
        .unwrap_or_default();
    let strategy_set = |name: &str| at(obj, &["spec", "strategy", name]).is_some_and(|v| !v.is_null());
    if strategy_set("blueGreen") {
        if str_at(obj, &["status", "blueGreen", "activeSelector"]) != Some(current_hash) {
            return progressing("active service cutover pending");
        }
        if !stable.is_empty() && stable != current_hash {
            return progressing("waiting for analysis to complete");
        }
    } else if strategy_set("canary") {
        if replicas > updated {
            return progressing("Waiting for roll out to finish: old replicas are pending termination");
        }
        if stable.is_empty() || stable != current_hash {
            return progressing("Waiting for rollout to finish steps");
        }
    }
    Health::healthy()
}

fn progressing(message: &str) -> Health {
    Health::new(HealthStatus::Progressing, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(health: Health, status: HealthStatus, message: &str) {
        assert_eq!((health.status, health.message.as_str()), (status, message));
    }

    fn ro(spec: Value, status: Value) -> Value {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
               "metadata": {"name": "web", "generation": 4}, "spec": spec, "status": status})
    }

    #[test]
    fn rollout_without_status_waits_for_the_controller() {
        let obj = json!({"kind": "Rollout", "metadata": {"generation": 1}, "spec": {}});
        check(rollout(&obj), HealthStatus::Progressing, NOT_OBSERVED);
    }

    #[test]
    fn rollout_with_an_old_observed_generation_is_progressing() {
        let obj = ro(json!({}), json!({"observedGeneration": "3", "phase": "Healthy"}));
        check(rollout(&obj), HealthStatus::Progressing, NOT_OBSERVED);
    }

    #[test]
    fn rollout_phase_is_trusted_once_observed() {
        let at_phase = |phase: &str| {
            ro(
                json!({}),
                json!({"observedGeneration": "4", "phase": phase, "message": "m"}),
            )
        };
        check(rollout(&at_phase("Healthy")), HealthStatus::Healthy, "m");
        check(rollout(&at_phase("Progressing")), HealthStatus::Progressing, "m");
        check(rollout(&at_phase("Degraded")), HealthStatus::Degraded, "m");
        check(rollout(&at_phase("Paused")), HealthStatus::Suspended, "m");
        check(
            rollout(&at_phase("Exploded")),
            HealthStatus::Unknown,
            "Lua returned an invalid health status",
        );
    }

    #[test]
    fn rollout_referencing_a_deployment_waits_for_its_generation() {
        let mut obj = ro(
            json!({"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}),
            json!({"observedGeneration": "4", "phase": "Healthy", "workloadObservedGeneration": "2"}),
        );
        obj["metadata"]["annotations"] = json!({WORKLOAD_GENERATION: "3"});
        check(rollout(&obj), HealthStatus::Progressing, NOT_OBSERVED);
        obj["status"]["workloadObservedGeneration"] = json!("3");
        assert_eq!(rollout(&obj).status, HealthStatus::Healthy);
    }

    #[test]
    fn legacy_hash_observed_generation_counts_as_observed() {
        let obj = ro(
            json!({"replicas": 1, "strategy": {"canary": {}}}),
            json!({"observedGeneration": "7d8f9c", "currentPodHash": "abc", "stableRS": "abc",
                   "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}),
        );
        check(rollout(&obj), HealthStatus::Healthy, "");
    }

    fn legacy_status(extra: Value) -> Value {
        let mut status = json!({"observedGeneration": "4", "currentPodHash": "new", "stableRS": "new",
                                "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2});
        if let (Some(status), Some(extra)) = (status.as_object_mut(), extra.as_object()) {
            status.extend(extra.clone());
        }
        status
    }

    #[test]
    fn legacy_degraded_conditions() {
        for (kind, reason) in [
            ("InvalidSpec", ""),
            ("Progressing", "RolloutAborted"),
            ("Progressing", "ProgressDeadlineExceeded"),
        ] {
            let obj = ro(
                json!({"replicas": 2, "strategy": {"canary": {}}}),
                legacy_status(
                    json!({"conditions": [{"type": kind, "status": "False", "reason": reason, "message": "bad"}]}),
                ),
            );
            check(rollout(&obj), HealthStatus::Degraded, "bad");
        }
    }

    #[test]
    fn legacy_paused_is_suspended() {
        let by_controller = ro(
            json!({"replicas": 2, "strategy": {"canary": {}}}),
            legacy_status(json!({"pauseConditions": [{"reason": "CanaryPauseStep"}]})),
        );
        check(rollout(&by_controller), HealthStatus::Suspended, "Rollout is paused");
        let by_user = ro(
            json!({"replicas": 2, "paused": true, "strategy": {"canary": {}}}),
            legacy_status(json!({})),
        );
        check(rollout(&by_user), HealthStatus::Suspended, "Rollout is paused");
    }

    #[test]
    fn legacy_replica_checks() {
        let unreconciled = ro(json!({"replicas": 2}), json!({"observedGeneration": "4"}));
        check(
            rollout(&unreconciled),
            HealthStatus::Progressing,
            "Waiting for rollout to finish: status has not been reconciled.",
        );
        let updating = ro(
            json!({"replicas": 3, "strategy": {"canary": {}}}),
            legacy_status(json!({})),
        );
        check(
            rollout(&updating),
            HealthStatus::Progressing,
            "Waiting for roll out to finish: More replicas need to be updated",
        );
        let becoming_available = ro(
            json!({"replicas": 2, "strategy": {"canary": {}}}),
            legacy_status(json!({"availableReplicas": 1})),
        );
        check(
            rollout(&becoming_available),
            HealthStatus::Progressing,
            "Waiting for roll out to finish: updated replicas are still becoming available",
        );
    }

    #[test]
    fn legacy_canary_steps() {
        let spec = json!({"replicas": 2, "strategy": {"canary": {"steps": [{"setWeight": 20}]}}});
        let terminating = ro(spec.clone(), legacy_status(json!({"replicas": 3})));
        check(
            rollout(&terminating),
            HealthStatus::Progressing,
            "Waiting for roll out to finish: old replicas are pending termination",
        );
        let stepping = ro(spec.clone(), legacy_status(json!({"stableRS": "old"})));
        check(
            rollout(&stepping),
            HealthStatus::Progressing,
            "Waiting for rollout to finish steps",
        );
        let mut pre_v08 = ro(spec.clone(), legacy_status(json!({"canary": {"stableRS": "new"}})));
        if let Some(status) = pre_v08["status"].as_object_mut() {
            status.remove("stableRS");
        }
        check(rollout(&pre_v08), HealthStatus::Healthy, "");
        check(rollout(&ro(spec, legacy_status(json!({})))), HealthStatus::Healthy, "");
    }

    #[test]
    fn legacy_blue_green() {
        let spec = json!({"replicas": 2, "strategy": {"blueGreen": {"activeService": "web"}}});
        let cutover = ro(
            spec.clone(),
            legacy_status(json!({"blueGreen": {"activeSelector": "old"}})),
        );
        check(
            rollout(&cutover),
            HealthStatus::Progressing,
            "active service cutover pending",
        );
        let analysis = ro(
            spec.clone(),
            legacy_status(json!({"blueGreen": {"activeSelector": "new"}, "stableRS": "old"})),
        );
        check(
            rollout(&analysis),
            HealthStatus::Progressing,
            "waiting for analysis to complete",
        );
        let serving = ro(spec, legacy_status(json!({"blueGreen": {"activeSelector": "new"}})));
        check(rollout(&serving), HealthStatus::Healthy, "");
    }
}
