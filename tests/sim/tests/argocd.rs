//! The Argo CD simulator: an Application goes Missing/OutOfSync →
//! Synced/Healthy after a sync request and cascades on deletion (kubectl
//! against the binary), the `apps:` behaviours and sync options (kube-rs),
//! and the whole demo platform of `bundle/dag.yaml`.

use crate::util::{SimProcess, apply_file, client_for, kubectl_available, upstream, wait_for, wait_gone};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube_sim::{Sim, SimConfig, SimOptions};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn application(name: &str, path: &str, namespace: &str, automated: bool, options: &[&str]) -> String {
    let automated = if automated {
        "\n    automated: {prune: true, selfHeal: true}"
    } else {
        ""
    };
    format!(
        "apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {name}
  namespace: argocd
  finalizers: [resources-finalizer.argocd.argoproj.io]
spec:
  project: default
  source:
    repoURL: https://git.example.com/platform.git
    path: {path}
    targetRevision: main
  destination:
    server: https://kubernetes.default.svc
    namespace: {namespace}
  syncPolicy:
    syncOptions: {options:?}{automated}
"
    )
}

#[test]
fn application_syncs_on_request_and_cascades_on_delete() {
    if !kubectl_available("application_syncs_on_request_and_cascades_on_delete") {
        return;
    }
    let sim = SimProcess::start_with_config_file(&fixtures().join("demo-sim.yaml"));
    sim.apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: argocd\n", &[]);
    sim.ok(&[
        "apply",
        "--server-side",
        "-f",
        upstream("argo-cd-v3.5.1-install.yaml").to_str().unwrap(),
        "-n",
        "argocd",
    ]);
    sim.ok(&[
        "wait",
        "--for=create",
        "appproject/default",
        "-n",
        "argocd",
        "--timeout=30s",
    ]);
    let app = application(
        "sealed-secrets",
        "stacks/foundation/sealed-secrets",
        "sealed-secrets",
        false,
        &["CreateNamespace=true"],
    );
    sim.apply(&app, &[]);
    let wait = |what: &str| {
        sim.ok(&[
            "wait",
            &format!("--for=jsonpath={what}"),
            "application/sealed-secrets",
            "-n",
            "argocd",
            "--timeout=30s",
        ]);
    };
    wait("{.status.sync.status}=OutOfSync");
    wait("{.status.health.status}=Missing");
    assert!(
        !sim.kubectl(&["get", "ns", "sealed-secrets"]).status.success(),
        "nothing is applied before a sync"
    );
    // What `argocd app sync` does: set an operation on the Application.
    sim.ok(&[
        "patch",
        "application",
        "sealed-secrets",
        "-n",
        "argocd",
        "--type",
        "merge",
        "-p",
        r#"{"operation":{"initiatedBy":{"username":"admin"},"sync":{"revision":"main"}}}"#,
    ]);
    wait("{.status.operationState.phase}=Succeeded");
    wait("{.status.sync.status}=Synced");
    wait("{.status.health.status}=Healthy");
    let app_json: Value =
        serde_json::from_str(&sim.ok(&["get", "application", "sealed-secrets", "-n", "argocd", "-o", "json"])).unwrap();
    assert!(app_json.get("operation").is_none(), "the operation is cleared");
    assert_eq!(app_json["status"]["sync"]["revision"].as_str().unwrap().len(), 40);
    let deployment = sim.ok(&[
        "get",
        "deploy",
        "sealed-secrets-controller",
        "-n",
        "sealed-secrets",
        "-o",
        "jsonpath={.metadata.labels.app\\.kubernetes\\.io/instance}",
    ]);
    assert_eq!(deployment, "sealed-secrets");
    // Once Synced and Healthy, nothing writes the Application any more, and
    // re-applying it is a no-op.
    let rv = app_json["metadata"]["resourceVersion"].clone();
    std::thread::sleep(Duration::from_millis(700));
    let out = sim.apply(&app, &[]);
    assert!(out.contains("unchanged"), "{out}");
    let after: Value =
        serde_json::from_str(&sim.ok(&["get", "application", "sealed-secrets", "-n", "argocd", "-o", "json"])).unwrap();
    assert_eq!(after["metadata"]["resourceVersion"], rv);
    // The controller's writes are audited under its own user.
    let audit = sim.audit();
    assert!(
        audit.iter().any(
            |e| e.user.username == "system:serviceaccount:argocd:argocd-application-controller" && e.is_mutating()
        )
    );
    // Deleting the Application cascades to what it applied.
    sim.ok(&[
        "delete",
        "application",
        "sealed-secrets",
        "-n",
        "argocd",
        "--timeout=30s",
    ]);
    let left = sim.ok(&["get", "deploy,svc,sa", "-n", "sealed-secrets", "-o", "name"]);
    assert!(left.trim().is_empty(), "left: {left}");
}

