//! Storage and networking that a cloud or CSI driver would provide: PVCs
//! bind (after `workloads.readyAfter`) to a PV created for them with the
//! StorageClass's reclaim policy (Delete when no class is found); deleting
//! a PVC deletes a Delete-policy PV and leaves a Retain-policy PV
//! `Released`. LoadBalancer Services get an ingress IP from a documentation
//! range (198.51.100.0/24), and Ingresses the ingress controller's address;
//! nothing is ever routed to them.

use super::CONTROLLER_MANAGER;
use crate::api::object;
use crate::api::write::{self, WriteCtx};
use crate::cluster::Cluster;
use crate::resources::GroupResource;
use crate::store::{Change, ChangeKind};
use serde_json::{Value, json};
use std::sync::Arc;

/// The user the volume provisioner writes as.
pub const PROVISIONER: &str = "system:serviceaccount:kube-system:persistent-volume-binder";

fn ctx(user: &str) -> WriteCtx<'_> {
    WriteCtx::controller(user, "kube-controller-manager")
}

fn storage_class(cluster: &Cluster, pvc: &Value) -> Option<Arc<Value>> {
    let gr = GroupResource::new("storage.k8s.io", "storageclasses");
    match pvc["spec"]["storageClassName"].as_str() {
        Some(name) => cluster.store.get(&gr, "", name),
        None => cluster
            .store
            .list(&gr, None)
            .0
            .into_iter()
            .find(|sc| object::annotation(sc, "storageclass.kubernetes.io/is-default-class") == Some("true")),
    }
}

fn bind(cluster: &Cluster, pvc: &Value) {
    let (Some(pv_rt), Some(pvc_rt)) = (
        cluster.registry.preferred("", "persistentvolumes"),
        cluster.registry.preferred("", "persistentvolumeclaims"),
    ) else {
        return;
    };
    let Some(current) = cluster
        .store
        .get(&pvc_rt.group_resource(), object::namespace(pvc), object::name(pvc))
    else {
        return;
    };
    if current["status"]["phase"] == "Bound" || object::is_deleting(&current) {
        return;
    }
    let class = storage_class(cluster, &current);
    let policy = class
        .as_ref()
        .and_then(|c| c["reclaimPolicy"].as_str().map(String::from))
        .unwrap_or_else(|| "Delete".into());
    let class_name = class.as_ref().map(|c| object::name(c).to_string());
    let pv_name = format!("pvc-{}", object::uid(&current));
    let capacity = current["spec"]["resources"]["requests"]["storage"].clone();
    let access_modes = current["spec"]["accessModes"].clone();
    let mut pv = json!({
        "metadata": {"name": pv_name, "annotations": {"pv.kubernetes.io/provisioned-by": "kube-sim.io/hostpath"}},
        "spec": {
            "capacity": {"storage": capacity},
            "accessModes": access_modes,
            "persistentVolumeReclaimPolicy": policy,
            "claimRef": {
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "namespace": object::namespace(&current), "name": object::name(&current), "uid": object::uid(&current),
            },
            "hostPath": {"path": format!("/var/lib/kube-sim/{pv_name}")},
            "volumeMode": "Filesystem",
        },
    });
    if let Some(name) = &class_name {
        pv["spec"]["storageClassName"] = json!(name);
    }
    if write::create(cluster, &pv_rt, None, pv, &ctx(PROVISIONER)).is_ok() {
        let _ = write::modify(cluster, &pv_rt, "", &pv_name, Some("status"), &ctx(PROVISIONER), |p| {
            p["status"] = json!({"phase": "Bound"});
        });
    }
    let ns = object::namespace(&current).to_string();
    let name = object::name(&current).to_string();
    let _ = write::modify(cluster, &pvc_rt, &ns, &name, None, &ctx(PROVISIONER), |c| {
        c["spec"]["volumeName"] = json!(pv_name);
        if let Some(n) = &class_name
            && c["spec"]["storageClassName"].is_null()
        {
            c["spec"]["storageClassName"] = json!(n);
        }
        c["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] = json!("yes");
        c["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"] = json!("yes");
    });
    let _ = write::modify(cluster, &pvc_rt, &ns, &name, Some("status"), &ctx(PROVISIONER), |c| {
        c["status"] = json!({"phase": "Bound", "accessModes": access_modes, "capacity": {"storage": capacity}});
    });
}

fn reclaim(cluster: &Cluster, pvc: &Value) {
    let Some(pv_rt) = cluster.registry.preferred("", "persistentvolumes") else {
        return;
    };
    let uid = object::uid(pvc);
    for pv in cluster.store.list(&pv_rt.group_resource(), None).0 {
        if pv["spec"]["claimRef"]["uid"].as_str() != Some(uid) {
            continue;
        }
        if pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete" {
            let _ = write::delete(
                cluster,
                &pv_rt,
                "",
                object::name(&pv),
                &Default::default(),
                &ctx(PROVISIONER),
            );
        } else {
            let _ = write::modify(
                cluster,
                &pv_rt,
                "",
                object::name(&pv),
                Some("status"),
                &ctx(PROVISIONER),
                |p| {
                    p["status"] = json!({"phase": "Released"});
                },
            );
        }
    }
}

fn load_balancer(cluster: &Cluster, svc: &Value) {
    let Some(rt) = cluster.registry.preferred("", "services") else {
        return;
    };
    let ip = cluster.allocate_ip("198.51");
    let ip = format!("198.51.100.{}", ip.rsplit('.').next().unwrap_or("1"));
    let _ = write::modify(
        cluster,
        &rt,
        object::namespace(svc),
        object::name(svc),
        Some("status"),
        &ctx(CONTROLLER_MANAGER),
        |s| {
            s["status"] = json!({"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}});
        },
    );
}

/// Reacts to one change of the store.
pub fn handle(cluster: &Arc<Cluster>, change: &Change) {
    match (change.gr.group.as_str(), change.gr.resource.as_str(), change.kind) {
        ("", "persistentvolumeclaims", ChangeKind::Added) => {
            let delay = cluster.config().workloads.ready_after();
            let cluster = cluster.clone();
            let pvc = change.object.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                bind(&cluster, &pvc);
            });
        }
        ("", "persistentvolumeclaims", ChangeKind::Deleted) => reclaim(cluster, &change.object),
        ("", "services", ChangeKind::Added | ChangeKind::Modified) => {
            let svc = &change.object;
            if svc["spec"]["type"] == "LoadBalancer"
                && svc["status"]["loadBalancer"]["ingress"].is_null()
                && !object::is_deleting(svc)
            {
                load_balancer(cluster, svc);
            }
        }
        ("networking.k8s.io", "ingresses", ChangeKind::Added | ChangeKind::Modified) => {
            let ing = &change.object;
            if ing["status"]["loadBalancer"]["ingress"].is_null()
                && !object::is_deleting(ing)
                && let Some(rt) = cluster.registry.preferred("networking.k8s.io", "ingresses")
            {
                {
                    let _ = write::modify(
                        cluster,
                        &rt,
                        object::namespace(ing),
                        object::name(ing),
                        Some("status"),
                        &ctx(CONTROLLER_MANAGER),
                        |i| {
                            i["status"] = json!({"loadBalancer": {"ingress": [{"ip": "198.51.100.250"}]}});
                        },
                    );
                }
            }
        }
        _ => {}
    }
}
