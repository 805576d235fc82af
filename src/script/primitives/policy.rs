//! `policy::*` — running the compliance policies (bundled in
//! `stdlib/policies/`, or mounted in `$CONFIG_DIR/policies/`).
//!
//! A policy file defines `fn check(input)` and returns either an array of
//! results or `#{severity, description, results}`; each result is
//! `#{status: "pass"|"fail"|"warn", object, message}`. Severity `required`
//! (the default) makes a failure fail validation; `advisory` only reports.

use std::collections::BTreeSet;

use rhai::plugin::*;
use rhai::{Array, CallFnOptions, Map, Scope};
use serde_json::{Value, json};

use super::Result;
use crate::script::convert::{text, to_dynamic};
use crate::script::host::{Host, script_error};

fn field(map: &Map, name: &str) -> String {
    map.get(name).map(text).filter(|t| t != "()").unwrap_or_default()
}

/// Normalises what a policy returned into `#{name, origin, severity,
/// description, status, results}`.
fn normalise(name: &str, origin: &str, value: Dynamic) -> Result<Map> {
    let (severity, description, results) = if let Some(map) = value.read_lock::<Map>() {
        let results = map
            .get("results")
            .and_then(|r| r.read_lock::<Array>().map(|a| a.clone()))
            .ok_or_else(|| script_error(format!("policy {name}: the result map has no `results` array")))?;
        let severity = Some(field(&map, "severity"))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "required".to_owned());
        (severity, field(&map, "description"), results)
    } else if let Some(array) = value.read_lock::<Array>() {
        ("required".to_owned(), String::new(), array.clone())
    } else {
        return Err(script_error(format!(
            "policy {name}: expected an array of results or #{{severity, description, results}}, got {}",
            value.type_name()
        )));
    };
    if severity != "required" && severity != "advisory" {
        return Err(script_error(format!(
            "policy {name}: severity `{severity}`: expected required or advisory"
        )));
    }
    let mut worst = "pass";
    for result in &results {
        let map = result.read_lock::<Map>().ok_or_else(|| {
            script_error(format!(
                "policy {name}: each result must be a map #{{status, object, message}}"
            ))
        })?;
        match field(&map, "status").as_str() {
            "fail" => worst = "fail",
            "warn" if worst == "pass" => worst = "warn",
            "pass" | "warn" => {}
            other => {
                return Err(script_error(format!(
                    "policy {name}: status `{other}`: expected pass, fail or warn"
                )));
            }
        }
    }
    let mut out = Map::new();
    out.insert("name".into(), Dynamic::from(name.to_owned()));
    out.insert("origin".into(), Dynamic::from(origin.to_owned()));
    out.insert("severity".into(), Dynamic::from(severity));
    out.insert("description".into(), Dynamic::from(description));
    out.insert("status".into(), Dynamic::from(worst.to_owned()));
    out.insert("results".into(), Dynamic::from_array(results));
    Ok(out)
}

/// `from`'s fields `keys` (those present).
fn pick(from: &Value, keys: &[&str]) -> Value {
    Value::Object(
        keys.iter()
            .filter_map(|k| {
                from.get(*k)
                    .filter(|v| !v.is_null())
                    .map(|v| ((*k).to_owned(), v.clone()))
            })
            .collect(),
    )
}

/// What a policy sees of an Application: identity, labels and
/// annotations, its whole spec, and its sync and health status.
fn lean_application(app: &Value) -> Value {
    json!({
        "apiVersion": app["apiVersion"], "kind": app["kind"],
        "metadata": pick(&app["metadata"], &["name", "namespace", "labels", "annotations"]),
        "spec": app["spec"],
        "status": {"sync": pick(&app["status"]["sync"], &["status", "revision"]), "health": app["status"]["health"]},
    })
}

/// What a policy sees of a workload: identity and labels, its replicas and
/// its pod template (labels, containers, init containers).
fn lean_workload(workload: &Value) -> Value {
    let pod = &workload["spec"]["template"]["spec"];
    json!({
        "apiVersion": workload["apiVersion"], "kind": workload["kind"],
        "metadata": pick(&workload["metadata"], &["name", "namespace", "labels"]),
        "spec": {
            "replicas": workload["spec"]["replicas"],
            "template": {
                "metadata": pick(&workload["spec"]["template"]["metadata"], &["labels"]),
                "spec": pick(pod, &["containers", "initContainers"]),
            },
        },
    })
}