fn app_api(client: &kube::Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    );
    Api::namespaced_with(client.clone(), "argocd", &ar)
}

async fn install_argocd(client: &kube::Client) {
    let namespaces: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "Namespace")),
    );
    namespaces
        .patch(
            "argocd",
            &PatchParams::apply("kube-sim-test"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}})),
        )
        .await
        .unwrap();
    let count = apply_file(client, &upstream("argo-cd-v3.5.1-install.yaml"), "argocd").await;
    assert_eq!(count, 59);
    configure_health(client).await;
    let projects = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "argocd",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "AppProject"),
            "appprojects",
        ),
    );
    wait_for(&projects, "default", Duration::from_secs(30), |_| true).await;
}

/// What the executor's bootstrap adds to Argo CD's settings: the health
/// checks of `bundle/health/` in `argocd-cm`, and resource health recorded
/// in the Application (`argocd-cmd-params-cm`).
async fn configure_health(client: &kube::Client) {
    let configmaps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), "argocd");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bundle/health");
    let mut data = serde_json::Map::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if let Some(key) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".lua"))
        {
            data.insert(
                format!("resource.customizations.health.{key}"),
                json!(std::fs::read_to_string(&path).unwrap()),
            );
        }
    }
    let patch = |data: serde_json::Map<String, Value>| Patch::Merge(json!({"data": data}));
    configmaps
        .patch("argocd-cm", &PatchParams::default(), &patch(data))
        .await
        .unwrap();
    let mut params = serde_json::Map::new();
    params.insert("controller.resource.health.persist".into(), json!("true"));
    configmaps
        .patch("argocd-cmd-params-cm", &PatchParams::default(), &patch(params))
        .await
        .unwrap();
}

async fn create_app(api: &Api<DynamicObject>, yaml: &str) {
    let value: Value = serde_saphyr::from_str(yaml).unwrap();
    let name = value["metadata"]["name"].as_str().unwrap().to_string();
    api.patch(&name, &PatchParams::apply("executor"), &Patch::Apply(&value))
        .await
        .unwrap();
}

fn field<'a>(o: &'a DynamicObject, path: &str) -> &'a Value {
    o.data.pointer(path).unwrap_or(&Value::Null)
}

async fn wait_app(api: &Api<DynamicObject>, name: &str, path: &'static str, want: &'static str) -> DynamicObject {
    wait_for(api, name, Duration::from_secs(30), move |o: &DynamicObject| {
        field(o, path) == want
    })
    .await
}

