//! The run's view of live objects, filled by bulk lists.
//!
//! A run reads the cluster once, in bulk (a list per kind), and decides from
//! that; later writes update the view. It lives for one run only — nothing
//! is cached between runs. A list also tells what is *absent*: when a kind
//! was listed (in a namespace, or everywhere) with a label selector that the
//! desired object's own labels satisfy, an object missing from the list needs
//! a write whether or not it exists, so no `get` is needed to decide.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::cluster::{Kind, ObjectKey};

/// A listed scope: kind, namespace (`None`: all namespaces) and selector.
type Listed = (Kind, Option<String>, Option<String>);

/// Live objects seen in this run.
#[derive(Debug, Default)]
pub struct LiveIndex {
    objects: Mutex<HashMap<ObjectKey, Arc<Value>>>,
    listed: Mutex<Vec<Listed>>,
}

/// What the index knows about one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Known {
    /// Seen, with this state (shared with the index, not copied).
    Present(Arc<Value>),
    /// A list proves a write is needed (absent, or without our labels).
    NeedsWrite,
    /// Not known: ask the cluster.
    Unknown,
}

/// The object without `metadata.managedFields`: the run never needs them,
/// and on large objects (CRDs) they are a good part of the memory.
fn slim(object: &Value) -> Value {
    slimmed(object.clone())
}

/// The object without `metadata.managedFields`, taking it by value: no copy.
pub fn slimmed(mut object: Value) -> Value {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    object
}

fn parse_selector(selector: &str) -> Option<BTreeMap<&str, &str>> {
    selector
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|term| {
            term.split_once('=')
                .map(|(k, v)| (k.trim(), v.trim().trim_start_matches('=')))
        })
        .collect()
}

fn labels_match(object: &Value, selector: Option<&str>) -> bool {
    let Some(selector) = selector else {
        return true;
    };
    // Only equality selectors are understood; anything else proves nothing.
    let Some(terms) = parse_selector(selector) else {
        return false;
    };
    let labels = &object["metadata"]["labels"];
    terms
        .iter()
        .all(|(k, v)| labels.get(*k).and_then(Value::as_str) == Some(*v))
}

impl LiveIndex {
    /// Forgets everything seen: later lookups ask the cluster again.
    pub fn forget(&self) {
        if let Ok(mut objects) = self.objects.lock() {
            objects.clear();
        }
        if let Ok(mut listed) = self.listed.lock() {
            listed.clear();
        }
    }

    /// Records the result of a list.
    pub fn record_list(&self, kind: &Kind, namespace: Option<&str>, selector: Option<&str>, items: &[Value]) {
        if let Ok(mut objects) = self.objects.lock() {
            for item in items {
                if let Ok(key) = ObjectKey::of(item) {
                    objects.insert(key, Arc::new(slim(item)));
                }
            }
        }
        if let Ok(mut listed) = self.listed.lock() {
            listed.push((kind.clone(), namespace.map(str::to_owned), selector.map(str::to_owned)));
        }
    }

    /// Records an object's new state (after a write or a get).
    pub fn record(&self, key: &ObjectKey, state: Option<&Value>) {
        if let Ok(mut objects) = self.objects.lock() {
            match state {
                Some(value) => objects.insert(key.clone(), Arc::new(slim(value))),
                None => objects.remove(key),
            };
        }
    }

    /// Records an object just written, already slimmed (see [`slimmed`]),
    /// and hands back the shared copy: the index and the caller hold one
    /// object between them, however large (CRDs).
    pub fn record_written(&self, key: &ObjectKey, object: Value) -> Arc<Value> {
        let shared = Arc::new(object);
        if let Ok(mut objects) = self.objects.lock() {
            objects.insert(key.clone(), Arc::clone(&shared));
        }
        shared
    }

    /// What is known of the object `desired` describes.
    pub fn lookup(&self, key: &ObjectKey, desired: &Value) -> Known {
        if let Some(live) = self.objects.lock().ok().and_then(|o| o.get(key).cloned()) {
            return Known::Present(live);
        }
        let covered = self.listed.lock().is_ok_and(|listed| {
            listed.iter().any(|(kind, namespace, selector)| {
                kind == &key.kind
                    && (namespace.is_none() || namespace.as_deref() == key.namespace.as_deref())
                    && labels_match(desired, selector.as_deref())
            })
        });
        if covered { Known::NeedsWrite } else { Known::Unknown }
    }

    /// Every object of `kind` seen so far (for reads after a bulk list).
    pub fn of_kind(&self, kind: &Kind) -> Vec<Value> {
        let Ok(objects) = self.objects.lock() else {
            return Vec::new();
        };
        let mut found: Vec<(&ObjectKey, &Arc<Value>)> = objects.iter().filter(|(k, _)| &k.kind == kind).collect();
        found.sort_by(|a, b| a.0.cmp(b.0));
        found.into_iter().map(|(_, v)| Value::clone(v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_selected_list_proves_absence_for_objects_it_would_match() {
        let index = LiveIndex::default();
        let kind = Kind::new("v1", "ConfigMap");
        let present = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "ns", "labels": {"part-of": "x"}}});
        index.record_list(&kind, None, Some("part-of=x"), std::slice::from_ref(&present));

        let key_a = ObjectKey::of(&present).unwrap();
        assert_eq!(
            index.lookup(&key_a, &present),
            Known::Present(Arc::new(present.clone()))
        );

        let ours = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": "ns", "labels": {"part-of": "x"}}});
        assert_eq!(index.lookup(&ObjectKey::of(&ours).unwrap(), &ours), Known::NeedsWrite);

        let unlabelled = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns"}});
        assert_eq!(
            index.lookup(&ObjectKey::of(&unlabelled).unwrap(), &unlabelled),
            Known::Unknown
        );

        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a", "namespace": "ns"}});
        assert_eq!(index.lookup(&ObjectKey::of(&secret).unwrap(), &secret), Known::Unknown);
    }
}