/// The input of the compliance policies: `#{ctx, apps, workloads,
/// bootstrap: #{versions, workloads}}` (see the `input` primitive).
fn input(host: &Host, ctx: Dynamic) -> Result<Map> {
    let view = ctx
        .read_lock::<Map>()
        .and_then(|c| c.get("plan").cloned())
        .map(|p| crate::script::plan_view::plan_of(&p, &host.plan))
        .transpose()?;
    let nodes: Vec<&crate::dag::PlanNode> = view.as_ref().map(|v| v.nodes()).unwrap_or_default();
    let names: BTreeSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    let namespaces: BTreeSet<&str> = nodes.iter().map(|n| n.namespace.as_str()).collect();
    let app_kind = crate::argocd::application_kind();
    let mut apps = host.index.of_kind(&app_kind);
    if apps.is_empty() {
        let namespace = host.settings.argocd_namespace.clone();
        apps = super::k8s::list(host, &app_kind, Some(&namespace), None)?;
    }
    let apps: Array = apps
        .iter()
        .filter(|a| a["metadata"]["name"].as_str().is_some_and(|n| names.contains(n)))
        .map(|a| to_dynamic(&lean_application(a)))
        .collect();
    let part_of = crate::bootstrap::inventory::bundle_applyset_id(&host.settings.argocd_namespace);
    let mut workloads = Array::new();
    let mut bootstrap = Array::new();
    for kind in ["Deployment", "StatefulSet", "DaemonSet"] {
        for workload in super::k8s::list(host, &crate::k8s::Kind::new("apps/v1", kind), None, None)? {
            if workload["metadata"]["labels"][crate::bootstrap::inventory::PART_OF_LABEL] == part_of.as_str() {
                bootstrap.push(to_dynamic(&workload));
            } else if workload["metadata"]["namespace"]
                .as_str()
                .is_some_and(|n| namespaces.contains(n))
            {
                workloads.push(to_dynamic(&lean_workload(&workload)));
            }
        }
    }
    let versions = super::bundle::versions()?;
    let mut boot = Map::new();
    boot.insert("versions".into(), Dynamic::from_map(versions));
    boot.insert("workloads".into(), Dynamic::from_array(bootstrap));
    let mut out = Map::new();
    out.insert("ctx".into(), ctx);
    out.insert("apps".into(), Dynamic::from_array(apps));
    out.insert("workloads".into(), Dynamic::from_array(workloads));
    out.insert("bootstrap".into(), Dynamic::from_map(boot));
    Ok(out)
}

/// Runs every compiled policy on `input` with the calling script's engine.
fn run_all(host: &Host, engine: &Engine, input: Map) -> Array {
    let input = Dynamic::from_map(input);
    let mut out = Array::new();
    for (name, script) in &host.scripts.policies {
        let origin = script.source.origin.to_string();
        let called = crate::script::control::read_only("a compliance policy", || {
            engine.call_fn_with_options::<Dynamic>(
                CallFnOptions::new(),
                &mut Scope::new(),
                &script.ast,
                "check",
                (input.clone(),),
            )
        });
        let entry = called
            .map_err(|e| {
                let located = crate::script::error::from_rhai(&e, &script.source.display, &host.origins);
                script_error(located.to_string())
            })
            .and_then(|value| normalise(name, &origin, value))
            .unwrap_or_else(|error| {
                let message = crate::script::error::from_rhai(&error, &script.source.display, &host.origins).message;
                failed_policy(name, origin, &script.source.display, &message)
            });
        out.push(Dynamic::from_map(entry));
    }
    out
}

/// The entry of a policy that threw or returned something unreadable: failed,
/// with its error as the one result.
fn failed_policy(name: &str, origin: String, display: &str, message: &str) -> Map {
    let result = json!({
        "status": "fail",
        "object": display,
        "message": format!("the policy itself failed: {message}"),
    });
    let mut entry = Map::new();
    entry.insert("name".into(), Dynamic::from(name.to_owned()));
    entry.insert("origin".into(), Dynamic::from(origin));
    entry.insert("severity".into(), Dynamic::from("required".to_owned()));
    entry.insert("description".into(), Dynamic::from(String::new()));
    entry.insert("status".into(), Dynamic::from("fail".to_owned()));
    entry.insert("results".into(), Dynamic::from_array(vec![to_dynamic(&result)]));
    entry
}

/// The `policy` primitives, one function each; `docs/scripting-api.md` is
/// generated from their doc comments.
#[export_module]
pub mod api {
    use rhai::{Array, Dynamic, Map, NativeCallContext};

    use super::super::{Result, with_host};

    /// What the compliance policies judge, read in bulk (one list per kind):
    /// `#{ctx, apps, workloads, bootstrap: #{versions, workloads}}`. `apps`: the
    /// plan's Applications (apiVersion, kind, metadata name/namespace/labels/
    /// annotations, spec, status.sync and status.health); `workloads`: the
    /// Deployments, StatefulSets and DaemonSets of the plan's namespaces
    /// (apiVersion, kind, metadata name/namespace/labels, spec.replicas and the
    /// pod template's labels, containers and init containers); `bootstrap`: the
    /// bundle's pinned versions and its workloads, whole. Reads only.
    ///
    /// ```rhai
    /// let input = policy::input(ctx);
    /// let results = policy::run_all(input);
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn input(context: NativeCallContext, ctx: Map) -> Result<Map> {
        with_host(&context, |h| super::input(h, Dynamic::from_map(ctx)))
    }

    /// Runs every compliance policy on `input` (what validate read: `ctx`, the
    /// Applications, the workloads, the bootstrap versions) and returns
    /// `[#{name, origin, severity, description, status, results}]`, sorted by
    /// name. A policy that throws is reported as failed with its error.
    ///
    /// ```rhai
    /// let policies = policy::run_all(policy::input(ctx));
    /// let failed = policies.filter(|p| p.status == "fail" && p.severity == "required");
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn run_all(ctx: NativeCallContext, input: Map) -> Result<Array> {
        with_host(&ctx, |h| Ok(super::run_all(h, ctx.engine(), input)))
    }
}
