//! Small helpers for reading and editing object metadata, shared by the API
//! handlers and the simulated controllers so both treat objects alike.

use serde_json::{Map, Value, json};

/// `metadata.name`.
pub fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or("")
}

/// `metadata.namespace` (empty for cluster-scoped).
pub fn namespace(object: &Value) -> &str {
    object["metadata"]["namespace"].as_str().unwrap_or("")
}

/// `metadata.uid`.
pub fn uid(object: &Value) -> &str {
    object["metadata"]["uid"].as_str().unwrap_or("")
}

/// `metadata.generation` (0 when absent).
pub fn generation(object: &Value) -> i64 {
    object["metadata"]["generation"].as_i64().unwrap_or(0)
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_deleting(object: &Value) -> bool {
    object["metadata"]["deletionTimestamp"].is_string()
}

/// `metadata.finalizers`.
pub fn finalizers(object: &Value) -> Vec<String> {
    object["metadata"]["finalizers"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// Mutable `metadata`, created when missing.
pub fn meta_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.is_object() {
        *object = Value::Object(Map::new());
    }
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    match object.get_mut("metadata") {
        Some(Value::Object(meta)) => meta,
        _ => unreachable!("metadata was just made an object"),
    }
}

/// Replaces `metadata.finalizers` (removing the field when empty).
pub fn set_finalizers(object: &mut Value, list: &[String]) {
    let meta = meta_mut(object);
    if list.is_empty() {
        meta.remove("finalizers");
    } else {
        meta.insert("finalizers".into(), json!(list));
    }
}

/// Adds a finalizer if missing.
pub fn add_finalizer(object: &mut Value, finalizer: &str) {
    let mut list = finalizers(object);
    if !list.iter().any(|f| f == finalizer) {
        list.push(finalizer.to_string());
        set_finalizers(object, &list);
    }
}

/// Removes a finalizer.
pub fn remove_finalizer(object: &mut Value, finalizer: &str) {
    let list: Vec<String> = finalizers(object).into_iter().filter(|f| f != finalizer).collect();
    set_finalizers(object, &list);
}

/// One label value.
pub fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object["metadata"]["labels"][key].as_str()
}

/// One annotation value.
pub fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object["metadata"]["annotations"][key].as_str()
}

/// UIDs of the object's owners.
pub fn owner_uids(object: &Value) -> Vec<String> {
    object["metadata"]["ownerReferences"]
        .as_array()
        .map(|a| a.iter().filter_map(|o| o["uid"].as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// An ownerReference pointing at `owner` (controller, blocking deletion).
pub fn owner_reference(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// A `True`/`False` condition in the shape workload controllers write.
pub fn condition(kind: &str, status: bool, reason: &str, message: &str, now: &str) -> Value {
    json!({
        "type": kind,
        "status": if status { "True" } else { "False" },
        "lastUpdateTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    })
}

/// The object without `metadata` and (optionally) `status`, to tell whether
/// a write changed the spec (and so the generation).
pub fn spec_part(object: &Value, without_status: bool) -> Value {
    let mut copy = object.clone();
    if let Some(map) = copy.as_object_mut() {
        map.remove("metadata");
        map.remove("apiVersion");
        map.remove("kind");
        if without_status {
            map.remove("status");
        }
    }
    copy
}
