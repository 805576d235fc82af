//! Workload controllers: Deployments (through ReplicaSets), ReplicaSets,
//! StatefulSets (with their PersistentVolumeClaims), DaemonSets and Jobs
//! create their Pods and report ready `workloads.readyAfter` after each new
//! generation, filling status the way the real controllers do, so that
//! `kubectl rollout status`, `kubectl wait --for=condition=Available` and
//! Argo CD's health rules work.
//!
//! A new generation writes an in-progress status at once and starts a tokio
//! timer; when it fires and the generation is still current, Pods turn Ready
//! and the status says so. A ReplicaSet becoming ready wakes its Deployment.
//! An Application's `apps:` behaviour in `sim.yaml` can delay, withhold or
//! fail that (`argocd::behaviour`); a reload re-plays what is not ready.

use super::argocd::behaviour::{self, Hold};
use super::{CONTROLLER_MANAGER, pods};
use crate::api::object::{self, condition, is_deleting};
use crate::api::write::{self, WriteCtx};
use crate::cluster::Cluster;
use crate::resources::ResourceType;
use crate::store::{Change, ChangeKind};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

fn ctx() -> WriteCtx<'static> {
    WriteCtx::controller(CONTROLLER_MANAGER, "kube-controller-manager")
}

/// A short stable hash of a pod template (`pod-template-hash`).
pub fn template_hash(template: &Value) -> String {
    let digest = Sha1::digest(template.to_string().as_bytes());
    digest.iter().take(5).map(|b| format!("{b:02x}")).collect::<String>()
}

fn rt(cluster: &Cluster, group: &str, resource: &str) -> Option<Arc<ResourceType>> {
    cluster.registry.preferred(group, resource)
}

fn replicas(o: &Value) -> i64 {
    o["spec"]["replicas"].as_i64().unwrap_or(1)
}

fn write_status(cluster: &Cluster, rt: &ResourceType, o: &Value, status: Value) {
    let _ = write::modify(
        cluster,
        rt,
        object::namespace(o),
        object::name(o),
        Some("status"),
        &ctx(),
        |obj| {
            obj["status"] = status.clone();
        },
    );
}

fn schedule(cluster: &Arc<Cluster>, rt: Arc<ResourceType>, o: &Value) {
    let Some(delay) = behaviour::delay(cluster, o, cluster.config().workloads.ready_after()) else {
        return;
    };
    let cluster = cluster.clone();
    let namespace = object::namespace(o).to_string();
    let name = object::name(o).to_string();
    let generation = object::generation(o);
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let Some(current) = cluster.store.get(&rt.group_resource(), &namespace, &name) else {
            return;
        };
        if object::generation(&current) != generation || is_deleting(&current) {
            return;
        }
        match behaviour::hold(&cluster, &current) {
            Hold::Fail(message) => fail(&cluster, &rt, &current, &message),
            Hold::Forever => {}
            Hold::None | Hold::Delay(_) => become_ready(&cluster, &rt, &current),
        }
    });
}

/// What the real controller reports when an object cannot become ready: a
/// Deployment exceeds its progress deadline, a bare ReplicaSet or a Job
/// fails with `message`; StatefulSets and DaemonSets just stay unready.
fn fail(cluster: &Arc<Cluster>, rt: &ResourceType, o: &Value, message: &str) {
    let now = crate::time::now_rfc3339();
    match (rt.group.as_str(), rt.resource.as_str()) {
        ("apps", "replicasets") => match (deployment_of(cluster, o), rt_of(cluster, "apps", "deployments")) {
            (Some(d), Some(d_rt)) => {
                let n = replicas(&d);
                write_status(
                    cluster,
                    &d_rt,
                    &d,
                    json!({
                        "observedGeneration": object::generation(&d),
                        "replicas": n, "updatedReplicas": n, "readyReplicas": 0, "availableReplicas": 0,
                        "unavailableReplicas": n,
                        "conditions": [
                            condition("Available", false, "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", &now),
                            condition("Progressing", false, "ProgressDeadlineExceeded",
                                &format!("ReplicaSet \"{}\" has timed out progressing.", object::name(o)), &now),
                        ],
                    }),
                );
            }
            _ => {
                let mut status = o["status"].clone();
                status["conditions"] = json!([condition("ReplicaFailure", true, "FailedCreate", message, &now)]);
                write_status(cluster, rt, o, status);
            }
        },
        ("batch", "jobs") => {
            let mut status = o["status"].clone();
            status["active"] = json!(0);
            status["failed"] = json!(1);
            status["conditions"] = json!([
                condition("FailureTarget", true, "BackoffLimitExceeded", message, &now),
                condition("Failed", true, "BackoffLimitExceeded", message, &now),
            ]);
            write_status(cluster, rt, o, status);
        }
        _ => {}
    }
}

