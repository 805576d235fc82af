//! Compare before writing: would applying this object change anything?
//!
//! Two checks, both local (no dry-run request):
//! 1. every field of the desired object is present in the live object with
//!    the same value (the server may add defaults and other managers may add
//!    fields: those are fine);
//! 2. the live object carries the hash of exactly this desired object in the
//!    `executor.io/applied-hash` annotation — so a field we stopped setting
//!    (which server-side apply would remove) also counts as a change.
//!
//! Only when both hold is the write skipped. Lists of objects that have a
//! natural key (`name`, `port`, `containerPort`, `mountPath`) are compared
//! item by item by key, as server-side apply merges them; other lists must
//! match exactly.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The annotation recording what the executor last applied.
pub const APPLIED_HASH: &str = "executor.io/applied-hash";

/// The annotation carrying the W3C trace context of the run that last wrote
/// the object. It differs every run, so it never causes a write by itself:
/// it is ignored when comparing and hashing, and refreshed only when the
/// object is written for another reason.
pub const TRACEPARENT: &str = "executor.io/traceparent";

/// Annotations that never make an object "different".
const VOLATILE: [&str; 2] = [APPLIED_HASH, TRACEPARENT];

fn without_volatile(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(metadata) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        let now_empty = metadata
            .get_mut("annotations")
            .and_then(Value::as_object_mut)
            .is_some_and(|annotations| {
                for key in VOLATILE {
                    annotations.remove(key);
                }
                annotations.is_empty()
            });
        if now_empty {
            metadata.remove("annotations");
        }
    }
    copy
}

/// The hash of a desired object (without its own hash annotation), stable
/// under key order.
pub fn applied_hash(desired: &Value) -> String {
    let canonical = without_volatile(desired);
    let mut hasher = Sha256::new();
    write_canonical(&canonical, &mut hasher);
    hex::encode(&hasher.finalize()[..16])
}

fn write_canonical(value: &Value, hasher: &mut Sha256) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            hasher.update(b"{");
            for key in keys {
                hasher.update(serde_json::to_string(key).unwrap_or_default().as_bytes());
                hasher.update(b":");
                write_canonical(&map[key], hasher);
                hasher.update(b",");
            }
            hasher.update(b"}");
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for item in items {
                write_canonical(item, hasher);
                hasher.update(b",");
            }
            hasher.update(b"]");
        }
        other => hasher.update(other.to_string().as_bytes()),
    }
}

/// Returns `desired` with the applied-hash annotation set.
pub fn with_hash(desired: &Value) -> Value {
    into_hashed(desired.clone())
}

/// [`with_hash`] without a copy, for an object the caller owns.
pub fn into_hashed(mut object: Value) -> Value {
    let hash = applied_hash(&object);
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        let annotations = metadata
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(annotations) = annotations.as_object_mut() {
            annotations.insert(APPLIED_HASH.to_owned(), Value::String(hash));
        }
    }
    object
}

/// Why a write is needed, or `None` when the live object already is the
/// desired one. `desired` must carry its hash (see [`with_hash`]).
pub fn needs_write(live: Option<&Value>, desired: &Value) -> Option<Vec<String>> {
    let Some(live) = live else {
        return Some(vec!["created: it did not exist".to_owned()]);
    };
    let mut differences = Vec::new();
    let mut compared = without_volatile(desired);
    if let Some(hash) = desired
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(APPLIED_HASH))
        && let Some(metadata) = compared.get_mut("metadata").and_then(Value::as_object_mut)
    {
        let annotations = metadata
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(annotations) = annotations.as_object_mut() {
            annotations.insert(APPLIED_HASH.to_owned(), hash.clone());
        }
    }
    diff(live, &compared, String::new(), &mut differences);
    if differences.is_empty() {
        None
    } else {
        Some(differences)
    }
}

/// Whether every field of `desired` is in `live` with the same value (lists
/// compared as in [`needs_write`]).
pub fn contains(live: &Value, desired: &Value) -> bool {
    let mut differences = Vec::new();
    diff(live, desired, String::new(), &mut differences);
    differences.is_empty()
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

fn scalar_eq(live: &Value, desired: &Value) -> bool {
    match (live, desired) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        // The API server keeps integers as given but clients may send "8080"
        // for an int-or-string field: compare their text.
        (Value::Number(a), Value::String(b)) | (Value::String(b), Value::Number(a)) => a.to_string() == *b,
        (a, b) => a == b,
    }
}