#[tokio::test]
async fn behaviours_waves_and_sync_options() {
    let repo = tempfile::tempdir().unwrap();
    let custom = repo.path().join("custom");
    std::fs::create_dir_all(&custom).unwrap();
    std::fs::write(custom.join("keep.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\n  annotations:\n    argocd.argoproj.io/sync-options: Prune=false,Delete=false\ndata: {a: b}\n").unwrap();
    std::fs::write(
        custom.join("drop.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: drop\ndata: {a: b}\n",
    )
    .unwrap();
    let config_text = format!(
        "repositories:
  - url: https://git.example.com/platform.git
    dir: {}
  - url: https://git.example.com/custom.git
    dir: {}
workloads: {{readyAfter: 100ms}}
apps:
  vault: {{healthyAfter: 1s}}
  harbor: {{health: Degraded, message: database unreachable}}
  failing: {{syncFails: \"rpc error: manifest generation failed\"}}
  stuck: {{stuckFinalizer: true}}
objects:
  - {{kind: CephCluster, namespace: rook-ceph, name: rook-ceph, status: {{ceph: {{health: HEALTH_ERR}}}}}}
",
        fixtures().join("platform").display(),
        repo.path().display()
    );
    let config = SimConfig::from_yaml(&config_text).unwrap();
    let sim = Sim::start(SimOptions::with_config(config.clone())).await.unwrap();
    let client = client_for(&sim, "admin").await;
    install_argocd(&client).await;
    let apps = app_api(&client);

    // Waves: CRD and operator (wave -1) before the Vault (wave 1); healthyAfter.
    create_app(
        &apps,
        &application(
            "vault",
            "stacks/security/vault",
            "vault",
            true,
            &["CreateNamespace=true"],
        ),
    )
    .await;
    let vault = wait_app(&apps, "vault", "/status/sync/status", "Synced").await;
    let results = field(&vault, "/status/operationState/syncResult/resources")
        .as_array()
        .cloned()
        .unwrap_or_default();
    let position = |kind: &str| results.iter().position(|r| r["kind"] == kind).unwrap();
    assert!(position("CustomResourceDefinition") < position("Vault"));
    assert!(position("Deployment") < position("Vault"));
    let healthy = wait_app(&apps, "vault", "/status/health/status", "Healthy").await;
    let finished = field(&healthy, "/status/operationState/finishedAt")
        .as_str()
        .unwrap()
        .to_string();
    assert!(!finished.is_empty());
    let vault_cr = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "vault",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("vault.banzaicloud.com", "v1alpha1", "Vault"),
            "vaults",
        ),
    );
    let v = vault_cr.get("vault").await.unwrap();
    assert_eq!(field(&v, "/status/sealed"), false);

    // Forced Degraded, fixed by a reload.
    create_app(
        &apps,
        &application(
            "harbor",
            "stacks/developer-platform/harbor",
            "harbor",
            true,
            &["CreateNamespace=true"],
        ),
    )
    .await;
    // The held Degraded acts on harbor's Deployments (their progress
    // deadline passes); Argo CD's check judges them, the Application names them.
    let harbor = wait_app(&apps, "harbor", "/status/health/status", "Degraded").await;
    let message = field(&harbor, "/status/health/message").as_str().unwrap_or_default();
    assert!(message.starts_with("Caused by apps/Deployment:harbor/"), "{message}");
    let degraded = field(&harbor, "/status/resources")
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["health"]["status"] == "Degraded")
        .unwrap()
        .clone();
    assert_eq!(degraded["kind"], "Deployment");
    assert!(
        degraded["health"]["message"]
            .as_str()
            .unwrap()
            .ends_with("exceeded its progress deadline")
    );
    let mut fixed = config.clone();
    fixed.apps.remove("harbor");
    sim.reload(fixed.clone());
    wait_app(&apps, "harbor", "/status/health/status", "Healthy").await;

    // Per-object override: a CephCluster in HEALTH_ERR makes its app Degraded.
    create_app(
        &apps,
        &application(
            "ceph-operator",
            "stacks/storage/ceph-operator",
            "rook-ceph",
            true,
            &["CreateNamespace=true"],
        ),
    )
    .await;
    wait_app(&apps, "ceph-operator", "/status/health/status", "Healthy").await;
    create_app(
        &apps,
        &application("ceph-cluster", "stacks/storage/ceph-cluster", "rook-ceph", true, &[]),
    )
    .await;
    wait_app(&apps, "ceph-cluster", "/status/health/status", "Degraded").await;

    // A missing destination namespace fails the sync without CreateNamespace.
    create_app(
        &apps,
        &application("no-namespace", "stacks/foundation/cert-manager", "nowhere", true, &[]),
    )
    .await;
    let failed = wait_app(&apps, "no-namespace", "/status/operationState/phase", "Failed").await;
    assert!(
        field(&failed, "/status/operationState/message")
            .as_str()
            .unwrap()
            .contains("namespaces \"nowhere\" not found")
    );
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    assert!(namespaces.get_opt("nowhere").await.unwrap().is_none());

    // syncFails and an unknown repository.
    create_app(
        &apps,
        &application(
            "failing",
            "stacks/foundation/metallb",
            "metallb-system",
            true,
            &["CreateNamespace=true"],
        ),
    )
    .await;
    let failing = wait_app(&apps, "failing", "/status/operationState/phase", "Failed").await;
    assert_eq!(
        field(&failing, "/status/operationState/message"),
        "rpc error: manifest generation failed"
    );
    create_app(
        &apps,
        &application("lost", "stacks/foundation/metallb", "metallb-system", true, &[])
            .replace("platform.git", "unknown.git"),
    )
    .await;
    let lost = wait_app(&apps, "lost", "/status/sync/status", "Unknown").await;
    assert_eq!(field(&lost, "/status/conditions/0/type"), "ComparisonError");

    // Prune and Delete=false with a repository that changes.
    let custom_app = application("custom", "custom", "default", true, &[]).replace("platform.git", "custom.git");
    create_app(&apps, &custom_app).await;
    wait_app(&apps, "custom", "/status/sync/status", "Synced").await;
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), "default");
    assert!(cms.get_opt("drop").await.unwrap().is_some());
    std::fs::remove_file(custom.join("drop.yaml")).unwrap();
    apps.patch(
        "custom",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}})),
    )
    .await
    .unwrap();
    wait_gone(&cms, "drop", Duration::from_secs(20)).await;
    let refreshed = wait_app(&apps, "custom", "/status/sync/status", "Synced").await;
    assert!(
        refreshed
            .metadata
            .annotations
            .as_ref()
            .is_none_or(|a| !a.contains_key("argocd.argoproj.io/refresh"))
    );
    apps.delete("custom", &DeleteParams::default()).await.unwrap();
    wait_gone(&apps, "custom", Duration::from_secs(20)).await;
    assert!(
        cms.get_opt("keep").await.unwrap().is_some(),
        "Delete=false survives the cascade"
    );

    // A stuck finalizer keeps the Application.
    create_app(
        &apps,
        &application(
            "stuck",
            "stacks/foundation/sealed-secrets",
            "sealed-secrets",
            true,
            &["CreateNamespace=true"],
        ),
    )
    .await;
    wait_app(&apps, "stuck", "/status/health/status", "Healthy").await;
    apps.delete("stuck", &DeleteParams::default()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stuck = apps.get("stuck").await.unwrap();
    assert!(stuck.metadata.deletion_timestamp.is_some());

    // Nothing the executor (user admin) did not send is attributed to it.
    let admin_writes = sim
        .audit()
        .into_iter()
        .filter(|e| e.user.username == "admin" && e.is_mutating())
        .count();
    assert!(admin_writes > 0);
    assert!(
        sim.audit()
            .iter()
            .any(|e| e.user.username.ends_with(":argocd-application-controller"))
    );
    sim.shutdown().await;
}

