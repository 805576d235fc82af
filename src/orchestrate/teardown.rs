//! Removing the platform: one node at a time, dependents first, verifying
//! absence; then the orchestration primitives and the namespaces; then
//! what is left (the orphans).
//!
//! The mechanism lives here (deletion order, volume claims, finalizers,
//! waits); `scripts/teardown.rhai` decides the steps. A node's removal is a
//! future like a node's deploy: it holds no thread while Argo CD's cascade
//! runs. Invariant 6 holds for the bootstrap too: Argo CD is removed only
//! after the absence of every Application it manages is verified, whatever
//! the graph says.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use rhai::Dynamic;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::sync::failure_of;
use super::{NodeFailure, NodeReport, hooks};
use crate::argocd::store::AppStore;
use crate::argocd::{self as acd};
use crate::config::PvPolicy;
use crate::dag::scheduler::{NodeEnd, NodeOutcome};
use crate::dag::{HookPoint, PlanNode};
use crate::k8s::wait::{Bounds, WaitFailure, wait_for};
use crate::k8s::{Cluster, K8sError, Kind, ObjectKey, Propagation};
use crate::report::{ComponentStatus, FailureReason, ListedObject};
use crate::script::host::Host;

/// How long removing one resource of an Application may take once Argo
/// CD's cascade is done (it should be gone already).
const RESOURCE_GONE_WITHIN: Duration = Duration::from_secs(30);
/// How long a volume claim may take to go (PV_POLICY=delete).
const CLAIM_GONE_WITHIN: Duration = Duration::from_secs(60);
/// How long a namespace may take to finish terminating.
const NAMESPACE_GONE_WITHIN: Duration = Duration::from_secs(120);

/// Which list of the report an object goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    /// Removed.
    Removed,
    /// Kept on purpose.
    Retained,
    /// Should be gone and is not.
    Orphan,
}

/// Adds `object` to the report's `which` list, with `reason`.
pub fn list(host: &Host, which: Listed, object: ListedObject) {
    host.with_report(|r| {
        let entries = match which {
            Listed::Removed => &mut r.removed,
            Listed::Retained => &mut r.retained,
            Listed::Orphan => &mut r.orphans,
        };
        if !entries.contains(&object) {
            entries.push(object);
        }
    });
}

/// The reference of `object`, listed with `reason`.
pub fn reference(object: &Value, reason: &str) -> ListedObject {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    ListedObject {
        api_version: text(&object["apiVersion"]),
        kind: text(&object["kind"]),
        namespace: text(&object["metadata"]["namespace"]),
        name: text(&object["metadata"]["name"]),
        reason: reason.to_owned(),
    }
}

fn key_ref(key: &ObjectKey, reason: &str) -> ListedObject {
    ListedObject {
        api_version: key.kind.api_version.clone(),
        kind: key.kind.kind.clone(),
        namespace: key.namespace.clone().unwrap_or_default(),
        name: key.name.clone(),
        reason: reason.to_owned(),
    }
}

/// The key of an entry of an Application's `status.resources`.
fn resource_key(resource: &Value) -> ObjectKey {
    let text = |k: &str| resource[k].as_str().unwrap_or_default();
    let api_version = match text("group") {
        "" => text("version").to_owned(),
        group => format!("{group}/{}", text("version")),
    };
    ObjectKey::new(Kind::new(api_version, text("kind")), text("namespace"), text("name"))
}

/// Every object of `kind` (in `namespace`, with `selector`); none when the
/// cluster does not serve the kind (its CRD is gone, e.g. after
/// TEARDOWN_CRDS=true).
///
/// # Errors
/// Any other API error.
pub async fn list_served(
    cluster: &dyn Cluster,
    kind: &Kind,
    namespace: Option<&str>,
    selector: Option<&str>,
    bounds: &Bounds,
) -> Result<Vec<Value>, K8sError> {
    match bounds
        .run(&format!("listing {kind}"), cluster.list(kind, namespace, selector))
        .await
    {
        Err(K8sError::UnknownKind { .. } | K8sError::Api { code: 404, .. }) => Ok(Vec::new()),
        other => other,
    }
}

/// A volume claim an Application's resources use.
#[derive(Debug, Clone)]
struct Claim {
    key: ObjectKey,
    /// Argo CD manages it (it would delete it with the Application).
    managed: bool,
}