const LIST_KEYS: [&str; 4] = ["name", "port", "containerPort", "mountPath"];

fn list_key(items: &[Value]) -> Option<&'static str> {
    LIST_KEYS
        .into_iter()
        .find(|key| !items.is_empty() && items.iter().all(|i| i.get(*key).is_some_and(|k| !k.is_null())))
}

fn diff(live: &Value, desired: &Value, path: String, out: &mut Vec<String>) {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => {
            for (key, dv) in d {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match l.get(key) {
                    Some(lv) => diff(lv, dv, child, out),
                    None if is_empty(dv) => {}
                    None => out.push(format!("{child} is missing")),
                }
            }
        }
        (Value::Array(l), Value::Array(d)) => match list_key(d) {
            Some(key) => {
                for item in d {
                    let id = &item[key];
                    let label = format!(
                        "{path}[{key}={}]",
                        id.as_str().map_or_else(|| id.to_string(), str::to_owned)
                    );
                    match l.iter().find(|li| li.get(key).is_some_and(|k| scalar_eq(k, id))) {
                        Some(li) => diff(li, item, label, out),
                        None => out.push(format!("{label} is missing")),
                    }
                }
            }
            None if l.len() != d.len() => out.push(format!("{path} has {} items, expected {}", l.len(), d.len())),
            None => {
                for (index, (li, di)) in l.iter().zip(d).enumerate() {
                    diff(li, di, format!("{path}[{index}]"), out);
                }
            }
        },
        (_, dv) if is_empty(dv) && is_empty(live) => {}
        (lv, dv) if lv.is_object() || lv.is_array() || dv.is_object() || dv.is_array() => {
            out.push(format!("{path} differs"));
        }
        (lv, dv) => {
            if !scalar_eq(lv, dv) {
                out.push(format!("{path} differs"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn desired() -> Value {
        with_hash(&json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "a", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "web", "image": "web:1.0", "ports": [{"containerPort": 8080}]}
            ]}}}
        }))
    }

    fn live_from(desired: &Value) -> Value {
        let mut live = desired.clone();
        live["metadata"]["resourceVersion"] = json!("42");
        live["metadata"]["managedFields"] = json!([{"manager": "executor"}]);
        live["spec"]["strategy"] = json!({"type": "RollingUpdate"});
        live["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] = json!("/dev/termination-log");
        live["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "sidecar", "image": "proxy:2"}));
        live["status"] = json!({"readyReplicas": 2});
        live
    }

    #[test]
    fn server_defaults_and_other_managers_fields_are_not_changes() {
        let desired = desired();
        assert_eq!(needs_write(Some(&live_from(&desired)), &desired), None);
    }

    #[test]
    fn drift_and_missing_objects_are_changes() {
        let desired = desired();
        let mut live = live_from(&desired);
        live["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:0.9");
        assert_eq!(
            needs_write(Some(&live), &desired),
            Some(vec!["spec.template.spec.containers[name=web].image differs".to_owned()])
        );
        assert!(needs_write(None, &desired).is_some());
    }

    #[test]
    fn a_field_no_longer_applied_changes_the_hash() {
        let old = desired();
        let live = live_from(&old);
        let mut new = old.clone();
        new["metadata"]["labels"].as_object_mut().unwrap().clear();
        let new = with_hash(&new);
        let why = needs_write(Some(&live), &new).unwrap();
        assert_eq!(why, vec![format!("metadata.annotations.{APPLIED_HASH} differs")]);
    }

    #[test]
    fn a_new_traceparent_alone_is_not_a_change() {
        let mut old = desired();
        old["metadata"]["annotations"][TRACEPARENT] = json!("00-aaaa-bbbb-01");
        let old = with_hash(&old);
        let live = live_from(&old);
        let mut new = old.clone();
        new["metadata"]["annotations"][TRACEPARENT] = json!("00-cccc-dddd-01");
        let new = with_hash(&new);
        assert_eq!(
            new["metadata"]["annotations"][APPLIED_HASH], live["metadata"]["annotations"][APPLIED_HASH],
            "{new:#}"
        );
        assert_eq!(needs_write(Some(&live), &new), None);
    }

    #[test]
    fn hash_ignores_key_order() {
        let a = json!({"a": 1, "b": {"c": 2, "d": 3}});
        let b = json!({"b": {"d": 3, "c": 2}, "a": 1});
        assert_eq!(applied_hash(&a), applied_hash(&b));
        assert_ne!(applied_hash(&a), applied_hash(&json!({"a": 2})));
    }
}
