//! `teardown::*` — the verbs `scripts/teardown.rhai` is made of; the
//! mechanism (order, volume claims, finalizers, waits) is in
//! [`crate::orchestrate::teardown`].

use std::collections::{BTreeSet, HashMap};

use rhai::plugin::*;
use rhai::{Array, Map};
use serde_json::Value;

use super::Result;
use crate::argocd as acd;
use crate::config::PvPolicy;
use crate::k8s::Kind;
use crate::orchestrate::teardown::{self as td, Listed};
use crate::report::ListedObject;
use crate::script::convert::text;
use crate::script::error::map_field;
use crate::script::host::Host;

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
            ListedObject {
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

/// The `teardown` primitives, one function each; `docs/scripting-api.md` is
/// generated from their doc comments.
#[export_module]
pub mod api {
    use rhai::{Array, Dynamic, Map, NativeCallContext};

    use super::super::{Result, with_host};
    use super::{applications, namespaces_to_remove, outcomes, strings};
    use crate::orchestrate::teardown as td;

    /// Applications outside the plan that depend on a node in it (from the
    /// `executor.io/depends-on` annotation the executor writes), as
    /// `"<app> (depends on <node>)"`; empty when the scope can go.
    ///
    /// ```rhai
    /// let blocking = teardown::dependents_outside();
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn dependents_outside(ctx: NativeCallContext) -> Result<Array> {
        with_host(&ctx, |h| {
            let apps = applications(h)?;
            Ok(td::dependents_outside(&h.plan.nodes, &apps)
                .into_iter()
                .map(Dynamic::from)
                .collect())
        })
    }

    /// Removes Argo Workflows, the workflow templates and Argo CD (the
    /// bootstrap's inventory), their CRDs only when `remove_crds`, once no
    /// Application is left in Argo CD's namespace (else keeps them and records
    /// what is left as a failure and orphans). Returns `#{removed, namespaces}`:
    /// the bootstrap's namespaces, to remove with the platform's.
    ///
    /// ```rhai
    /// let bootstrap = teardown::remove_bootstrap(ctx.teardown_crds);
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn remove_bootstrap(ctx: NativeCallContext, remove_crds: bool) -> Result<Map> {
        with_host(&ctx, |h| {
            let bounds = h.current_bounds();
            let removal = h.block("removing the bootstrap", td::remove_bootstrap(h, remove_crds, &bounds))?;
            let mut map = Map::new();
            map.insert("removed".into(), Dynamic::from_bool(removal.removed));
            map.insert(
                "namespaces".into(),
                Dynamic::from_array(removal.namespaces.into_iter().map(Dynamic::from).collect()),
            );
            Ok(map)
        })
    }

    /// Deletes, last, the namespaces of the nodes `results` (from
    /// `dag::teardown`) removed and the `extra` ones (the bootstrap's), except
    /// those an Application left in the cluster still uses and, with
    /// PV_POLICY=retain, those holding volume claims (listed as retained);
    /// waits until they are gone. Returns those that did not finish terminating.
    ///
    /// ```rhai
    /// let results = dag::teardown(ctx.plan);
    /// let bootstrap = teardown::remove_bootstrap(ctx.teardown_crds);
    /// let left = teardown::remove_namespaces(results, bootstrap.namespaces);
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn remove_namespaces(ctx: NativeCallContext, results: Map, extra: Array) -> Result<Array> {
        with_host(&ctx, |h| {
            let names = namespaces_to_remove(h, &results, &strings(&extra), h.settings.pv_policy)?;
            let bounds = h.current_bounds();
            let left = h.block("removing namespaces", td::remove_namespaces(h, &names, &bounds))?;
            Ok(left.into_iter().map(Dynamic::from).collect())
        })
    }

    /// Lists in the report's `orphans` what should be gone and is not: the
    /// plan's Applications still there (a stuck finalizer, with a
    /// recommendation, or the node's failure), the namespaces in
    /// `namespaces_left`, and — when the bootstrap was removed — objects still
    /// carrying its inventory label. Returns how many.
    ///
    /// ```rhai
    /// let results = dag::teardown(ctx.plan);
    /// let left = teardown::remove_namespaces(results, []);
    /// teardown::orphans(results, left, false);
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn orphans(
        ctx: NativeCallContext,
        results: Map,
        namespaces_left: Array,
        bootstrap_removed: bool,
    ) -> Result<rhai::INT> {
        with_host(&ctx, |h| {
            let (_, failures) = outcomes(&results);
            let bounds = h.current_bounds();
            let count = h.block(
                "looking for what is left",
                td::orphans(
                    h,
                    &h.plan.nodes,
                    &failures,
                    &strings(&namespaces_left),
                    bootstrap_removed,
                    &bounds,
                ),
            )?;
            Ok(rhai::INT::try_from(count).unwrap_or(rhai::INT::MAX))
        })
    }
}
