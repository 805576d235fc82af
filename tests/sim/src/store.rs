//! The object store: every object of the simulated cluster, one monotonic
//! `resourceVersion` counter, and the change feed watches and controllers read.
//!
//! Writes are compare-and-swap on `resourceVersion` (the API server's
//! optimistic concurrency), and every committed write becomes one [`Change`]
//! both in a bounded history (so watches can resume from a recent version)
//! and on a broadcast channel (so controllers react without polling).

use crate::resources::GroupResource;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Why a store operation was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StoreError {
    /// An object with this name already exists.
    #[error("already exists")]
    AlreadyExists,
    /// No object with this name exists.
    #[error("not found")]
    NotFound,
    /// The caller's `resourceVersion` is not the current one.
    #[error("the object has been modified; please apply your changes to the latest version and try again")]
    Conflict,
    /// A watch asked to resume from a version older than the history.
    #[error("too old resource version: {requested} ({oldest})")]
    TooOld {
        /// The version asked for.
        requested: u64,
        /// The oldest version the history still holds.
        oldest: u64,
    },
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// The object was created.
    Added,
    /// The object was changed.
    Modified,
    /// The object was removed.
    Deleted,
}

impl ChangeKind {
    /// The watch event type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One committed write.
#[derive(Debug, Clone)]
pub struct Change {
    /// The resourceVersion of the write.
    pub rv: u64,
    /// What happened.
    pub kind: ChangeKind,
    /// Which resource.
    pub gr: GroupResource,
    /// The object after the write (for deletions: its last state, new rv).
    pub object: Arc<Value>,
    /// The object before the write, if any.
    pub old: Option<Arc<Value>>,
}

type Key = (String, String);

/// Changes to replay, the live receiver after them, and the current version.
pub type Resumed = (Vec<Arc<Change>>, broadcast::Receiver<Arc<Change>>, u64);

/// Where an object lives: resource, namespace, name.
pub type Location = (GroupResource, String, String);

struct Inner {
    rv: u64,
    objects: HashMap<GroupResource, BTreeMap<Key, Arc<Value>>>,
    /// uid → location, for owner lookups.
    by_uid: HashMap<String, Location>,
    /// owner uid → dependents, for garbage collection.
    dependents: HashMap<String, HashSet<Location>>,
    /// value of the [`TRACKING_LABEL`] → objects carrying it (Argo CD's
    /// resource tracking: what an Application manages).
    tracked: HashMap<String, BTreeSet<Location>>,
    history: VecDeque<Arc<Change>>,
    history_cap: usize,
}

/// The in-memory object store.
pub struct Store {
    inner: Mutex<Inner>,
    feed: broadcast::Sender<Arc<Change>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// The label Argo CD tracks the resources of an Application with (its
/// default `application.resourceTrackingMethod: label`); the store indexes
/// objects by it.
pub const TRACKING_LABEL: &str = "app.kubernetes.io/instance";

/// Namespace and name of an object (`""` namespace for cluster-scoped).
pub fn key_of(object: &Value) -> (String, String) {
    let meta = &object["metadata"];
    (
        meta["namespace"].as_str().unwrap_or("").to_string(),
        meta["name"].as_str().unwrap_or("").to_string(),
    )
}

/// The object's resourceVersion as a number (0 when absent).
pub fn rv_of(object: &Value) -> u64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

impl Store {
    /// An empty store keeping `history_cap` changes for watch resumption.
    pub fn new(history_cap: usize) -> Self {
        let (feed, _) = broadcast::channel(16_384);
        Self {
            inner: Mutex::new(Inner {
                rv: 1,
                objects: HashMap::new(),
                by_uid: HashMap::new(),
                dependents: HashMap::new(),
                tracked: HashMap::new(),
                history: VecDeque::new(),
                history_cap: history_cap.max(16),
            }),
            feed,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The latest committed resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    /// One object.
    pub fn get(&self, gr: &GroupResource, namespace: &str, name: &str) -> Option<Arc<Value>> {
        self.lock()
            .objects
            .get(gr)?
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// All objects of a resource (in one namespace, or all when `None`),
    /// sorted by namespace and name, with the store's current version.
    pub fn list(&self, gr: &GroupResource, namespace: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let inner = self.lock();
        let items = match inner.objects.get(gr) {
            None => vec![],
            Some(map) => match namespace {
                None => map.values().cloned().collect(),
                Some(ns) => map
                    .range((ns.to_string(), String::new())..)
                    .take_while(|((n, _), _)| n == ns)
                    .map(|(_, v)| v.clone())
                    .collect(),
            },
        };
        (items, inner.rv)
    }

    /// Every resource that has objects, with a count (for memory figures).
    pub fn count(&self) -> usize {
        self.lock().objects.values().map(BTreeMap::len).sum()
    }

    /// All resources currently holding objects.
    pub fn resources(&self) -> Vec<GroupResource> {
        self.lock()
            .objects
            .iter()
            .filter(|(_, m)| !m.is_empty())
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn index(inner: &mut Inner, gr: &GroupResource, object: &Value, add: bool) {
        let (ns, name) = key_of(object);
        let location = (gr.clone(), ns, name);
        if let Some(uid) = object["metadata"]["uid"].as_str() {
            if add {
                inner.by_uid.insert(uid.to_string(), location.clone());
            } else {
                inner.by_uid.remove(uid);
            }
        }
        if let Some(app) = object["metadata"]["labels"][TRACKING_LABEL].as_str() {
            if add {
                inner
                    .tracked
                    .entry(app.to_string())
                    .or_default()
                    .insert(location.clone());
            } else if let Some(set) = inner.tracked.get_mut(app) {
                set.remove(&location);
                if set.is_empty() {
                    inner.tracked.remove(app);
                }
            }
        }
        if let Some(refs) = object["metadata"]["ownerReferences"].as_array() {
            for owner in refs.iter().filter_map(|r| r["uid"].as_str()) {
                if add {
                    inner
                        .dependents
                        .entry(owner.to_string())
                        .or_default()
                        .insert(location.clone());
                } else if let Some(set) = inner.dependents.get_mut(owner) {
                    set.remove(&location);
                    if set.is_empty() {
                        inner.dependents.remove(owner);
                    }
                }
            }
        }
    }

    /// The location of the object with this uid.
    pub fn locate(&self, uid: &str) -> Option<Location> {
        self.lock().by_uid.get(uid).cloned()
    }

    /// Objects whose [`TRACKING_LABEL`] is `value`, in location order.
    pub fn tracked_by(&self, value: &str) -> Vec<(GroupResource, Arc<Value>)> {
        let inner = self.lock();
        let Some(set) = inner.tracked.get(value) else {
            return vec![];
        };
        set.iter()
            .filter_map(|(gr, ns, name)| {
                let o = inner.objects.get(gr)?.get(&(ns.clone(), name.clone()))?;
                Some((gr.clone(), o.clone()))
            })
            .collect()
    }

    /// Objects whose ownerReferences name this uid.
    pub fn dependents_of(&self, uid: &str) -> Vec<(GroupResource, Arc<Value>)> {
        let inner = self.lock();
        let Some(set) = inner.dependents.get(uid) else {
            return vec![];
        };
        set.iter()
            .filter_map(|(gr, ns, name)| {
                let o = inner.objects.get(gr)?.get(&(ns.clone(), name.clone()))?;
                Some((gr.clone(), o.clone()))
            })
            .collect()
    }

    fn commit(inner: &mut Inner, feed: &broadcast::Sender<Arc<Change>>, change: Change) {
        let change = Arc::new(change);
        inner.history.push_back(change.clone());
        while inner.history.len() > inner.history_cap {
            inner.history.pop_front();
        }
        let _ = feed.send(change);
    }

    fn stamp(inner: &mut Inner, mut object: Value) -> (u64, Value) {
        inner.rv += 1;
        let rv = inner.rv;
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
        }
        (rv, object)
    }

    /// Stores a new object.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] when the name is taken.
    pub fn create(&self, gr: &GroupResource, object: Value) -> Result<Arc<Value>, StoreError> {
        let key = key_of(&object);
        let mut inner = self.lock();
        if inner.objects.get(gr).is_some_and(|m| m.contains_key(&key)) {
            return Err(StoreError::AlreadyExists);
        }
        let (rv, object) = Self::stamp(&mut inner, object);
        let object = Arc::new(object);
        inner.objects.entry(gr.clone()).or_default().insert(key, object.clone());
        Self::index(&mut inner, gr, &object, true);
        Self::commit(
            &mut inner,
            &self.feed,
            Change {
                rv,
                kind: ChangeKind::Added,
                gr: gr.clone(),
                object: object.clone(),
                old: None,
            },
        );
        Ok(object)
    }

    /// Replaces an object if its stored resourceVersion is still `expected_rv`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] or [`StoreError::Conflict`].
    pub fn replace(&self, gr: &GroupResource, object: Value, expected_rv: u64) -> Result<Arc<Value>, StoreError> {
        let key = key_of(&object);
        let mut inner = self.lock();
        let old = inner
            .objects
            .get(gr)
            .and_then(|m| m.get(&key))
            .cloned()
            .ok_or(StoreError::NotFound)?;
        if rv_of(&old) != expected_rv {
            return Err(StoreError::Conflict);
        }
        let (rv, object) = Self::stamp(&mut inner, object);
        let object = Arc::new(object);
        inner.objects.entry(gr.clone()).or_default().insert(key, object.clone());
        Self::index(&mut inner, gr, &old, false);
        Self::index(&mut inner, gr, &object, true);
        Self::commit(
            &mut inner,
            &self.feed,
            Change {
                rv,
                kind: ChangeKind::Modified,
                gr: gr.clone(),
                object: object.clone(),
                old: Some(old),
            },
        );
        Ok(object)
    }

    /// Removes an object if its stored resourceVersion is still `expected_rv`
    /// (or unconditionally with `None`). Returns its last state.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] or [`StoreError::Conflict`].
    pub fn remove(
        &self,
        gr: &GroupResource,
        namespace: &str,
        name: &str,
        expected_rv: Option<u64>,
    ) -> Result<Arc<Value>, StoreError> {
        let key = (namespace.to_string(), name.to_string());
        let mut inner = self.lock();
        let old = inner
            .objects
            .get(gr)
            .and_then(|m| m.get(&key))
            .cloned()
            .ok_or(StoreError::NotFound)?;
        if expected_rv.is_some_and(|rv| rv != rv_of(&old)) {
            return Err(StoreError::Conflict);
        }
        if let Some(map) = inner.objects.get_mut(gr) {
            map.remove(&key);
        }
        Self::index(&mut inner, gr, &old, false);
        let (rv, object) = Self::stamp(&mut inner, (*old).clone());
        let object = Arc::new(object);
        Self::commit(
            &mut inner,
            &self.feed,
            Change {
                rv,
                kind: ChangeKind::Deleted,
                gr: gr.clone(),
                object: object.clone(),
                old: Some(old),
            },
        );
        Ok(object)
    }

    /// Subscribes to the change feed, without history.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.feed.subscribe()
    }

    /// Subscribes to changes after `rv`: the retained changes newer than it,
    /// then a live receiver for what follows, and the current version.
    ///
    /// # Errors
    /// [`StoreError::TooOld`] when changes after `rv` were already dropped.
    pub fn subscribe_after(&self, rv: u64) -> Result<Resumed, StoreError> {
        let inner = self.lock();
        let oldest = inner.history.front().map(|c| c.rv).unwrap_or(inner.rv + 1);
        if rv + 1 < oldest && rv < inner.rv {
            return Err(StoreError::TooOld { requested: rv, oldest });
        }
        let backlog = inner.history.iter().filter(|c| c.rv > rv).cloned().collect();
        Ok((backlog, self.feed.subscribe(), inner.rv))
    }

    /// A snapshot of a resource plus a live receiver starting right after it.
    pub fn snapshot_and_subscribe(
        &self,
        gr: &GroupResource,
        namespace: Option<&str>,
    ) -> (Vec<Arc<Value>>, broadcast::Receiver<Arc<Change>>, u64) {
        let inner = self.lock();
        let items = match inner.objects.get(gr) {
            None => vec![],
            Some(map) => map
                .iter()
                .filter(|((ns, _), _)| namespace.is_none_or(|n| n == ns))
                .map(|(_, v)| v.clone())
                .collect(),
        };
        (items, self.feed.subscribe(), inner.rv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replace_checks_the_version() {
        let store = Store::new(100);
        let gr = GroupResource::new("", "configmaps");
        let created = store
            .create(&gr, json!({"metadata": {"name": "a", "namespace": "n"}}))
            .unwrap();
        let rv = rv_of(&created);
        assert_eq!(
            store.replace(&gr, (*created).clone(), rv - 1).unwrap_err(),
            StoreError::Conflict
        );
        let updated = store.replace(&gr, (*created).clone(), rv).unwrap();
        assert!(rv_of(&updated) > rv);
    }

    #[test]
    fn history_too_old() {
        let store = Store::new(16);
        let gr = GroupResource::new("", "configmaps");
        for i in 0..40 {
            store
                .create(&gr, json!({"metadata": {"name": format!("c{i}"), "namespace": "n"}}))
                .unwrap();
        }
        assert!(matches!(store.subscribe_after(2), Err(StoreError::TooOld { .. })));
        assert_eq!(store.subscribe_after(35).unwrap().0.len(), 6);
    }
}
