//! Comparing an Application's manifests with the cluster: per-resource sync
//! and health (as Argo CD computes them, see [`super::health`]), the
//! Application's sync status and health, and the status write that happens
//! only when something changed. Also the cascade of the resources finalizer.
//!
//! `apps:` behaviours in `sim.yaml` (`healthyAfter`, a held health) act on
//! the objects' status, where the simulated controllers and operators write
//! it (`controllers::behaviour`), never on the Application's health: a
//! broken health check in `argocd-cm` shows exactly as in Argo CD.

use super::health::{self, Health, Managed, Settings};
use super::{ArgoCd, INSTANCE_LABEL, RESOURCES_FINALIZER, repo};
use crate::api::object;
use crate::api::write::{self, DeleteOptions, WriteCtx};
use crate::resources::ResourceType;
use serde_json::{Value, json};
use std::sync::Arc;

/// One desired resource, resolved against the served types.
#[derive(Debug, Clone)]
pub struct Desired {
    /// The manifest as it will be applied (namespace and label set).
    pub manifest: Value,
    /// Its type, if the cluster serves the kind yet.
    pub rt: Option<Arc<ResourceType>>,
}

impl Desired {
    /// Group of the manifest's apiVersion.
    pub fn group(&self) -> &str {
        self.manifest["apiVersion"]
            .as_str()
            .and_then(|a| a.split_once('/'))
            .map(|(g, _)| g)
            .unwrap_or("")
    }

    /// Kind.
    pub fn kind(&self) -> &str {
        self.manifest["kind"].as_str().unwrap_or("")
    }

    /// Live state, if any.
    pub fn live(&self, argo: &ArgoCd) -> Option<Arc<Value>> {
        let rt = self.rt.as_ref()?;
        argo.cluster.store.get(
            &rt.group_resource(),
            object::namespace(&self.manifest),
            object::name(&self.manifest),
        )
    }

    /// The sync wave (annotation `argocd.argoproj.io/sync-wave`, default 0).
    pub fn wave(&self) -> i64 {
        object::annotation(&self.manifest, "argocd.argoproj.io/sync-wave")
            .and_then(|w| w.trim().parse().ok())
            .unwrap_or(0)
    }
}

/// The result of comparing one Application.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// `Synced`, `OutOfSync` or `Unknown`.
    pub sync: String,
    /// The fake commit the manifests came from.
    pub revision: String,
    /// Application health.
    pub health: Health,
    /// Health message.
    pub health_message: String,
    /// `status.resourceHealthSource`: absent when resource health is
    /// recorded in the Application (Argo CD's `Inline` is the empty
    /// string), `appTree` otherwise.
    pub health_source: Option<&'static str>,
    /// `status.resources`.
    pub resources: Vec<Value>,
    /// `status.conditions`.
    pub conditions: Vec<Value>,
    /// Container images of the manifests.
    pub images: Vec<String>,
    /// The desired resources (empty on a comparison error).
    pub desired: Vec<Desired>,
    /// Live resources tracked by the label but no longer desired.
    pub extra: Vec<(Arc<ResourceType>, Arc<Value>)>,
    /// The error that prevented comparing, if any.
    pub error: Option<String>,
}

/// `spec.source`, or the first of `spec.sources`.
pub fn source(app: &Value) -> Value {
    if app["spec"]["source"].is_object() {
        app["spec"]["source"].clone()
    } else {
        app["spec"]["sources"][0].clone()
    }
}

