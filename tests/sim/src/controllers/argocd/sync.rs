//! Sync operations: apply an Application's manifests wave by wave (waiting
//! for each wave to be healthy before the next, like Argo CD), prune when
//! asked, and record `status.operationState`, then clear `operation`.
//!
//! Manifests are server-side applied by field manager `argocd-controller`
//! with the tracking label; namespaced manifests without a namespace go to
//! the destination namespace. A missing destination namespace fails the
//! sync unless the `CreateNamespace=true` sync option is set.

use super::compare::{self, Comparison, Desired};
use super::health::{Health, Settings, assess};
use super::{ArgoCd, FIELD_MANAGER};
use crate::api::object;
use crate::api::patch::PatchType;
use crate::api::write::{self, DeleteOptions, Outcome, WriteCtx};
use crate::resources::GroupResource;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// How long a wave may take to become healthy before the sync fails.
const WAVE_TIMEOUT: Duration = Duration::from_secs(600);

/// A sync to run.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    /// The `operation` being run (recorded in operationState).
    pub operation: Value,
    /// Delete tracked resources that are no longer in Git.
    pub prune: bool,
    /// Sync options (`CreateNamespace=true`, ...).
    pub options: Vec<String>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// The sync an Application asks for, if any: an `operation.sync` set by a
/// client, or an automated policy facing an OutOfSync comparison.
pub fn requested(argo: &ArgoCd, app: &Value, c: &Comparison) -> Option<SyncRequest> {
    let policy_options = strings(&app["spec"]["syncPolicy"]["syncOptions"]);
    if app["operation"]["sync"].is_object() {
        let op = &app["operation"];
        let mut options = strings(&op["sync"]["syncOptions"]);
        options.extend(policy_options);
        return Some(SyncRequest {
            operation: op.clone(),
            prune: op["sync"]["prune"].as_bool().unwrap_or(false),
            options,
        });
    }
    let automated = &app["spec"]["syncPolicy"]["automated"];
    if !automated.is_object() || c.error.is_some() || c.sync != "OutOfSync" {
        return None;
    }
    if automated["enabled"].as_bool() == Some(false) {
        return None;
    }
    let last = &app["status"]["operationState"];
    let same_revision = last["syncResult"]["revision"].as_str() == Some(c.revision.as_str());
    let self_heal = automated["selfHeal"].as_bool() == Some(true);
    if same_revision
        && (last["phase"] == "Failed" || last["phase"] == "Error" || !self_heal)
        && last["phase"] != "Running"
    {
        return None;
    }
    let _ = argo;
    let prune = automated["prune"].as_bool() == Some(true);
    Some(SyncRequest {
        operation: json!({
            "sync": {"revision": c.revision, "prune": prune, "syncOptions": policy_options},
            "initiatedBy": {"automated": true},
            "retry": {},
        }),
        prune,
        options: policy_options,
    })
}

fn kind_order(kind: &str) -> usize {
    const ORDER: &[&str] = &[
        "Namespace",
        "NetworkPolicy",
        "ResourceQuota",
        "LimitRange",
        "PodSecurityPolicy",
        "PodDisruptionBudget",
        "ServiceAccount",
        "Secret",
        "SecretList",
        "ConfigMap",
        "StorageClass",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleList",
        "ClusterRoleBinding",
        "ClusterRoleBindingList",
        "Role",
        "RoleList",
        "RoleBinding",
        "RoleBindingList",
        "Service",
        "DaemonSet",
        "Pod",
        "ReplicationController",
        "ReplicaSet",
        "Deployment",
        "HorizontalPodAutoscaler",
        "StatefulSet",
        "Job",
        "CronJob",
        "IngressClass",
        "Ingress",
        "APIService",
    ];
    ORDER.iter().position(|k| *k == kind).unwrap_or(ORDER.len())
}

fn result_entry(d: &Desired, status: &str, message: &str) -> Value {
    let version = d.manifest["apiVersion"]
        .as_str()
        .and_then(|a| a.rsplit('/').next())
        .unwrap_or("");
    json!({
        "group": d.group(), "version": version, "kind": d.kind(),
        "namespace": object::namespace(&d.manifest), "name": object::name(&d.manifest),
        "status": status, "message": message, "hookPhase": "Running", "syncPhase": "Sync",
    })
}

