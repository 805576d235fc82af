//! `argocd::*` — Argo CD Applications over the Kubernetes API: ensure,
//! sync, wait until Synced and Healthy, delete with cascade.

use std::time::Duration;

use rhai::Map;
use rhai::plugin::*;
use serde_json::{Value, json};

use super::Result;
use crate::argocd as acd;
use crate::k8s::Propagation;
use crate::k8s::wait::{WaitFailure, wait_for};
use crate::report::FailureReason;
use crate::script::host::Host;

/// A failure with structure: scripts and the scheduler read `message`,
/// `reason` and `diagnostics` from the thrown map.
pub fn failure(reason: &FailureReason, message: impl Into<String>, diagnostics: Vec<String>) -> Box<EvalAltResult> {
    let mut map = Map::new();
    map.insert("reason".into(), Dynamic::from(reason.to_string()));
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
            Err(failure(
                &FailureReason::DeleteTimedOut,
                format!("{name}: {error}"),
                diagnostics,
            ))
        }
    }
}

/// The `argocd` primitives, one function each; `docs/scripting-api.md` is
/// generated from their doc comments.
#[export_module]
pub mod api {
    use rhai::{Array, Dynamic, Map, NativeCallContext};
    use serde_json::{Value, json};

    use super::super::k8s::ensure;
    use super::super::{Plan, Result, duration_arg, with_host};
    use super::{delete_app as delete_application, failure};
    use crate::argocd::{self as acd, Expectation};
    use crate::orchestrate::sync;
    use crate::script::convert::{to_dynamic, to_json, to_map};
    use crate::script::host::script_error;

    /// The Application `name` in Argo CD's namespace as it is now (one request),
    /// or `()`.
    ///
    /// ```rhai
    /// let app = argocd::app("vault");
    /// if app == () { log::warn("no vault Application") }
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn app(ctx: NativeCallContext, name: &str) -> Result<Dynamic> {
        with_host(&ctx, |h| {
            let key = acd::app_key(&h.settings.argocd_namespace, name);
            let live = h.block(&format!("reading Application {name}"), h.cluster.get(&key))?;
            h.index.record(&key, live.as_ref());
            Ok(live.as_ref().map_or(Dynamic::UNIT, to_dynamic))
        })
    }

    /// Every Application in Argo CD's namespace matching `label_selector`
    /// (`""`: all), in one request.
    ///
    /// ```rhai
    /// let apps = argocd::apps("app.kubernetes.io/managed-by=executor");
    /// log::info(`${apps.len()} platform Applications`);
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn apps(ctx: NativeCallContext, label_selector: &str) -> Result<Array> {
        with_host(&ctx, |h| {
            let selector = (!label_selector.is_empty()).then_some(label_selector);
            let items = super::super::k8s::list(
                h,
                &acd::application_kind(),
                Some(&h.settings.argocd_namespace),
                selector,
            )?;
            Ok(items.iter().map(to_dynamic).collect())
        })
    }

    /// Creates or updates an Application (server-side apply, compare first:
    /// nothing is written when the live Application already matches). Returns
    /// `#{action, changed, why, object}` like `k8s::ensure`.
    ///
    /// ```rhai
    /// import "stdlib/platform" as platform;
    /// let node = ctx.plan.nodes[0];
    /// let result = argocd::ensure_app(platform::application(node, ctx));
    /// if result.changed { argocd::sync(node.name); }
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn ensure_app(ctx: NativeCallContext, application: Map) -> Result<Map> {
        with_host(&ctx, |h| {
            let mut object = to_json(&Dynamic::from_map(application)).map_err(script_error)?;
            if object["metadata"]["namespace"].is_null() {
                object["metadata"]["namespace"] = json!(h.settings.argocd_namespace);
            }
            Ok(super::super::k8s::applied_map(&ensure(h, &object)?))
        })
    }

    /// Requests a sync of Application `name` at its target revision (as
    /// `argocd app sync` does, through the Application's `operation`). Does
    /// nothing if a sync is already running or requested. Returns whether a sync
    /// was requested.
    ///
    /// ```rhai
    /// if argocd::sync("vault") { log::info("vault: sync requested") }
    /// argocd::wait_healthy("vault", ctx.config.timeouts.sync);
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn sync(ctx: NativeCallContext, name: &str) -> Result<bool> {
        with_host(&ctx, |h| {
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
            let revision = live["spec"]["source"]["targetRevision"].as_str().unwrap_or("HEAD");
            let sent = h.block(
                &format!("requesting a sync of {name}"),
                sync::request(h, name, revision),
            )?;
            let requested = sent.is_some();
            if let Some(sent) = sent {
                h.requested_syncs().insert(name.to_owned(), sent);
            }
            Ok(requested)
        })
    }