fn normalize_secret(manifest: &mut Value) {
    if manifest["kind"] == "Secret"
        && let Some(string_data) = manifest.as_object_mut().and_then(|m| m.remove("stringData"))
        && let Some(map) = string_data.as_object()
    {
        use base64::Engine;
        for (k, v) in map {
            manifest["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(v.as_str().unwrap_or("")));
        }
    }
}

/// The desired resources of an Application, or why they cannot be had.
pub fn desired(argo: &ArgoCd, app: &Value) -> Result<(Vec<Desired>, String), String> {
    let config = argo.cluster.config();
    let src = source(app);
    let url = src["repoURL"].as_str().unwrap_or("");
    let path = src["path"].as_str().unwrap_or("");
    let revision = repo::revision(url, src["targetRevision"].as_str().unwrap_or("HEAD"));
    let manifests = repo::manifests(&config, url, path).map_err(|e| e.to_string())?;
    let dest_ns = app["spec"]["destination"]["namespace"].as_str().unwrap_or("");
    let name = object::name(app);
    let mut out = Vec::new();
    for mut m in manifests {
        let rt = argo
            .cluster
            .registry
            .by_api_version_kind(m["apiVersion"].as_str().unwrap_or(""), m["kind"].as_str().unwrap_or(""));
        normalize_secret(&mut m);
        let meta = object::meta_mut(&mut m);
        let namespaced = rt.as_ref().map(|t| t.namespaced).unwrap_or(true);
        if namespaced {
            if meta.get("namespace").and_then(Value::as_str).is_none_or(str::is_empty) {
                meta.insert("namespace".into(), json!(dest_ns));
            }
        } else {
            meta.remove("namespace");
        }
        m["metadata"]["labels"][INSTANCE_LABEL] = json!(name);
        out.push(Desired { manifest: m, rt });
    }
    Ok((out, revision))
}

/// Whether every field the manifest sets has that value live.
pub fn contained(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, v)| match l.get(k) {
            Some(lv) => contained(v, lv),
            None => {
                v.is_null() || v.as_object().is_some_and(|m| m.is_empty()) || v.as_array().is_some_and(|a| a.is_empty())
            }
        }),
        (Value::Array(d), Value::Array(l)) => d.len() == l.len() && d.iter().zip(l).all(|(a, b)| contained(a, b)),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (d, l) => d == l,
    }
}

fn in_sync(d: &Desired, live: &Value) -> bool {
    let mut manifest = d.manifest.clone();
    if let Some(m) = manifest.as_object_mut() {
        m.remove("status");
    }
    contained(&manifest, live)
}

fn never_delete(o: &Value) -> bool {
    object::annotation(o, "argocd.argoproj.io/sync-options")
        .is_some_and(|opts| opts.split(',').any(|o| o.trim() == "Delete=false"))
}

/// Live objects carrying the Application's tracking label.
pub fn tracked(argo: &ArgoCd, app: &str) -> Vec<(Arc<ResourceType>, Arc<Value>)> {
    // Indexed by the store: comparing one Application must not scan every
    // object of the cluster (it is compared on every change of its own).
    argo.cluster
        .store
        .tracked_by(app)
        .into_iter()
        .filter_map(|(gr, o)| Some((argo.cluster.registry.preferred(&gr.group, &gr.resource)?, o)))
        .collect()
}

fn resource_entry(group: &str, version: &str, kind: &str, ns: &str, name: &str) -> Value {
    let mut e = json!({"group": group, "version": version, "kind": kind, "name": name});
    if !ns.is_empty() {
        e["namespace"] = json!(ns);
    }
    e
}

