//! `k8s::*` — dynamic Kubernetes objects: get, list, apply (compare first),
//! delete, wait (watch-based).

use std::sync::Arc;

use rhai::{Array, Dynamic, EvalAltResult, FnPtr, ImmutableString, Map, Module, NativeCallContext};
use serde_json::{Value, json};

use super::{duration_arg, register};
use crate::k8s::apply::{self, ApplyAction};
use crate::k8s::wait::wait_for;
use crate::k8s::{Kind, ObjectKey, Propagation};
use crate::script::convert::{text, to_dynamic, to_json, to_object_json};
use crate::script::host::{Host, script_error};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

fn key(api_version: &str, kind: &str, namespace: &str, name: &str) -> ObjectKey {
    ObjectKey::new(Kind::new(api_version, kind), namespace, name)
}

/// Applies one object (compare first) and reports what happened.
pub fn ensure(host: &Host, object: &Value) -> Result<apply::Applied> {
    let key = ObjectKey::of(object).map_err(|e| script_error(e.to_string()))?;
    let applied = host.block(
        &format!("applying {key}"),
        apply::ensure(host.cluster.as_ref(), &host.index, object, host.settings.dry_run),
    )?;
    match applied.action {
        ApplyAction::Unchanged => tracing::debug!(phase = "apply", "{key} unchanged"),
        action => tracing::info!(phase = "apply", "{key} {action:?}: {}", applied.why.join("; ")),
    }
    Ok(applied)
}

fn applied_map(applied: &apply::Applied) -> Dynamic {
    let mut map = Map::new();
    map.insert("action".into(), Dynamic::from(format!("{:?}", applied.action)));
    map.insert("changed".into(), Dynamic::from_bool(applied.action.changed()));
    map.insert(
        "why".into(),
        Dynamic::from_array(applied.why.iter().map(|w| Dynamic::from(w.clone())).collect()),
    );
    map.insert("object".into(), to_dynamic(&applied.live));
    Dynamic::from_map(map)
}

/// Applies objects that may go in parallel; CRDs among them are waited
/// `Established` before returning.
pub fn apply_all(host: &Host, objects: &[Value]) -> Result<Vec<apply::Applied>> {
    let cluster = host.cluster.as_ref();
    let dry_run = host.settings.dry_run;
    let index = &host.index;
    let results = host.block("applying objects", async {
        let futures = objects
            .iter()
            .map(|object| apply::ensure(cluster, index, object, dry_run));
        let results: Vec<_> = futures::stream::iter(futures).buffered(8).collect().await;
        results.into_iter().collect::<std::result::Result<Vec<_>, _>>()
    })?;
    for (object, applied) in objects.iter().zip(&results) {
        if applied.action.changed() {
            tracing::info!(
                phase = "apply",
                "{} {:?}",
                ObjectKey::of(object).map(|k| k.to_string()).unwrap_or_default(),
                applied.action
            );
        }
    }
    if !dry_run {
        for (object, applied) in objects.iter().zip(&results) {
            if object["kind"] == "CustomResourceDefinition" && applied.action.changed() {
                let key = ObjectKey::of(object).map_err(|e| script_error(e.to_string()))?;
                wait_established(host, &key)?;
            }
        }
    }
    Ok(results)
}

use futures::StreamExt as _;

