//! An in-memory cluster for script tests: the same [`Cluster`] interface as
//! the real one, with just enough Argo CD behaviour to drive scenarios.
//!
//! Applications take the health and sync a test sets with
//! `test::set_app(name, #{health, sync, message})` (Healthy and Synced by
//! default) as soon as they are written, and a requested sync completes at
//! once. Watches yield the current state and then end: on this fake clock
//! nothing changes by itself, so a wait either succeeds at once or times
//! out at once. Every write is recorded for `expect_applied`,
//! `expect_deleted` and `expect_no_writes`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt as _;
use serde_json::{Map, Value, json};

use crate::k8s::catalog::Catalog;
use crate::k8s::cluster::{BoxFuture, Cluster, Kind, KindEvent, KindStream, ObjectKey, ObjectState, Propagation};
use crate::k8s::error::K8sError;

/// One write the script made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// `apply`, `patch` or `delete`.
    pub verb: &'static str,
    /// What was written.
    pub key: ObjectKey,
}

/// The Argo CD state a test sets for an Application.
#[derive(Debug, Clone, Default)]
pub struct AppPreset {
    /// `status.health.status`.
    pub health: Option<String>,
    /// `status.health.message`.
    pub message: Option<String>,
    /// `status.sync.status`.
    pub sync: Option<String>,
    /// Make every sync fail with this message.
    pub sync_fails: Option<String>,
}

/// The fake cluster.
#[derive(Debug, Default)]
pub struct FakeCluster {
    objects: Mutex<BTreeMap<ObjectKey, Value>>,
    writes: Mutex<Vec<Write>>,
    presets: Mutex<HashMap<String, AppPreset>>,
    version: AtomicU64,
    catalog: Catalog,
}

