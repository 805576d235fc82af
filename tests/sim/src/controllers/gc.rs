//! Garbage collection and termination: ownerReference cascades (background,
//! foreground, orphan), namespace termination, and CRD cleanup (deleting a
//! CRD deletes its objects first).
//!
//! All of it reacts to the change feed: a deletion or a new
//! `deletionTimestamp` triggers work, and the deletion of the last dependent
//! (or namespace member) lets the waiting owner finish.

use crate::api::object::{self, is_deleting};
use crate::api::write::{self, DeleteOptions, WriteCtx};
use crate::cluster::Cluster;
use crate::resources::ResourceType;
use crate::store::{Change, ChangeKind};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

/// The user the garbage collector writes as.
pub const GC_USER: &str = "system:serviceaccount:kube-system:generic-garbage-collector";
/// The user the namespace controller writes as.
pub const NAMESPACE_USER: &str = "system:serviceaccount:kube-system:namespace-controller";

fn ctx(user: &str) -> WriteCtx<'_> {
    WriteCtx::controller(user, "kube-controller-manager")
}

/// Every stored object with its type.
pub fn all_objects(cluster: &Cluster) -> Vec<(Arc<ResourceType>, Arc<Value>)> {
    let mut out = Vec::new();
    for gr in cluster.store.resources() {
        let Some(rt) = cluster.registry.preferred(&gr.group, &gr.resource) else {
            continue;
        };
        for o in cluster.store.list(&gr, None).0 {
            out.push((rt.clone(), o));
        }
    }
    out
}

fn dependents(cluster: &Cluster, uid: &str) -> Vec<(Arc<ResourceType>, Arc<Value>)> {
    cluster
        .store
        .dependents_of(uid)
        .into_iter()
        .filter_map(|(gr, o)| Some((cluster.registry.preferred(&gr.group, &gr.resource)?, o)))
        .collect()
}

fn by_uid(cluster: &Cluster, uid: &str) -> Option<(Arc<ResourceType>, Arc<Value>)> {
    let (gr, ns, name) = cluster.store.locate(uid)?;
    let o = cluster.store.get(&gr, &ns, &name)?;
    Some((cluster.registry.preferred(&gr.group, &gr.resource)?, o))
}

fn delete_background(cluster: &Cluster, user: &str, rt: &ResourceType, o: &Value) {
    if is_deleting(o) {
        return;
    }
    let options = DeleteOptions {
        propagation: Some("Background".into()),
        ..DeleteOptions::default()
    };
    let _ = write::delete(cluster, rt, object::namespace(o), object::name(o), &options, &ctx(user));
}

fn drop_finalizer(cluster: &Cluster, user: &str, rt: &ResourceType, o: &Value, finalizer: &str) {
    let _ = write::modify(
        cluster,
        rt,
        object::namespace(o),
        object::name(o),
        None,
        &ctx(user),
        |obj| {
            object::remove_finalizer(obj, finalizer);
        },
    );
}

/// Works on one object that is being deleted.
fn handle_deleting(cluster: &Cluster, rt: &ResourceType, o: &Value) {
    let finalizers = object::finalizers(o);
    if finalizers.iter().any(|f| f == "foregroundDeletion") {
        let deps = dependents(cluster, object::uid(o));
        if deps.is_empty() {
            drop_finalizer(cluster, GC_USER, rt, o, "foregroundDeletion");
        } else {
            for (drt, d) in deps {
                delete_background(cluster, GC_USER, &drt, &d);
            }
        }
    }
    if finalizers.iter().any(|f| f == "orphan") {
        let uid = object::uid(o).to_string();
        for (drt, d) in dependents(cluster, &uid) {
            let _ = write::modify(
                cluster,
                &drt,
                object::namespace(&d),
                object::name(&d),
                None,
                &ctx(GC_USER),
                |obj| {
                    if let Some(refs) = obj["metadata"]["ownerReferences"].as_array_mut() {
                        refs.retain(|r| r["uid"].as_str() != Some(uid.as_str()));
                    }
                    if obj["metadata"]["ownerReferences"].as_array().is_some_and(Vec::is_empty)
                        && let Some(m) = obj["metadata"].as_object_mut()
                    {
                        m.remove("ownerReferences");
                    }
                },
            );
        }
        drop_finalizer(cluster, GC_USER, rt, o, "orphan");
    }
    if rt.group.is_empty() && rt.resource == "namespaces" {
        terminate_namespace(cluster, rt, o);
    }
    if rt.group == "apiextensions.k8s.io"
        && rt.resource == "customresourcedefinitions"
        && finalizers
            .iter()
            .any(|f| f == "customresourcecleanup.apiextensions.k8s.io")
    {
        let group = o["spec"]["group"].as_str().unwrap_or("");
        let plural = o["spec"]["names"]["plural"].as_str().unwrap_or("");
        let gr = crate::resources::GroupResource::new(group, plural);
        let (items, _) = cluster.store.list(&gr, None);
        if items.is_empty() {
            drop_finalizer(cluster, GC_USER, rt, o, "customresourcecleanup.apiextensions.k8s.io");
        } else if let Some(crt) = cluster.registry.preferred(group, plural) {
            for item in items {
                delete_background(cluster, GC_USER, &crt, &item);
            }
        }
    }
}

