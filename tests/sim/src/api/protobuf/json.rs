//! From a decoded protobuf message (as the `k8s-rs-pb` types serialize it)
//! to the object's Kubernetes JSON form.
//!
//! The serialized message says `null` for every unset field, `[]`/`{}` for
//! empty lists and maps, `type_`/`ref_`/`continue_` for fields named after
//! Rust keywords, byte arrays as lists of numbers and `RawExtension`s,
//! `FieldsV1` and `MicroTime`s as their message fields. This module turns
//! that into what Go's JSON encoder writes for the same Go object.
//!
//! **Zero values.** Go's protobuf marshaller writes every non-pointer field,
//! set or not, so a `kubectl create` body carries `generateName: ""`,
//! `hostPort: 0`, `stdin: false` and a zero `creationTimestamp`, which its
//! JSON form (Go's `omitempty`, `null` times) leaves out. The wire cannot
//! tell those from a pointer field set to zero, so zero strings, numbers and
//! booleans are dropped, except for the pointer fields in [`KEEP_ZERO`],
//! whose explicit zero means something. Messages are kept even when all
//! their fields were zero (`emptyDir: {}` must survive).

use base64::Engine;
use serde_json::{Map, Value, json};

/// Pointer fields (Go `*int32`, `*bool`, `*IntOrString`, ...) of the
/// built-in kinds whose explicit zero differs from "unset", because the API
/// server would default an absent one (`replicas` to 1, `backoffLimit` to 6,
/// `automountServiceAccountToken` to true, `maxUnavailable` to 25%). From
/// the pointer types in k8s.io/api `apps/v1/types.go`, `batch/v1/types.go`,
/// `core/v1/types.go` and `policy/v1/types.go`.
pub const KEEP_ZERO: &[&str] = &[
    "replicas",
    "revisionHistoryLimit",
    "progressDeadlineSeconds",
    "backoffLimit",
    "backoffLimitPerIndex",
    "parallelism",
    "completions",
    "ttlSecondsAfterFinished",
    "activeDeadlineSeconds",
    "startingDeadlineSeconds",
    "successfulJobsHistoryLimit",
    "failedJobsHistoryLimit",
    "terminationGracePeriodSeconds",
    "deletionGracePeriodSeconds",
    "gracePeriodSeconds",
    "expirationSeconds",
    "runAsUser",
    "runAsGroup",
    "fsGroup",
    "defaultMode",
    "mode",
    "maxSurge",
    "maxUnavailable",
    "minAvailable",
    "partition",
    "automountServiceAccountToken",
    "enableServiceLinks",
    "allowPrivilegeEscalation",
    "hostUsers",
    "privileged",
    "runAsNonRoot",
    "readOnlyRootFilesystem",
    "suspend",
    "immutable",
    "manualSelector",
];

/// Top-level maps of `bytes` values (base64 strings in JSON).
const BYTE_MAPS: &[(&str, &str)] = &[("Secret", "data"), ("ConfigMap", "binaryData")];

/// The Kubernetes JSON form of a serialized message of kind `kind`; `None`
/// when nothing is set.
pub fn clean(value: Value, kind: &str) -> Option<Value> {
    let Value::Object(mut map) = value else {
        return clean_value(value, "");
    };
    for (k, field) in BYTE_MAPS {
        if *k == kind
            && let Some(Value::Object(entries)) = map.get_mut(*field)
        {
            for v in entries.values_mut() {
                if let Some(bytes) = as_bytes(v) {
                    *v = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
                }
            }
        }
    }
    clean_value(Value::Object(map), "")
}

fn clean_value(value: Value, key: &str) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Bool(false) | Value::String(_) | Value::Number(_) if is_zero(&value) => {
            KEEP_ZERO.contains(&key).then_some(value)
        }
        Value::String(s) if s == "1970-01-01T00:00:00Z" => None,
        Value::Array(items) => {
            if let Some(bytes) = as_bytes_list(&items) {
                return (!bytes.is_empty()).then(|| json!(base64::engine::general_purpose::STANDARD.encode(bytes)));
            }
            let items: Vec<Value> = items.into_iter().filter_map(|v| clean_value(v, "")).collect();
            (!items.is_empty()).then_some(Value::Array(items))
        }
        Value::Object(map) => clean_object(map, key),
        other => Some(other),
    }
}