fn now() -> String {
    crate::report::timestamp(jiff::Timestamp::now())
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(patch) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Some(target) = target.as_object_mut() {
                for (key, value) in patch {
                    if value.is_null() {
                        target.remove(key);
                    } else {
                        merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn labels_match(object: &Value, selector: Option<&str>) -> bool {
    let Some(selector) = selector.filter(|s| !s.is_empty()) else {
        return true;
    };
    selector.split(',').all(|term| match term.split_once('=') {
        Some((k, v)) => object["metadata"]["labels"][k.trim()].as_str() == Some(v.trim().trim_start_matches('=')),
        None => object["metadata"]["labels"].get(term.trim()).is_some(),
    })
}

impl FakeCluster {
    /// An empty fake cluster.
    pub fn new() -> Self {
        FakeCluster {
            catalog: Catalog::new(),
            ..FakeCluster::default()
        }
    }

    fn next_version(&self) -> String {
        (self.version.fetch_add(1, Ordering::Relaxed) + 1).to_string()
    }

    /// Puts an object in the cluster (a fixture); not recorded as a write.
    ///
    /// # Errors
    /// When the object has no apiVersion, kind or name.
    pub fn seed(&self, object: Value) -> Result<(), K8sError> {
        let key = ObjectKey::of(&object)?;
        let mut object = object;
        object["metadata"]["resourceVersion"] = json!(self.next_version());
        if let Ok(mut objects) = self.objects.lock() {
            objects.insert(key, object);
        }
        Ok(())
    }

    /// Sets the Argo CD state of Application `name` (also of an existing one).
    pub fn set_app(&self, name: &str, preset: AppPreset) {
        if let Ok(mut presets) = self.presets.lock() {
            presets.insert(name.to_owned(), preset);
        }
        let keys: Vec<ObjectKey> = self
            .objects
            .lock()
            .map(|o| {
                o.keys()
                    .filter(|k| k.kind.kind == "Application" && k.name == name)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for key in keys {
            if let Ok(mut objects) = self.objects.lock()
                && let Some(app) = objects.get_mut(&key)
            {
                self.reconcile_app(app, false);
            }
        }
    }

    /// Writes recorded so far.
    pub fn writes(&self) -> Vec<Write> {
        self.writes.lock().map(|w| w.clone()).unwrap_or_default()
    }

    /// Every object of a kind (by kind name), sorted by key.
    pub fn objects_of(&self, kind: &str) -> Vec<Value> {
        self.objects
            .lock()
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| k.kind.kind == kind)
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn record(&self, verb: &'static str, key: &ObjectKey) {
        if let Ok(mut writes) = self.writes.lock() {
            writes.push(Write { verb, key: key.clone() });
        }
    }

    /// What the fake Argo CD makes of an Application: the preset state, and
    /// a requested sync completed at once.
    fn reconcile_app(&self, app: &mut Value, synced_now: bool) {
        let name = app["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        let preset = self
            .presets
            .lock()
            .ok()
            .and_then(|p| p.get(&name).cloned())
            .unwrap_or_default();
        let requested = !app["operation"].is_null();
        if requested || synced_now {
            let (phase, message) = match &preset.sync_fails {
                Some(message) => ("Failed", message.clone()),
                None => ("Succeeded", "successfully synced".to_owned()),
            };
            // Argo CD records the operation it ran (its `info` included).
            let operation = app["operation"].clone();
            app["status"]["operationState"] = json!({"operation": operation, "phase": phase, "message": message, "startedAt": now(), "finishedAt": now()});
            if let Some(map) = app.as_object_mut() {
                map.remove("operation");
            }
        }
        let failed = preset.sync_fails.is_some();
        app["status"]["sync"] = json!({
            "status": preset.sync.clone().unwrap_or_else(|| if failed { "OutOfSync".to_owned() } else { "Synced".to_owned() }),
            "revision": "0000000000000000000000000000000000000000",
            // What Argo CD compared: the spec as it is now (a new spec is
            // compared at once on the fake clock).
            "comparedTo": {"source": app["spec"]["source"].clone(), "destination": app["spec"]["destination"].clone()},
        });
        app["status"]["health"] = json!({
            "status": preset.health.clone().unwrap_or_else(|| if failed { "Missing".to_owned() } else { "Healthy".to_owned() }),
            "message": preset.message.clone().unwrap_or_default(),
        });
    }

    fn write(&self, key: &ObjectKey, verb: &'static str, change: impl FnOnce(Option<Value>) -> Value) -> Value {
        let version = self.next_version();
        let mut objects = match self.objects.lock() {
            Ok(objects) => objects,
            Err(poisoned) => poisoned.into_inner(),
        };
        let existing = objects.get(key).cloned();
        let created = existing.is_none();
        let mut object = change(existing);
        object["metadata"]["resourceVersion"] = json!(version);
        if created {
            object["metadata"]["uid"] = json!(format!("fake-{version}"));
            object["metadata"]["creationTimestamp"] = json!(now());
        }
        if key.kind.kind == "Application" {
            self.reconcile_app(&mut object, created);
        }
        if key.kind.kind == "CustomResourceDefinition" {
            let _ = self.catalog.learn_crd(&object);
            object["status"]["conditions"] = json!([{"type": "Established", "status": "True"}]);
        }
        objects.insert(key.clone(), object.clone());
        drop(objects);
        self.record(verb, key);
        object
    }
}

impl Cluster for FakeCluster {
    fn get<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<Option<Value>, K8sError>> {
        Box::pin(async move { Ok(self.objects.lock().ok().and_then(|o| o.get(key).cloned())) })
    }

    fn list<'a>(
        &'a self,
        kind: &'a Kind,
        namespace: Option<&'a str>,
        label_selector: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<Value>, K8sError>> {
        Box::pin(async move {
            Ok(self
                .objects
                .lock()
                .map(|o| {
                    o.iter()
                        .filter(|(k, v)| {
                            &k.kind == kind
                                && (namespace.is_none() || k.namespace.as_deref() == namespace)
                                && labels_match(v, label_selector)
                        })
                        .map(|(_, v)| v.clone())
                        .collect()
                })
                .unwrap_or_default())
        })
    }

    fn apply<'a>(&'a self, object: &'a Value) -> BoxFuture<'a, Result<Value, K8sError>> {
        Box::pin(async move {
            let key = ObjectKey::of(object)?;
            Ok(self.write(&key, "apply", |existing| {
                let mut merged = existing.unwrap_or(Value::Null);
                merge_patch(&mut merged, object);
                merged
            }))
        })
    }

    fn create<'a>(&'a self, object: &'a Value) -> BoxFuture<'a, Result<Value, K8sError>> {
        Box::pin(async move {
            let key = ObjectKey::of(object)?;
            if self.objects.lock().map(|o| o.contains_key(&key)).unwrap_or(true) {
                return Err(K8sError::Api {
                    verb: "create",
                    what: key.to_string(),
                    code: 409,
                    reason: "AlreadyExists".into(),
                    message: format!("{key} already exists"),
                });
            }
            Ok(self.write(&key, "create", |_| object.clone()))
        })
    }

    fn merge_patch<'a>(&'a self, key: &'a ObjectKey, patch: &'a Value) -> BoxFuture<'a, Result<Value, K8sError>> {
        Box::pin(async move {
            if self.objects.lock().map(|o| !o.contains_key(key)).unwrap_or(true) {
                return Err(K8sError::Api {
                    verb: "patch",
                    what: key.to_string(),
                    code: 404,
                    reason: "NotFound".into(),
                    message: format!("{key} not found"),
                });
            }
            Ok(self.write(key, "patch", |existing| {
                let mut object = existing.unwrap_or(Value::Null);
                merge_patch(&mut object, patch);
                object
            }))
        })
    }

    fn delete<'a>(&'a self, key: &'a ObjectKey, _propagation: Propagation) -> BoxFuture<'a, Result<bool, K8sError>> {
        Box::pin(async move {
            let removed = self.objects.lock().ok().and_then(|mut o| o.remove(key));
            let Some(removed) = removed else {
                return Ok(false);
            };
            self.record("delete", key);
            // The fake Argo CD cascades: an Application takes its resources
            // with it, except those marked Delete=false.
            if key.kind.kind == "Application" {
                for resource in removed["status"]["resources"].as_array().into_iter().flatten() {
                    let group = resource["group"].as_str().unwrap_or_default();
                    let version = resource["version"].as_str().unwrap_or("v1");
                    let api_version = if group.is_empty() {
                        version.to_owned()
                    } else {
                        format!("{group}/{version}")
                    };
                    let child = ObjectKey::new(
                        Kind::new(api_version, resource["kind"].as_str().unwrap_or_default()),
                        resource["namespace"].as_str().unwrap_or_default(),
                        resource["name"].as_str().unwrap_or_default(),
                    );
                    if let Ok(mut objects) = self.objects.lock() {
                        let keep = objects.get(&child).is_some_and(|o| {
                            o["metadata"]["annotations"]["argocd.argoproj.io/sync-options"]
                                .as_str()
                                .is_some_and(|v| v.split(',').any(|p| p.trim() == "Delete=false"))
                        });
                        if !keep {
                            objects.remove(&child);
                        }
                    }
                }
            }
            Ok(true)
        })
    }

    fn watch<'a>(
        &'a self,
        key: &'a ObjectKey,
    ) -> BoxFuture<'a, Result<futures::stream::BoxStream<'a, Result<ObjectState, K8sError>>, K8sError>> {
        Box::pin(async move {
            let current = self.objects.lock().ok().and_then(|o| o.get(key).cloned());
            Ok(futures::stream::iter(vec![Ok(current)]).boxed())
        })
    }

    fn watch_kind<'a>(
        &'a self,
        kind: &'a Kind,
        namespace: Option<&'a str>,
        label_selector: Option<&'a str>,
    ) -> BoxFuture<'a, Result<KindStream<'a>, K8sError>> {
        Box::pin(async move {
            // Nothing changes by itself on the fake clock: the current set, then the end.
            let current = self.list(kind, namespace, label_selector).await?;
            Ok(futures::stream::iter(vec![Ok(KindEvent::Reset(current))]).boxed())
        })
    }

    fn logs<'a>(
        &'a self,
        _namespace: &'a str,
        _pod: &'a str,
        _container: &'a str,
        _tail_lines: i64,
    ) -> BoxFuture<'a, Result<String, K8sError>> {
        // No pod runs on the fake cluster.
        Box::pin(async { Ok(String::new()) })
    }

    fn namespaced<'a>(&'a self, kind: &'a Kind) -> BoxFuture<'a, Result<bool, K8sError>> {
        Box::pin(async move {
            Ok(self
                .catalog
                .lookup(&kind.api_version, &kind.kind)
                .is_none_or(|i| i.namespaced))
        })
    }

    fn review<'a>(&'a self, object: &'a Value) -> BoxFuture<'a, Result<Value, K8sError>> {
        Box::pin(async move {
            let mut answer = object.clone();
            answer["status"] = json!({
                "allowed": true,
                "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                "nonResourceRules": [],
                "incomplete": false,
            });
            Ok(answer)
        })
    }

    fn version(&self) -> BoxFuture<'_, Result<Value, K8sError>> {
        Box::pin(async { Ok(json!({"gitVersion": "v1.33.0-fake", "major": "1", "minor": "33"})) })
    }
}
