//! Argo CD's built-in Go health checks, re-implemented from gitops-engine
//! (`gitops-engine/pkg/health/health_*.go` in argo-cd, main):
//! `GetHealthCheckFunc` and the check per kind, statuses and messages word
//! for word. Held to Argo CD's own test cases (`tests/conformance.rs`).

use super::{Check, Health, Verdict};
use serde_json::Value;

fn text<'a>(v: &'a Value, path: &str) -> &'a str {
    v.pointer(path).and_then(Value::as_str).unwrap_or("")
}

fn num(v: &Value, path: &str) -> i64 {
    v.pointer(path).and_then(Value::as_i64).unwrap_or(0)
}

fn list<'a>(v: &'a Value, path: &str) -> &'a [Value] {
    v.pointer(path).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn ok(health: Health, message: impl Into<String>) -> Result<Verdict, String> {
    Ok((health, message.into()))
}

/// The built-in check for a group and kind (`GetHealthCheckFunc`).
pub fn check_for(group: &str, kind: &str) -> Option<Check> {
    let check: Check = match (group, kind) {
        ("apps", "Deployment") => deployment,
        ("apps", "StatefulSet") => stateful_set,
        ("apps", "ReplicaSet") => replica_set,
        ("apps", "DaemonSet") => daemon_set,
        ("extensions" | "networking.k8s.io", "Ingress") => ingress,
        ("argoproj.io", "Workflow") => workflow,
        ("apiregistration.k8s.io", "APIService") => api_service,
        ("", "Service") => service,
        ("", "PersistentVolumeClaim") => pvc,
        ("", "Pod") => pod,
        ("batch", "Job") => job,
        ("autoscaling", "HorizontalPodAutoscaler") => hpa,
        _ => return None,
    };
    Some(check)
}

/// The typed conversion only knows these versions; others fail
/// ("unsupported Deployment GVK: apps/v1beta2, Kind=Deployment").
fn require_version(o: &Value, label: &str, versions: &[&str]) -> Result<(), String> {
    let api_version = text(o, "/apiVersion");
    if versions.contains(&api_version) {
        return Ok(());
    }
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    Err(format!(
        "unsupported {label} GVK: {group}/{version}, Kind={}",
        text(o, "/kind")
    ))
}

fn deployment(o: &Value) -> Result<Verdict, String> {
    require_version(o, "Deployment", &["apps/v1"])?;
    if o.pointer("/spec/paused").and_then(Value::as_bool) == Some(true) {
        return ok(Health::Suspended, "Deployment is paused");
    }
    if num(o, "/metadata/generation") > num(o, "/status/observedGeneration") {
        return ok(
            Health::Progressing,
            "Waiting for rollout to finish: observed deployment generation less than desired generation",
        );
    }
    let deadline = list(o, "/status/conditions")
        .iter()
        .find(|c| c["type"] == "Progressing")
        .is_some_and(|c| c["reason"] == "ProgressDeadlineExceeded");
    let (updated, replicas, available) = (
        num(o, "/status/updatedReplicas"),
        num(o, "/status/replicas"),
        num(o, "/status/availableReplicas"),
    );
    let desired = o.pointer("/spec/replicas").and_then(Value::as_i64);
    if deadline {
        return ok(
            Health::Degraded,
            format!(
                "Deployment {:?} exceeded its progress deadline",
                text(o, "/metadata/name")
            ),
        );
    }
    if let Some(desired) = desired.filter(|d| updated < *d) {
        return ok(
            Health::Progressing,
            format!("Waiting for rollout to finish: {updated} out of {desired} new replicas have been updated..."),
        );
    }
    if replicas > updated {
        return ok(
            Health::Progressing,
            format!(
                "Waiting for rollout to finish: {} old replicas are pending termination...",
                replicas - updated
            ),
        );
    }
    if available < updated {
        return ok(
            Health::Progressing,
            format!("Waiting for rollout to finish: {available} of {updated} updated replicas are available..."),
        );
    }
    ok(Health::Healthy, "")
}

