//! `argocd::*` — Argo CD Applications over the Kubernetes API: ensure,
//! sync, wait until Synced and Healthy, delete with cascade.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rhai::{Array, Dynamic, EvalAltResult, Map, Module};
use serde_json::{Value, json};

use super::k8s::ensure;
use super::{duration_arg, register};
use crate::argocd::{self as acd, Verdict};
use crate::k8s::wait::{WaitFailure, wait_for};
use crate::k8s::{K8sError, Propagation};
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

/// The sync this run last requested of each Application.
#[derive(Debug, Default)]
struct Requests(Mutex<HashMap<String, acd::SyncRequest>>);

impl Requests {
    fn set(&self, name: &str, request: acd::SyncRequest) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(name.to_owned(), request);
        }
    }
    fn get(&self, name: &str) -> Option<acd::SyncRequest> {
        self.0.lock().ok().and_then(|m| m.get(name).cloned())
    }
}

fn request_sync(host: &Host, name: &str, revision: &str, requests: &Requests) -> Result<bool> {
    let key = acd::app_key(&host.settings.argocd_namespace, name);
    if host.settings.dry_run {
        tracing::info!(
            phase = "sync",
            component = name,
            "dry run: would request a sync of {name}"
        );
        return Ok(false);
    }
    // The time is taken before the request: Argo CD may start (and finish)
    // the sync before the answer arrives, in what is already the next second.
    let request = acd::SyncRequest {
        at: jiff::Timestamp::now(),
        id: crate::observe::trace::random_hex(8),
    };
    let patch = acd::sync_patch(revision, &request);
    let live = host.block(
        &format!("requesting a sync of {name}"),
        host.cluster.merge_patch(&key, &patch),
    )?;
    host.index.record(&key, Some(&live));
    requests.set(name, request);
    tracing::info!(phase = "sync", component = name, "sync requested");
    Ok(true)
}

/// How many times a dropped sync request is made again before giving up.
const MAX_LOST_REQUESTS: u32 = 3;

fn wait_ready(host: &Host, name: &str, timeout: Duration, requests: &Requests) -> Result<Value> {
    let key = acd::app_key(&host.settings.argocd_namespace, name);
    let retries = host.settings.retries;
    let mut attempt = 1u32;
    let mut lost = 0u32;
    loop {
        let since = requests.get(name);
        let bounds = host.current_bounds().within(timeout);
        let mut last_reason = String::new();
        let what = format!("Application {name} to be Synced and Healthy");
        let result = host.runtime.block_on(wait_for(
            host.cluster.as_ref(),
            &key,
            |state| match acd::verdict(state, since.as_ref()) {
                Verdict::Ready => Ok(true),
                Verdict::Waiting(reason) => {
                    if reason != last_reason {
                        tracing::debug!(phase = "wait", component = name, "{reason}");
                        last_reason = reason;
                    }
                    Ok(false)
                }
                Verdict::SyncFailed(message) => Err(K8sError::Invalid(format!("sync failed: {message}"))),
                Verdict::Unhealthy(message) => Err(K8sError::Invalid(message)),
                Verdict::RequestLost => Err(K8sError::Invalid("the sync request was dropped".to_owned())),
            },
            &bounds,
            &what,
        ));
        match result {
            Ok(state) => {
                let state = state.unwrap_or(Value::Null);
                host.index.record(&key, Some(&state));
                return Ok(state);
            }
            Err(WaitFailure { error, last }) => {
                let diagnostics = last.as_ref().map(acd::diagnostics).unwrap_or_default();
                let verdict = acd::verdict(last.as_ref(), since.as_ref());
                match (error, verdict) {
                    (K8sError::Invalid(_), Verdict::RequestLost) if lost < MAX_LOST_REQUESTS => {
                        lost += 1;
                        tracing::info!(
                            phase = "sync",
                            component = name,
                            "the sync request was dropped when an earlier operation ended; requesting it again"
                        );
                        let revision = last
                            .as_ref()
                            .and_then(|a| a["spec"]["source"]["targetRevision"].as_str())
                            .unwrap_or("HEAD")
                            .to_owned();
                        request_sync(host, name, &revision, requests)?;
                    }
                    (K8sError::Invalid(_), Verdict::RequestLost) => {
                        return Err(failure(
                            "SyncFailed",
                            format!(
                                "{name}: Argo CD dropped the sync request {lost} times (other operations kept ending over it)"
                            ),
                            diagnostics,
                        ));
                    }
                    (K8sError::Invalid(message), Verdict::SyncFailed(_)) if attempt < retries.max_attempts => {
                        let delay = retries.backoff * 2u32.saturating_pow(attempt - 1);
                        tracing::warn!(
                            phase = "sync",
                            component = name,
                            "{message}; retrying in {delay:?} (attempt {} of {})",
                            attempt + 1,
                            retries.max_attempts
                        );
                        host.count_attempt();
                        attempt += 1;
                        host.block("waiting before retrying the sync", async {
                            tokio::time::sleep(delay).await;
                            Ok(())
                        })?;
                        let revision = last
                            .as_ref()
                            .and_then(|a| a["spec"]["source"]["targetRevision"].as_str())
                            .unwrap_or("HEAD")
                            .to_owned();
                        request_sync(host, name, &revision, requests)?;
                    }
                    (K8sError::Invalid(message), Verdict::SyncFailed(_)) => {
                        return Err(failure(
                            "SyncFailed",
                            format!("{name}: {message} (after {attempt} attempts)"),
                            diagnostics,
                        ));
                    }
                    (K8sError::Invalid(message), _) => {
                        let reason = if message.starts_with("Unknown") {
                            "Unknown"
                        } else {
                            "Degraded"
                        };
                        return Err(failure(reason, format!("{name}: {message}"), diagnostics));
                    }
                    (error @ K8sError::Timeout { .. }, verdict) => {
                        let still = match verdict {
                            Verdict::Waiting(reason) => format!("; still {reason}"),
                            _ => String::new(),
                        };
                        return Err(failure("TimedOut", format!("{error}{still}"), diagnostics));
                    }
                    (error, _) => return Err(script_error(error.to_string())),
                }
            }
        }
    }
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
    match host.runtime.block_on(wait_for(
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
        "Requests a sync of Application `name` at its target revision (as\n`argocd app sync` does, through the Application's `operation`). Does\nnothing if a sync is already running. Returns whether a sync was requested.",
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
            request_sync(&h, name, &revision, &r)
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
            wait_ready(&h, name, duration_arg(&timeout)?, &r).map(|v| to_dynamic(&v))
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