#[derive(serde::Deserialize)]
struct Dag {
    stacks: Vec<Stack>,
}

#[derive(serde::Deserialize)]
struct Stack {
    name: String,
    apps: Vec<DagApp>,
}

#[derive(serde::Deserialize, Clone)]
struct DagApp {
    name: String,
    path: String,
    namespace: String,
    #[serde(default, rename = "dependsOn")]
    depends_on: Vec<String>,
}

#[tokio::test]
async fn the_demo_platform_deploys_and_tears_down() {
    let config = SimConfig::from_file(fixtures().join("demo-sim.yaml")).unwrap();
    let sim = Sim::start(SimOptions::with_config(config)).await.unwrap();
    let client = client_for(&sim, "admin").await;
    install_argocd(&client).await;
    let dag_text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bundle/dag.yaml")).unwrap();
    let dag: Dag = serde_saphyr::from_str(&dag_text).unwrap();
    let apps = app_api(&client);
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for stack in &dag.stacks {
        for app in &stack.apps {
            let deps: Vec<String> = app
                .depends_on
                .iter()
                .flat_map(|d| match dag.stacks.iter().find(|s| &s.name == d) {
                    Some(s) => s.apps.iter().map(|a| a.name.clone()).collect(),
                    None => vec![d.clone()],
                })
                .collect();
            let api = apps.clone();
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                for dep in deps {
                    wait_for(&api, &dep, Duration::from_secs(60), |o: &DynamicObject| {
                        field(o, "/status/health/status") == "Healthy"
                    })
                    .await;
                }
                create_app(
                    &api,
                    &application(&app.name, &app.path, &app.namespace, true, &["CreateNamespace=true"]),
                )
                .await;
                wait_for(&api, &app.name, Duration::from_secs(60), |o: &DynamicObject| {
                    field(o, "/status/health/status") == "Healthy" && field(o, "/status/sync/status") == "Synced"
                })
                .await;
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let deployed = started.elapsed();
    assert!(deployed < Duration::from_secs(60), "{deployed:?}");
    // Every application's resources exist; a PVC from a volumeClaimTemplate is bound.
    let pvcs: Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> = Api::namespaced(client.clone(), "monitoring");
    let pvc = pvcs.get("data-prometheus-0").await.unwrap();
    assert_eq!(pvc.status.unwrap().phase.as_deref(), Some("Bound"));
    // Teardown in reverse.
    for stack in dag.stacks.iter().rev() {
        for app in stack.apps.iter().rev() {
            apps.delete(&app.name, &DeleteParams::default()).await.unwrap();
            wait_gone(&apps, &app.name, Duration::from_secs(30)).await;
        }
    }
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> = Api::all(client.clone());
    let left: Vec<_> = deployments
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|d| d.metadata.namespace.as_deref() != Some("argocd"))
        .map(|d| d.metadata.name.unwrap_or_default())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    eprintln!("demo platform deployed in {deployed:?}");
    sim.shutdown().await;
}