fn apply_one(argo: &ArgoCd, d: &mut Desired, ctx: &WriteCtx<'_>) -> Result<String, String> {
    let registry = &argo.cluster.registry;
    let rt = registry
        .by_api_version_kind(d.manifest["apiVersion"].as_str().unwrap_or(""), d.kind())
        .ok_or_else(|| {
            format!(
                "the server could not find the requested resource (kind {} in {})",
                d.kind(),
                d.manifest["apiVersion"].as_str().unwrap_or("")
            )
        })?;
    if !rt.namespaced
        && let Some(m) = d.manifest["metadata"].as_object_mut()
    {
        m.remove("namespace");
    }
    let ns = object::namespace(&d.manifest).to_string();
    let name = object::name(&d.manifest).to_string();
    let existed = argo.cluster.store.get(&rt.group_resource(), &ns, &name).is_some();
    let (outcome, _) = write::patch(
        &argo.cluster,
        &rt,
        &ns,
        &name,
        PatchType::Apply,
        &d.manifest,
        None,
        true,
        ctx,
    )
    .map_err(|e| e.message)?;
    d.rt = Some(rt.clone());
    let verb = match outcome {
        _ if !existed => "created",
        Outcome::Unchanged(_) => "unchanged",
        _ => "configured",
    };
    Ok(format!("{}/{} {verb}", rt.kind.to_lowercase(), name))
}

fn wave_health(argo: &ArgoCd, wave: &[Desired]) -> (bool, Option<String>) {
    let mut all_healthy = true;
    let settings = Settings::load(&argo.cluster, &argo.namespace().unwrap_or_default());
    for d in wave {
        match d.live(argo) {
            None => all_healthy = false,
            Some(live) => match assess(&settings, d.group(), d.kind(), &live).health {
                None | Some((Health::Healthy, _)) => {}
                Some((Health::Degraded, m)) => {
                    return (
                        false,
                        Some(format!("{}/{} is Degraded: {m}", d.kind(), object::name(&d.manifest))),
                    );
                }
                Some(_) => all_healthy = false,
            },
        }
    }
    (all_healthy, None)
}

async fn wait_healthy(
    argo: &ArgoCd,
    wave: &[Desired],
    rx: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<crate::store::Change>>,
) -> Result<(), String> {
    let deadline = tokio::time::sleep(WAVE_TIMEOUT);
    tokio::pin!(deadline);
    loop {
        match wave_health(argo, wave) {
            (true, _) => return Ok(()),
            (false, Some(degraded)) => return Err(degraded),
            (false, None) => {}
        }
        tokio::select! {
            _ = &mut deadline => return Err("timed out waiting for the sync wave to become healthy".into()),
            change = rx.recv() => if let Err(RecvError::Closed) = change { return Err("the cluster is shutting down".into()) },
        }
    }
}

/// What `finish` needs to know about the running operation.
struct Run<'a> {
    argo: &'a ArgoCd,
    name: &'a str,
    request: &'a SyncRequest,
    started: &'a str,
    ctx: &'a WriteCtx<'a>,
}

fn finish(run: &Run<'_>, phase: &str, message: &str, results: &[Value], revision: &str) {
    let Run {
        argo,
        name,
        request,
        started,
        ctx,
    } = *run;
    let Some(ns) = argo.namespace() else { return };
    let Some(rt) = argo.cluster.registry.preferred("argoproj.io", "applications") else {
        return;
    };
    let finished = crate::time::now_rfc3339();
    if phase == "Succeeded" {
        argo.mark_synced(name);
    }
    let _ = write::modify(&argo.cluster, &rt, &ns, name, None, ctx, |app| {
        if let Some(m) = app.as_object_mut() {
            m.remove("operation");
        }
        let src = compare::source(app);
        app["status"]["operationState"] = json!({
            "operation": request.operation,
            "phase": phase,
            "message": message,
            "startedAt": started,
            "finishedAt": finished,
            "syncResult": {"resources": results, "revision": revision, "source": src},
        });
        if phase == "Succeeded" {
            let mut history = app["status"]["history"].as_array().cloned().unwrap_or_default();
            let id = history.last().and_then(|h| h["id"].as_i64()).map_or(0, |i| i + 1);
            history.push(json!({"id": id, "revision": revision, "deployedAt": finished, "deployStartedAt": started, "source": src}));
            if history.len() > 10 {
                history.remove(0);
            }
            app["status"]["history"] = json!(history);
        }
    });
}