    /// Waits (watch) until Application `name` is Synced and Healthy with no
    /// operation in flight, and returns it. A sync this run requested must have
    /// started. A failed sync is requested again up to `retries.maxAttempts`
    /// times with exponential backoff. Throws `#{reason, message, diagnostics}`
    /// when the Application is Degraded, the sync keeps failing, or `timeout`
    /// passes.
    ///
    /// ```rhai
    /// argocd::sync("vault");
    /// let app = argocd::wait_healthy("vault", ctx.config.timeouts.health);
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn wait_healthy(ctx: NativeCallContext, name: &str, timeout: Dynamic) -> Result<Dynamic> {
        with_host(&ctx, |h| {
            if h.settings.dry_run {
                return Ok(Dynamic::UNIT);
            }
            let bounds = h.current_bounds().within(duration_arg(&timeout)?);
            let sent = h.requested_syncs().remove(name);
            let state = h
                .block_on(sync::wait_ready(
                    h,
                    h.app_store(),
                    name,
                    Expectation::default(),
                    sent,
                    &bounds,
                ))
                .map_err(|f| failure(&f.reason, f.message, f.diagnostics))?;
            h.index
                .record(&acd::app_key(&h.settings.argocd_namespace, name), Some(&state));
            Ok(to_dynamic(&state))
        })
    }

    /// Deletes Application `name` with the cascade finalizer, so Argo CD removes
    /// its resources first, and waits (watch) until it is gone. Returns `false`
    /// when it did not exist. Throws `#{reason, message, diagnostics}` on timeout
    /// (e.g. a finalizer that never completes).
    ///
    /// ```rhai
    /// if !argocd::delete_app("vault", "10m") { log::info("vault was already gone") }
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn delete_app(ctx: NativeCallContext, name: &str, timeout: Dynamic) -> Result<bool> {
        with_host(&ctx, |h| delete_application(h, name, duration_arg(&timeout)?))
    }

    /// How every node of `plan` stands, from one list of Argo CD's Applications
    /// (judged in Rust): `#{<node>: #{health, sync, message, diagnostics, gates:
    /// [#{kind, namespace, name, status, message, decided_by}]}}`. An Application
    /// that does not exist is `Missing`; a gate is judged by Argo CD's recorded
    /// verdict when an Application manages its resource, else by the executor's
    /// checks on the live object (docs/health.md). Reads only.
    ///
    /// ```rhai
    /// let judged = argocd::judge(ctx.plan);
    /// if judged["vault"].health != "Healthy" { /* ... */ }
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn judge(ctx: NativeCallContext, plan: Plan) -> Result<Map> {
        with_host(&ctx, |h| {
            let view = crate::script::plan_view::plan_of(&plan, &h.plan)?;
            let apps = super::super::k8s::list(h, &acd::application_kind(), Some(&h.settings.argocd_namespace), None)?;
            let nodes: Vec<crate::dag::PlanNode> = view.nodes().into_iter().cloned().collect();
            Ok(crate::orchestrate::judge::judge(h, &nodes, &apps)
                .into_iter()
                .map(|(name, judged)| (name.into(), to_dynamic(&judged.to_json())))
                .collect())
        })
    }

    /// An Application's state, flattened: `#{sync, health, health_message,
    /// operation_phase, operation_message, conditions, revision}`.
    ///
    /// ```rhai
    /// for app in argocd::apps("app.kubernetes.io/managed-by=executor") {
    ///     let s = argocd::state(app);
    ///     log::info(`${app.metadata.name}: ${s.sync}, ${s.health}`);
    /// }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn state(application: Map) -> Result<Map> {
        let app = to_json(&Dynamic::from_map(application)).map_err(script_error)?;
        let s = acd::state(&app);
        Ok(to_map(&json!({
            "sync": s.sync, "health": s.health, "health_message": s.health_message,
            "operation_phase": s.operation_phase, "operation_message": s.operation_message,
            "conditions": s.conditions, "revision": s.revision,
        })))
    }

    /// Why an Application is not healthy: its conditions, the operation's message
    /// and each unhealthy resource with its message.
    ///
    /// ```rhai
    /// let app = argocd::app("vault");
    /// if app != () && argocd::state(app).health != "Healthy" {
    ///     report::failure("vault", "NotHealthy", "vault is not healthy", argocd::diagnostics(app));
    /// }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn diagnostics(application: Map) -> Result<Array> {
        let app = to_json(&Dynamic::from_map(application)).map_err(script_error)?;
        Ok(acd::diagnostics(&app).into_iter().map(Dynamic::from).collect())
    }
}
