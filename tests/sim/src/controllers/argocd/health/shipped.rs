//! The Lua health checks Argo CD ships (`resource_customizations/<group>/
//! <Kind>/health.lua` in argo-cd, v3.5.1 and main) for the kinds the
//! simulated platform uses, re-implemented in Rust: kube-sim may not carry
//! Argo CD's scripts. Statuses and messages word for word; held to Argo CD's
//! own cases where the shared corpus has them (`tests/conformance.rs`), to
//! the upstream `health_test.yaml` expectations otherwise (unit tests).

use super::{Check, Health, Verdict};
use serde_json::Value;

fn text<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    v.pointer(path).and_then(Value::as_str)
}

fn list<'a>(v: &'a Value, path: &str) -> &'a [Value] {
    v.pointer(path).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn verdict(health: Health, message: impl Into<String>) -> Result<Verdict, String> {
    Ok((health, message.into()))
}

/// The shipped check for a group and kind, if kube-sim has it.
pub fn check_for(group: &str, kind: &str) -> Option<Check> {
    let check: Check = match (group, kind) {
        ("ceph.rook.io", "CephCluster") => ceph_cluster,
        ("acid.zalan.do", "postgresql") => postgresql,
        ("batch", "CronJob") => cron_job,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd,
        ("argoproj.io", "Rollout") => super::rollout::rollout,
        ("cert-manager.io", "Certificate") => certificate,
        ("external-secrets.io", "ClusterSecretStore") => cluster_secret_store,
        ("policy", "PodDisruptionBudget") => pod_disruption_budget,
        _ => return None,
    };
    Some(check)
}

/// ceph.rook.io/CephCluster/health.lua.
fn ceph_cluster(o: &Value) -> Result<Verdict, String> {
    let status = &o["status"];
    if status.is_null() {
        return verdict(Health::Progressing, "Waiting for status to be reported");
    }
    let mut health = Health::Progressing;
    let mut parts: Vec<String> = Vec::new();
    if let Some(ceph) = text(status, "/ceph/health") {
        let mut details: Vec<(&String, &str)> = status["ceph"]["details"]
            .as_object()
            .map(|d| {
                d.iter()
                    .filter_map(|(k, v)| Some((k, v["message"].as_str()?)))
                    .collect()
            })
            .unwrap_or_default();
        details.sort();
        let details = if details.is_empty() {
            String::new()
        } else {
            format!(" ({})", details.iter().map(|(_, m)| *m).collect::<Vec<_>>().join("; "))
        };
        health = match ceph {
            "HEALTH_ERR" | "HEALTH_WARN" => Health::Degraded,
            "HEALTH_OK" => Health::Healthy,
            _ => health,
        };
        parts.push(format!("Ceph health is {ceph}{details}"));
    }
    if let Some(state) = text(status, "/state")
        && health == Health::Healthy
    {
        parts.push(format!("Ceph cluster state is {state}"));
        health = match state {
            "Created" | "Connected" => Health::Healthy,
            "Error" => Health::Degraded,
            _ => Health::Progressing,
        };
    }
    if let Some(message) = text(status, "/message") {
        parts.push(message.to_string());
    }
    parts.retain(|p| !p.is_empty());
    verdict(health, parts.join(" - "))
}

/// acid.zalan.do/postgresql/health.lua.
fn postgresql(o: &Value) -> Result<Verdict, String> {
    let Some(state) = text(o, "/status/PostgresClusterStatus") else {
        return verdict(Health::Progressing, "Waiting for postgres cluster status...");
    };
    let health = match state {
        "Running" => Health::Healthy,
        "Creating" | "Updating" => Health::Progressing,
        _ => Health::Degraded,
    };
    verdict(health, state)
}

/// batch/CronJob/health.lua (a suspended CronJob is Healthy, argo-cd#24428).
fn cron_job(o: &Value) -> Result<Verdict, String> {
    if o.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
        return verdict(Health::Healthy, "CronJob is Suspended");
    }
    let status = &o["status"];
    if status.is_null() {
        return verdict(Health::Progressing, "Waiting for CronJob");
    }
    let Some(scheduled) = text(status, "/lastScheduleTime") else {
        return verdict(Health::Healthy, "CronJob has not been scheduled yet");
    };
    let Some(succeeded) = text(status, "/lastSuccessfulTime") else {
        return verdict(
            Health::Healthy,
            "The CronJob never completed successfully. It may not be healthy",
        );
    };
    if !list(status, "/active").is_empty() {
        return verdict(
            Health::Healthy,
            "The job is running. Its last execution may not have been successful",
        );
    }
    if succeeded < scheduled {
        return verdict(
            Health::Degraded,
            "CronJob has not completed its last execution successfully",
        );
    }
    verdict(Health::Healthy, "CronJob has completed its last execution successfully")
}

