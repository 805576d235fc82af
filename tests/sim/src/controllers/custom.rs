//! Operator-managed custom resources: the simulator plays the operator and
//! fills `status` once an instance has existed for its `readyAfter`.
//!
//! Built-in rules cover the three kinds the reference platform gates on:
//! `ceph.rook.io/CephCluster` (`phase: Ready`, `ceph.health: HEALTH_OK`),
//! `acid.zalan.do/postgresql` (`PostgresClusterStatus: Running`, and
//! `readyInstances` equal to `spec.numberOfInstances`) and
//! `vault.banzaicloud.com/Vault` (`initialized`, not `sealed`, a `leader`).
//! `customResources:` in `sim.yaml` adds kinds; `objects:` overrides the
//! status of single objects (e.g. one CephCluster in `HEALTH_ERR`).
//! cert-manager `Certificate` and external-secrets `ClusterSecretStore` get
//! a `Ready` condition, and the built-in `PodDisruptionBudget` the status
//! the disruption controller writes (`DisruptionAllowed`), because Argo CD
//! has health checks for them. An Application's `apps:` behaviour
//! (`argocd::behaviour`) can delay, withhold or fail the status of its
//! objects.
//! Every written status carries `observedGeneration`, which is also how the
//! controller knows an instance is done.

use super::argocd::behaviour::{self, Hold};
use crate::api::object;
use crate::api::write::{self, WriteCtx};
use crate::cluster::Cluster;
use crate::config::SimConfig;
use crate::store::{Change, ChangeKind};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

/// The user the simulated operators write as.
pub const OPERATOR_USER: &str = "system:serviceaccount:operators:kube-sim-operator";

/// The ready status for `object`, if the simulator manages its kind.
pub fn desired_status(config: &SimConfig, group: &str, kind: &str, object: &Value) -> Option<(Value, Duration)> {
    let default_delay = config.workloads.ready_after();
    let mut status = match (group, kind) {
        ("ceph.rook.io", "CephCluster") => Some(json!({
            "phase": "Ready", "state": "Created", "message": "Cluster created successfully",
            "ceph": {"health": "HEALTH_OK", "lastChecked": crate::time::now_rfc3339()},
        })),
        ("acid.zalan.do", "postgresql") => {
            let n = object["spec"]["numberOfInstances"].as_i64().unwrap_or(1);
            Some(json!({"PostgresClusterStatus": "Running", "numberOfInstances": n, "readyInstances": n}))
        }
        ("vault.banzaicloud.com", "Vault") => Some(json!({
            "initialized": true, "sealed": false, "leader": "vault-0", "nodes": ["vault-0"],
        })),
        ("cert-manager.io", "Certificate") => Some(json!({
            "conditions": [{"type": "Ready", "status": "True", "reason": "Ready",
                            "message": "Certificate is up to date and has not expired"}],
        })),
        ("external-secrets.io", "ClusterSecretStore") => Some(json!({
            "conditions": [{"type": "Ready", "status": "True", "reason": "Valid", "message": "store validated"}],
        })),
        ("policy", "PodDisruptionBudget") => Some(json!({
            "disruptionsAllowed": 1, "currentHealthy": 1, "desiredHealthy": 0, "expectedPods": 1,
            "conditions": [{"type": "DisruptionAllowed", "status": "True", "reason": "SufficientPods", "message": ""}],
        })),
        _ => None,
    };
    let mut delay = default_delay;
    for rule in config
        .custom_resources
        .iter()
        .filter(|r| r.group == group && r.kind == kind)
    {
        let base = status.get_or_insert_with(|| json!({}));
        json_patch::merge(base, &rule.status);
        if let Some(d) = rule.ready_after {
            delay = d;
        }
    }
    let mut status = status?;
    for o in config.objects.iter().filter(|o| {
        o.kind == kind
            && o.name == object::name(object)
            && o.namespace.as_deref().unwrap_or("") == object::namespace(object)
    }) {
        json_patch::merge(&mut status, &o.status);
    }
    if let Some(lastchecked) = status.pointer_mut("/ceph/lastChecked") {
        *lastchecked = object["status"]["ceph"]["lastChecked"].clone();
        if lastchecked.is_null() {
            *lastchecked = json!(crate::time::now_rfc3339());
        }
    }
    status["observedGeneration"] = json!(object::generation(object));
    Some((status, delay))
}

fn reconcile(cluster: &Arc<Cluster>, group: &str, resource: &str, o: &Value, immediate: bool) {
    let Some(rt) = cluster.registry.preferred(group, resource) else {
        return;
    };
    let disruption_budget = group == "policy" && resource == "poddisruptionbudgets";
    if !(rt.custom || disruption_budget) || object::is_deleting(o) {
        return;
    }
    let config = cluster.config();
    let Some((mut status, mut delay)) = desired_status(&config, group, &rt.kind, o) else {
        return;
    };
    match behaviour::hold(cluster, o) {
        Hold::None => {}
        Hold::Delay(d) => delay = delay.max(d),
        Hold::Forever => return,
        Hold::Fail(message) => match behaviour::failed_status(group, &rt.kind, &status, &message) {
            Some(failed) => status = failed,
            None => return,
        },
    }
    let namespace = object::namespace(o).to_string();
    let name = object::name(o).to_string();
    let generation = object::generation(o);
    let already = o["status"]["observedGeneration"].as_i64() == Some(generation);
    if already && !immediate {
        return;
    }
    let cluster = cluster.clone();
    let write_it = move || {
        let sub = rt.status_subresource.then_some("status");
        let ctx = WriteCtx::controller(OPERATOR_USER, "kube-sim-operator");
        let _ = write::modify(&cluster, &rt, &namespace, &name, sub, &ctx, |obj| {
            if object::generation(obj) == generation {
                let mut merged = obj["status"].clone();
                if !merged.is_object() {
                    merged = json!({});
                }
                json_patch::merge(&mut merged, &status);
                obj["status"] = merged;
            }
        });
    };
    if already {
        write_it();
    } else {
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            write_it();
        });
    }
}

fn reconcile_all(cluster: &Arc<Cluster>) {
    for gr in cluster.store.resources() {
        for o in cluster.store.list(&gr, None).0 {
            reconcile(cluster, &gr.group, &gr.resource, &o, true);
        }
    }
}

/// Runs the simulated operators until shutdown.
pub async fn run(cluster: Arc<Cluster>, mut shutdown: watch::Receiver<bool>) {
    let mut rx = cluster.store.subscribe();
    let mut reloads = cluster.reloads();
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = reloads.changed() => reconcile_all(&cluster),
            change = rx.recv() => match change {
                Ok(change) => handle(&cluster, &change),
                Err(RecvError::Lagged(_)) => reconcile_all(&cluster),
                Err(RecvError::Closed) => return,
            }
        }
    }
}

fn handle(cluster: &Arc<Cluster>, change: &Change) {
    if change.kind == ChangeKind::Deleted {
        return;
    }
    reconcile(cluster, &change.gr.group, &change.gr.resource, &change.object, false);
}