/// Compares an Application with the cluster.
pub fn compare(argo: &ArgoCd, app: &Value) -> Comparison {
    let name = object::name(app);
    let mut c = Comparison {
        sync: "Unknown".into(),
        revision: String::new(),
        health: Health::Unknown,
        health_message: String::new(),
        health_source: Some("appTree"),
        resources: vec![],
        conditions: vec![],
        images: vec![],
        desired: vec![],
        extra: vec![],
        error: None,
    };
    let project = app["spec"]["project"].as_str().unwrap_or("default");
    let ns = object::namespace(app);
    let project_exists = argo
        .cluster
        .registry
        .preferred("argoproj.io", "appprojects")
        .is_some_and(|rt| argo.cluster.store.get(&rt.group_resource(), ns, project).is_some());
    let now = crate::time::now_rfc3339();
    if !project_exists {
        let message = format!("Application referencing project {project} which does not exist");
        c.conditions
            .push(json!({"type": "InvalidSpecError", "message": message, "lastTransitionTime": now}));
        c.error = Some(message);
        return c;
    }
    let (desired, revision) = match desired(argo, app) {
        Ok(d) => d,
        Err(message) => {
            c.conditions
                .push(json!({"type": "ComparisonError", "message": message, "lastTransitionTime": now}));
            c.error = Some(message);
            return c;
        }
    };
    c.revision = revision;
    let settings = Settings::load(&argo.cluster, ns);
    let mut all_synced = true;
    let mut lives = Vec::with_capacity(desired.len());
    for d in &desired {
        let version = d.manifest["apiVersion"]
            .as_str()
            .and_then(|a| a.rsplit('/').next())
            .unwrap_or("");
        let mut entry = resource_entry(
            d.group(),
            version,
            d.kind(),
            object::namespace(&d.manifest),
            object::name(&d.manifest),
        );
        let live = d.live(argo);
        let synced = live.as_ref().is_some_and(|l| in_sync(d, l));
        all_synced &= synced;
        entry["status"] = json!(if synced { "Synced" } else { "OutOfSync" });
        lives.push(live);
        for path in [
            "/spec/template/spec/containers",
            "/spec/containers",
            "/spec/jobTemplate/spec/template/spec/containers",
        ] {
            if let Some(containers) = d.manifest.pointer(path).and_then(Value::as_array) {
                for image in containers.iter().filter_map(|c| c["image"].as_str()) {
                    if !c.images.iter().any(|i| i == image) {
                        c.images.push(image.to_string());
                    }
                }
            }
        }
        c.resources.push(entry);
    }
    let desired_keys: Vec<(String, String, String)> = desired
        .iter()
        .map(|d| {
            (
                d.kind().to_string(),
                object::namespace(&d.manifest).to_string(),
                object::name(&d.manifest).to_string(),
            )
        })
        .collect();
    for (rt, o) in tracked(argo, name) {
        let key = (
            rt.kind.clone(),
            object::namespace(&o).to_string(),
            object::name(&o).to_string(),
        );
        if desired_keys.contains(&key) || object::is_deleting(&o) {
            continue;
        }
        let mut entry = resource_entry(&rt.group, &rt.version, &rt.kind, &key.1, &key.2);
        entry["status"] = json!("OutOfSync");
        entry["requiresPruning"] = json!(true);
        c.resources.push(entry);
        lives.push(Some(o.clone()));
        all_synced = false;
        c.extra.push((rt, o));
    }
    set_health(app, &settings, &mut c, &lives);
    c.sync = if all_synced {
        "Synced".into()
    } else {
        "OutOfSync".into()
    };
    c.images.sort();
    c.desired = desired;
    c
}

/// Fills the resources' and the Application's health (Argo CD's
/// `setApplicationHealth`): `lives[i]` is the live object of
/// `c.resources[i]`.
fn set_health(app: &Value, settings: &Settings, c: &mut Comparison, lives: &[Option<Arc<Value>>]) {
    let text = |entry: &Value, key: &str| entry[key].as_str().unwrap_or("").to_string();
    let keys: Vec<[String; 4]> = c
        .resources
        .iter()
        .map(|e| [text(e, "group"), text(e, "kind"), text(e, "namespace"), text(e, "name")])
        .collect();
    let managed: Vec<Managed<'_>> = keys
        .iter()
        .zip(lives)
        .map(|([group, kind, namespace, name], live)| Managed {
            group,
            kind,
            namespace,
            name,
            live: live.as_deref(),
        })
        .collect();
    let result = health::aggregate(settings, app, &managed);
    if settings.persist {
        for (entry, verdict) in c.resources.iter_mut().zip(&result.resources) {
            if let Some((h, m)) = verdict {
                let mut hv = json!({"status": h.as_str()});
                if !m.is_empty() {
                    hv["message"] = json!(m);
                }
                entry["health"] = hv;
            }
        }
    }
    c.health_source = (!settings.persist).then_some("appTree");
    if let Some(error) = result.error {
        c.conditions.push(json!({
            "type": "ComparisonError",
            "message": format!("error setting app health: {error}"),
            "lastTransitionTime": crate::time::now_rfc3339(),
        }));
    }
    c.health = result.health;
    c.health_message = result.message;
}