/// After a reload: an Application now held Degraded fails its workloads at
/// once; otherwise every workload that is not ready is played again, and a
/// Deployment whose ReplicaSet is ready is observed again, so a lifted or
/// changed `apps:` behaviour takes effect.
fn replay(cluster: &Arc<Cluster>) {
    for (group, resource) in [
        ("apps", "replicasets"),
        ("apps", "statefulsets"),
        ("apps", "daemonsets"),
        ("batch", "jobs"),
    ] {
        let Some(rt) = rt(cluster, group, resource) else {
            continue;
        };
        for o in cluster.store.list(&rt.group_resource(), None).0 {
            let status = &o["status"];
            let int = |key: &str| status[key].as_i64().unwrap_or(0);
            let observed = resource == "jobs" || status["observedGeneration"].as_i64() == Some(object::generation(&o));
            if !observed || is_deleting(&o) {
                continue;
            }
            let pending = match resource {
                "daemonsets" => int("numberReady") < int("desiredNumberScheduled"),
                "jobs" => status["completionTime"].is_null() && int("failed") == 0,
                _ => int("readyReplicas") < replicas(&o),
            };
            match behaviour::hold(cluster, &o) {
                Hold::Fail(message) => fail(cluster, &rt, &o, &message),
                Hold::Forever => {}
                _ if pending => schedule(cluster, rt.clone(), &o),
                _ => {
                    if let Some(d) = deployment_of(cluster, &o) {
                        deployment_observe(cluster, &d);
                    }
                }
            }
        }
    }
}

/// Reacts to one change of the store.
pub fn handle(cluster: &Arc<Cluster>, change: &Change) {
    if change.kind == ChangeKind::Deleted || is_deleting(&change.object) {
        return;
    }
    let o = &change.object;
    let Some(rt) = rt(cluster, &change.gr.group, &change.gr.resource) else {
        return;
    };
    let kind = (rt.group.as_str(), rt.resource.as_str());
    let new_generation = o["status"]["observedGeneration"].as_i64() != Some(object::generation(o));
    match kind {
        ("apps", "deployments") if new_generation => deployment_progress(cluster, &rt, o),
        ("apps", "replicasets") => {
            if new_generation {
                replicaset_progress(cluster, &rt, o);
                schedule(cluster, rt.clone(), o);
            } else if let Some(owner) = deployment_of(cluster, o) {
                deployment_observe(cluster, &owner);
            }
        }
        ("apps", "statefulsets") if new_generation => {
            statefulset_progress(cluster, &rt, o);
            schedule(cluster, rt.clone(), o);
        }
        ("apps", "daemonsets") if new_generation => {
            let nodes = node_names(cluster);
            pods::ensure(
                cluster,
                o,
                &nodes_as_pod_names(o, &nodes),
                &json!({"controller-revision-hash": template_hash(&o["spec"]["template"])}),
                Some(&nodes),
            );
            let desired = nodes.len();
            write_status(
                cluster,
                &rt,
                o,
                json!({
                    "observedGeneration": object::generation(o),
                    "desiredNumberScheduled": desired, "currentNumberScheduled": desired,
                    "numberMisscheduled": 0, "numberReady": 0, "updatedNumberScheduled": desired,
                    "numberUnavailable": desired,
                }),
            );
            schedule(cluster, rt.clone(), o);
        }
        ("batch", "jobs") if new_generation && o["status"]["completionTime"].is_null() => {
            let name = format!("{}-{}", object::name(o), &template_hash(&json!(object::uid(o)))[..5]);
            pods::ensure(
                cluster,
                o,
                &[name],
                &json!({"job-name": object::name(o), "batch.kubernetes.io/job-name": object::name(o)}),
                None,
            );
            let now = crate::time::now_rfc3339();
            write_status(
                cluster,
                &rt,
                o,
                json!({"active": 1, "startTime": now, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}}),
            );
            schedule(cluster, rt.clone(), o);
        }
        // A bare pod (no controller) is scheduled and started by the
        // simulated scheduler and kubelet.
        ("", "pods")
            if change.kind == ChangeKind::Added
                && o["metadata"]["ownerReferences"].is_null()
                && o["status"]["phase"].is_null()
                && !crate::podrunner::is_mapped(&cluster.config(), o) =>
        {
            let delay = cluster.config().workloads.ready_after();
            let cluster = cluster.clone();
            let (ns, name) = (object::namespace(o).to_string(), object::name(o).to_string());
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Some(pod) = cluster
                    .store
                    .get(&crate::resources::GroupResource::new("", "pods"), &ns, &name)
                    && !is_deleting(&pod)
                {
                    pods::mark(&cluster, &pod, pods::Phase::Ready, 0);
                }
            });
        }
        _ => {}
    }
}

