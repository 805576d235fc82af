//! `argocd::*` — Argo CD Applications over the Kubernetes API: ensure,
//! sync, wait until Synced and Healthy, delete with cascade.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rhai::{Array, Dynamic, EvalAltResult, Map, Module};
use serde_json::{Value, json};

use super::k8s::ensure;
use super::{duration_arg, register};
use crate::argocd::{self as acd, Expectation};
use crate::k8s::Propagation;
use crate::k8s::wait::{WaitFailure, wait_for};
use crate::orchestrate::sync;
use crate::script::convert::{to_dynamic, to_json};
use crate::script::host::{Host, script_error};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// A failure with structure: scripts and the scheduler read `message`,
/// `reason` and `diagnostics` from the thrown map.
pub fn failure(reason: &str, message: impl Into<String>, diagnostics: Vec<String>) -> Box<EvalAltResult> {
    let mut map = Map::new();
    map.insert("reason".into(), Dynamic::from(reason.to_owned()));
    map.insert(
        "message".into(),
        Dynamic::from(crate::redact::scrub(&message.into()).into_owned()),
    );
    map.insert(
        "diagnostics".into(),
        Dynamic::from_array(diagnostics.into_iter().map(Dynamic::from).collect()),
    );
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from_map(map),
        rhai::Position::NONE,
    ))
}

fn delete_app(host: &Host, name: &str, timeout: Duration) -> Result<bool> {
    let key = acd::app_key(&host.settings.argocd_namespace, name);
    let live = host.block(&format!("reading Application {name}"), host.cluster.get(&key))?;
    let Some(live) = live else {
        return Ok(false);
    };
    if host.settings.dry_run {
        tracing::info!(
            phase = "delete",
            component = name,
            "dry run: would delete Application {name} and its resources"
        );
        return Ok(true);
    }
    let has_finalizer = live["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f == acd::CASCADE_FINALIZER));
    if !has_finalizer && live["metadata"]["deletionTimestamp"].is_null() {
        let mut finalizers: Vec<Value> = live["metadata"]["finalizers"].as_array().cloned().unwrap_or_default();
        finalizers.push(json!(acd::CASCADE_FINALIZER));
        let patch = json!({"metadata": {"finalizers": finalizers}});
        host.block(
            &format!("adding the cascade finalizer to {name}"),
            host.cluster.merge_patch(&key, &patch),
        )?;
    }
    host.block(
        &format!("deleting Application {name}"),
        host.cluster.delete(&key, Propagation::Foreground),
    )?;
    tracing::info!(
        phase = "delete",
        component = name,
        "Application deleted; waiting for Argo CD to remove its resources"
    );
    let bounds = host.current_bounds().within(timeout);
    match host.block_on(wait_for(
        host.cluster.as_ref(),
        &key,
        |s| Ok(s.is_none()),
        &bounds,
        &format!("Application {name} and its resources to be deleted"),
    )) {
        Ok(_) => {
            host.index.record(&key, None);
            Ok(true)
        }
        Err(WaitFailure { error, last }) => {
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
            Err(failure("DeleteTimedOut", format!("{name}: {error}"), diagnostics))
        }
    }
}

/// The syncs this run requested through `argocd::sync`, until a wait takes them.
#[derive(Debug, Default)]
struct Requests(Mutex<HashMap<String, sync::Sent>>);

impl Requests {
    fn set(&self, name: &str, sent: sync::Sent) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(name.to_owned(), sent);
        }
    }
    fn take(&self, name: &str) -> Option<sync::Sent> {
        self.0.lock().ok().and_then(|mut m| m.remove(name))
    }
}

