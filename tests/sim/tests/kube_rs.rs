//! kube-rs against in-process simulators: CRUD, selectors, pagination,
//! watches and resourceVersion semantics, optimistic concurrency,
//! server-side apply, deletion semantics, CRDs and dry runs.

use crate::util::{client_for, kube_client, wait_for, wait_gone};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, PropagationPolicy, WatchEvent,
    WatchParams,
};
use kube::discovery::ApiResource;
use kube_sim::SimConfig;
use serde_json::json;
use std::time::Duration;

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})).unwrap()
}

fn code(e: kube::Error) -> u16 {
    match e {
        kube::Error::Api(s) => s.code,
        other => panic!("not an API error: {other:?}"),
    }
}

#[tokio::test]
async fn crud_selectors_pagination_and_conflicts() {
    let (sim, client) = kube_client(SimConfig::default()).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..7 {
        let tier = if i % 2 == 0 { "even" } else { "odd" };
        cms.create(&PostParams::default(), &cm(&format!("c{i}"), json!({"tier": tier})))
            .await
            .unwrap();
    }
    let even = cms.list(&ListParams::default().labels("tier=even")).await.unwrap();
    assert_eq!(even.items.len(), 4);
    let by_name = cms
        .list(&ListParams::default().fields("metadata.name=c3"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);
    // limit/continue pages through everything exactly once.
    let mut names = Vec::new();
    let mut params = ListParams::default().limit(3);
    loop {
        let page = cms.list(&params).await.unwrap();
        names.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    assert_eq!(names, (0..7).map(|i| format!("c{i}")).collect::<Vec<_>>());
    // Duplicate create is 409 AlreadyExists; missing is 404; missing namespace is 404.
    assert_eq!(
        code(
            cms.create(&PostParams::default(), &cm("c0", json!({})))
                .await
                .unwrap_err()
        ),
        409
    );
    assert_eq!(code(cms.get("nope").await.unwrap_err()), 404);
    let elsewhere: Api<ConfigMap> = Api::namespaced(client.clone(), "missing");
    assert_eq!(
        code(
            elsewhere
                .create(&PostParams::default(), &cm("x", json!({})))
                .await
                .unwrap_err()
        ),
        404
    );
    // Invalid names are 422.
    assert_eq!(
        code(
            cms.create(&PostParams::default(), &cm("Not_Valid", json!({})))
                .await
                .unwrap_err()
        ),
        422
    );
    // Optimistic concurrency.
    let mut stale = cms.get("c0").await.unwrap();
    let mut fresh = stale.clone();
    fresh.data = Some([("k".to_string(), "fresh".to_string())].into());
    cms.replace("c0", &PostParams::default(), &fresh).await.unwrap();
    stale.data = Some([("k".to_string(), "stale".to_string())].into());
    assert_eq!(
        code(cms.replace("c0", &PostParams::default(), &stale).await.unwrap_err()),
        409
    );
    // Delete.
    cms.delete("c0", &DeleteParams::default()).await.unwrap();
    assert_eq!(code(cms.get("c0").await.unwrap_err()), 404);
    // Viewer can read but not write.
    let viewer = client_for(&sim, "viewer").await;
    let viewer_cms: Api<ConfigMap> = Api::namespaced(viewer, "default");
    assert_eq!(viewer_cms.list(&ListParams::default()).await.unwrap().items.len(), 6);
    assert_eq!(
        code(viewer_cms.delete("c1", &DeleteParams::default()).await.unwrap_err()),
        403
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn watches_resume_bookmark_and_expire() {
    let config = SimConfig {
        watch_history: Some(16),
        ..SimConfig::default()
    };
    let (sim, client) = kube_client(config).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let first = cms.create(&PostParams::default(), &cm("w0", json!({}))).await.unwrap();
    let rv = first.metadata.resource_version.clone().unwrap();
    cms.create(&PostParams::default(), &cm("w1", json!({}))).await.unwrap();
    // Resuming from rv replays only what came after it.
    let mut stream = cms
        .watch(&WatchParams::default().timeout(5), &rv)
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Added(c)) => assert_eq!(c.metadata.name.as_deref(), Some("w1")),
        other => panic!("unexpected {other:?}"),
    }
    // Too old a version is 410 Gone.
    for i in 0..40 {
        cms.create(&PostParams::default(), &cm(&format!("f{i}"), json!({})))
            .await
            .unwrap();
    }
    let mut stream = cms
        .watch(&WatchParams::default().timeout(5), &rv)
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => assert_eq!(e.code, 410),
        other => panic!("expected 410, got {other:?}"),
    }
    // The kube-rs watcher (list + watch, and its streaming-list variant) sees changes.
    for streaming in [false, true] {
        let mut config = kube::runtime::watcher::Config::default().labels("w=1");
        if streaming {
            config = config.streaming_lists();
        }
        let mut events = kube::runtime::watcher(cms.clone(), config).boxed();
        let name = format!("late-{streaming}");
        let creator = {
            let cms = cms.clone();
            let name = name.clone();
            tokio::spawn(async move {
                cms.create(&PostParams::default(), &cm(&name, json!({"w": "1"})))
                    .await
                    .unwrap();
            })
        };
        let seen = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(event) = events.try_next().await.unwrap() {
                if let kube::runtime::watcher::Event::Apply(c) | kube::runtime::watcher::Event::InitApply(c) = event
                    && c.metadata.name.as_deref() == Some(name.as_str())
                {
                    return true;
                }
            }
            false
        })
        .await;
        creator.await.unwrap();
        assert_eq!(seen, Ok(true), "streaming={streaming}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn server_side_apply_owns_fields() {
    let (sim, client) = kube_client(SimConfig::default()).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let config =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "1", "b": "2"}});
    let created = cms
        .patch("ssa", &PatchParams::apply("alice"), &Patch::Apply(&config))
        .await
        .unwrap();
    let again = cms
        .patch("ssa", &PatchParams::apply("alice"), &Patch::Apply(&config))
        .await
        .unwrap();
    assert_eq!(
        created.metadata.resource_version, again.metadata.resource_version,
        "a no-op apply is a no-op"
    );
    assert_eq!(created.metadata.managed_fields, again.metadata.managed_fields);
    let entry = &again.metadata.managed_fields.as_ref().unwrap()[0];
    assert_eq!(
        (entry.manager.as_deref(), entry.operation.as_deref()),
        (Some("alice"), Some("Apply"))
    );
    // Bob conflicts on a field Alice owns with a different value...
    let bob = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "9"}});
    let err = cms
        .patch("ssa", &PatchParams::apply("bob"), &Patch::Apply(&bob))
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert!(s.message.contains("conflict with \"alice\""), "{}", s.message);
        }
        other => panic!("{other:?}"),
    }
    // ...unless he forces; and Alice dropping `b` removes it.
    cms.patch("ssa", &PatchParams::apply("bob").force(), &Patch::Apply(&bob))
        .await
        .unwrap();
    let alice2 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "9"}});
    let after = cms
        .patch("ssa", &PatchParams::apply("alice"), &Patch::Apply(&alice2))
        .await
        .unwrap();
    assert_eq!(after.data.unwrap(), [("a".to_string(), "9".to_string())].into());
    // dry-run apply and merge patch store nothing.
    let rv = cms.get("ssa").await.unwrap().metadata.resource_version;
    let dry = cms
        .patch(
            "ssa",
            &PatchParams::apply("carol").force().dry_run(),
            &Patch::Apply(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"c": "3"}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(dry.data.unwrap().get("c").map(String::as_str), Some("3"));
    let merge = PatchParams {
        dry_run: true,
        ..PatchParams::default()
    };
    cms.patch("ssa", &merge, &Patch::Merge(json!({"data": {"d": "4"}})))
        .await
        .unwrap();
    cms.create(
        &PostParams {
            dry_run: true,
            field_manager: None,
        },
        &cm("dry", json!({})),
    )
    .await
    .unwrap();
    cms.delete(
        "ssa",
        &DeleteParams {
            dry_run: true,
            ..DeleteParams::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(cms.get("ssa").await.unwrap().metadata.resource_version, rv);
    assert!(cms.get_opt("dry").await.unwrap().is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn generation_status_finalizers_and_garbage_collection() {
    let mut config = SimConfig::default();
    config.workloads.ready_after = Some(Duration::from_millis(100));
    let (sim, client) = kube_client(config).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27.3"}]}}}
    })).unwrap();
    deployments.create(&PostParams::default(), &d).await.unwrap();
    let ready = wait_for(&deployments, "web", Duration::from_secs(10), |d: &Deployment| {
        d.status
            .as_ref()
            .is_some_and(|s| s.available_replicas == Some(2) && s.observed_generation == Some(1))
    })
    .await;
    assert_eq!(
        ready.metadata.generation,
        Some(1),
        "status writes do not bump the generation"
    );
    // A label change is not a spec change; a replica change is.
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(deployments.get("web").await.unwrap().metadata.generation, Some(1));
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(deployments.get("web").await.unwrap().metadata.generation, Some(2));
    wait_for(&deployments, "web", Duration::from_secs(10), |d: &Deployment| {
        d.status
            .as_ref()
            .is_some_and(|s| s.ready_replicas == Some(3) && s.observed_generation == Some(2))
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    assert_eq!(
        pods.list(&ListParams::default().labels("app=web"))
            .await
            .unwrap()
            .items
            .len(),
        3
    );
    // Status written through the main resource is ignored.
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 99}})),
        )
        .await
        .unwrap();
    assert_eq!(deployments.get("web").await.unwrap().status.unwrap().replicas, Some(3));

    // A finalizer blocks deletion and sets deletionTimestamp.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut held = cm("held", json!({}));
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&PostParams::default(), &held).await.unwrap();
    cms.delete("held", &DeleteParams::default()).await.unwrap();
    let pending = cms.get("held").await.unwrap();
    assert!(pending.metadata.deletion_timestamp.is_some());
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    wait_gone(&cms, "held", Duration::from_secs(5)).await;

    // Orphan keeps the ReplicaSet; foreground deletes dependents first.
    let replicasets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    deployments
        .delete(
            "web",
            &DeleteParams {
                propagation_policy: Some(PropagationPolicy::Orphan),
                ..DeleteParams::default()
            },
        )
        .await
        .unwrap();
    wait_gone(&deployments, "web", Duration::from_secs(5)).await;
    let orphans = replicasets.list(&ListParams::default()).await.unwrap().items;
    assert!(!orphans.is_empty());
    assert!(
        orphans
            .iter()
            .all(|rs| { rs.metadata.owner_references.as_ref().is_none_or(Vec::is_empty) })
    );
    let rs_name = orphans[0].metadata.name.clone().unwrap();
    replicasets.delete(&rs_name, &DeleteParams::foreground()).await.unwrap();
    wait_gone(&replicasets, &rs_name, Duration::from_secs(5)).await;
    let remaining: Vec<_> = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.name.as_deref().is_some_and(|n| n.starts_with(&rs_name)))
        .collect();
    assert!(remaining.is_empty(), "foreground deletion removed the pods first");
    sim.shutdown().await;
}