/// Runs one sync operation to completion.
pub async fn run(argo: &ArgoCd, name: &str, request: SyncRequest) {
    let Some(ns) = argo.namespace() else { return };
    let Some(app_rt) = argo.cluster.registry.preferred("argoproj.io", "applications") else {
        return;
    };
    let user = argo.user();
    let status_ctx = WriteCtx::controller(&user, "argocd-application-controller");
    let apply_ctx = WriteCtx::controller(&user, FIELD_MANAGER);
    let started = crate::time::now_rfc3339();
    let _ = write::modify(&argo.cluster, &app_rt, &ns, name, None, &status_ctx, |app| {
        app["status"]["operationState"] = json!({
            "operation": request.operation, "phase": "Running", "message": "waiting for the sync to start", "startedAt": started,
        });
    });
    let Some(app) = argo.cluster.store.get(&app_rt.group_resource(), &ns, name) else {
        return;
    };
    let run = Run {
        argo,
        name,
        request: &request,
        started: &started,
        ctx: &status_ctx,
    };
    let fail = |message: &str, results: &[Value], revision: &str| {
        finish(&run, "Failed", message, results, revision);
    };
    let config = argo.cluster.config();
    let (mut desired, revision) = match compare::desired(argo, &app) {
        Ok(d) => d,
        Err(e) => return fail(&format!("ComparisonError: {e}"), &[], ""),
    };
    if let Some(message) = config.apps.get(name).and_then(|b| b.sync_fails.clone()) {
        return fail(&message, &[], &revision);
    }
    let dest_ns = app["spec"]["destination"]["namespace"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let ns_gr = GroupResource::new("", "namespaces");
    if !dest_ns.is_empty() && argo.cluster.store.get(&ns_gr, "", &dest_ns).is_none() {
        if request.options.iter().any(|o| o == "CreateNamespace=true") {
            if let Some(ns_rt) = argo.cluster.registry.preferred("", "namespaces") {
                let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": dest_ns}});
                if let Err(e) = write::patch(
                    &argo.cluster,
                    &ns_rt,
                    "",
                    &dest_ns,
                    PatchType::Apply,
                    &body,
                    None,
                    true,
                    &apply_ctx,
                ) {
                    return fail(
                        &format!("failed to create namespace {dest_ns}: {}", e.message),
                        &[],
                        &revision,
                    );
                }
            }
        } else if desired
            .iter()
            .any(|d| d.rt.as_ref().is_none_or(|t| t.namespaced) && object::namespace(&d.manifest) == dest_ns)
        {
            return fail(&format!("namespaces \"{dest_ns}\" not found"), &[], &revision);
        }
    }
    desired.sort_by_key(|d| (d.wave(), kind_order(d.kind())));
    let mut waves: Vec<Vec<Desired>> = Vec::new();
    for d in desired {
        match waves.last_mut() {
            Some(w) if w[0].wave() == d.wave() => w.push(d),
            _ => waves.push(vec![d]),
        }
    }
    let mut results = Vec::new();
    let mut rx = argo.cluster.store.subscribe();
    let count = waves.len();
    for (index, wave) in waves.iter_mut().enumerate() {
        for d in wave.iter_mut() {
            match apply_one(argo, d, &apply_ctx) {
                Ok(message) => results.push(result_entry(d, "Synced", &message)),
                Err(message) => {
                    results.push(result_entry(d, "SyncFailed", &message));
                    return fail(
                        &format!("one or more objects failed to apply, reason: {message}"),
                        &results,
                        &revision,
                    );
                }
            }
        }
        if index + 1 < count
            && let Err(message) = wait_healthy(argo, wave, &mut rx).await
        {
            return fail(&message, &results, &revision);
        }
        if argo
            .cluster
            .store
            .get(&app_rt.group_resource(), &ns, name)
            .is_none_or(|a| object::is_deleting(&a))
        {
            return;
        }
    }
    if request.prune {
        let app_now = argo
            .cluster
            .store
            .get(&app_rt.group_resource(), &ns, name)
            .unwrap_or(app);
        let c = compare::compare(argo, &app_now);
        for (rt, o) in c.extra {
            let keep = object::annotation(&o, "argocd.argoproj.io/sync-options")
                .is_some_and(|s| s.split(',').any(|x| matches!(x.trim(), "Prune=false" | "Delete=false")));
            if keep {
                continue;
            }
            let _ = write::delete(
                &argo.cluster,
                &rt,
                object::namespace(&o),
                object::name(&o),
                &DeleteOptions::default(),
                &apply_ctx,
            );
            let version = &rt.version;
            results.push(json!({
                "group": rt.group, "version": version, "kind": rt.kind, "namespace": object::namespace(&o),
                "name": object::name(&o), "status": "Pruned", "message": "pruned", "hookPhase": "Running", "syncPhase": "Sync",
            }));
        }
    }
    finish(
        &run,
        "Succeeded",
        "successfully synced (all tasks run)",
        &results,
        &revision,
    );
}