fn established(crd: &Value) -> bool {
    crd["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == "Established" && c["status"] == "True"))
}

fn wait_established(host: &Host, key: &ObjectKey) -> Result<()> {
    let bounds = host.current_bounds().within(std::time::Duration::from_secs(120));
    let what = format!("{key} to be Established");
    let result = host.block_on(wait_for(
        host.cluster.as_ref(),
        key,
        |state| Ok(state.is_some_and(established)),
        &bounds,
        &what,
    ));
    match result {
        Ok(_) => Ok(()),
        Err(failure) => Err(crate::script::error::cluster_error(&failure.error)),
    }
}

/// Counts of what `apply_all` did, as a script map.
pub fn summary(results: &[apply::Applied]) -> Dynamic {
    let mut counts = Map::new();
    for name in ["Created", "Updated", "Unchanged", "WouldCreate", "WouldUpdate"] {
        let n = results.iter().filter(|r| format!("{:?}", r.action) == name).count();
        counts.insert(name.to_ascii_lowercase().into(), Dynamic::from_int(n as i64));
    }
    counts.insert(
        "changed".into(),
        Dynamic::from_int(results.iter().filter(|r| r.action.changed()).count() as i64),
    );
    Dynamic::from_map(counts)
}

fn json_of(value: &Dynamic) -> Result<Value> {
    to_json(value).map_err(script_error)
}

/// An object to write: a secret may be a value of a Secret's data.
fn object_json_of(value: &Dynamic) -> Result<Value> {
    to_object_json(value).map_err(script_error)
}

/// Objects keyed by `metadata.name`; objects without one are left out.
fn by_name(objects: Array) -> Map {
    let mut map = Map::new();
    for object in objects {
        let name = object.read_lock::<Map>().and_then(|o| {
            let metadata = o.get("metadata")?.read_lock::<Map>()?;
            metadata.get("name").filter(|n| n.is_string()).map(text)
        });
        if let Some(name) = name {
            map.insert(name.into(), object);
        }
    }
    map
}

/// The `k8s` module.
pub fn module(host: &Arc<Host>) -> Module {
    let mut m = Module::new();

    let h = host.clone();
    register(
        &mut m,
        "get",
        &[
            "api_version: &str",
            "kind: &str",
            "namespace: &str",
            "name: &str",
            "Dynamic",
        ],
        "Reads one object; returns `()` when it does not exist.\n`namespace` is `\"\"` for cluster-scoped kinds.\n\n```rhai\nlet cm = k8s::get(\"v1\", \"ConfigMap\", \"argocd\", \"argocd-cm\");\nif cm == () { log::warn(\"argocd-cm missing\") }\n```",
        move |api_version: &str, kind: &str, namespace: &str, name: &str| -> Result<Dynamic> {
            let key = key(api_version, kind, namespace, name);
            let live = h.block(&format!("reading {key}"), h.cluster.get(&key))?;
            h.index.record(&key, live.as_ref());
            Ok(live.as_ref().map_or(Dynamic::UNIT, to_dynamic))
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "list",
        &[
            "api_version: &str",
            "kind: &str",
            "namespace: &str",
            "label_selector: &str",
            "Array",
        ],
        "Lists objects of a kind in one request. `namespace` `\"\"` lists all namespaces\n(or cluster-scoped objects); `label_selector` `\"\"` selects everything.\nThe result also tells later `k8s::apply` calls what exists, so a run reads\neach kind once.\n\n```rhai\nlet apps = k8s::list(\"argoproj.io/v1alpha1\", \"Application\", \"argocd\", \"\");\n```",
        move |api_version: &str, kind: &str, namespace: &str, selector: &str| -> Result<Array> {
            let kind_ref = Kind::new(api_version, kind);
            let ns = (!namespace.is_empty()).then_some(namespace);
            let sel = (!selector.is_empty()).then_some(selector);
            let items = list(&h, &kind_ref, ns, sel)?;
            Ok(items.iter().map(to_dynamic).collect())
        },
    );

    register(
        &mut m,
        "by_name",
        &["objects: Array", "Map"],
        "Indexes objects by `metadata.name` (objects of one namespace, or\ncluster-scoped ones; a later duplicate wins). Prefer it to filling a map in\na loop: the sandbox re-measures a map on every insertion, so a loop over\nhundreds of large objects costs quadratic time.\n\n```rhai\nlet apps = k8s::by_name(argocd::apps(\"\"));\nif apps[\"vault\"] == () { log::warn(\"no vault Application\") }\n```",
        |objects: Array| -> Dynamic { Dynamic::from_map(by_name(objects)) },
    );

    let h = host.clone();
    register(
        &mut m,
        "known",
        &[
            "api_version: &str",
            "kind: &str",
            "namespace: &str",
            "name: &str",
            "Dynamic",
        ],
        "The object as this run last saw it (from a `k8s::list`, `get` or write),\nwithout asking the cluster; `()` if this run has not seen it.",
        move |api_version: &str, kind: &str, namespace: &str, name: &str| -> Dynamic {
            match h
                .index
                .lookup(&key(api_version, kind, namespace, name), &serde_json::Value::Null)
            {
                crate::k8s::index::Known::Present(live) => to_dynamic(&live),
                _ => Dynamic::UNIT,
            }
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "snapshot",
        &["kinds: Array", "label_selector: &str", "Map"],
        "Lists each kind of `kinds` (`[#{apiVersion, kind}]`) in all namespaces with\n`label_selector`, one request per kind, so that later `k8s::apply` calls\ncompare against what is there without asking again. Returns the number of\nobjects found per kind (the objects stay in Rust: `k8s::known` reads one).",
        move |kinds: Array, selector: &str| -> Result<Dynamic> {
            let mut counts = Map::new();
            for entry in kinds {
                let entry = json_of(&entry)?;
                let kind = Kind::new(
                    entry["apiVersion"].as_str().unwrap_or_default(),
                    entry["kind"].as_str().unwrap_or_default(),
                );
                let sel = (!selector.is_empty()).then_some(selector);
                let items = list(&h, &kind, None, sel)?;
                counts.insert(kind.kind.as_str().into(), Dynamic::from_int(items.len() as i64));
            }
            Ok(Dynamic::from_map(counts))
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "apply",
        &["object: Map", "Map"],
        "Server-side apply with the executor's field manager. Compares with the\nlive object first and writes nothing when nothing would change (and\nnothing at all in a dry run). Returns the live object.\n\n```rhai\nk8s::apply(#{apiVersion: \"v1\", kind: \"Namespace\", metadata: #{name: \"demo\"}});\n```",
        move |object: Map| -> Result<Dynamic> {
            let object = object_json_of(&Dynamic::from_map(object))?;
            ensure(&h, &object).map(|a| to_dynamic(&a.live))
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "ensure",
        &["object: Map", "Map"],
        "Like `k8s::apply`, but returns what happened:\n`#{action, changed, why, object}` where `action` is `Created`, `Updated`,\n`Unchanged`, `WouldCreate` or `WouldUpdate` and `why` lists the differences.",
        move |object: Map| -> Result<Dynamic> {
            let object = object_json_of(&Dynamic::from_map(object))?;
            ensure(&h, &object).map(|a| applied_map(&a))
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "apply_all",
        &["objects: Array", "Map"],
        "Applies objects that may go in parallel (compare first, as `k8s::apply`).\nCustomResourceDefinitions among them are waited `Established` before it\nreturns. Returns counts: `#{created, updated, unchanged, wouldcreate, wouldupdate, changed}`.",
        move |objects: Array| -> Result<Dynamic> {
            let objects = objects.iter().map(object_json_of).collect::<Result<Vec<_>>>()?;
            apply_all(&h, &objects).map(|r| summary(&r))
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "delete",
        &[
            "api_version: &str",
            "kind: &str",
            "namespace: &str",
            "name: &str",
            "bool",
        ],
        "Deletes an object (background propagation). Returns `false` if it did not\nexist. In a dry run nothing is deleted and the result says whether it exists.",
        move |api_version: &str, kind: &str, namespace: &str, name: &str| -> Result<bool> {
            delete(&h, &key(api_version, kind, namespace, name), Propagation::Background)
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "delete",
        &[
            "api_version: &str",
            "kind: &str",
            "namespace: &str",
            "name: &str",
            "propagation: &str",
            "bool",
        ],
        "Deletes an object with a propagation policy: `\"Background\"`,\n`\"Foreground\"` or `\"Orphan\"`.",
        move |api_version: &str, kind: &str, namespace: &str, name: &str, propagation: &str| -> Result<bool> {
            let propagation = match propagation {
                "Background" => Propagation::Background,
                "Foreground" => Propagation::Foreground,
                "Orphan" => Propagation::Orphan,
                other => {
                    return Err(script_error(format!(
                        "propagation `{other}`: expected Background, Foreground or Orphan"
                    )));
                }
            };
            delete(&h, &key(api_version, kind, namespace, name), propagation)
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "patch",
        &[
            "api_version: &str",
            "kind: &str",
            "namespace: &str",
            "name: &str",
            "patch: Map",
            "Map",
        ],
        "A JSON merge patch of an existing object (for fields server-side apply\nshould not own, e.g. an annotation added before a deletion). Nothing is\nwritten in a dry run. Returns the object.",
        move |api_version: &str, kind: &str, namespace: &str, name: &str, patch: Map| -> Result<Dynamic> {
            let key = key(api_version, kind, namespace, name);
            let patch = json_of(&Dynamic::from_map(patch))?;
            if h.settings.dry_run {
                tracing::info!(phase = "patch", "dry run: would patch {key}");
                let live = h.block(&format!("reading {key}"), h.cluster.get(&key))?;
                return Ok(live.as_ref().map_or(Dynamic::UNIT, to_dynamic));
            }
            let live = h.block(&format!("patching {key}"), h.cluster.merge_patch(&key, &patch))?;
            h.index.record(&key, Some(&live));
            Ok(to_dynamic(&live))
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "wait",
        &[
            "api_version: &str",
            "kind: &str",
            "namespace: &str",
            "name: &str",
            "condition: FnPtr",
            "timeout: Dynamic",
            "Dynamic",
        ],
        "Waits — by watching, not polling — until `condition(object)` returns\n`true`, then returns the object. `condition` receives `()` while the object\ndoes not exist. `timeout` is a duration string (`\"5m\"`) or seconds; the\nwait also ends at the script's own deadline. Throws on timeout.\n\n```rhai\nk8s::wait(\"apps/v1\", \"Deployment\", \"argocd\", \"argocd-server\",\n          |d| d != () && health::assess(d).status == \"Healthy\", \"5m\");\n```",
        move |context: NativeCallContext,
              api_version: &str,
              kind: &str,
              namespace: &str,
              name: &str,
              condition: FnPtr,
              timeout: Dynamic|
              -> Result<Dynamic> {
            let key = key(api_version, kind, namespace, name);
            let bounds = h.current_bounds().within(duration_arg(&timeout)?);
            let what = format!("{key} to meet the script's condition");
            let mut script_failure: Option<Box<EvalAltResult>> = None;
            let result = h.block_on(wait_for(
                h.cluster.as_ref(),
                &key,
                |state| {
                    let arg = state.map_or(Dynamic::UNIT, to_dynamic);
                    match condition.call_within_context::<bool>(&context, (arg,)) {
                        Ok(done) => Ok(done),
                        Err(error) => {
                            let message = error.to_string();
                            script_failure = Some(error);
                            Err(crate::k8s::K8sError::Invalid(message))
                        }
                    }
                },
                &bounds,
                &what,
            ));
            if let Some(error) = script_failure {
                return Err(error);
            }
            match result {
                Ok(state) => Ok(state.as_ref().map_or(Dynamic::UNIT, to_dynamic)),
                Err(failure) => Err(script_error(failure.error.to_string())),
            }
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "wait_deleted",
        &[
            "api_version: &str",
            "kind: &str",
            "namespace: &str",
            "name: &str",
            "timeout: Dynamic",
            "()",
        ],
        "Waits (watch) until the object no longer exists. Throws on timeout.",
        move |api_version: &str, kind: &str, namespace: &str, name: &str, timeout: Dynamic| -> Result<()> {
            let key = key(api_version, kind, namespace, name);
            let bounds = h.current_bounds().within(duration_arg(&timeout)?);
            h.runtime
                .block_on(wait_for(
                    h.cluster.as_ref(),
                    &key,
                    |state| Ok(state.is_none()),
                    &bounds,
                    &format!("{key} to be deleted"),
                ))
                .map(|_| h.index.record(&key, None))
                .map_err(|f| script_error(f.error.to_string()))
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "version",
        &["Map"],
        "The API server's version (`/version`: `gitVersion`, `major`, `minor`, ...).",
        move || -> Result<Dynamic> {
            h.block("reading the server version", h.cluster.version())
                .map(|v| to_dynamic(&v))
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "can_i",
        &["verb: &str", "group: &str", "resource: &str", "namespace: &str", "bool"],
        "Asks the API server (SelfSubjectAccessReview) whether the executor's\ncredentials allow `verb` on `resource` of `group` in `namespace`\n(`\"\"`: cluster-wide).",
        move |verb: &str, group: &str, resource: &str, namespace: &str| -> Result<bool> {
            let review = json!({
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {"verb": verb, "group": group, "resource": resource, "namespace": namespace}}
            });
            let answer = h.block(
                &format!("checking permission to {verb} {resource}"),
                h.cluster.review(&review),
            )?;
            Ok(answer["status"]["allowed"].as_bool().unwrap_or(false))
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "rules",
        &["namespace: &str", "Map"],
        "What the executor's credentials may do in `namespace`\n(SelfSubjectRulesReview): `#{resourceRules, nonResourceRules, incomplete}`.",
        move |namespace: &str| -> Result<Dynamic> {
            let review = json!({
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectRulesReview",
                "spec": {"namespace": namespace}
            });
            let answer = h.block("reading the permission rules", h.cluster.review(&review))?;
            Ok(to_dynamic(&answer["status"]))
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "namespaced",
        &["api_version: &str", "kind: &str", "bool"],
        "Whether objects of a kind live in namespaces (asks discovery once for unknown kinds).",
        move |api_version: &str, kind: &str| -> Result<bool> {
            let kind = Kind::new(api_version, kind);
            h.block(&format!("discovering {kind}"), h.cluster.namespaced(&kind))
        },
    );

    register(
        &mut m,
        "key",
        &["object: Map", "String"],
        "A readable identity of an object: `apiVersion Kind namespace/name`.",
        |object: Map| -> Result<ImmutableString> {
            let object = json_of(&Dynamic::from_map(object))?;
            ObjectKey::of(&object)
                .map(|k| k.to_string().into())
                .map_err(|e| script_error(e.to_string()))
        },
    );
    m
}

/// Lists a kind (recording the result in the run's index); a kind the
/// cluster does not serve has no objects.
pub fn list(host: &Host, kind: &Kind, namespace: Option<&str>, selector: Option<&str>) -> Result<Vec<Value>> {
    let listed = host.block_on(
        host.current_bounds()
            .run(&format!("listing {kind}"), host.cluster.list(kind, namespace, selector)),
    );
    let items = match listed {
        Ok(items) => items,
        Err(crate::k8s::K8sError::UnknownKind { .. }) => Vec::new(),
        Err(error) if error.is_not_found() => Vec::new(),
        Err(error) => return Err(crate::script::error::cluster_error(&error)),
    };
    host.index.record_list(kind, namespace, selector, &items);
    Ok(items)
}

fn delete(host: &Host, key: &ObjectKey, propagation: Propagation) -> Result<bool> {
    if host.settings.dry_run {
        let exists = host.block(&format!("reading {key}"), host.cluster.get(key))?.is_some();
        if exists {
            tracing::info!(phase = "delete", "dry run: would delete {key}");
        }
        return Ok(exists);
    }
    let existed = host.block(&format!("deleting {key}"), host.cluster.delete(key, propagation))?;
    if existed {
        tracing::info!(phase = "delete", "deleted {key}");
    }
    Ok(existed)
}