fn is_zero(value: &Value) -> bool {
    match value {
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

fn clean_object(map: Map<String, Value>, key: &str) -> Option<Value> {
    if map.is_empty() {
        // An empty map (a message always lists its fields, if only as null).
        return None;
    }
    if let Some(special) = special(&map, key) {
        return special;
    }
    let mut out = Map::new();
    for (k, v) in map {
        let k = k.strip_suffix('_').map(String::from).unwrap_or(k);
        if let Some(v) = clean_value(v, &k) {
            out.insert(k, v);
        }
    }
    Some(Value::Object(out))
}

/// IntOrString, MicroTime/Time, RawExtension/FieldsV1 as their messages.
fn special(map: &Map<String, Value>, key: &str) -> Option<Option<Value>> {
    let keys: Vec<&str> = map.keys().map(String::as_str).collect();
    match keys.as_slice() {
        ["type_", "intVal", "strVal"] => {
            let value = if map["type_"] == json!(1) {
                map["strVal"].clone()
            } else {
                json!(map["intVal"].as_i64().unwrap_or(0))
            };
            Some(if value == json!(0) && !KEEP_ZERO.contains(&key) {
                None
            } else {
                Some(value)
            })
        }
        ["seconds", "nanos"] => {
            let seconds = map["seconds"].as_i64().unwrap_or(0);
            let nanos = map["nanos"].as_i64().and_then(|n| i32::try_from(n).ok()).unwrap_or(0);
            Some((seconds != 0 || nanos != 0).then(|| json!(crate::time::format_rfc3339(seconds, Some(nanos)))))
        }
        ["raw"] | ["Raw"] => {
            let bytes = map.values().next().and_then(as_bytes)?;
            Some(serde_json::from_slice(&bytes).ok())
        }
        _ => None,
    }
}

fn as_bytes(value: &Value) -> Option<Vec<u8>> {
    as_bytes_list(value.as_array()?)
}

/// A list of numbers 0..=255 (how the crate serializes `bytes`); an empty
/// list is not taken for bytes.
fn as_bytes_list(items: &[Value]) -> Option<Vec<u8>> {
    if items.is_empty() {
        return None;
    }
    items
        .iter()
        .map(|v| v.as_u64().and_then(|n| u8::try_from(n).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_values_go_and_meaningful_ones_stay() {
        let raw = json!({
            "metadata": {"name": "web", "generateName": "", "generation": 0,
                         "creationTimestamp": "1970-01-01T00:00:00Z", "labels": {}, "finalizers": []},
            "spec": {"replicas": 0, "minReadySeconds": 0, "paused": false, "revisionHistoryLimit": null,
                     "strategy": {"type_": "", "rollingUpdate": null},
                     "template": {"spec": {"containers": [{"name": "web", "ports": [{"hostPort": 0, "containerPort": 80,
                        "targetPort": {"type_": 0, "intVal": 0, "strVal": ""}}]}],
                        "volumes": [{"name": "tmp", "emptyDir": {"medium": "", "sizeLimit": null}}]}}},
        });
        assert_eq!(
            clean(raw, "Deployment").unwrap(),
            json!({"metadata": {"name": "web"},
                   "spec": {"replicas": 0, "strategy": {},
                            "template": {"spec": {"containers": [{"name": "web", "ports": [{"containerPort": 80}]}],
                                                  "volumes": [{"name": "tmp", "emptyDir": {}}]}}}})
        );
        let secret = json!({"metadata": null, "data": {"a": [120, 121, 122]}, "type_": "Opaque", "stringData": {}});
        assert_eq!(
            clean(secret, "Secret").unwrap(),
            json!({"data": {"a": "eHl6"}, "type": "Opaque"})
        );
    }
}