fn node_names(cluster: &Cluster) -> Vec<String> {
    cluster
        .store
        .list(&crate::resources::GroupResource::new("", "nodes"), None)
        .0
        .iter()
        .map(|n| object::name(n).to_string())
        .collect()
}

fn nodes_as_pod_names(o: &Value, nodes: &[String]) -> Vec<String> {
    nodes
        .iter()
        .map(|n| format!("{}-{}", object::name(o), &template_hash(&json!(n))[..5]))
        .collect()
}

fn deployment_of(cluster: &Cluster, rs: &Value) -> Option<Arc<Value>> {
    let owner = rs["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["kind"] == "Deployment")?;
    let d = cluster.store.get(
        &crate::resources::GroupResource::new("apps", "deployments"),
        object::namespace(rs),
        owner["name"].as_str()?,
    )?;
    (object::uid(&d) == owner["uid"].as_str()?).then_some(d)
}

fn owned_replicasets(cluster: &Cluster, d: &Value) -> Vec<Arc<Value>> {
    let uid = object::uid(d);
    cluster
        .store
        .list(
            &crate::resources::GroupResource::new("apps", "replicasets"),
            Some(object::namespace(d)),
        )
        .0
        .into_iter()
        .filter(|rs| object::owner_uids(rs).iter().any(|u| u == uid))
        .collect()
}

fn deployment_progress(cluster: &Arc<Cluster>, rt: &ResourceType, d: &Value) {
    let Some(rs_rt) = rt_of(cluster, "apps", "replicasets") else {
        return;
    };
    let hash = template_hash(&d["spec"]["template"]);
    let rs_name = format!("{}-{hash}", object::name(d));
    let n = replicas(d);
    let existing = owned_replicasets(cluster, d);
    let revision = existing
        .iter()
        .filter_map(|rs| {
            object::annotation(rs, "deployment.kubernetes.io/revision")?
                .parse::<i64>()
                .ok()
        })
        .max()
        .unwrap_or(0);
    let ns = object::namespace(d);
    for rs in &existing {
        if object::name(rs) != rs_name && replicas(rs) != 0 {
            let _ = write::modify(cluster, &rs_rt, ns, object::name(rs), None, &ctx(), |o| {
                o["spec"]["replicas"] = json!(0)
            });
            super::events::scaled_replica_set(cluster, d, object::name(rs), replicas(rs), 0);
        }
    }
    let mut template = d["spec"]["template"].clone();
    template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
    let mut selector = d["spec"]["selector"].clone();
    selector["matchLabels"]["pod-template-hash"] = json!(hash);
    match existing.iter().find(|rs| object::name(rs) == rs_name) {
        Some(rs) => {
            let _ = write::modify(cluster, &rs_rt, ns, object::name(rs), None, &ctx(), |o| {
                o["spec"]["replicas"] = json!(n)
            });
            super::events::scaled_replica_set(cluster, d, object::name(rs), replicas(rs), n);
        }
        None => {
            let mut labels = template["metadata"]["labels"].clone();
            labels["pod-template-hash"] = json!(hash);
            let body = json!({
                "metadata": {
                    "name": rs_name, "namespace": ns, "labels": labels,
                    "annotations": {"deployment.kubernetes.io/revision": (revision + 1).to_string(), "deployment.kubernetes.io/desired-replicas": n.to_string()},
                    "ownerReferences": [object::owner_reference(d)],
                },
                "spec": {"replicas": n, "selector": selector, "template": template},
            });
            if write::create(cluster, &rs_rt, Some(ns), body, &ctx()).is_ok() {
                super::events::scaled_replica_set(cluster, d, &rs_name, 0, n);
            }
        }
    }
    let previous_available = d["status"]["availableReplicas"].as_i64().unwrap_or(0);
    let now = crate::time::now_rfc3339();
    let available = previous_available > 0 || n == 0;
    write_status(
        cluster,
        rt,
        d,
        json!({
            "observedGeneration": object::generation(d),
            "replicas": n.max(previous_available),
            "updatedReplicas": 0,
            "readyReplicas": previous_available,
            "availableReplicas": previous_available,
            "unavailableReplicas": (n - previous_available).max(0),
            "conditions": [
                condition("Available", available, if available { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
                    if available { "Deployment has minimum availability." } else { "Deployment does not have minimum availability." }, &now),
                condition("Progressing", true, "ReplicaSetUpdated", &format!("ReplicaSet \"{rs_name}\" is progressing."), &now),
            ],
        }),
    );
}

/// Marks a Deployment ready once its current ReplicaSet is and old ones are gone.
fn deployment_observe(cluster: &Cluster, d: &Value) {
    let Some(rt) = rt_of(cluster, "apps", "deployments") else {
        return;
    };
    let hash = template_hash(&d["spec"]["template"]);
    let rs_name = format!("{}-{hash}", object::name(d));
    let n = replicas(d);
    let sets = owned_replicasets(cluster, d);
    let Some(current) = sets.iter().find(|rs| object::name(rs) == rs_name) else {
        return;
    };
    let ready = current["status"]["readyReplicas"].as_i64().unwrap_or(0);
    let current_ok =
        current["status"]["observedGeneration"].as_i64() == Some(object::generation(current)) && ready >= n;
    let old_gone = sets
        .iter()
        .filter(|rs| object::name(rs) != rs_name)
        .all(|rs| rs["status"]["replicas"].as_i64().unwrap_or(0) == 0);
    if !current_ok || !old_gone {
        return;
    }
    if d["status"]["updatedReplicas"].as_i64() == Some(n) && d["status"]["availableReplicas"].as_i64() == Some(n) {
        return;
    }
    let now = crate::time::now_rfc3339();
    write_status(
        cluster,
        &rt,
        d,
        json!({
            "observedGeneration": object::generation(d),
            "replicas": n, "updatedReplicas": n, "readyReplicas": n, "availableReplicas": n,
            "conditions": [
                condition("Available", true, "MinimumReplicasAvailable", "Deployment has minimum availability.", &now),
                condition("Progressing", true, "NewReplicaSetAvailable", &format!("ReplicaSet \"{rs_name}\" has successfully progressed."), &now),
            ],
        }),
    );
}

fn rt_of(cluster: &Cluster, group: &str, resource: &str) -> Option<Arc<ResourceType>> {
    cluster.registry.preferred(group, resource)
}

fn rs_pod_names(rs: &Value, n: i64) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "{}-{}",
                object::name(rs),
                &template_hash(&json!([object::uid(rs), i]))[..5]
            )
        })
        .collect()
}