/// What removing the nodes of one run shares.
pub struct Remover {
    host: Arc<Host>,
    /// Applications as listed when the run started, by name.
    apps: HashMap<String, Arc<Value>>,
    permits: Semaphore,
    pv_policy: PvPolicy,
}

impl std::fmt::Debug for Remover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remover").finish_non_exhaustive()
    }
}

impl Remover {
    /// A remover over the Applications `apps` (listed once, at the start),
    /// with at most `concurrency` deletions in flight.
    pub fn new(host: Arc<Host>, apps: Vec<Value>, pv_policy: PvPolicy, concurrency: usize) -> Remover {
        let apps = apps
            .into_iter()
            .map(|app| {
                (
                    app["metadata"]["name"].as_str().unwrap_or_default().to_owned(),
                    Arc::new(app),
                )
            })
            .collect();
        Remover {
            host,
            apps,
            permits: Semaphore::new(concurrency.max(1)),
            pv_policy,
        }
    }

    /// The run's shared watch of Applications.
    fn store(&self) -> &AppStore {
        self.host.app_store()
    }

    /// Removes `node` within its health timeout.
    pub async fn node(&self, node: &PlanNode) -> NodeOutcome<NodeReport> {
        let bounds = self.host.bounds.within(node.sync_timeout + node.health_timeout);
        match self.steps(node, &bounds).await {
            Ok(report) => NodeOutcome {
                end: NodeEnd::Succeeded,
                value: Some(report),
            },
            Err(failure) => {
                tracing::error!(
                    phase = "teardown",
                    component = node.name.as_str(),
                    "{}",
                    failure.message
                );
                failure.into_outcome()
            }
        }
    }

    async fn steps(&self, node: &PlanNode, bounds: &Bounds) -> Result<NodeReport, NodeFailure> {
        let host = &self.host;
        let name = node.name.as_str();
        let Some(app) = self.apps.get(name).cloned() else {
            return Ok(NodeReport {
                status: ComponentStatus::Absent,
                health: "Missing".to_owned(),
                message: "nothing to remove".to_owned(),
                ..NodeReport::default()
            });
        };
        let resources: Vec<Value> = app["status"]["resources"].as_array().cloned().unwrap_or_default();
        let claims = self.claims_of(&resources, bounds).await?;
        if host.settings.dry_run {
            let what: Vec<String> = resources.iter().map(|r| resource_key(r).to_string()).collect();
            tracing::info!(
                component = name,
                phase = "teardown",
                "would remove Application {name} and {} resources: {}",
                resources.len(),
                what.join(", ")
            );
            return Ok(NodeReport {
                status: ComponentStatus::WouldRemove,
                health: "Healthy".to_owned(),
                message: format!(
                    "{} resources, {} volume claims ({})",
                    resources.len(),
                    claims.len(),
                    self.pv_policy
                ),
                ..NodeReport::default()
            });
        }
        let _: Dynamic = hooks::run(host, node, HookPoint::PreDelete, bounds).await?;
        if self.pv_policy == PvPolicy::Retain {
            // Argo CD would delete the claims it manages with the Application.
            let patch = json!({"metadata": {"annotations": {"argocd.argoproj.io/sync-options": "Delete=false"}}});
            for claim in claims.iter().filter(|c| c.managed) {
                let _permit = self.permits.acquire().await;
                bounds
                    .run("keeping a volume claim", host.cluster.merge_patch(&claim.key, &patch))
                    .await
                    .map_err(|e| failure_of(e, Vec::new()))?;
            }
        }
        self.delete_app(name, bounds).await?;
        list(
            host,
            Listed::Removed,
            key_ref(&acd::app_key(&host.settings.argocd_namespace, name), ""),
        );
        // Absence verified: Argo CD's cascade must have removed every resource.
        let claim_keys: BTreeSet<&ObjectKey> = claims.iter().map(|c| &c.key).collect();
        let gone: Vec<ObjectKey> = resources
            .iter()
            .map(resource_key)
            .filter(|key| !claim_keys.contains(key))
            .collect();
        let waits: Vec<_> = gone
            .iter()
            .map(|key| self.wait_gone(key, RESOURCE_GONE_WITHIN, bounds))
            .collect();
        futures::future::join_all(waits)
            .await
            .into_iter()
            .collect::<Result<(), NodeFailure>>()?;
        for key in &gone {
            list(host, Listed::Removed, key_ref(key, ""));
        }
        for claim in &claims {
            if self.pv_policy == PvPolicy::Delete {
                {
                    let _permit = self.permits.acquire().await;
                    bounds
                        .run(
                            "deleting a volume claim",
                            host.cluster.delete(&claim.key, Propagation::Background),
                        )
                        .await
                        .map_err(|e| failure_of(e, Vec::new()))?;
                }
                self.wait_gone(&claim.key, CLAIM_GONE_WITHIN, bounds).await?;
                list(
                    host,
                    Listed::Removed,
                    key_ref(&claim.key, "PV_POLICY=delete: the volume is reclaimed per its class"),
                );
            } else {
                list(
                    host,
                    Listed::Retained,
                    key_ref(&claim.key, "PV_POLICY=retain: the claim and its volume are kept"),
                );
            }
        }
        let _: Dynamic = hooks::run(host, node, HookPoint::PostDelete, bounds).await?;
        Ok(NodeReport {
            status: ComponentStatus::Removed,
            health: "Missing".to_owned(),
            message: format!("{} resources removed", resources.len()),
            ..NodeReport::default()
        })
    }