/// The `argocd` module.
pub fn module(host: &Arc<Host>) -> Module {
    let mut m = Module::new();
    let requests = Arc::new(Requests::default());

    let h = host.clone();
    register(
        &mut m,
        "app",
        &["name: &str", "Dynamic"],
        "The Application `name` in Argo CD's namespace as it is now (one request),\nor `()`.",
        move |name: &str| -> Result<Dynamic> {
            let key = acd::app_key(&h.settings.argocd_namespace, name);
            let live = h.block(&format!("reading Application {name}"), h.cluster.get(&key))?;
            h.index.record(&key, live.as_ref());
            Ok(live.as_ref().map_or(Dynamic::UNIT, to_dynamic))
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "apps",
        &["label_selector: &str", "Array"],
        "Every Application in Argo CD's namespace matching `label_selector`\n(`\"\"`: all), in one request.",
        move |selector: &str| -> Result<Array> {
            let kind = acd::application_kind();
            let ns = h.settings.argocd_namespace.clone();
            let sel = (!selector.is_empty()).then_some(selector);
            let items = super::k8s::list(&h, &kind, Some(&ns), sel)?;
            Ok(items.iter().map(to_dynamic).collect())
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "ensure_app",
        &["application: Map", "Map"],
        "Creates or updates an Application (server-side apply, compare first:\nnothing is written when the live Application already matches). Returns\n`#{action, changed, why, object}` like `k8s::ensure`.",
        move |application: Map| -> Result<Dynamic> {
            let mut object = to_json(&Dynamic::from_map(application)).map_err(script_error)?;
            if object["metadata"]["namespace"].is_null() {
                object["metadata"]["namespace"] = json!(h.settings.argocd_namespace);
            }
            let applied = ensure(&h, &object)?;
            let mut map = Map::new();
            map.insert("action".into(), Dynamic::from(format!("{:?}", applied.action)));
            map.insert("changed".into(), Dynamic::from_bool(applied.action.changed()));
            map.insert(
                "why".into(),
                Dynamic::from_array(applied.why.iter().map(|w| Dynamic::from(w.clone())).collect()),
            );
            map.insert("object".into(), to_dynamic(&applied.live));
            Ok(Dynamic::from_map(map))
        },
    );

    let h = host.clone();
    let r = requests.clone();
    register(
        &mut m,
        "sync",
        &["name: &str", "bool"],
        "Requests a sync of Application `name` at its target revision (as\n`argocd app sync` does, through the Application's `operation`). Does\nnothing if a sync is already running or requested. Returns whether a sync\nwas requested.",
        move |name: &str| -> Result<bool> {
            let key = acd::app_key(&h.settings.argocd_namespace, name);
            let live = match h.index.lookup(&key, &Value::Null) {
                crate::k8s::index::Known::Present(live) => Some(live),
                _ => h
                    .block(&format!("reading Application {name}"), h.cluster.get(&key))?
                    .map(std::sync::Arc::new),
            };
            let Some(live) = live else {
                return Err(script_error(format!(
                    "cannot sync {name}: the Application does not exist"
                )));
            };
            if acd::state(&live).operation_phase.as_deref() == Some("Running") || !live["operation"].is_null() {
                return Ok(false);
            }
            let revision = live["spec"]["source"]["targetRevision"]
                .as_str()
                .unwrap_or("HEAD")
                .to_owned();
            let sent = h.block(
                &format!("requesting a sync of {name}"),
                sync::request(&h, name, &revision),
            )?;
            let requested = sent.is_some();
            if let Some(sent) = sent {
                r.set(name, sent);
            }
            Ok(requested)
        },
    );

    let h = host.clone();
    let r = requests.clone();
    register(
        &mut m,
        "wait_healthy",
        &["name: &str", "timeout: Dynamic", "Map"],
        "Waits (watch) until Application `name` is Synced and Healthy with no\noperation in flight, and returns it. A sync this run requested must have\nstarted. A failed sync is requested again up to `retries.maxAttempts`\ntimes with exponential backoff. Throws `#{reason, message, diagnostics}`\nwhen the Application is Degraded, the sync keeps failing, or `timeout`\npasses.",
        move |name: &str, timeout: Dynamic| -> Result<Dynamic> {
            if h.settings.dry_run {
                return Ok(Dynamic::UNIT);
            }
            let bounds = h.current_bounds().within(duration_arg(&timeout)?);
            let store = h.app_store();
            let sent = r.take(name);
            let state = h
                .runtime
                .block_on(sync::wait_ready(&h, store, name, Expectation::default(), sent, &bounds))
                .map_err(|f| failure(&f.reason, f.message, f.diagnostics))?;
            h.index
                .record(&acd::app_key(&h.settings.argocd_namespace, name), Some(&state));
            Ok(to_dynamic(&state))
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "delete_app",
        &["name: &str", "timeout: Dynamic", "bool"],
        "Deletes Application `name` with the cascade finalizer, so Argo CD removes\nits resources first, and waits (watch) until it is gone. Returns `false`\nwhen it did not exist. Throws `#{reason, message, diagnostics}` on timeout\n(e.g. a finalizer that never completes).",
        move |name: &str, timeout: Dynamic| -> Result<bool> { delete_app(&h, name, duration_arg(&timeout)?) },
    );

    let h = host.clone();
    register(
        &mut m,
        "judge",
        &["plan: Plan", "Map"],
        "How every node of `plan` stands, from one list of Argo CD's Applications\n(judged in Rust): `#{<node>: #{health, sync, message, diagnostics, gates:\n[#{kind, namespace, name, status, message, decided_by}]}}`. An Application\nthat does not exist is `Missing`; a gate is judged by Argo CD's recorded\nverdict when an Application manages its resource, else by the executor's\nchecks on the live object (docs/health.md). Reads only.\n\n```rhai\nlet judged = argocd::judge(ctx.plan);\nif judged[\"vault\"].health != \"Healthy\" { /* ... */ }\n```",
        move |plan: Dynamic| -> Result<Map> {
            let view = crate::script::plan_view::plan_of(&plan, &h.plan)?;
            let kind = acd::application_kind();
            let namespace = h.settings.argocd_namespace.clone();
            let apps = super::k8s::list(&h, &kind, Some(&namespace), None)?;
            let nodes: Vec<crate::dag::PlanNode> = view.nodes().into_iter().cloned().collect();
            Ok(crate::orchestrate::judge::judge(&h, &nodes, &apps)
                .into_iter()
                .map(|(name, judged)| (name.into(), to_dynamic(&judged.to_json())))
                .collect())
        },
    );

    register(
        &mut m,
        "state",
        &["application: Map", "Map"],
        "An Application's state, flattened: `#{sync, health, health_message,\noperation_phase, operation_message, conditions, revision}`.",
        |application: Map| -> Result<Dynamic> {
            let app = to_json(&Dynamic::from_map(application)).map_err(script_error)?;
            let s = acd::state(&app);
            Ok(to_dynamic(&json!({
                "sync": s.sync, "health": s.health, "health_message": s.health_message,
                "operation_phase": s.operation_phase, "operation_message": s.operation_message,
                "conditions": s.conditions, "revision": s.revision,
            })))
        },
    );

    register(
        &mut m,
        "diagnostics",
        &["application: Map", "Array"],
        "Why an Application is not healthy: its conditions, the operation's message\nand each unhealthy resource with its message.",
        |application: Map| -> Result<Array> {
            let app = to_json(&Dynamic::from_map(application)).map_err(script_error)?;
            Ok(acd::diagnostics(&app).into_iter().map(Dynamic::from).collect())
        },
    );

    m
}
