//! `k8s::*` — dynamic Kubernetes objects: get, list, apply (compare first),
//! delete, wait (watch-based).

use rhai::plugin::*;
use rhai::{Array, Map};
use serde_json::Value;

use super::Result;
use crate::k8s::apply::{self, ApplyAction};
use crate::k8s::wait::wait_for;
use crate::k8s::{Kind, ObjectKey, Propagation};
use crate::script::convert::{text, to_dynamic, to_json, to_map, to_object_json};
use crate::script::host::{Host, script_error};

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

pub(crate) fn applied_map(applied: &apply::Applied) -> Map {
    let mut map = Map::new();
    map.insert("action".into(), Dynamic::from(format!("{:?}", applied.action)));
    map.insert("changed".into(), Dynamic::from_bool(applied.action.changed()));
    map.insert(
        "why".into(),
        Dynamic::from_array(applied.why.iter().map(|w| Dynamic::from(w.clone())).collect()),
    );
    map.insert("object".into(), to_dynamic(&applied.live));
    map
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
pub fn summary(results: &[apply::Applied]) -> Map {
    to_map(&apply::ApplyCounts::of(results).to_json())
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

/// The `k8s` primitives, one function each; `docs/scripting-api.md` is
/// generated from their doc comments.
#[export_module]
pub mod api {
    use rhai::{Array, Dynamic, EvalAltResult, FnPtr, Map, NativeCallContext};
    use serde_json::json;

    use super::super::{Result, duration_arg, with_host};
    use super::{applied_map, apply_all, delete as delete_object, ensure, json_of, object_json_of, summary};
    use crate::k8s::wait::wait_for;
    use crate::k8s::{Kind, ObjectKey, Propagation};
    use crate::script::convert::{to_dynamic, to_map};
    use crate::script::error::cluster_error;
    use crate::script::host::script_error;

    /// Reads one object; returns `()` when it does not exist.
    /// `namespace` is `""` for cluster-scoped kinds.
    ///
    /// ```rhai
    /// let cm = k8s::get("v1", "ConfigMap", "argocd", "argocd-cm");
    /// if cm == () { log::warn("argocd-cm missing") }
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn get(ctx: NativeCallContext, api_version: &str, kind: &str, namespace: &str, name: &str) -> Result<Dynamic> {
        with_host(&ctx, |h| {
            let key = super::key(api_version, kind, namespace, name);
            let live = h.block(&format!("reading {key}"), h.cluster.get(&key))?;
            h.index.record(&key, live.as_ref());
            Ok(live.as_ref().map_or(Dynamic::UNIT, to_dynamic))
        })
    }

    /// Lists objects of a kind in one request. `namespace` `""` lists all namespaces
    /// (or cluster-scoped objects); `label_selector` `""` selects everything.
    /// The result also tells later `k8s::apply` calls what exists, so a run reads
    /// each kind once.
    ///
    /// ```rhai
    /// let apps = k8s::list("argoproj.io/v1alpha1", "Application", "argocd", "");
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn list(
        ctx: NativeCallContext,
        api_version: &str,
        kind: &str,
        namespace: &str,
        label_selector: &str,
    ) -> Result<Array> {
        with_host(&ctx, |h| {
            let kind = Kind::new(api_version, kind);
            let namespace = (!namespace.is_empty()).then_some(namespace);
            let selector = (!label_selector.is_empty()).then_some(label_selector);
            Ok(super::list(h, &kind, namespace, selector)?
                .iter()
                .map(to_dynamic)
                .collect())
        })
    }

    /// Indexes objects by `metadata.name` (objects of one namespace, or
    /// cluster-scoped ones; a later duplicate wins). Prefer it to filling a map in
    /// a loop: the sandbox re-measures a map on every insertion, so a loop over
    /// hundreds of large objects costs quadratic time.
    ///
    /// ```rhai
    /// let apps = k8s::by_name(argocd::apps(""));
    /// if apps["vault"] == () { log::warn("no vault Application") }
    /// ```
    pub fn by_name(objects: Array) -> Map {
        super::by_name(objects)
    }

    /// The object as this run last saw it (from a `k8s::list`, `get` or write),
    /// without asking the cluster; `()` if this run has not seen it.
    ///
    /// ```rhai
    /// let live = k8s::known("apps/v1", "Deployment", "argocd", "argocd-server");
    /// if live == () { log::info("argocd-server not seen by this run yet") }
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn known(
        ctx: NativeCallContext,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Dynamic> {
        with_host(&ctx, |h| {
            let key = super::key(api_version, kind, namespace, name);
            Ok(match h.index.lookup(&key, &serde_json::Value::Null) {
                crate::k8s::index::Known::Present(live) => to_dynamic(&live),
                _ => Dynamic::UNIT,
            })
        })
    }

    /// Lists each kind of `kinds` (`[#{apiVersion, kind}]`) in all namespaces with
    /// `label_selector`, one request per kind, so that later `k8s::apply` calls
    /// compare against what is there without asking again. Returns the number of
    /// objects found per kind (the objects stay in Rust: `k8s::known` reads one).
    ///
    /// ```rhai
    /// let counts = k8s::snapshot([#{apiVersion: "argoproj.io/v1alpha1", kind: "Application"}],
    ///                            "app.kubernetes.io/managed-by=executor");
    /// log::info(`${counts.Application} platform Applications`);
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn snapshot(ctx: NativeCallContext, kinds: Array, label_selector: &str) -> Result<Map> {
        with_host(&ctx, |h| {
            let mut counts = Map::new();
            let selector = (!label_selector.is_empty()).then_some(label_selector);
            for entry in kinds {
                let entry = json_of(&entry)?;
                let kind = Kind::new(
                    entry["apiVersion"].as_str().unwrap_or_default(),
                    entry["kind"].as_str().unwrap_or_default(),
                );
                let items = super::list(h, &kind, None, selector)?;
                counts.insert(kind.kind.as_str().into(), Dynamic::from_int(items.len() as i64));
            }
            Ok(counts)
        })
    }

    /// Server-side apply with the executor's field manager. Compares with the
    /// live object first and writes nothing when nothing would change (and
    /// nothing at all in a dry run). Returns the live object.
    ///
    /// ```rhai
    /// k8s::apply(#{apiVersion: "v1", kind: "Namespace", metadata: #{name: "demo"}});
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn apply(ctx: NativeCallContext, object: Map) -> Result<Map> {
        with_host(&ctx, |h| {
            let object = object_json_of(&Dynamic::from_map(object))?;
            ensure(h, &object).map(|a| to_map(&a.live))
        })
    }

    /// Like `k8s::apply`, but returns what happened:
    /// `#{action, changed, why, object}` where `action` is `Created`, `Updated`,
    /// `Unchanged`, `WouldCreate` or `WouldUpdate` and `why` lists the differences.
    ///
    /// ```rhai
    /// let result = k8s::ensure(#{apiVersion: "v1", kind: "Namespace", metadata: #{name: "demo", labels: ctx.labels}});
    /// if result.changed { log::info(`namespace demo ${result.action}: ${result.why}`) }
    /// ```
    #[rhai_fn(name = "ensure", volatile, return_raw)]
    pub fn ensure_object(ctx: NativeCallContext, object: Map) -> Result<Map> {
        with_host(&ctx, |h| {
            let object = object_json_of(&Dynamic::from_map(object))?;
            ensure(h, &object).map(|a| applied_map(&a))
        })
    }

    /// Applies objects that may go in parallel (compare first, as `k8s::apply`).
    /// CustomResourceDefinitions among them are waited `Established` before it
    /// returns. Returns counts: `#{created, updated, unchanged, wouldcreate, wouldupdate, changed}`.
    ///
    /// ```rhai
    /// let counts = k8s::apply_all(bundle::objects("crds"));
    /// log::info(`${counts.created} created, ${counts.updated} updated, ${counts.unchanged} unchanged`);
    /// ```
    #[rhai_fn(name = "apply_all", volatile, return_raw)]
    pub fn apply_objects(ctx: NativeCallContext, objects: Array) -> Result<Map> {
        with_host(&ctx, |h| {
            let objects = objects.iter().map(object_json_of).collect::<Result<Vec<_>>>()?;
            apply_all(h, &objects).map(|r| summary(&r))
        })
    }

    /// Deletes an object (background propagation). Returns `false` if it did not
    /// exist. In a dry run nothing is deleted and the result says whether it exists.
    ///
    /// ```rhai
    /// if k8s::delete("v1", "ConfigMap", "argocd", "argocd-cm") { log::info("argocd-cm deleted") }
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn delete(ctx: NativeCallContext, api_version: &str, kind: &str, namespace: &str, name: &str) -> Result<bool> {
        with_host(&ctx, |h| {
            delete_object(
                h,
                &super::key(api_version, kind, namespace, name),
                Propagation::Background,
            )
        })
    }

    /// Deletes an object with a propagation policy: `"Background"`,
    /// `"Foreground"` or `"Orphan"`.
    ///
    /// ```rhai
    /// k8s::delete("apps/v1", "Deployment", "argocd", "argocd-server", "Foreground");
    /// ```
    #[rhai_fn(name = "delete", volatile, return_raw)]
    pub fn delete_with(
        ctx: NativeCallContext,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        propagation: &str,
    ) -> Result<bool> {
        with_host(&ctx, |h| {
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
            delete_object(h, &super::key(api_version, kind, namespace, name), propagation)
        })
    }

    /// A JSON merge patch of an existing object (for fields server-side apply
    /// should not own, e.g. an annotation added before a deletion). Nothing is
    /// written in a dry run. Returns the object.
    ///
    /// ```rhai
    /// k8s::patch("v1", "PersistentVolumeClaim", "vault", "data-vault-0",
    ///            #{metadata: #{annotations: #{"argocd.argoproj.io/sync-options": "Delete=false"}}});
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn patch(
        ctx: NativeCallContext,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        patch: Map,
    ) -> Result<Dynamic> {
        with_host(&ctx, |h| {
            let key = super::key(api_version, kind, namespace, name);
            let patch = json_of(&Dynamic::from_map(patch))?;
            if h.settings.dry_run {
                tracing::info!(phase = "patch", "dry run: would patch {key}");
                let live = h.block(&format!("reading {key}"), h.cluster.get(&key))?;
                return Ok(live.as_ref().map_or(Dynamic::UNIT, to_dynamic));
            }
            let live = h.block(&format!("patching {key}"), h.cluster.merge_patch(&key, &patch))?;
            h.index.record(&key, Some(&live));
            Ok(to_dynamic(&live))
        })
    }

    /// Waits — by watching, not polling — until `condition(object)` returns
    /// `true`, then returns the object. `condition` receives `()` while the object
    /// does not exist. `timeout` is a duration string (`"5m"`) or seconds; the
    /// wait also ends at the script's own deadline. Throws on timeout.
    ///
    /// ```rhai
    /// k8s::wait("apps/v1", "Deployment", "argocd", "argocd-server",
    ///           |d| d != () && health::assess(d).status == "Healthy", "5m");
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn wait(
        ctx: NativeCallContext,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        condition: FnPtr,
        timeout: Dynamic,
    ) -> Result<Dynamic> {
        with_host(&ctx, |h| {
            let key = super::key(api_version, kind, namespace, name);
            let bounds = h.current_bounds().within(duration_arg(&timeout)?);
            let what = format!("{key} to meet the script's condition");
            let mut script_failure: Option<Box<EvalAltResult>> = None;
            let result = h.block_on(wait_for(
                h.cluster.as_ref(),
                &key,
                |state| {
                    let arg = state.map_or(Dynamic::UNIT, to_dynamic);
                    condition.call_within_context::<bool>(&ctx, (arg,)).map_err(|error| {
                        let message = error.to_string();
                        script_failure = Some(error);
                        crate::k8s::K8sError::Invalid(message)
                    })
                },
                &bounds,
                &what,
            ));
            if let Some(error) = script_failure {
                return Err(error);
            }
            result
                .map(|state| state.as_ref().map_or(Dynamic::UNIT, to_dynamic))
                .map_err(|failure| cluster_error(&failure.error))
        })
    }

    /// Waits (watch) until the object no longer exists. Throws on timeout.
    ///
    /// ```rhai
    /// k8s::delete("v1", "Namespace", "", "demo");
    /// k8s::wait_deleted("v1", "Namespace", "", "demo", "5m");
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn wait_deleted(
        ctx: NativeCallContext,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        timeout: Dynamic,
    ) -> Result<()> {
        with_host(&ctx, |h| {
            let key = super::key(api_version, kind, namespace, name);
            let bounds = h.current_bounds().within(duration_arg(&timeout)?);
            h.block_on(wait_for(
                h.cluster.as_ref(),
                &key,
                |state| Ok(state.is_none()),
                &bounds,
                &format!("{key} to be deleted"),
            ))
            .map(|_| h.index.record(&key, None))
            .map_err(|failure| cluster_error(&failure.error))
        })
    }

    /// The API server's version (`/version`: `gitVersion`, `major`, `minor`, ...).
    ///
    /// ```rhai
    /// let version = k8s::version();
    /// log::info(`API server ${version.gitVersion}`, #{phase: "preflight"});
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn version(ctx: NativeCallContext) -> Result<Map> {
        with_host(&ctx, |h| {
            h.block("reading the server version", h.cluster.version())
                .map(|v| to_map(&v))
        })
    }

    /// Asks the API server (SelfSubjectAccessReview) whether the executor's
    /// credentials allow `verb` on `resource` of `group` in `namespace`
    /// (`""`: cluster-wide).
    ///
    /// ```rhai
    /// if !k8s::can_i("patch", "apiextensions.k8s.io", "customresourcedefinitions", "") {
    ///     report::recommend("Grant the executor's identity permission to patch CRDs.");
    /// }
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn can_i(ctx: NativeCallContext, verb: &str, group: &str, resource: &str, namespace: &str) -> Result<bool> {
        with_host(&ctx, |h| {
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
        })
    }

    /// What the executor's credentials may do in `namespace`
    /// (SelfSubjectRulesReview): `#{resourceRules, nonResourceRules, incomplete}`.
    ///
    /// ```rhai
    /// let review = k8s::rules(ctx.config.argocdNamespace);
    /// if review.incomplete { log::warn("the permission review is incomplete", #{phase: "preflight"}) }
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn rules(ctx: NativeCallContext, namespace: &str) -> Result<Map> {
        with_host(&ctx, |h| {
            let review = json!({
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectRulesReview",
                "spec": {"namespace": namespace}
            });
            let answer = h.block("reading the permission rules", h.cluster.review(&review))?;
            Ok(to_map(&answer["status"]))
        })
    }

    /// Whether objects of a kind live in namespaces (asks discovery once for unknown kinds).
    ///
    /// ```rhai
    /// let ns = if k8s::namespaced("argoproj.io/v1alpha1", "Application") { ctx.config.argocdNamespace } else { "" };
    /// let apps = k8s::list("argoproj.io/v1alpha1", "Application", ns, "");
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn namespaced(ctx: NativeCallContext, api_version: &str, kind: &str) -> Result<bool> {
        with_host(&ctx, |h| {
            let kind = Kind::new(api_version, kind);
            h.block(&format!("discovering {kind}"), h.cluster.namespaced(&kind))
        })
    }

    /// A readable identity of an object: `apiVersion Kind namespace/name`.
    ///
    /// ```rhai
    /// for object in bundle::objects("workloads") { log::debug(k8s::key(object)); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn key(object: Map) -> Result<String> {
        let object = json_of(&Dynamic::from_map(object))?;
        ObjectKey::of(&object)
            .map(|k| k.to_string())
            .map_err(|e| script_error(e.to_string()))
    }
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
