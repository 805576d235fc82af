//! Reading a dynamic Kubernetes object (`serde_json::Value`) without panics.
//!
//! The rules read objects exactly as the API server returns them, so every
//! field may be absent (a new object has no `status`), and absent numbers
//! read as Kubernetes' zero value, like Go's typed structs do. These helpers
//! keep the rules short and free of `unwrap`.

use serde_json::Value;

/// The value at a path of object keys, if every step exists.
pub(crate) fn at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |value, key| value.get(key))
}

/// The string at a path, if it is a string.
pub(crate) fn str_at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(obj, path).and_then(Value::as_str)
}

/// The string at a path, or `""`.
pub(crate) fn string_or_empty<'a>(obj: &'a Value, path: &[&str]) -> &'a str {
    str_at(obj, path).unwrap_or_default()
}

/// The integer at a path. Integers written as strings (Argo Rollouts'
/// `observedGeneration`) are accepted; anything else is absent.
pub(crate) fn int_at(obj: &Value, path: &[&str]) -> Option<i64> {
    match at(obj, path)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The integer at a path, or 0 (Kubernetes' zero value).
pub(crate) fn int_or_zero(obj: &Value, path: &[&str]) -> i64 {
    int_at(obj, path).unwrap_or(0)
}

/// True when the value at a path is the boolean `true`.
pub(crate) fn is_true(obj: &Value, path: &[&str]) -> bool {
    at(obj, path).and_then(Value::as_bool).unwrap_or(false)
}

/// The array at a path, or an empty slice.
pub(crate) fn array_at<'a>(obj: &'a Value, path: &[&str]) -> &'a [Value] {
    at(obj, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// `metadata.name`, or `""`.
pub(crate) fn name(obj: &Value) -> &str {
    string_or_empty(obj, &["metadata", "name"])
}

/// `metadata.generation`, or 0.
pub(crate) fn generation(obj: &Value) -> i64 {
    int_or_zero(obj, &["metadata", "generation"])
}

/// One entry of a standard `status.conditions` list.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Condition<'a> {
    /// `type`.
    pub(crate) kind: &'a str,
    /// `status`: `"True"`, `"False"` or `"Unknown"`.
    pub(crate) status: &'a str,
    /// `reason`, or `""`.
    pub(crate) reason: &'a str,
    /// `message`, or `""`.
    pub(crate) message: &'a str,
}

impl Condition<'_> {
    /// True when the condition's status is `"True"`.
    pub(crate) fn is_true(&self) -> bool {
        self.status == "True"
    }
}

/// The conditions of a list of condition objects, in order.
pub(crate) fn conditions_in(list: &[Value]) -> impl Iterator<Item = Condition<'_>> {
    list.iter().map(|c| Condition {
        kind: string_or_empty(c, &["type"]),
        status: string_or_empty(c, &["status"]),
        reason: string_or_empty(c, &["reason"]),
        message: string_or_empty(c, &["message"]),
    })
}

/// The object's `status.conditions`, in order.
pub(crate) fn conditions(obj: &Value) -> impl Iterator<Item = Condition<'_>> {
    conditions_in(array_at(obj, &["status", "conditions"]))
}

/// The first `status.conditions` entry of a type.
pub(crate) fn condition<'a>(obj: &'a Value, kind: &str) -> Option<Condition<'a>> {
    conditions(obj).find(|c| c.kind == kind)
}

/// The version of an `apiVersion`: `"v1"` for `apps/v1` and for `v1`.
pub(crate) fn version_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or(api_version, |(_, version)| version)
}

/// Unknown, with the error Argo CD reports when a built-in check meets a
/// version of its kind it does not convert (gitops-engine's
/// `unsupported <Kind> GVK: <group>/<version>, Kind=<Kind>`; the
/// Go `schema.GroupVersionKind` spelling, group empty for the core group).
pub(crate) fn unsupported(obj: &Value) -> super::Health {
    let api_version = string_or_empty(obj, &["apiVersion"]);
    let kind = string_or_empty(obj, &["kind"]);
    let label = if kind == "HorizontalPodAutoscaler" { "HPA" } else { kind };
    super::Health::new(
        super::HealthStatus::Unknown,
        format!(
            "unsupported {label} GVK: {}/{}, Kind={kind}",
            group_of(api_version),
            version_of(api_version)
        ),
    )
}

/// True when the object's `apiVersion` is one of `versions` (as written,
/// e.g. `apps/v1`).
pub(crate) fn api_version_in(obj: &Value, versions: &[&str]) -> bool {
    versions.contains(&string_or_empty(obj, &["apiVersion"]))
}

/// The API group of an `apiVersion`: `"apps"` for `apps/v1`, `""` for the
/// core `v1`.
pub(crate) fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(group, _)| group).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_nested_fields_and_tolerates_absence() {
        let obj = json!({"status": {"replicas": 3, "observedGeneration": "7", "ok": true}});
        assert_eq!(int_at(&obj, &["status", "replicas"]), Some(3));
        assert_eq!(int_at(&obj, &["status", "observedGeneration"]), Some(7));
        assert_eq!(int_or_zero(&obj, &["status", "missing"]), 0);
        assert_eq!(int_or_zero(&obj, &["spec", "replicas"]), 0);
        assert!(is_true(&obj, &["status", "ok"]));
        assert!(!is_true(&obj, &["status", "replicas"]));
        assert!(array_at(&obj, &["status", "conditions"]).is_empty());
        assert_eq!(name(&obj), "");
    }

    #[test]
    fn finds_conditions_by_type() {
        let obj = json!({"status": {"conditions": [
            {"type": "Available", "status": "True"},
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "too slow"}
        ]}});
        let progressing = condition(&obj, "Progressing").unwrap();
        assert!(!progressing.is_true());
        assert_eq!(progressing.reason, "ProgressDeadlineExceeded");
        assert_eq!(progressing.message, "too slow");
        assert!(condition(&obj, "Available").unwrap().is_true());
        assert!(condition(&obj, "ReplicaFailure").is_none());
    }

    #[test]
    fn splits_the_group_off_an_api_version() {
        assert_eq!(group_of("apps/v1"), "apps");
        assert_eq!(group_of("v1"), "");
        assert_eq!(group_of("networking.k8s.io/v1"), "networking.k8s.io");
        assert_eq!(group_of(""), "");
    }
}
