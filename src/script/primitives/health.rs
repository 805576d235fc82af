//! `health::*` — assessing objects (Argo CD-parity rules, Rhai health
//! checks) and aggregating statuses.

use rhai::plugin::*;
use rhai::{CallFnOptions, Map, Scope};
use serde_json::Value;

use super::Result;
use crate::health::{Health, HealthStatus, assess_builtin};
use crate::k8s::Kind;
use crate::script::convert::to_dynamic;
use crate::script::host::{Host, script_error};

/// The health-check key of an object's kind: `<group>_<Kind>` (core group empty).
pub fn check_key(object: &Value) -> Option<String> {
    let kind = Kind::of(object).ok()?;
    Some(format!("{}_{}", kind.group(), kind.kind))
}

/// Assesses one object in the documented order (docs/health.md): being
/// deleted is Progressing "Pending deletion" before any check runs; then a
/// Rhai health check for its kind (an operator's mounted check over the
/// bundled one), then the built-in rules; an object with neither is Healthy
/// by existing, as in Argo CD.
///
/// # Errors
/// A health check that throws or returns something other than `#{status, message}`.
pub fn assess(host: &Host, object: &Value) -> Result<Health> {
    if let Some(deleting) = crate::health::assess_deletion(object) {
        return Ok(deleting);
    }
    if let Some(key) = check_key(object)
        && let Some(script) = host.scripts.health.get(&key)
    {
        let engine = host.engine()?;
        let result: Dynamic = crate::script::control::read_only("a health check", || {
            engine.call_fn_with_options(
                CallFnOptions::new().eval_ast(false),
                &mut Scope::new(),
                &script.ast,
                "health",
                (to_dynamic(object),),
            )
        })
        .map_err(|e| {
            let located = crate::script::error::from_rhai(&e, &script.source.display, &host.origins);
            script_error(format!("health check {key}: {located}"))
        })?;
        return health_of(&result)
            .map_err(|m| script_error(format!("health check {key} ({}): {m}", script.source.display)));
    }
    Ok(assess_builtin(object).unwrap_or(Health {
        status: HealthStatus::Healthy,
        message: String::new(),
    }))
}

/// Reads `#{status, message}` returned by a script.
///
/// # Errors
/// A message when the value is not such a map or the status is unknown.
pub fn health_of(value: &Dynamic) -> std::result::Result<Health, String> {
    let map = value
        .read_lock::<Map>()
        .ok_or_else(|| format!("expected #{{status, message}}, got {}", value.type_name()))?;
    let status = map
        .get("status")
        .and_then(|s| s.clone().into_string().ok())
        .ok_or("the result has no `status` string")?;
    let message = map.get("message").map(crate::script::convert::text).unwrap_or_default();
    Ok(Health {
        status: status
            .parse()
            .map_err(|e: crate::health::ParseHealthStatusError| e.to_string())?,
        message: if message == "()" { String::new() } else { message },
    })
}

fn health_map(health: &Health) -> Map {
    let mut map = Map::new();
    map.insert("status".into(), Dynamic::from(health.status.to_string()));
    map.insert("message".into(), Dynamic::from(health.message.clone()));
    map
}

/// The `health` primitives, one function each; `docs/scripting-api.md` is
/// generated from their doc comments.
#[export_module]
pub mod api {
    use rhai::{Array, Dynamic, Map, NativeCallContext};

    use super::super::{Result, with_host};
    use super::health_map;
    use crate::health::{HealthStatus, aggregate as aggregate_statuses};
    use crate::script::convert::{text, to_json};
    use crate::script::host::script_error;

    /// Assesses an object's health: `#{status, message}` with status one of
    /// `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing`, `Unknown`.
    /// A Rhai health check for the object's `<group>_<Kind>` (mounted in
    /// `$CONFIG_DIR/health/`, or bundled) wins over the built-in Argo CD-parity
    /// rules; objects with neither are Healthy by existing.
    ///
    /// ```rhai
    /// let d = k8s::get("apps/v1", "Deployment", "argocd", "argocd-server");
    /// if health::assess(d).status != "Healthy" { throw "argocd-server is not ready" }
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn assess(ctx: NativeCallContext, object: Map) -> Result<Map> {
        with_host(&ctx, |h| {
            let object = to_json(&Dynamic::from_map(object)).map_err(script_error)?;
            super::assess(h, &object).map(|health| health_map(&health))
        })
    }

    /// Aggregates statuses (strings, or maps with a `status`) as a stack or the
    /// platform does: all Healthy → Healthy; any Failed → Failed; any Degraded,
    /// Missing or Unknown → Degraded; any Progressing or Suspended → Progressing.
    ///
    /// ```rhai
    /// let judged = argocd::judge(ctx.plan);
    /// let overall = health::aggregate(judged.values().map(|j| j.health));
    /// ```
    #[rhai_fn(return_raw)]
    pub fn aggregate(statuses: Array) -> Result<String> {
        let mut parsed = Vec::with_capacity(statuses.len());
        for item in &statuses {
            let status = match item.read_lock::<Map>() {
                Some(map) => map.get("status").map(text).unwrap_or_default(),
                None => text(item),
            };
            parsed.push(
                status
                    .parse::<HealthStatus>()
                    .map_err(|e| script_error(e.to_string()))?,
            );
        }
        Ok(aggregate_statuses(parsed).to_string())
    }

    /// Judges a resource gate `#{apiVersion, kind, namespace, name, check}` as
    /// docs/health.md says: Argo CD's verdict recorded in the Application that
    /// manages the resource, or the executor's own (`health::assess`) when none
    /// does or `check` is `"executor"`. `options`: `app` (the node's Application,
    /// looked at first), `apps` (Applications already listed), `timeout` (wait
    /// until Healthy; without it, judge once). Returns `#{status, message,
    /// decided_by, app}`; while waiting, throws `#{reason, message, diagnostics}`
    /// when Degraded (at once) or at the timeout.
    ///
    /// ```rhai
    /// let verdict = health::gate(#{apiVersion: "cert-manager.io/v1", kind: "Certificate", namespace: "web",
    ///                              name: "web-tls", check: "executor"}, #{timeout: "5m"});
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn gate(ctx: NativeCallContext, gate: Map, options: Map) -> Result<Map> {
        with_host(&ctx, |h| {
            let gate = to_json(&Dynamic::from_map(gate)).map_err(script_error)?;
            let options = to_json(&Dynamic::from_map(options)).map_err(script_error)?;
            super::super::gate::gate(h, &gate, &options).map(|verdict| verdict.try_cast::<Map>().unwrap_or_default())
        })
    }

    /// The health-check key of an object's kind, `<group>_<Kind>` (e.g.
    /// `ceph.rook.io_CephCluster`, `apps_Deployment`, `_Service`).
    ///
    /// ```rhai
    /// let d = k8s::get("apps/v1", "Deployment", "argocd", "argocd-server");
    /// log::debug(health::check_key(d));   // "apps_Deployment"
    /// ```
    #[rhai_fn(return_raw)]
    pub fn check_key(object: Map) -> Result<String> {
        let object = to_json(&Dynamic::from_map(object)).map_err(script_error)?;
        super::check_key(&object).ok_or_else(|| script_error("the object has no apiVersion/kind"))
    }
}