/// Writes the comparison into the Application's status, only if it changed.
pub fn write_status(argo: &ArgoCd, rt: &ResourceType, name: &str, c: &Comparison, ctx: &WriteCtx<'_>) {
    let Some(ns) = argo.namespace() else { return };
    let _ = write::modify(&argo.cluster, rt, &ns, name, None, ctx, |app| {
        let before = app["status"].clone();
        let mut status = if before.is_object() { before.clone() } else { json!({}) };
        let src = source(app);
        status["sync"] = json!({
            "status": c.sync,
            "comparedTo": {"source": src, "destination": app["spec"]["destination"]},
        });
        if !c.revision.is_empty() {
            status["sync"]["revision"] = json!(c.revision);
        }
        let mut health = json!({"status": c.health.as_str()});
        if !c.health_message.is_empty() {
            health["message"] = json!(c.health_message);
        }
        status["health"] = health;
        status["resources"] = json!(c.resources);
        match (c.health_source, status.as_object_mut()) {
            (Some(source), _) => status["resourceHealthSource"] = json!(source),
            (None, Some(m)) => {
                m.remove("resourceHealthSource");
            }
            (None, None) => {}
        }
        status["summary"] = if c.images.is_empty() {
            json!({})
        } else {
            json!({"images": c.images})
        };
        status["sourceType"] = json!("Directory");
        match status.as_object_mut() {
            Some(m) if c.conditions.is_empty() => {
                m.remove("conditions");
            }
            _ => {
                let keep_time = |cond: &Value| {
                    let mut cond = cond.clone();
                    if let Some(old) = before["conditions"].as_array().and_then(|cs| {
                        cs.iter()
                            .find(|o| o["type"] == cond["type"] && o["message"] == cond["message"])
                    }) {
                        cond["lastTransitionTime"] = old["lastTransitionTime"].clone();
                    }
                    cond
                };
                status["conditions"] = Value::Array(c.conditions.iter().map(keep_time).collect());
            }
        }
        let mut compare_old = before.clone();
        if let Some(m) = compare_old.as_object_mut() {
            m.remove("reconciledAt");
        }
        let mut compare_new = status.clone();
        if let Some(m) = compare_new.as_object_mut() {
            m.remove("reconciledAt");
        }
        if compare_old != compare_new {
            status["reconciledAt"] = json!(crate::time::now_rfc3339());
            app["status"] = status;
        }
    });
}

/// Handles a deleting Application: cascade-delete what it applied (except
/// `Delete=false`), then drop the resources finalizer.
pub fn finalize(argo: &ArgoCd, rt: &ResourceType, app: &Value, ctx: &WriteCtx<'_>) {
    let name = object::name(app);
    let finalizers = object::finalizers(app);
    let ours: Vec<String> = finalizers
        .iter()
        .filter(|f| f.starts_with(RESOURCES_FINALIZER))
        .cloned()
        .collect();
    if ours.is_empty() {
        return;
    }
    let config = argo.cluster.config();
    if config.apps.get(name).is_some_and(|b| b.stuck_finalizer) {
        return;
    }
    let remaining: Vec<_> = tracked(argo, name)
        .into_iter()
        .filter(|(_, o)| !never_delete(o))
        .collect();
    if remaining.is_empty() {
        let _ = write::modify(&argo.cluster, rt, object::namespace(app), name, None, ctx, |o| {
            for f in &ours {
                object::remove_finalizer(o, f);
            }
        });
        return;
    }
    let options = DeleteOptions {
        propagation: Some("Foreground".into()),
        ..DeleteOptions::default()
    };
    for (rrt, o) in remaining {
        if !object::is_deleting(&o) {
            let _ = write::delete(
                &argo.cluster,
                &rrt,
                object::namespace(&o),
                object::name(&o),
                &options,
                ctx,
            );
        }
    }
}