fn terminate_namespace(cluster: &Cluster, rt: &ResourceType, ns: &Value) {
    let name = object::name(ns);
    let mut remaining = 0;
    for gr in cluster.store.resources() {
        let Some(crt) = cluster.registry.preferred(&gr.group, &gr.resource) else {
            continue;
        };
        if !crt.namespaced {
            continue;
        }
        for item in cluster.store.list(&gr, Some(name)).0 {
            remaining += 1;
            delete_background(cluster, NAMESPACE_USER, &crt, &item);
        }
    }
    if remaining == 0 {
        let _ = write::update(
            cluster,
            rt,
            "",
            name,
            serde_json::json!({"spec": {"finalizers": []}}),
            Some("finalize"),
            &ctx(NAMESPACE_USER),
        );
    }
}

fn handle(cluster: &Cluster, change: &Change) {
    let Some(rt) = cluster.registry.preferred(&change.gr.group, &change.gr.resource) else {
        // A CRD's type may be gone already; its objects were cleaned first.
        return;
    };
    match change.kind {
        ChangeKind::Deleted => {
            let uid = object::uid(&change.object).to_string();
            for (drt, d) in dependents(cluster, &uid) {
                delete_background(cluster, GC_USER, &drt, &d);
            }
            // A waiting owner, namespace or CRD may now be able to finish.
            for owner_uid in object::owner_uids(&change.object) {
                if let Some((ort, owner)) = by_uid(cluster, &owner_uid).filter(|(_, o)| is_deleting(o)) {
                    handle_deleting(cluster, &ort, &owner);
                }
            }
            let ns = object::namespace(&change.object);
            if !ns.is_empty()
                && let Some(nrt) = cluster.registry.preferred("", "namespaces")
                && let Some(nso) = cluster.store.get(&nrt.group_resource(), "", ns)
                && is_deleting(&nso)
            {
                handle_deleting(cluster, &nrt, &nso);
            }
            if rt.custom
                && let Some(crd_rt) = cluster
                    .registry
                    .preferred("apiextensions.k8s.io", "customresourcedefinitions")
            {
                let crd_name = format!("{}.{}", rt.resource, rt.group);
                if let Some(crd) = cluster.store.get(&crd_rt.group_resource(), "", &crd_name)
                    && is_deleting(&crd)
                {
                    handle_deleting(cluster, &crd_rt, &crd);
                }
            }
        }
        ChangeKind::Added | ChangeKind::Modified => {
            let newly = change.old.as_ref().is_none_or(|o| !is_deleting(o))
                || change
                    .old
                    .as_ref()
                    .is_some_and(|o| object::finalizers(o) != object::finalizers(&change.object));
            if is_deleting(&change.object) && newly {
                handle_deleting(cluster, &rt, &change.object);
            }
        }
    }
}

fn resync(cluster: &Cluster) {
    for (rt, o) in all_objects(cluster) {
        if is_deleting(&o) {
            handle_deleting(cluster, &rt, &o);
        }
    }
}

/// Runs the garbage collector until shutdown.
pub async fn run(cluster: Arc<Cluster>, mut shutdown: watch::Receiver<bool>) {
    let mut rx = cluster.store.subscribe();
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            change = rx.recv() => match change {
                Ok(change) => handle(&cluster, &change),
                Err(RecvError::Lagged(_)) => resync(&cluster),
                Err(RecvError::Closed) => return,
            }
        }
    }
}
