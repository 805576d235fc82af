//! Events (`core/v1`) the simulated controllers record, as a real
//! controller's `record.EventRecorder` does, so `kubectl describe` lists
//! them and `kubectl get events` shows them.
//!
//! Only a few are recorded: the Deployment controller's `ScalingReplicaSet`
//! (k8s.io/kubernetes `pkg/controller/deployment/sync.go`, "Scaled %s replica
//! set %s to %d from %d"). Events are owned by nobody and never expire.

use super::CONTROLLER_MANAGER;
use crate::api::object;
use crate::api::write::{self, WriteCtx};
use crate::cluster::Cluster;
use serde_json::{Value, json};

/// Records a `Normal` event about `involved` from `component`.
pub fn record(cluster: &Cluster, involved: &Value, reason: &str, message: &str, component: &str) {
    let Some(rt) = cluster.registry.preferred("", "events") else {
        return;
    };
    let namespace = object::namespace(involved);
    let now = crate::time::now_rfc3339();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let body = json!({
        "metadata": {"name": format!("{}.{}", object::name(involved), &suffix[..16]), "namespace": namespace},
        "involvedObject": {
            "apiVersion": involved["apiVersion"], "kind": involved["kind"], "name": involved["metadata"]["name"],
            "namespace": namespace, "uid": involved["metadata"]["uid"],
            "resourceVersion": involved["metadata"]["resourceVersion"],
        },
        "reason": reason,
        "message": message,
        "source": {"component": component},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": "Normal",
        "reportingComponent": component,
        "reportingInstance": "",
    });
    let ctx = WriteCtx::controller(CONTROLLER_MANAGER, "kube-controller-manager");
    if let Err(e) = write::create(cluster, &rt, Some(namespace), body, &ctx) {
        tracing::debug!("event {reason} not recorded: {e}");
    }
}

/// `ScalingReplicaSet` on a Deployment: "Scaled up replica set web-5d4f to 2 from 0".
pub fn scaled_replica_set(cluster: &Cluster, deployment: &Value, rs: &str, from: i64, to: i64) {
    if from == to {
        return;
    }
    let direction = if to > from { "up" } else { "down" };
    let message = format!("Scaled {direction} replica set {rs} to {to} from {from}");
    record(
        cluster,
        deployment,
        "ScalingReplicaSet",
        &message,
        "deployment-controller",
    );
}