    /// The volume claims an Application's resources use: the ones Argo CD
    /// manages, and the ones its StatefulSets' claim templates created
    /// (named `<template>-<statefulset>-<ordinal>`, as the StatefulSet
    /// controller names them).
    async fn claims_of(&self, resources: &[Value], bounds: &Bounds) -> Result<Vec<Claim>, NodeFailure> {
        let cluster = self.host.cluster.as_ref();
        let mut claims = Vec::new();
        for resource in resources {
            let key = resource_key(resource);
            match key.kind.kind.as_str() {
                "PersistentVolumeClaim" => claims.push(Claim { key, managed: true }),
                "StatefulSet" => {
                    let Some(sts) = bounds
                        .run("reading a StatefulSet", cluster.get(&key))
                        .await
                        .map_err(|e| failure_of(e, Vec::new()))?
                    else {
                        continue;
                    };
                    let templates = sts["spec"]["volumeClaimTemplates"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    if templates.is_empty() {
                        continue;
                    }
                    let namespace = key.namespace.clone().unwrap_or_default();
                    let kind = Kind::new("v1", "PersistentVolumeClaim");
                    let existing = bounds
                        .run("listing volume claims", cluster.list(&kind, Some(&namespace), None))
                        .await
                        .map_err(|e| failure_of(e, Vec::new()))?;
                    for template in &templates {
                        let prefix = format!(
                            "{}-{}-",
                            template["metadata"]["name"].as_str().unwrap_or_default(),
                            key.name
                        );
                        for pvc in &existing {
                            let pvc_name = pvc["metadata"]["name"].as_str().unwrap_or_default();
                            let ordinal = pvc_name.strip_prefix(&prefix);
                            if ordinal.is_some_and(|o| !o.is_empty() && o.bytes().all(|b| b.is_ascii_digit())) {
                                claims.push(Claim {
                                    key: ObjectKey::new(kind.clone(), &namespace, pvc_name),
                                    managed: false,
                                });
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(claims)
    }

    /// Deletes Application `name` with the cascade finalizer, so Argo CD
    /// removes its resources first, and waits until it is gone.
    async fn delete_app(&self, name: &str, bounds: &Bounds) -> Result<(), NodeFailure> {
        {
            let _permit = self.permits.acquire().await;
            delete_app_request(&self.host, name, bounds).await?;
        }
        tracing::info!(
            phase = "delete",
            component = name,
            "Application deleted; waiting for Argo CD to remove its resources"
        );
        let store = self.store();
        let what = format!("Application {name} and its resources to be deleted");
        match store
            .wait(self.host.cluster.as_ref(), name, |s| Ok(s.is_none()), bounds, &what)
            .await
        {
            Ok(_) => {
                self.host
                    .index
                    .record(&acd::app_key(&self.host.settings.argocd_namespace, name), None);
                Ok(())
            }
            Err(failure) => Err(delete_failure(name, failure)),
        }
    }

    async fn wait_gone(&self, key: &ObjectKey, within: Duration, bounds: &Bounds) -> Result<(), NodeFailure> {
        let bounds = bounds.within(within);
        // Usually gone already: one get, and no watch (which needs `list`).
        match bounds.run(&format!("reading {key}"), self.host.cluster.get(key)).await {
            Ok(None) | Err(K8sError::UnknownKind { .. }) => return Ok(()),
            Ok(Some(_)) => {}
            Err(error) => return Err(failure_of(error, Vec::new())),
        }
        match wait_for(
            self.host.cluster.as_ref(),
            key,
            |s| Ok(s.is_none()),
            &bounds,
            &format!("{key} to be deleted"),
        )
        .await
        {
            // A kind the cluster no longer serves (its CRD went with the
            // Application) has no objects left.
            Ok(_)
            | Err(WaitFailure {
                error: K8sError::UnknownKind { .. },
                ..
            }) => Ok(()),
            Err(WaitFailure { error, .. }) => Err(failure_of(error, Vec::new())),
        }
    }
}

/// Asks for the deletion of Application `name` with Argo CD's cascade
/// finalizer; `false` when it did not exist.
///
/// # Errors
/// The API's error.
pub async fn delete_app_request(host: &Host, name: &str, bounds: &Bounds) -> Result<bool, NodeFailure> {
    let key = acd::app_key(&host.settings.argocd_namespace, name);
    let cluster = host.cluster.as_ref();
    let live = bounds
        .run(&format!("reading Application {name}"), cluster.get(&key))
        .await
        .map_err(|e| failure_of(e, Vec::new()))?;
    let Some(live) = live else {
        return Ok(false);
    };
    let has_finalizer = live["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f == acd::CASCADE_FINALIZER));
    if !has_finalizer && live["metadata"]["deletionTimestamp"].is_null() {
        let mut finalizers: Vec<Value> = live["metadata"]["finalizers"].as_array().cloned().unwrap_or_default();
        finalizers.push(json!(acd::CASCADE_FINALIZER));
        let patch = json!({"metadata": {"finalizers": finalizers}});
        bounds
            .run(
                &format!("adding the cascade finalizer to {name}"),
                cluster.merge_patch(&key, &patch),
            )
            .await
            .map_err(|e| failure_of(e, Vec::new()))?;
    }
    bounds
        .run(
            &format!("deleting Application {name}"),
            cluster.delete(&key, Propagation::Foreground),
        )
        .await
        .map_err(|e| failure_of(e, Vec::new()))?;
    Ok(true)
}

/// The failure of an Application deletion that did not complete.
pub fn delete_failure(name: &str, WaitFailure { error, last }: WaitFailure) -> NodeFailure {
    let mut diagnostics = last.as_ref().map(acd::diagnostics).unwrap_or_default();
    if let Some(finalizers) = last.as_ref().and_then(|l| l["metadata"]["finalizers"].as_array()) {
        diagnostics.push(format!(
            "finalizers still set: {}",
            finalizers
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    match error {
        K8sError::Cancelled(_) => failure_of(error, diagnostics),
        error => NodeFailure::new(FailureReason::DeleteTimedOut, format!("{name}: {error}"), diagnostics),
    }
}

/// Applications outside the plan that depend (annotation
/// `executor.io/depends-on`) on a node in it: `"<app> (depends on <node>)"`.
pub fn dependents_outside(plan: &[PlanNode], apps: &[Value]) -> Vec<String> {
    let in_plan: BTreeSet<&str> = plan.iter().map(|n| n.name.as_str()).collect();
    let mut blocking = Vec::new();
    for app in apps {
        let name = app["metadata"]["name"].as_str().unwrap_or_default();
        if in_plan.contains(name) {
            continue;
        }
        let deps = app["metadata"]["annotations"]["executor.io/depends-on"]
            .as_str()
            .unwrap_or_default();
        for dep in deps.split(',').filter(|d| in_plan.contains(d)) {
            blocking.push(format!("{name} (depends on {dep})"));
        }
    }
    blocking
}

/// Deletes the namespaces in `names` that exist and waits until they are
/// gone; returns those that did not finish terminating.
///
/// # Errors
/// The API's error on a list or delete.
pub async fn remove_namespaces(host: &Host, names: &[String], bounds: &Bounds) -> Result<Vec<String>, K8sError> {
    let kind = Kind::new("v1", "Namespace");
    let existing: BTreeSet<String> = bounds
        .run("listing namespaces", host.cluster.list(&kind, None, None))
        .await?
        .iter()
        .filter_map(|ns| ns["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    let cluster: &dyn Cluster = host.cluster.as_ref();
    let work = names.iter().filter(|n| existing.contains(*n)).map(|name| {
        let key = ObjectKey::new(kind.clone(), "", name.clone());
        async move {
            let deleted = bounds
                .run(
                    &format!("deleting namespace {name}"),
                    cluster.delete(&key, Propagation::Background),
                )
                .await?;
            if !deleted {
                return Ok(None);
            }
            let within = bounds.within(NAMESPACE_GONE_WITHIN);
            match wait_for(
                cluster,
                &key,
                |s| Ok(s.is_none()),
                &within,
                &format!("namespace {name} to be deleted"),
            )
            .await
            {
                Ok(_) => {
                    list(host, Listed::Removed, key_ref(&key, ""));
                    Ok(None)
                }
                Err(_) => Ok(Some(name.clone())),
            }
        }
    });
    let results: Vec<Result<Option<String>, K8sError>> =
        futures::stream::iter(work).buffer_unordered(8).collect().await;
    let mut remaining = Vec::new();
    for result in results {
        if let Some(name) = result? {
            remaining.push(name);
        }
    }
    remaining.sort();
    Ok(remaining)
}

/// Order in which the bootstrap's kinds go: what uses the others first.
fn kind_rank(kind: &str) -> u8 {
    match kind {
        "AppProject" | "WorkflowTemplate" | "ClusterWorkflowTemplate" => 0,
        "Deployment" | "StatefulSet" | "DaemonSet" => 1,
        "ClusterRoleBinding" | "ClusterRole" | "PriorityClass" => 3,
        "CustomResourceDefinition" => 4,
        "Namespace" => 5,
        _ => 2,
    }
}

/// What removing the bootstrap did.
#[derive(Debug, Default)]
pub struct BootstrapRemoval {
    /// Whether it was removed (else kept, with why in the report).
    pub removed: bool,
    /// The bootstrap's namespaces, to delete with the platform's.
    pub namespaces: Vec<String>,
}

/// Removes Argo Workflows, the workflow templates and Argo CD (the bundle's
/// ApplySet members), CRDs only when `remove_crds`; namespaces are returned
/// for the caller to delete last. Only when no Application is left in Argo
/// CD's namespace: removing Argo CD under Applications it still manages
/// would leave them without anyone to cascade-delete their resources
/// (invariant 6). Otherwise nothing is removed and a failure names what is
/// left.
///
/// # Errors
/// The API's error on a list or delete.
pub async fn remove_bootstrap(host: &Host, remove_crds: bool, bounds: &Bounds) -> Result<BootstrapRemoval, K8sError> {
    let namespace = &host.settings.argocd_namespace;
    let cluster = host.cluster.as_ref();
    let parent_key = ObjectKey::new(
        Kind::new("v1", "ConfigMap"),
        namespace,
        crate::bootstrap::inventory::PARENT_NAME,
    );
    let Some(parent) = bounds
        .run("reading the bootstrap inventory", cluster.get(&parent_key))
        .await?
    else {
        tracing::info!(
            phase = "teardown",
            "no bootstrap inventory: Argo CD and Argo Workflows are not installed by the executor"
        );
        return Ok(BootstrapRemoval::default());
    };
    let left = list_served(cluster, &acd::application_kind(), Some(namespace), None, bounds).await?;
    if !left.is_empty() {
        let names: Vec<String> = left
            .iter()
            .filter_map(|a| a["metadata"]["name"].as_str().map(str::to_owned))
            .collect();
        host.with_report(|r| {
            r.failures.push(crate::report::Failure {
                component: "bootstrap".to_owned(),
                reason: FailureReason::ApplicationsRemain,
                message: format!(
                    "Argo CD is kept: {} Application(s) it manages still exist, and removing it would leave their resources with nobody to delete them",
                    names.len()
                ),
                diagnostics: names.clone(),
            });
            r.recommend(
                "Remove the remaining Applications (include them in the graph, or delete them with their resources), then run teardown again.".to_owned(),
            );
        });
        // The plan's own Applications are listed by `orphans`; others here.
        let planned: BTreeSet<&str> = host.plan.nodes.iter().map(|n| n.name.as_str()).collect();
        for app in &left {
            if !planned.contains(app["metadata"]["name"].as_str().unwrap_or_default()) {
                list(
                    host,
                    Listed::Orphan,
                    reference(app, "not in the graph: Argo CD was kept for it"),
                );
            }
        }
        return Ok(BootstrapRemoval::default());
    }
    let selector = format!(
        "{}={}",
        crate::bootstrap::inventory::PART_OF_LABEL,
        crate::bootstrap::inventory::bundle_applyset_id(namespace)
    );
    let mut members = Vec::new();
    for (api_version, kind) in crate::script::primitives::bundle::member_kinds(&parent) {
        let kind = Kind::new(api_version, kind);
        members.extend(list_served(cluster, &kind, None, Some(&selector), bounds).await?);
    }
    let mut namespaces = Vec::new();
    for rank in 0..=5 {
        let in_rank = members
            .iter()
            .filter(|m| kind_rank(m["kind"].as_str().unwrap_or_default()) == rank);
        for member in in_rank {
            let kind = member["kind"].as_str().unwrap_or_default();
            if kind == "CustomResourceDefinition" && !remove_crds {
                list(
                    host,
                    Listed::Retained,
                    reference(member, "CRDs are kept unless TEARDOWN_CRDS=true (others may use them)"),
                );
                continue;
            }
            if kind == "Namespace" {
                namespaces.push(member["metadata"]["name"].as_str().unwrap_or_default().to_owned());
                continue;
            }
            let Ok(key) = ObjectKey::of(member) else { continue };
            if key == parent_key {
                continue;
            }
            bounds
                .run(
                    &format!("deleting {key}"),
                    cluster.delete(&key, Propagation::Background),
                )
                .await?;
            list(host, Listed::Removed, reference(member, ""));
        }
    }
    bounds
        .run(
            "deleting the bootstrap inventory",
            cluster.delete(&parent_key, Propagation::Background),
        )
        .await?;
    list(host, Listed::Removed, reference(&parent, ""));
    Ok(BootstrapRemoval {
        removed: true,
        namespaces,
    })
}

/// Records what should be gone and is not: Applications of the plan still
/// there (with why: a stuck finalizer, or the node's failure), namespaces
/// that did not finish terminating, and — when the bootstrap was removed —
/// objects still carrying its inventory label. Returns how many.
///
/// # Errors
/// The API's error on a list.
pub async fn orphans(
    host: &Host,
    nodes: &[PlanNode],
    failures: &HashMap<String, String>,
    namespaces_left: &[String],
    bootstrap_removed: bool,
    bounds: &Bounds,
) -> Result<usize, K8sError> {
    let cluster = host.cluster.as_ref();
    let namespace = &host.settings.argocd_namespace;
    let live: HashMap<String, Value> = list_served(cluster, &acd::application_kind(), Some(namespace), None, bounds)
        .await?
        .into_iter()
        .map(|a| (a["metadata"]["name"].as_str().unwrap_or_default().to_owned(), a))
        .collect();
    let mut count = 0;
    for node in nodes {
        let Some(app) = live.get(&node.name) else { continue };
        count += 1;
        let finalizers: Vec<&str> = app["metadata"]["finalizers"]
            .as_array()
            .map(|f| f.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let stuck = app["metadata"]["deletionTimestamp"].is_string() && !finalizers.is_empty();
        let why = if stuck {
            format!("deletion is stuck on finalizer(s) {}", finalizers.join(", "))
        } else {
            format!("not removed: {}", failures.get(&node.name).map_or("", String::as_str))
        };
        list(host, Listed::Orphan, reference(app, &why));
        if stuck {
            host.with_report(|r| {
                r.recommend(format!(
                    "Application {} is stuck deleting: check what blocks Argo CD's finalizer (argocd app get {}), fix it or remove the finalizer by hand, then run teardown again.",
                    node.name, node.name
                ));
            });
        }
    }
    for name in namespaces_left {
        count += 1;
        list(
            host,
            Listed::Orphan,
            ListedObject {
                api_version: "v1".to_owned(),
                kind: "Namespace".to_owned(),
                namespace: String::new(),
                name: name.clone(),
                reason: "the namespace did not finish terminating".to_owned(),
            },
        );
    }
    if bootstrap_removed {
        let selector = format!(
            "{}={}",
            crate::bootstrap::inventory::PART_OF_LABEL,
            crate::bootstrap::inventory::bundle_applyset_id(namespace)
        );
        for (api_version, kind) in [
            ("apps/v1", "Deployment"),
            ("v1", "ConfigMap"),
            ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ] {
            let kind = Kind::new(api_version, kind);
            let left = list_served(cluster, &kind, None, Some(&selector), bounds).await?;
            for object in &left {
                count += 1;
                list(
                    host,
                    Listed::Orphan,
                    reference(object, "still carries the bootstrap inventory label"),
                );
            }
        }
    }
    Ok(count)
}