fn stateful_set(o: &Value) -> Result<Verdict, String> {
    require_version(o, "StatefulSet", &["apps/v1"])?;
    let observed = num(o, "/status/observedGeneration");
    if observed == 0 || num(o, "/metadata/generation") > observed {
        return ok(
            Health::Progressing,
            "Waiting for statefulset spec update to be observed...",
        );
    }
    let desired = o.pointer("/spec/replicas").and_then(Value::as_i64);
    let (ready, updated) = (num(o, "/status/readyReplicas"), num(o, "/status/updatedReplicas"));
    if let Some(desired) = desired.filter(|d| ready < *d) {
        return ok(
            Health::Progressing,
            format!("Waiting for {} pods to be ready...", desired - ready),
        );
    }
    let strategy = text(o, "/spec/updateStrategy/type");
    if strategy == "RollingUpdate"
        && o.pointer("/spec/updateStrategy/rollingUpdate")
            .is_some_and(Value::is_object)
    {
        let partition = o
            .pointer("/spec/updateStrategy/rollingUpdate/partition")
            .and_then(Value::as_i64);
        if let (Some(desired), Some(partition)) = (desired, partition)
            && updated < desired - partition
        {
            return ok(
                Health::Progressing,
                format!(
                    "Waiting for partitioned roll out to finish: {updated} out of {} new pods have been updated...",
                    desired - partition
                ),
            );
        }
        return ok(
            Health::Healthy,
            format!("partitioned roll out complete: {updated} new pods have been updated..."),
        );
    }
    if strategy == "OnDelete" {
        return ok(Health::Healthy, format!("statefulset has {ready} ready pods"));
    }
    let (update_revision, current_revision) = (text(o, "/status/updateRevision"), text(o, "/status/currentRevision"));
    if update_revision != current_revision {
        return ok(
            Health::Progressing,
            format!(
                "waiting for statefulset rolling update to complete {updated} pods at revision {update_revision}..."
            ),
        );
    }
    ok(
        Health::Healthy,
        format!(
            "statefulset rolling update complete {} pods at revision {current_revision}...",
            num(o, "/status/currentReplicas")
        ),
    )
}

fn replica_set(o: &Value) -> Result<Verdict, String> {
    require_version(o, "ReplicaSet", &["apps/v1"])?;
    if num(o, "/metadata/generation") > num(o, "/status/observedGeneration") {
        return ok(
            Health::Progressing,
            "Waiting for rollout to finish: observed replica set generation less than desired generation",
        );
    }
    if let Some(failure) = list(o, "/status/conditions")
        .iter()
        .find(|c| c["type"] == "ReplicaFailure")
        .filter(|c| c["status"] == "True")
    {
        return ok(Health::Degraded, failure["message"].as_str().unwrap_or(""));
    }
    let available = num(o, "/status/availableReplicas");
    match o.pointer("/spec/replicas").and_then(Value::as_i64) {
        Some(desired) if available < desired => ok(
            Health::Progressing,
            format!("Waiting for rollout to finish: {available} out of {desired} new replicas are available..."),
        ),
        _ => ok(Health::Healthy, ""),
    }
}

fn daemon_set(o: &Value) -> Result<Verdict, String> {
    require_version(o, "DaemonSet", &["apps/v1"])?;
    if num(o, "/metadata/generation") > num(o, "/status/observedGeneration") {
        return ok(
            Health::Progressing,
            "Waiting for rollout to finish: observed daemon set generation less than desired generation",
        );
    }
    let (desired, updated, available) = (
        num(o, "/status/desiredNumberScheduled"),
        num(o, "/status/updatedNumberScheduled"),
        num(o, "/status/numberAvailable"),
    );
    let name = text(o, "/metadata/name");
    if text(o, "/spec/updateStrategy/type") == "OnDelete" {
        return ok(
            Health::Healthy,
            format!("daemon set {updated} out of {desired} new pods have been updated"),
        );
    }
    if updated < desired {
        return ok(
            Health::Progressing,
            format!(
                "Waiting for daemon set {name:?} rollout to finish: {updated} out of {desired} new pods have been updated..."
            ),
        );
    }
    if available < desired {
        return ok(
            Health::Progressing,
            format!(
                "Waiting for daemon set {name:?} rollout to finish: {available} of {desired} updated pods are available..."
            ),
        );
    }
    ok(Health::Healthy, "")
}

