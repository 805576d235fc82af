//! Simulated controllers: what a real cluster's controller manager, storage
//! provisioner, operators and Argo CD would do, driven by the store's change
//! feed and tokio timers (never by polling).
//!
//! Every controller writes through [`crate::api::write`] with its own user,
//! so its writes obey finalizers and concurrency and show in the audit log
//! under that user.

pub mod argocd;
pub mod custom;
pub mod events;
pub mod gc;
pub mod pods;
pub mod storage;
pub mod workflows;
pub mod workloads;

use crate::api::write;
use crate::cluster::Cluster;
use serde_json::json;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The user the built-in controllers write as.
pub const CONTROLLER_MANAGER: &str = "system:kube-controller-manager";

/// Creates what every cluster has before anyone talks to it.
pub fn seed(cluster: &Cluster) {
    let ctx = write::WriteCtx {
        user: "system:apiserver",
        manager: "kube-apiserver",
        dry_run: false,
        audit: false,
        field_validation: crate::schema::FieldValidation::Warn,
        warnings: None,
    };
    let reg = &cluster.registry;
    let create = |group: &str, resource: &str, body: serde_json::Value| {
        if let Some(rt) = reg.preferred(group, resource) {
            let ns = body["metadata"]["namespace"].as_str().map(String::from);
            if let Err(e) = write::create(cluster, &rt, ns.as_deref(), body, &ctx) {
                tracing::warn!("seeding {resource}: {e}");
            }
        }
    };
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        create(
            "",
            "namespaces",
            json!({"metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}}),
        );
    }
    let nodes = cluster.config().nodes.unwrap_or(3);
    for i in 1..=nodes {
        let name = format!("sim-node-{i}");
        create(
            "",
            "nodes",
            json!({
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
                "spec": {},
            }),
        );
        if let Some(rt) = reg.preferred("", "nodes") {
            let ctx = write::WriteCtx::controller("system:node", "kubelet");
            let _ = write::modify(cluster, &rt, "", &name, Some("status"), &ctx, |n| {
                n["status"] = json!({
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
                    "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                    "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                    "nodeInfo": {"kubeletVersion": "v1.33.0", "architecture": "amd64", "operatingSystem": "linux"},
                });
            });
        }
    }
    create(
        "storage.k8s.io",
        "storageclasses",
        json!({
            "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "kube-sim.io/hostpath",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        }),
    );
    create(
        "",
        "services",
        json!({
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]},
        }),
    );
}

/// Starts every controller; they stop when `shutdown` turns true.
pub fn start(cluster: &Arc<Cluster>, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(gc::run(cluster.clone(), shutdown.clone())),
        tokio::spawn(workloads::run(cluster.clone(), shutdown.clone())),
        tokio::spawn(custom::run(cluster.clone(), shutdown.clone())),
        tokio::spawn(argocd::run(cluster.clone(), shutdown.clone())),
        tokio::spawn(workflows::run(cluster.clone(), shutdown.clone())),
        tokio::spawn(crate::podrunner::run(cluster.clone(), shutdown)),
    ]
}