#[tokio::test]
async fn crds_serve_their_kinds_until_deleted() {
    let (sim, client) = kube_client(SimConfig::default()).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
                 "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    })).unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let established = crds.get("widgets.example.com").await.unwrap();
    let conditions = established.status.unwrap().conditions.unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "NamesAccepted" && c.status == "True")
    );
    let gvk = kube::api::GroupVersionKind::gvk("example.com", "v1", "Widget");
    // Both the legacy and the aggregated discovery list the new kind.
    let aggregated = kube::Discovery::new(client.clone()).run_aggregated().await.unwrap();
    let (_, caps) = aggregated
        .resolve_gvk(&gvk)
        .expect("aggregated discovery lists the new kind");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    let deployments = kube::api::GroupVersionKind::gvk("apps", "v1", "Deployment");
    assert!(aggregated.resolve_gvk(&deployments).is_some());
    let core = kube::api::GroupVersionKind::gvk("", "v1", "ConfigMap");
    assert!(aggregated.resolve_gvk(&core).is_some());
    let discovery = kube::Discovery::new(client.clone()).run().await.unwrap();
    let (ar, _) = discovery.resolve_gvk(&gvk).expect("discovery lists the new kind");
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let w: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 1}}),
    )
    .unwrap();
    widgets.create(&PostParams::default(), &w).await.unwrap();
    // Strategic merge patches are refused for custom resources (415).
    let err = widgets
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"size": 2}})),
        )
        .await
        .unwrap_err();
    assert_eq!(code(err), 415);
    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&crds, "widgets.example.com", Duration::from_secs(5)).await;
    let api_resource = ApiResource::from_gvk_with_plural(&gvk, "widgets");
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &api_resource);
    assert_eq!(code(widgets.get("w1").await.unwrap_err()), 404);
    // Namespaces terminate their content.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "tmp"}})).unwrap(),
        )
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "tmp");
    cms.create(&PostParams::default(), &cm("inside", json!({})))
        .await
        .unwrap();
    namespaces.delete("tmp", &DeleteParams::default()).await.unwrap();
    wait_gone(&namespaces, "tmp", Duration::from_secs(5)).await;
    assert_eq!(code(cms.get("inside").await.unwrap_err()), 404);
    sim.shutdown().await;
}