fn ingress(o: &Value) -> Result<Verdict, String> {
    if list(o, "/status/loadBalancer/ingress").is_empty() {
        ok(Health::Progressing, "")
    } else {
        ok(Health::Healthy, "")
    }
}

fn service(o: &Value) -> Result<Verdict, String> {
    require_version(o, "Service", &["v1"])?;
    if text(o, "/spec/type") == "LoadBalancer" {
        return ingress(o);
    }
    ok(Health::Healthy, "")
}

fn workflow(o: &Value) -> Result<Verdict, String> {
    let health = match text(o, "/status/phase") {
        "" | "Pending" | "Running" => Health::Progressing,
        "Succeeded" => Health::Healthy,
        "Failed" | "Error" => Health::Degraded,
        _ => Health::Unknown,
    };
    ok(health, text(o, "/status/message"))
}

fn api_service(o: &Value) -> Result<Verdict, String> {
    require_version(
        o,
        "APIService",
        &["apiregistration.k8s.io/v1", "apiregistration.k8s.io/v1beta1"],
    )?;
    match list(o, "/status/conditions").iter().find(|c| c["type"] == "Available") {
        Some(c) => {
            let message = format!("{}: {}", text(c, "/reason"), text(c, "/message"));
            ok(
                if c["status"] == "True" {
                    Health::Healthy
                } else {
                    Health::Progressing
                },
                message,
            )
        }
        None => ok(Health::Progressing, "Waiting to be processed"),
    }
}

fn pvc(o: &Value) -> Result<Verdict, String> {
    require_version(o, "PersistentVolumeClaim", &["v1"])?;
    let health = match text(o, "/status/phase") {
        "Lost" => Health::Degraded,
        "Pending" => Health::Progressing,
        "Bound" => Health::Healthy,
        _ => Health::Unknown,
    };
    ok(health, "")
}

fn job(o: &Value) -> Result<Verdict, String> {
    require_version(o, "Job", &["batch/v1"])?;
    let (mut failed, mut complete, mut suspended) = (false, false, false);
    let (mut fail_message, mut message) = (String::new(), String::new());
    for c in list(o, "/status/conditions") {
        let condition_message = text(c, "/message").to_string();
        match text(c, "/type") {
            "Failed" => (failed, complete, fail_message) = (true, true, condition_message),
            "Complete" => (complete, message) = (true, condition_message),
            "Suspended" => {
                (complete, message) = (true, condition_message);
                suspended |= c["status"] == "True";
            }
            _ => {}
        }
    }
    if !complete {
        ok(Health::Progressing, message)
    } else if failed {
        ok(Health::Degraded, fail_message)
    } else if suspended {
        ok(Health::Suspended, message)
    } else {
        ok(Health::Healthy, message)
    }
}

/// Argo CD's hook test (`hook.IsHook`): an Argo CD hook annotation unless
/// it says only `Skip`, else a Helm hook other than `crd-install`.
pub fn is_hook(o: &Value) -> bool {
    if let Some(value) = o
        .pointer("/metadata/annotations/argocd.argoproj.io~1hook")
        .and_then(Value::as_str)
    {
        let types: Vec<&str> = value
            .split(',')
            .map(str::trim)
            .filter(|t| ["PreSync", "Sync", "PostSync", "SyncFail", "Skip"].contains(t))
            .collect();
        return types != ["Skip"];
    }
    o.pointer("/metadata/annotations/helm.sh~1hook")
        .and_then(Value::as_str)
        .is_some_and(|v| v != "crd-install")
}