fn replicaset_progress(cluster: &Arc<Cluster>, rt: &ResourceType, rs: &Value) {
    let n = replicas(rs);
    let names = rs_pod_names(rs, n);
    let hash = object::label(rs, "pod-template-hash").unwrap_or("").to_string();
    pods::ensure(cluster, rs, &names, &json!({"pod-template-hash": hash}), None);
    let ready = rs["status"]["readyReplicas"].as_i64().unwrap_or(0).min(n);
    write_status(
        cluster,
        rt,
        rs,
        json!({
            "observedGeneration": object::generation(rs),
            "replicas": n, "fullyLabeledReplicas": n, "readyReplicas": ready, "availableReplicas": ready,
        }),
    );
}

fn statefulset_progress(cluster: &Arc<Cluster>, rt: &ResourceType, sts: &Value) {
    let n = replicas(sts);
    let revision = format!("{}-{}", object::name(sts), template_hash(&sts["spec"]["template"]));
    let names: Vec<String> = (0..n).map(|i| format!("{}-{i}", object::name(sts))).collect();
    ensure_claims(cluster, sts, n);
    pods::ensure(
        cluster,
        sts,
        &names,
        &json!({"controller-revision-hash": revision}),
        None,
    );
    let current = sts["status"]["currentRevision"]
        .as_str()
        .unwrap_or(&revision)
        .to_string();
    let ready = sts["status"]["readyReplicas"].as_i64().unwrap_or(0).min(n);
    write_status(
        cluster,
        rt,
        sts,
        json!({
            "observedGeneration": object::generation(sts),
            "replicas": n, "readyReplicas": ready, "currentReplicas": ready, "updatedReplicas": 0,
            "availableReplicas": ready, "currentRevision": current, "updateRevision": revision, "collisionCount": 0,
        }),
    );
}

