//! argoproj.io/Rollout/health.lua (Argo CD's shipped check for Argo
//! Rollouts), re-implemented: the controller's `status.phase` once it has
//! observed the spec (and the referenced workload), else the legacy rules.

use super::{Health, Verdict};
use serde_json::Value;

/// `tonumber()` of a field: numbers, and strings that parse.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn observed(o: &Value) -> bool {
    if o["status"].is_null() {
        return false;
    }
    let generation = number(&o["metadata"]["generation"]).unwrap_or(0.0);
    match number(&o["status"]["observedGeneration"]) {
        None => true,
        Some(g) if g > generation => true,
        Some(g) => g == generation,
    }
}

fn workload_observed(o: &Value) -> bool {
    if o["spec"]["workloadRef"].is_null() || o["metadata"]["annotations"].is_null() {
        return true;
    }
    number(&o["metadata"]["annotations"]["rollout.argoproj.io/workload-generation"])
        == number(&o["status"]["workloadObservedGeneration"])
}

fn progressing(message: &str) -> Result<Verdict, String> {
    Ok((Health::Progressing, message.into()))
}

/// The Rollout's health.
pub fn rollout(o: &Value) -> Result<Verdict, String> {
    if !observed(o) || !workload_observed(o) {
        return progressing("Waiting for rollout spec update to be observed");
    }
    let status = &o["status"];
    if let Some(phase) = status["phase"].as_str() {
        let health = match phase {
            "Paused" => Health::Suspended,
            "Healthy" => Health::Healthy,
            "Progressing" => Health::Progressing,
            "Degraded" => Health::Degraded,
            "Suspended" => Health::Suspended,
            "Missing" => Health::Missing,
            "Unknown" => Health::Unknown,
            _ => return Ok((Health::Unknown, "Lua returned an invalid health status".into())),
        };
        return Ok((health, status["message"].as_str().unwrap_or("").into()));
    }
    for c in status["conditions"].as_array().into_iter().flatten() {
        let degraded = c["type"] == "InvalidSpec"
            || (c["type"] == "Progressing"
                && (c["reason"] == "RolloutAborted" || c["reason"] == "ProgressDeadlineExceeded"));
        if degraded {
            return Ok((Health::Degraded, c["message"].as_str().unwrap_or("").into()));
        }
    }
    let paused = status["pauseConditions"].as_array().is_some_and(|p| !p.is_empty())
        || o["spec"]["paused"].as_bool() == Some(true);
    if paused {
        return Ok((Health::Suspended, "Rollout is paused".into()));
    }
    let Some(current) = status["currentPodHash"].as_str() else {
        return progressing("Waiting for rollout to finish: status has not been reconciled.");
    };
    let desired = o["spec"]["replicas"].as_i64().unwrap_or(1);
    let replicas = status["replicas"].as_i64().unwrap_or(0);
    let updated = status["updatedReplicas"].as_i64().unwrap_or(0);
    if updated < desired {
        return progressing("Waiting for roll out to finish: More replicas need to be updated");
    }
    if status["availableReplicas"].as_i64().unwrap_or(0) < updated {
        return progressing("Waiting for roll out to finish: updated replicas are still becoming available");
    }
    let stable = status["stableRS"]
        .as_str()
        .or_else(|| status["canary"]["stableRS"].as_str())
        .unwrap_or("");
    let strategy = &o["spec"]["strategy"];
    if !strategy["blueGreen"].is_null() {
        if status["blueGreen"]["activeSelector"].as_str() != Some(current) {
            return progressing("active service cutover pending");
        }
        if !stable.is_empty() && stable != current {
            return progressing("waiting for analysis to complete");
        }
    } else if !strategy["canary"].is_null() {
        if replicas > updated {
            return progressing("Waiting for roll out to finish: old replicas are pending termination");
        }
        if stable.is_empty() || stable != current {
            return progressing("Waiting for rollout to finish steps");
        }
    }
    Ok((Health::Healthy, String::new()))
}