fn pod(o: &Value) -> Result<Verdict, String> {
    require_version(o, "Pod", &["v1"])?;
    let policy = text(o, "/spec/restartPolicy");
    let ignore = text(o, "/metadata/annotations/argocd.argoproj.io~1ignore-restart-policy") == "true";
    let always = policy == "Always" || (ignore && !is_hook(o));
    let message = text(o, "/status/message");
    let containers = list(o, "/status/containerStatuses");
    if always {
        let errors: Vec<&str> = containers
            .iter()
            .filter_map(|c| c.pointer("/state/waiting").filter(|w| w.is_object()))
            .filter(|w| {
                let reason = text(w, "/reason");
                reason.starts_with("Err") || reason.ends_with("Error") || reason.ends_with("BackOff")
            })
            .map(|w| text(w, "/message"))
            .collect();
        if !errors.is_empty() {
            return ok(Health::Degraded, errors.join(", "));
        }
    }
    match text(o, "/status/phase") {
        "Pending" => ok(Health::Progressing, message),
        "Succeeded" => ok(Health::Healthy, message),
        "Failed" => {
            if !message.is_empty() {
                return ok(Health::Degraded, message);
            }
            let all = list(o, "/status/initContainerStatuses").iter().chain(containers);
            let reason = all
                .filter_map(|c| c.pointer("/state/terminated").filter(|t| t.is_object()).map(|t| (c, t)))
                .find_map(|(c, t)| {
                    if !text(t, "/message").is_empty() {
                        Some(text(t, "/message").to_string())
                    } else if text(t, "/reason") == "OOMKilled" {
                        Some("OOMKilled".to_string())
                    } else {
                        let code = num(t, "/exitCode");
                        (code != 0).then(|| format!("container {:?} failed with exit code {code}", text(c, "/name")))
                    }
                });
            ok(Health::Degraded, reason.unwrap_or_default())
        }
        "Running" if always => {
            let ready = list(o, "/status/conditions")
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            if ready {
                return ok(Health::Healthy, message);
            }
            let restarted = containers
                .iter()
                .any(|c| c.pointer("/lastState/terminated").is_some_and(Value::is_object));
            ok(
                if restarted {
                    Health::Degraded
                } else {
                    Health::Progressing
                },
                message,
            )
        }
        "Running" if policy == "OnFailure" || policy == "Never" => ok(Health::Progressing, message),
        _ => ok(Health::Unknown, message),
    }
}

fn hpa(o: &Value) -> Result<Verdict, String> {
    let annotation_conditions: Vec<Value>;
    let conditions: &[Value] = match text(o, "/apiVersion") {
        "autoscaling/v2" => list(o, "/status/conditions"),
        "autoscaling/v1" => {
            let Some(annotation) = o
                .pointer("/metadata/annotations/autoscaling.alpha.kubernetes.io~1conditions")
                .and_then(Value::as_str)
            else {
                return ok(Health::Progressing, "Waiting to Autoscale");
            };
            annotation_conditions = serde_json::from_str(annotation)
                .map_err(|e| format!("failed to convert conditions annotation to typed: {e}"))?;
            &annotation_conditions
        }
        other => {
            let (group, version) = other.rsplit_once('/').unwrap_or(("", other));
            return Err(format!(
                "unsupported HPA GVK: {group}/{version}, Kind=HorizontalPodAutoscaler"
            ));
        }
    };
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
    if let Some(c) = conditions
        .iter()
        .find(|c| DEGRADED.contains(&(text(c, "/type"), text(c, "/reason"))))
    {
        return ok(Health::Degraded, text(c, "/message"));
    }
    if let Some(c) = conditions
        .iter()
        .find(|c| ["AbleToScale", "ScalingLimited"].contains(&text(c, "/type")) && c["status"] == "True")
    {
        return ok(Health::Healthy, text(c, "/message"));
    }
    ok(Health::Progressing, "Waiting to Autoscale")
}
