//! `bundle::*` — the bootstrap bundle: Argo CD and Argo Workflows, placed and
//! labelled for this environment, and its ApplySet inventory.

use std::sync::Arc;

use rhai::{Array, Dynamic, EvalAltResult, Map, Module};
use serde_json::json;

use super::register;
use crate::bootstrap::{self, inventory};
use crate::k8s::catalog::Catalog;
use crate::script::convert::{to_dynamic, to_json};
use crate::script::host::{Host, script_error};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

fn loaded(host: &Host) -> Result<Arc<bootstrap::Bundle>> {
    host.bundle
        .get()
        .cloned()
        .ok_or_else(|| script_error("the bootstrap bundle is loaded for deploy only"))
}

/// `apiVersion`/`kind` pairs named by an ApplySet parent's
/// `contains-group-kinds` annotation (`Kind.group`, core kinds bare).
pub fn member_kinds(parent: &serde_json::Value) -> Vec<(String, String)> {
    let catalog = Catalog::new();
    let annotation = parent["metadata"]["annotations"][inventory::CONTAINS_GROUP_KINDS_ANNOTATION]
        .as_str()
        .unwrap_or_default();
    let mut kinds: Vec<(String, String)> = annotation
        .split(',')
        .filter(|s| !s.is_empty())
        .filter_map(|group_kind| {
            let (kind, group) = group_kind.split_once('.').unwrap_or((group_kind, ""));
            catalog.api_version_of(group, kind).map(|v| (v, kind.to_owned()))
        })
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

fn kinds_array(kinds: &[(String, String)]) -> Array {
    kinds
        .iter()
        .map(|(api_version, kind)| to_dynamic(&json!({"apiVersion": api_version, "kind": kind})))
        .collect()
}

/// The pinned versions of the bundle's components, from the lock compiled
/// into the executor: `#{"argo-cd": "v3.5.1", ...}`.
///
/// # Errors
/// A lock that does not parse (a build defect).
pub fn versions() -> Result<Dynamic> {
    let lock = bootstrap::lock::Lock::bundled().map_err(|p| script_error(p.to_string()))?;
    let mut map = Map::new();
    for file in &lock.files {
        map.insert(file.component.as_str().into(), Dynamic::from(file.version.clone()));
    }
    Ok(Dynamic::from_map(map))
}

/// The `bundle` module.
pub fn module(host: &Arc<Host>) -> Module {
    let mut m = Module::new();

    let h = host.clone();
    register(
        &mut m,
        "phases",
        &["Array"],
        "The bundle's objects in apply phases: `[#{name, objects}]`, in order\n(`namespaces`, `crds`, `configuration`, `workloads`, `custom-resources`).\nObjects within a phase may be applied in parallel (`k8s::apply_all`).\nDeploy only: the files of `BUNDLE_DIR` were verified against the lock\nbefore the run.",
        move || -> Result<Array> {
            let bundle = loaded(&h)?;
            Ok(bundle
                .phases
                .iter()
                .map(|p| {
                    let mut map = Map::new();
                    map.insert("name".into(), Dynamic::from(p.name.to_owned()));
                    map.insert(
                        "objects".into(),
                        Dynamic::from_array(p.objects.iter().map(to_dynamic).collect()),
                    );
                    Dynamic::from_map(map)
                })
                .collect())
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "phase_names",
        &["Array"],
        "The names of the bundle's phases, in apply order. Deploy only.",
        move || -> Result<Array> {
            Ok(loaded(&h)?
                .phases
                .iter()
                .map(|p| Dynamic::from(p.name.to_owned()))
                .collect())
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "objects",
        &["phase: &str", "Array"],
        "The objects of one phase (e.g. `\"workloads\"` to wait for them). Deploy only.",
        move |phase: &str| -> Result<Array> {
            let bundle = loaded(&h)?;
            let phase = bundle
                .phase(phase)
                .ok_or_else(|| script_error(format!("the bundle has no phase `{phase}`")))?;
            Ok(phase.objects.iter().map(to_dynamic).collect())
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "apply",
        &["phase: &str", "Map"],
        "Applies one phase of the bundle as `k8s::apply_all` would (compare first,\nin parallel, CRDs waited Established), without copying its objects into\nthe script; `\"parent\"` applies the ApplySet parent. Returns the counts of\n`k8s::apply_all`. Deploy only.",
        move |phase: &str| -> Result<Dynamic> {
            let bundle = loaded(&h)?;
            let objects: &[serde_json::Value] = if phase == "parent" {
                std::slice::from_ref(&bundle.parent)
            } else {
                bundle
                    .phase(phase)
                    .map(|p| p.objects.as_slice())
                    .ok_or_else(|| script_error(format!("the bundle has no phase `{phase}`")))?
            };
            let began = std::time::Instant::now();
            // Each bootstrap phase is a span of the run's trace.
            let span = crate::observe::span::start(
                format!("bootstrap {phase}"),
                &opentelemetry::Context::current(),
                vec![
                    opentelemetry::KeyValue::new("executor.phase", "bootstrap"),
                    opentelemetry::KeyValue::new("executor.bootstrap_phase", phase.to_owned()),
                    opentelemetry::KeyValue::new("executor.objects", objects.len() as i64),
                ],
            );
            let applied = {
                let _attached = span.clone().attach();
                super::k8s::apply_all(&h, objects).map(|r| Dynamic::from_map(super::k8s::summary(&r)))
            };
            let failure = applied.as_ref().err().map(ToString::to_string);
            crate::observe::span::end(&span, failure.as_deref(), Vec::new());
            h.with_report(|parts| {
                let phase = crate::report::Phase {
                    name: phase.to_owned(),
                    start_seconds: parts.seconds_at(began),
                    duration_seconds: crate::report::round_seconds(began.elapsed().as_secs_f64()),
                };
                parts.bootstrap_phases.push(phase);
            });
            applied
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "api_token",
        &["timeout: Dynamic", "Map"],
        "Ensures the Argo CD API token of the bundle's read-only account\n(`accounts.executor: apiKey`, `role:readonly`): kept when Argo CD would\naccept the one in Secret `executor-argocd-token` (no request when the\nrun's bulk read saw it), else issued as `argocd account generate-token`\ndoes, after waiting up to `timeout` (seconds or `\"5m\"`) for argocd-server\nto write `server.secretkey`. Returns `#{action, changed, secret, account,\nid, why}` (`action`: `Unchanged`, `Created`, `Updated`, `WouldCreate`,\n`WouldUpdate`, or `Skipped` when the bundle declares no account). The\ntoken itself is never returned. Deploy only (docs/bootstrap.md).",
        move |timeout: Dynamic| -> Result<Dynamic> {
            let timeout = super::duration_arg(&timeout)?;
            let bundle = loaded(&h)?;
            super::api_token::ensure(&h, &bundle, timeout)
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "parent",
        &["Map"],
        "The ApplySet parent object (a ConfigMap in Argo CD's namespace) describing\nthe bundle's members. Deploy only.",
        move || -> Result<Dynamic> { Ok(to_dynamic(&loaded(&h)?.parent)) },
    );

    let h = host.clone();
    register(
        &mut m,
        "kinds",
        &["Array"],
        "The distinct kinds of the bundle's objects: `[#{apiVersion, kind}]`, what a\nbulk read of the current state lists. Deploy only.",
        move || -> Result<Array> { Ok(kinds_array(&bootstrap::kinds(&*loaded(&h)?))) },
    );

    register(
        &mut m,
        "member_kinds",
        &["parent: Map", "Array"],
        "The kinds an ApplySet parent says its members have (its\n`applyset.kubernetes.io/contains-group-kinds` annotation):\n`[#{apiVersion, kind}]`. Works without the bundle files (teardown).",
        |parent: Map| -> Result<Array> {
            let parent = to_json(&Dynamic::from_map(parent)).map_err(script_error)?;
            Ok(kinds_array(&member_kinds(&parent)))
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "selector",
        &["String"],
        "The label selector of the bundle's members:\n`applyset.kubernetes.io/part-of=<id>` for this Argo CD namespace.",
        move || -> String {
            format!(
                "{}={}",
                inventory::PART_OF_LABEL,
                inventory::bundle_applyset_id(&h.settings.argocd_namespace)
            )
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "parent_name",
        &["Map"],
        "Where the ApplySet parent lives: `#{namespace, name}`.",
        move || -> Dynamic {
            to_dynamic(&json!({"namespace": h.settings.argocd_namespace, "name": inventory::PARENT_NAME}))
        },
    );

    register(
        &mut m,
        "versions",
        &["Map"],
        "The pinned versions of the bundle's components (`#{\"argo-cd\": \"v3.5.1\", ...}`),\nfrom the lock compiled into the executor.",
        versions,
    );
    m
}