/// `volumeClaimTemplates` become PVCs `<template>-<sts>-<ordinal>`, not owned
/// by the StatefulSet (they outlive it, as in real clusters).
fn ensure_claims(cluster: &Cluster, sts: &Value, n: i64) {
    let Some(pvc_rt) = rt_of(cluster, "", "persistentvolumeclaims") else {
        return;
    };
    let Some(templates) = sts["spec"]["volumeClaimTemplates"].as_array() else {
        return;
    };
    let ns = object::namespace(sts);
    for t in templates {
        let template_name = t["metadata"]["name"].as_str().unwrap_or("data");
        for i in 0..n {
            let name = format!("{template_name}-{}-{i}", object::name(sts));
            if cluster.store.get(&pvc_rt.group_resource(), ns, &name).is_some() {
                continue;
            }
            let mut labels = sts["spec"]["selector"]["matchLabels"].clone();
            if !labels.is_object() {
                labels = json!({});
            }
            let body = json!({
                "metadata": {"name": name, "namespace": ns, "labels": labels},
                "spec": t["spec"].clone(),
            });
            let _ = write::create(cluster, &pvc_rt, Some(ns), body, &ctx());
        }
    }
}

fn become_ready(cluster: &Arc<Cluster>, rt: &ResourceType, o: &Value) {
    let now = crate::time::now_rfc3339();
    let g = object::generation(o);
    let n = replicas(o);
    match (rt.group.as_str(), rt.resource.as_str()) {
        ("apps", "replicasets") => {
            pods::mark_all(cluster, o, pods::Phase::Ready);
            write_status(
                cluster,
                rt,
                o,
                json!({
                    "observedGeneration": g, "replicas": n, "fullyLabeledReplicas": n,
                    "readyReplicas": n, "availableReplicas": n,
                }),
            );
        }
        ("apps", "statefulsets") => {
            pods::mark_all(cluster, o, pods::Phase::Ready);
            let revision = format!("{}-{}", object::name(o), template_hash(&o["spec"]["template"]));
            write_status(
                cluster,
                rt,
                o,
                json!({
                    "observedGeneration": g, "replicas": n, "readyReplicas": n, "currentReplicas": n,
                    "updatedReplicas": n, "availableReplicas": n, "currentRevision": revision,
                    "updateRevision": revision, "collisionCount": 0,
                }),
            );
        }
        ("apps", "daemonsets") => {
            pods::mark_all(cluster, o, pods::Phase::Ready);
            let desired = node_names(cluster).len();
            write_status(
                cluster,
                rt,
                o,
                json!({
                    "observedGeneration": g, "desiredNumberScheduled": desired, "currentNumberScheduled": desired,
                    "numberMisscheduled": 0, "numberReady": desired, "numberAvailable": desired,
                    "updatedNumberScheduled": desired,
                }),
            );
        }
        ("batch", "jobs") => {
            pods::mark_all(cluster, o, pods::Phase::Succeeded);
            let completions = o["spec"]["completions"].as_i64().unwrap_or(1);
            let start = o["status"]["startTime"].as_str().unwrap_or(&now).to_string();
            write_status(
                cluster,
                rt,
                o,
                json!({
                    "startTime": start, "completionTime": now, "succeeded": completions, "active": 0,
                    "ready": 0, "terminating": 0, "uncountedTerminatedPods": {},
                    "conditions": [
                        {"type": "SuccessCriteriaMet", "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"},
                        {"type": "Complete", "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"},
                    ],
                }),
            );
        }
        _ => {}
    }
}

/// Runs the workload controllers until shutdown.
pub async fn run(cluster: Arc<Cluster>, mut shutdown: watch::Receiver<bool>) {
    let mut rx = cluster.store.subscribe();
    let mut reloads = cluster.reloads();
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = reloads.changed() => replay(&cluster),
            change = rx.recv() => match change {
                Ok(change) => {
                    handle(&cluster, &change);
                    super::storage::handle(&cluster, &change);
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            }
        }
    }
}
