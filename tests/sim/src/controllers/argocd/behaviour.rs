//! `apps:` behaviours of `sim.yaml`, acted out on the objects an
//! Application manages, never on its health: the simulated controllers and
//! operators (`controllers::workloads`, `controllers::custom`) ask here how
//! an object of an Application should turn out, and write the status the
//! real controller would write. The simulated Argo CD then judges that
//! status with its checks — the ones in `argocd-cm` included — exactly as
//! Argo CD would.
//!
//! | behaviour | the Application's objects |
//! |---|---|
//! | `healthyAfter: D` | become ready `D` after each new generation (instead of `workloads.readyAfter`, when longer) |
//! | `health: Degraded` (`message`) | fail the way their kind fails: a Deployment exceeds its progress deadline, a Job or bare ReplicaSet fails with the message, a CephCluster reports HEALTH_ERR with it, a postgresql `SyncFailed`, a Vault stays sealed, a custom resource with a `Ready` condition turns it False with the message; kinds that cannot fail (StatefulSet, DaemonSet) never become ready |
//! | `health: Progressing` (or any other status) | never become ready |
//!
//! An object belongs to the Application named by its
//! `app.kubernetes.io/instance` label, or by its owning Deployment's (a
//! ReplicaSet). A reload that changes the behaviour re-plays the objects
//! that are not ready yet.

use super::INSTANCE_LABEL;
use crate::api::object;
use crate::cluster::Cluster;
use crate::resources::GroupResource;
use serde_json::Value;
use std::time::Duration;

/// How an object should turn out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// Ready after the usual delay.
    None,
    /// Ready after at least this long.
    Delay(Duration),
    /// Never ready.
    Forever,
    /// Failed, with this message.
    Fail(String),
}

/// The Application an object belongs to: its tracking label, or its
/// owning Deployment's.
pub fn app_of(cluster: &Cluster, o: &Value) -> Option<String> {
    if let Some(app) = object::label(o, INSTANCE_LABEL) {
        return Some(app.to_string());
    }
    let owner = o["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["kind"] == "Deployment")?;
    let deployment = cluster.store.get(
        &GroupResource::new("apps", "deployments"),
        object::namespace(o),
        owner["name"].as_str()?,
    )?;
    object::label(&deployment, INSTANCE_LABEL).map(str::to_string)
}

/// How `o` should turn out under its Application's behaviour.
pub fn hold(cluster: &Cluster, o: &Value) -> Hold {
    let Some(app) = app_of(cluster, o) else {
        return Hold::None;
    };
    let config = cluster.config();
    let Some(behaviour) = config.apps.get(&app) else {
        return Hold::None;
    };
    match behaviour.health.as_deref() {
        None | Some("Healthy") => behaviour.healthy_after.map_or(Hold::None, Hold::Delay),
        Some("Degraded") => Hold::Fail(
            behaviour
                .message
                .clone()
                .unwrap_or_else(|| format!("kube-sim: {app} is held Degraded (sim.yaml apps)")),
        ),
        Some(_) => Hold::Forever,
    }
}

/// The delay before an object of `o`'s kind turns ready (or fails), or
/// `None` when it never does.
pub fn delay(cluster: &Cluster, o: &Value, usual: Duration) -> Option<Duration> {
    match hold(cluster, o) {
        Hold::None | Hold::Fail(_) => Some(usual),
        Hold::Delay(d) => Some(usual.max(d)),
        Hold::Forever => None,
    }
}

/// The failing status of an operator-managed kind, merged over its ready
/// status; `None` when the kind has no failure kube-sim knows (it then
/// never becomes ready).
pub fn failed_status(group: &str, kind: &str, ready: &Value, message: &str) -> Option<Value> {
    let mut status = ready.clone();
    match (group, kind) {
        ("ceph.rook.io", "CephCluster") => {
            status["ceph"]["health"] = "HEALTH_ERR".into();
            status["message"] = message.into();
        }
        ("acid.zalan.do", "postgresql") => status["PostgresClusterStatus"] = "SyncFailed".into(),
        ("vault.banzaicloud.com", "Vault") => status["sealed"] = true.into(),
        _ => {
            let conditions = status["conditions"].as_array_mut()?;
            let ready = conditions.iter_mut().find(|c| c["type"] == "Ready")?;
            ready["status"] = "False".into();
            ready["message"] = message.into();
        }
    }
    Some(status)
}
