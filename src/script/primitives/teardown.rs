//! `teardown::*` — the verbs `scripts/teardown.rhai` is made of; the
//! mechanism (order, volume claims, finalizers, waits) is in
//! [`crate::orchestrate::teardown`].

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use rhai::{Array, Dynamic, EvalAltResult, Map, Module};
use serde_json::Value;

use super::register;
use crate::argocd as acd;
use crate::config::PvPolicy;
use crate::k8s::Kind;
use crate::orchestrate::teardown::{self as td, Listed};
use crate::report::ObjectRef;
use crate::script::convert::text;
use crate::script::error::map_field;
use crate::script::host::Host;

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// Every Application in Argo CD's namespace (one request).
fn applications(host: &Host) -> Result<Vec<Value>> {
    let kind = acd::application_kind();
    let namespace = host.settings.argocd_namespace.clone();
    let bounds = host.current_bounds();
    // No Application CRD: nothing of Argo CD's is left.
    host.block(
        "listing Applications",
        td::list_served(host.cluster.as_ref(), &kind, Some(&namespace), None, &bounds),
    )
}

/// The nodes a results map says were removed (`ok`), and the failure
/// message of the others.
fn outcomes(results: &Map) -> (BTreeSet<String>, HashMap<String, String>) {
    let mut removed = BTreeSet::new();
    let mut failed = HashMap::new();
    for (name, result) in results {
        let Some(result) = result.read_lock::<Map>() else {
            continue;
        };
        if result.get("ok").and_then(|o| o.as_bool().ok()) == Some(true) {
            removed.insert(name.to_string());
        } else {
            failed.insert(name.to_string(), map_field(&result, "message"));
        }
    }
    (removed, failed)
}

/// The namespaces to delete after the nodes of `results`: those of removed
/// nodes and `extra` (the bootstrap's), minus those still used by an
/// Application left in the cluster and, with PV_POLICY=retain, those
/// holding volume claims (reported as retained, with why).
fn namespaces_to_remove(host: &Host, results: &Map, extra: &[String], pv_policy: PvPolicy) -> Result<Vec<String>> {
    let (removed, _) = outcomes(results);
    let mut candidates: BTreeSet<String> = host
        .plan
        .nodes
        .iter()
        .filter(|n| removed.contains(&n.name))
        .map(|n| n.namespace.clone())
        .collect();
    candidates.extend(extra.iter().cloned());
    let still_used: BTreeSet<String> = applications(host)?
        .iter()
        .filter_map(|a| a["spec"]["destination"]["namespace"].as_str().map(str::to_owned))
        .collect();
    let holding_claims: BTreeSet<String> = if pv_policy == PvPolicy::Retain {
        let kind = Kind::new("v1", "PersistentVolumeClaim");
        host.block("listing volume claims", host.cluster.list(&kind, None, None))?
            .iter()
            .filter_map(|c| c["metadata"]["namespace"].as_str().map(str::to_owned))
            .collect()
    } else {
        BTreeSet::new()
    };
    let mut remove = Vec::new();
    for name in candidates {
        let why = if still_used.contains(&name) {
            "still used by an Application outside this teardown"
        } else if holding_claims.contains(&name) {
            "holds volume claims kept by PV_POLICY=retain"
        } else {
            remove.push(name);
            continue;
        };
        td::list(
            host,
            Listed::Retained,
            ObjectRef {
                api_version: "v1".to_owned(),
                kind: "Namespace".to_owned(),
                namespace: String::new(),
                name,
                reason: why.to_owned(),
            },
        );
    }
    Ok(remove)
}

fn strings(array: &Array) -> Vec<String> {
    array.iter().map(text).collect()
}

/// The `teardown` module.
pub fn module(host: &Arc<Host>, pv_policy: PvPolicy) -> Module {
    let mut m = Module::new();

    let h = host.clone();
    register(
        &mut m,
        "dependents_outside",
        &["Array"],
        "Applications outside the plan that depend on a node in it (from the\n`executor.io/depends-on` annotation the executor writes), as\n`\"<app> (depends on <node>)\"`; empty when the scope can go.\n\n```rhai\nlet blocking = teardown::dependents_outside();\n```",
        move || -> Result<Array> {
            let apps = applications(&h)?;
            Ok(td::dependents_outside(&h.plan.nodes, &apps)
                .into_iter()
                .map(Dynamic::from)
                .collect())
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "remove_bootstrap",
        &["remove_crds: bool", "Map"],
        "Removes Argo Workflows, the workflow templates and Argo CD (the\nbootstrap's inventory), their CRDs only when `remove_crds`, once no\nApplication is left in Argo CD's namespace (else keeps them and records\nwhat is left as a failure and orphans). Returns `#{removed, namespaces}`:\nthe bootstrap's namespaces, to remove with the platform's.\n\n```rhai\nlet bootstrap = teardown::remove_bootstrap(ctx.teardown_crds);\n```",
        move |remove_crds: bool| -> Result<Map> {
            let bounds = h.current_bounds();
            let removal = h.block("removing the bootstrap", td::remove_bootstrap(&h, remove_crds, &bounds))?;
            let mut map = Map::new();
            map.insert("removed".into(), Dynamic::from_bool(removal.removed));
            map.insert(
                "namespaces".into(),
                Dynamic::from_array(removal.namespaces.into_iter().map(Dynamic::from).collect()),
            );
            Ok(map)
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "remove_namespaces",
        &["results: Map", "extra: Array", "Array"],
        "Deletes, last, the namespaces of the nodes `results` (from\n`dag::teardown`) removed and the `extra` ones (the bootstrap's), except\nthose an Application left in the cluster still uses and, with\nPV_POLICY=retain, those holding volume claims (listed as retained);\nwaits until they are gone. Returns those that did not finish terminating.\n\n```rhai\nlet left = teardown::remove_namespaces(results, bootstrap.namespaces);\n```",
        move |results: Map, extra: Array| -> Result<Array> {
            let names = namespaces_to_remove(&h, &results, &strings(&extra), pv_policy)?;
            let bounds = h.current_bounds();
            let left = h.block("removing namespaces", td::remove_namespaces(&h, &names, &bounds))?;
            Ok(left.into_iter().map(Dynamic::from).collect())
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "orphans",
        &[
            "results: Map",
            "namespaces_left: Array",
            "bootstrap_removed: bool",
            "int",
        ],
        "Lists in the report's `orphans` what should be gone and is not: the\nplan's Applications still there (a stuck finalizer, with a\nrecommendation, or the node's failure), the namespaces in\n`namespaces_left`, and — when the bootstrap was removed — objects still\ncarrying its inventory label. Returns how many.\n\n```rhai\nteardown::orphans(results, left, bootstrap.removed);\n```",
        move |results: Map, namespaces_left: Array, bootstrap_removed: bool| -> Result<rhai::INT> {
            let (_, failures) = outcomes(&results);
            let bounds = h.current_bounds();
            let count = h.block(
                "looking for what is left",
                td::orphans(
                    &h,
                    &h.plan.nodes,
                    &failures,
                    &strings(&namespaces_left),
                    bootstrap_removed,
                    &bounds,
                ),
            )?;
            Ok(rhai::INT::try_from(count).unwrap_or(rhai::INT::MAX))
        },
    );
    m
}
