//! The workload, storage and operator controllers, through kube-rs.

use crate::util::{kube_client, wait_for, wait_gone};
use k8s_openapi::api::apps::v1::{DaemonSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Service};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams};
use kube_sim::SimConfig;
use serde_json::json;
use std::time::Duration;

fn fast() -> SimConfig {
    SimConfig::from_yaml("workloads: {readyAfter: 100ms}\n").unwrap()
}

fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn statefulset_claims_bind_and_reclaim() {
    let (sim, client) = kube_client(fast()).await;
    let classes: Api<StorageClass> = Api::all(client.clone());
    classes
        .create(
            &PostParams::default(),
            &from(json!({"metadata": {"name": "keep"}, "provisioner": "example.com/disk", "reclaimPolicy": "Retain"})),
        )
        .await
        .unwrap();
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    sets.create(&PostParams::default(), &from(json!({
        "metadata": {"name": "db"},
        "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "postgres:16.6"}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "keep", "resources": {"requests": {"storage": "1Gi"}}}}]}
    })))
    .await
    .unwrap();
    let ready = wait_for(&sets, "db", Duration::from_secs(10), |s: &StatefulSet| {
        s.status
            .as_ref()
            .is_some_and(|st| st.ready_replicas == Some(2) && st.current_revision == st.update_revision)
    })
    .await;
    assert_eq!(ready.status.unwrap().observed_generation, Some(1));
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    for i in 0..2 {
        let name = format!("data-db-{i}");
        let pvc = wait_for(&claims, &name, Duration::from_secs(10), |c: &PersistentVolumeClaim| {
            c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")
        })
        .await;
        assert!(
            pvc.metadata.owner_references.is_none(),
            "claims are not owned by the StatefulSet"
        );
        let pv = volumes
            .get(pvc.spec.unwrap().volume_name.as_deref().unwrap())
            .await
            .unwrap();
        assert_eq!(
            pv.spec.unwrap().persistent_volume_reclaim_policy.as_deref(),
            Some("Retain")
        );
    }
    sets.delete("db", &DeleteParams::default()).await.unwrap();
    wait_gone(&sets, "db", Duration::from_secs(5)).await;
    let pvc = claims.get("data-db-0").await.expect("claims outlive the StatefulSet");
    let pv_name = pvc.spec.unwrap().volume_name.unwrap();
    claims.delete("data-db-0", &DeleteParams::default()).await.unwrap();
    wait_for(&volumes, &pv_name, Duration::from_secs(5), |pv: &PersistentVolume| {
        pv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Released")
    })
    .await;
    // A claim without a class uses the default class (Delete).
    claims.create(&PostParams::default(), &from(json!({"metadata": {"name": "scratch"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}))).await.unwrap();
    let bound = wait_for(
        &claims,
        "scratch",
        Duration::from_secs(10),
        |c: &PersistentVolumeClaim| c.spec.as_ref().is_some_and(|s| s.volume_name.is_some()),
    )
    .await;
    let pv_name = bound.spec.unwrap().volume_name.unwrap();
    claims.delete("scratch", &DeleteParams::default()).await.unwrap();
    wait_gone(&volumes, &pv_name, Duration::from_secs(5)).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn services_jobs_and_daemonsets() {
    let (sim, client) = kube_client(fast()).await;
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    services.create(&PostParams::default(), &from(json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "selector": {"app": "x"}, "ports": [{"port": 80}]}}))).await.unwrap();
    let lb = wait_for(&services, "lb", Duration::from_secs(5), |s: &Service| {
        s.status
            .as_ref()
            .and_then(|st| st.load_balancer.as_ref())
            .and_then(|l| l.ingress.as_ref())
            .is_some_and(|i| i[0].ip.is_some())
    })
    .await;
    assert!(lb.spec.unwrap().cluster_ip.is_some());
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    jobs.create(&PostParams::default(), &from(json!({"metadata": {"name": "once"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.37.0"}]}}}}))).await.unwrap();
    let done = wait_for(&jobs, "once", Duration::from_secs(5), |j: &Job| {
        j.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Complete" && c.status == "True"))
    })
    .await;
    assert_eq!(done.status.unwrap().succeeded, Some(1));
    let sets: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    sets.create(&PostParams::default(), &from(json!({"metadata": {"name": "agent"}, "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "a", "image": "busybox:1.37.0"}]}}}}))).await.unwrap();
    let ds = wait_for(&sets, "agent", Duration::from_secs(5), |d: &DaemonSet| {
        d.status.as_ref().is_some_and(|s| s.number_ready == 3)
    })
    .await;
    assert_eq!(ds.status.unwrap().desired_number_scheduled, 3);
    // A bare pod is scheduled and started.
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), "default");
    pods.create(
        &PostParams::default(),
        &from(
            json!({"metadata": {"name": "probe"}, "spec": {"containers": [{"name": "p", "image": "busybox:1.37.0"}]}}),
        ),
    )
    .await
    .unwrap();
    let running = wait_for(
        &pods,
        "probe",
        Duration::from_secs(5),
        |p: &k8s_openapi::api::core::v1::Pod| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"),
    )
    .await;
    assert!(running.spec.unwrap().node_name.is_some());
    sim.shutdown().await;
}

fn crd(group: &str, version: &str, kind: &str, plural: &str) -> serde_json::Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {"group": group, "scope": "Namespaced", "names": {"kind": kind, "plural": plural},
                 "versions": [{"name": version, "served": true, "storage": true, "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    })
}

#[tokio::test]
async fn operator_kinds_get_status_and_overrides() {
    let mut config = SimConfig::from_yaml("workloads: {readyAfter: 50ms}\ncustomResources:\n  - {group: example.com, kind: Gadget, status: {state: ready}}\n").unwrap();
    let (sim, client) = kube_client(config.clone()).await;
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let kinds = [
        (
            "ceph.rook.io",
            "v1",
            "CephCluster",
            "cephclusters",
            "/status/ceph/health",
            json!("HEALTH_OK"),
        ),
        (
            "acid.zalan.do",
            "v1",
            "postgresql",
            "postgresqls",
            "/status/PostgresClusterStatus",
            json!("Running"),
        ),
        (
            "vault.banzaicloud.com",
            "v1alpha1",
            "Vault",
            "vaults",
            "/status/leader",
            json!("vault-0"),
        ),
        (
            "example.com",
            "v1",
            "Gadget",
            "gadgets",
            "/status/state",
            json!("ready"),
        ),
    ];
    for (group, version, kind, plural, pointer, want) in &kinds {
        crds.create(&PostParams::default(), &from(crd(group, version, kind, plural)))
            .await
            .unwrap();
        let api: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            "default",
            &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural),
        );
        let body = json!({"apiVersion": format!("{group}/{version}"), "kind": kind, "metadata": {"name": "one"}, "spec": {"numberOfInstances": 2}});
        api.create(&PostParams::default(), &from(body)).await.unwrap();
        let pointer = pointer.to_string();
        let want = want.clone();
        wait_for(&api, "one", Duration::from_secs(5), move |o: &DynamicObject| {
            o.data.pointer(&pointer) == Some(&want)
        })
        .await;
    }
    let pg: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("acid.zalan.do", "v1", "postgresql"),
            "postgresqls",
        ),
    );
    assert_eq!(
        pg.get("one").await.unwrap().data.pointer("/status/readyInstances"),
        Some(&json!(2))
    );
    // A per-object override applied at run time.
    config.objects = vec![kube_sim::config::ObjectOverride {
        kind: "CephCluster".into(),
        namespace: Some("default".into()),
        name: "one".into(),
        status: json!({"ceph": {"health": "HEALTH_ERR"}}),
    }];
    sim.reload(config);
    let ceph: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("ceph.rook.io", "v1", "CephCluster"),
            "cephclusters",
        ),
    );
    wait_for(&ceph, "one", Duration::from_secs(5), |o: &DynamicObject| {
        o.data.pointer("/status/ceph/health") == Some(&json!("HEALTH_ERR"))
    })
    .await;
    sim.shutdown().await;
}