/// apiextensions.k8s.io/CustomResourceDefinition/health.lua.
fn crd(o: &Value) -> Result<Verdict, String> {
    if !o["metadata"]["deletionTimestamp"].is_null() {
        return verdict(Health::Progressing, "CRD is terminating");
    }
    if !o["status"].is_object() {
        return Err("attempt to index a non-table object(nil) with key 'conditions'".into());
    }
    let conditions = list(o, "/status/conditions");
    if conditions.is_empty() {
        return verdict(Health::Progressing, "Status conditions not found");
    }
    let mut established = false;
    for c in conditions {
        let message = c["message"].as_str().unwrap_or("");
        match (c["type"].as_str(), c["status"].as_str()) {
            (Some("Terminating"), Some("True")) => {
                return verdict(Health::Progressing, format!("CRD is terminating: {message}"));
            }
            (Some("NamesAccepted"), Some("False")) => {
                return verdict(Health::Degraded, format!("CRD names have not been accepted: {message}"));
            }
            (Some("NonStructuralSchema"), Some("True")) => {
                return verdict(Health::Degraded, format!("Schema violations found: {message}"));
            }
            (Some("Established"), Some("True")) => established = true,
            (Some("Established"), _) if c["reason"] == "Installing" => {
                return verdict(Health::Progressing, "CRD is being installed");
            }
            _ => {}
        }
    }
    if established {
        verdict(Health::Healthy, "CRD is healthy")
    } else {
        verdict(Health::Degraded, "CRD is not established")
    }
}

/// cert-manager.io/Certificate/health.lua: `Issuing` True first, then the
/// first `Ready` condition decides; otherwise "Waiting for certificate".
fn certificate(o: &Value) -> Result<Verdict, String> {
    let conditions = list(o, "/status/conditions");
    if let Some(issuing) = conditions
        .iter()
        .find(|c| c["type"] == "Issuing" && c["status"] == "True")
    {
        return verdict(Health::Progressing, issuing["message"].as_str().unwrap_or(""));
    }
    for c in conditions.iter().filter(|c| c["type"] == "Ready") {
        let message = c["message"].as_str().unwrap_or("");
        match c["status"].as_str() {
            Some("False") => return verdict(Health::Degraded, message),
            Some("True") => return verdict(Health::Healthy, message),
            _ => {}
        }
    }
    verdict(Health::Progressing, "Waiting for certificate")
}

/// external-secrets.io/ClusterSecretStore/health.lua: the first `Ready`
/// condition decides; otherwise "Waiting for ClusterSecretStore".
fn cluster_secret_store(o: &Value) -> Result<Verdict, String> {
    for c in list(o, "/status/conditions").iter().filter(|c| c["type"] == "Ready") {
        let message = c["message"].as_str().unwrap_or("");
        match c["status"].as_str() {
            Some("False") => return verdict(Health::Degraded, message),
            Some("True") => return verdict(Health::Healthy, message),
            _ => {}
        }
    }
    verdict(Health::Progressing, "Waiting for ClusterSecretStore")
}

/// policy/PodDisruptionBudget/health.lua: a False condition (other than
/// `InsufficientPods`) is Degraded; any other condition makes it Healthy;
/// no conditions → "Waiting for status".
fn pod_disruption_budget(o: &Value) -> Result<Verdict, String> {
    let mut result = (Health::Progressing, "Waiting for status".to_string());
    for c in list(o, "/status/conditions") {
        let reason = c["reason"].as_str().unwrap_or("");
        if c["status"] == "False" && reason != "InsufficientPods" {
            return verdict(Health::Degraded, format!("PodDisruptionBudget has {reason}"));
        }
        result = (Health::Healthy, format!("PodDisruptionBudget has {reason}"));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conditions(list: Value) -> Value {
        json!({"status": {"conditions": list}})
    }

    #[test]
    fn certificate_as_in_argo_cds_health_test() {
        // resource_customizations/cert-manager.io/Certificate/health_test.yaml
        assert_eq!(
            certificate(&json!({})).unwrap(),
            (Health::Progressing, "Waiting for certificate".into())
        );
        let issuing = conditions(json!([
            {"type": "Ready", "status": "False", "message": "Issuing certificate as Secret does not exist"},
            {"type": "Issuing", "status": "True", "message": "Issuing certificate as Secret does not exist"}
        ]));
        assert_eq!(certificate(&issuing).unwrap().0, Health::Progressing);
        let failed = conditions(json!([{"type": "Ready", "status": "False", "message": "Resource validation failed"}]));
        assert_eq!(
            certificate(&failed).unwrap(),
            (Health::Degraded, "Resource validation failed".into())
        );
        let issued =
            conditions(json!([{"type": "Ready", "status": "True", "message": "Certificate issued successfully"}]));
        assert_eq!(certificate(&issued).unwrap().0, Health::Healthy);
    }

    #[test]
    fn secret_store_and_pdb() {
        let ready = conditions(json!([{"type": "Ready", "status": "True", "message": "store validated"}]));
        assert_eq!(
            cluster_secret_store(&ready).unwrap(),
            (Health::Healthy, "store validated".into())
        );
        assert_eq!(cluster_secret_store(&json!({})).unwrap().0, Health::Progressing);
        let allowed = conditions(json!([{"type": "DisruptionAllowed", "status": "True", "reason": "SufficientPods"}]));
        assert_eq!(
            pod_disruption_budget(&allowed).unwrap(),
            (Health::Healthy, "PodDisruptionBudget has SufficientPods".into())
        );
        let insufficient =
            conditions(json!([{"type": "DisruptionAllowed", "status": "False", "reason": "InsufficientPods"}]));
        assert_eq!(pod_disruption_budget(&insufficient).unwrap().0, Health::Healthy);
        assert_eq!(pod_disruption_budget(&json!({})).unwrap().0, Health::Progressing);
    }
}