#[test]
fn sim_thread_serves_blocking_tests() {
    let sim = kube_sim::SimThread::start(kube_sim::SimOptions::default()).unwrap();
    let (code, _, body) = crate::util::http(sim.url(), "GET", "/version", &sim.token("admin"), None);
    assert_eq!(code, 200, "{body}");
    assert!(sim.kubeconfig("admin").contains("current-context: kube-sim"));
    assert!(sim.audit().iter().any(|e| e.request_uri == "/version"));
}

/// Real clusters hand out long random tokens (service-account JWTs,
/// bootstrap tokens); a short word such as `admin` would be redacted by the
/// executor wherever it appears in object names.
#[test]
fn default_tokens_are_random_and_only_in_the_kubeconfig_token_field() {
    let a = kube_sim::SimThread::start(kube_sim::SimOptions::default()).unwrap();
    let b = kube_sim::SimThread::start(kube_sim::SimOptions::default()).unwrap();
    let (admin, viewer) = (a.token("admin"), a.token("viewer"));
    for token in [&admin, &viewer] {
        assert!(token.len() >= 32, "{token}");
        assert!(token.chars().all(|c| c.is_ascii_alphanumeric()), "{token}");
    }
    assert_ne!(admin, viewer);
    assert_ne!(admin, b.token("admin"), "each simulator has its own tokens");
    let kubeconfig = a.kubeconfig("admin");
    assert_eq!(kubeconfig.matches(admin.as_str()).count(), 1, "{kubeconfig}");
    assert!(kubeconfig.contains(&format!("    token: {admin}\n")), "{kubeconfig}");
    assert!(!kubeconfig.contains(&viewer));
    assert!(a.kubeconfig("viewer").contains(&format!("token: {viewer}")));
    let status = |token: &str| crate::util::http(a.url(), "GET", "/api", token, None).0;
    assert_eq!((status(&admin), status(&viewer)), (200, 200));
    assert_eq!(status("admin"), 401, "the user name is not a token");
    // A reload keeps the default tokens, so clients stay authenticated.
    a.reload(kube_sim::SimConfig::default());
    assert_eq!((a.token("admin"), status(&admin)), (admin.clone(), 200));
    // Fixed tokens from sim.yaml still work, selected by token or by user.
    a.reload(kube_sim::SimConfig::from_yaml("tokens:\n  fixed-admin: {user: admin}\n").unwrap());
    assert_eq!(a.token("admin"), "fixed-admin");
    assert_eq!(a.token("fixed-admin"), "fixed-admin");
    assert_eq!((status("fixed-admin"), status(&admin)), (200, 401));
}
