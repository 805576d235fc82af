//! Pods of simulated workloads: created from the owner's pod template with
//! an ownerReference (so garbage collection removes them), placed on the
//! simulated nodes, and later marked Running/Ready or Succeeded. No
//! container ever runs.

use super::CONTROLLER_MANAGER;
use crate::api::object;
use crate::api::write::{self, WriteCtx};
use crate::cluster::Cluster;
use crate::resources::GroupResource;
use serde_json::{Value, json};

/// The state a pod is put in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Running with every container ready.
    Ready,
    /// Completed successfully (Jobs).
    Succeeded,
}

fn ctx() -> WriteCtx<'static> {
    WriteCtx::controller(CONTROLLER_MANAGER, "kube-controller-manager")
}

fn owned_pods(cluster: &Cluster, owner: &Value) -> Vec<std::sync::Arc<Value>> {
    let uid = object::uid(owner);
    cluster
        .store
        .list(&GroupResource::new("", "pods"), Some(object::namespace(owner)))
        .0
        .into_iter()
        .filter(|p| object::owner_uids(p).iter().any(|u| u == uid))
        .collect()
}

/// Makes the owner's pods exactly `names` (creating and deleting).
pub fn ensure(cluster: &Cluster, owner: &Value, names: &[String], extra_labels: &Value, nodes: Option<&[String]>) {
    let Some(rt) = cluster.registry.preferred("", "pods") else {
        return;
    };
    let ns = object::namespace(owner);
    let existing = owned_pods(cluster, owner);
    for pod in &existing {
        if !names.iter().any(|n| n == object::name(pod)) {
            let _ = write::delete(cluster, &rt, ns, object::name(pod), &Default::default(), &ctx());
        }
    }
    let template = &owner["spec"]["template"];
    for (i, name) in names.iter().enumerate() {
        if existing.iter().any(|p| object::name(p) == name) {
            continue;
        }
        let mut labels = template["metadata"]["labels"].clone();
        if !labels.is_object() {
            labels = json!({});
        }
        if let Some(extra) = extra_labels.as_object() {
            for (k, v) in extra {
                labels[k] = v.clone();
            }
        }
        if owner["kind"] == "StatefulSet" {
            labels["statefulset.kubernetes.io/pod-name"] = json!(name);
        }
        let node = match nodes {
            Some(list) => list.get(i).cloned().unwrap_or_default(),
            None => format!("sim-node-{}", i % 3 + 1),
        };
        let mut spec = template["spec"].clone();
        if !spec.is_object() {
            spec = json!({});
        }
        spec["nodeName"] = json!(node);
        if owner["kind"] == "StatefulSet" {
            spec["hostname"] = json!(name);
        }
        let body = json!({
            "metadata": {
                "name": name, "namespace": ns, "labels": labels,
                "annotations": template["metadata"]["annotations"].clone(),
                "ownerReferences": [object::owner_reference(owner)],
            },
            "spec": spec,
        });
        if let Ok(pod) = write::create(cluster, &rt, Some(ns), body, &ctx()) {
            let _ = write::modify(cluster, &rt, ns, name, Some("status"), &ctx(), |p| {
                p["status"] = json!({"phase": "Pending", "qosClass": "BestEffort", "conditions": [{"type": "PodScheduled", "status": "True"}]});
            });
            drop(pod);
        }
    }
}

/// Puts every pod of the owner into `phase`.
pub fn mark_all(cluster: &Cluster, owner: &Value, phase: Phase) {
    for (i, pod) in owned_pods(cluster, owner).iter().enumerate() {
        mark(cluster, pod, phase, i);
    }
}

/// Puts one pod into `phase` (the `index` picks its pod IP).
pub fn mark(cluster: &Cluster, pod: &Value, phase: Phase, index: usize) {
    let Some(rt) = cluster.registry.preferred("", "pods") else {
        return;
    };
    // The pod runner owns pods whose images run for real.
    if crate::podrunner::is_mapped(&cluster.config(), pod) {
        return;
    }
    let now = crate::time::now_rfc3339();
    let containers: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let state = match phase {
                Phase::Ready => json!({"running": {"startedAt": now}}),
                Phase::Succeeded => {
                    json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}})
                }
            };
            json!({
                "name": c["name"], "image": c["image"], "imageID": "", "ready": phase == Phase::Ready,
                "started": phase == Phase::Ready, "restartCount": 0, "state": state,
            })
        })
        .collect();
    let ready = phase == Phase::Ready;
    let status = json!({
        "phase": if ready { "Running" } else { "Succeeded" },
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": if ready { "True" } else { "False" }, "lastTransitionTime": now},
            {"type": "Ready", "status": if ready { "True" } else { "False" }, "lastTransitionTime": now},
        ],
        "containerStatuses": containers,
        "hostIP": "10.0.0.1",
        "podIP": format!("10.244.{}.{}", index / 250, index % 250 + 2),
        "startTime": now,
        "qosClass": "BestEffort",
    });
    if pod["status"]["phase"] == status["phase"] {
        return;
    }
    let (ns, name) = (object::namespace(pod), object::name(pod));
    if pod["spec"]["nodeName"].as_str().is_none_or(str::is_empty) {
        let _ = write::modify(cluster, &rt, ns, name, None, &ctx(), |p| {
            p["spec"]["nodeName"] = json!(format!("sim-node-{}", index % 3 + 1));
        });
    }
    let _ = write::modify(cluster, &rt, ns, name, Some("status"), &ctx(), |p| {
        p["status"] = status.clone();
    });
}
