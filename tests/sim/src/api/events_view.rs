//! `events.k8s.io/v1` Events: a second view of the `core/v1` Events, as
//! kube-apiserver serves them — one storage, two shapes.
//!
//! kube-apiserver stores one internal `core.Event` and converts it on the
//! way in and out (k8s.io/kubernetes `pkg/apis/events/v1/conversion.go`):
//!
//! | events.k8s.io/v1 | core/v1 |
//! |---|---|
//! | `regarding` | `involvedObject` |
//! | `note` | `message` |
//! | `reportingController` | `reportingComponent` |
//! | `deprecatedSource` | `source` |
//! | `deprecatedFirstTimestamp`, `deprecatedLastTimestamp`, `deprecatedCount` | `firstTimestamp`, `lastTimestamp`, `count` |
//!
//! `eventTime`, `series`, `related`, `action`, `reason`, `type` and
//! `reportingInstance` keep their names. So an Event created here is listed
//! by `kubectl get events` and by `kubectl describe`'s `involvedObject.*`
//! field selectors, and a core Event is read here with the new names.
//!
//! A create through this view is validated as upstream validates one
//! (`pkg/apis/core/validation/events.go`, `ValidateEventCreate` for
//! `events.k8s.io/v1`: the legacy checks of an Event with `eventTime`, then
//! the strict ones). Served verbs: create, get, list, delete; an update,
//! patch or watch through this view is refused (405) — nothing in the
//! executor's tests needs them.

use super::ApiError;
use super::handlers::{ApiRequest, Reply};
use super::write::{self, DeleteOptions, WriteCtx};
use crate::cluster::Cluster;
use crate::resources::ResourceType;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The API group of this view.
pub const GROUP: &str = "events.k8s.io";

/// Upstream's limits (`pkg/apis/core/validation/events.go`).
const REPORTING_INSTANCE_LIMIT: usize = 128;
const ACTION_LIMIT: usize = 128;
const REASON_LIMIT: usize = 128;
/// The longest `note` (`message`), in bytes.
pub const NOTE_LIMIT: usize = 1024;

/// Renamed fields: (events.k8s.io/v1, core/v1).
const RENAMED: [(&str, &str); 6] = [
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
];

fn rename(object: &Value, to_core: bool) -> Value {
    let Some(map) = object.as_object() else {
        return object.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        let renamed = RENAMED
            .iter()
            .chain(std::iter::once(&("deprecatedCount", "count")))
            .find_map(|(new, core)| match to_core {
                true if key == new => Some(*core),
                false if key == core => Some(*new),
                _ => None,
            })
            .unwrap_or(key);
        out.insert(renamed.to_owned(), value.clone());
    }
    Value::Object(out)
}

/// A `core/v1` Event as `events.k8s.io/v1` shows it.
pub fn from_core(object: &Value) -> Value {
    let mut out = rename(object, false);
    out["apiVersion"] = json!(format!("{GROUP}/v1"));
    out["kind"] = json!("Event");
    out
}

/// An `events.k8s.io/v1` Event as it is stored (`core/v1`).
pub fn to_core(object: &Value) -> Value {
    let mut out = rename(object, true);
    out["apiVersion"] = json!("v1");
    out["kind"] = json!("Event");
    out
}

fn set(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Number(n) => n.as_i64() != Some(0),
        Value::Object(m) => !m.is_empty(),
        _ => true,
    }
}

fn text<'a>(event: &'a Value, field: &str) -> &'a str {
    event[field].as_str().unwrap_or("")
}

/// A qualified name (`IsQualifiedName`): `[prefix/]name`, the name at most
/// 63 characters of alphanumerics, `-`, `_` and `.`, alphanumeric at both ends.
fn qualified_name(text: &str) -> bool {
    let name = text.rsplit_once('/').map_or(text, |(_, n)| n);
    let ends = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    !name.is_empty()
        && name.len() <= 63
        && ends(name.chars().next())
        && ends(name.chars().last())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Every problem `ValidateEventCreate` finds with an `events.k8s.io/v1`
/// Event (given in its own shape), as (field, message).
pub fn validate_create(event: &Value, namespace: &str) -> Vec<(String, String)> {
    let mut errors: Vec<(String, String)> = Vec::new();
    let mut required = |field: &str| errors.push((field.to_owned(), "Required value".to_owned()));
    if !set(&event["eventTime"]) {
        required("eventTime");
    }
    if !set(&event["reportingController"]) {
        required("reportingController");
    }
    if !set(&event["reportingInstance"]) {
        required("reportingInstance");
    }
    if !set(&event["action"]) {
        required("action");
    }
    if !set(&event["reason"]) {
        required("reason");
    }
    if !set(&event["metadata"]["name"]) && !set(&event["metadata"]["generateName"]) {
        required("metadata.name");
    }
    let controller = text(event, "reportingController");
    if !controller.is_empty() && !qualified_name(controller) {
        errors.push((
            "reportingController".into(),
            format!("Invalid value: \"{controller}\": must be a qualified name"),
        ));
    }
    for (field, limit) in [
        ("reportingInstance", REPORTING_INSTANCE_LIMIT),
        ("action", ACTION_LIMIT),
        ("reason", REASON_LIMIT),
        ("note", NOTE_LIMIT),
    ] {
        if text(event, field).len() > limit {
            errors.push((
                field.into(),
                format!("Invalid value: \"\": can have at most {limit} characters"),
            ));
        }
    }
    if !set(&event["regarding"]["namespace"]) && !["default", "kube-system"].contains(&namespace) {
        errors.push((
            "regarding.namespace".into(),
            "Invalid value: \"\": does not match event.namespace".into(),
        ));
    }
    if !matches!(text(event, "type"), "Normal" | "Warning") {
        errors.push((
            "type".into(),
            format!("Invalid value: \"\": has invalid value: {}", text(event, "type")),
        ));
    }
    for field in [
        "deprecatedFirstTimestamp",
        "deprecatedLastTimestamp",
        "deprecatedCount",
        "deprecatedSource",
    ] {
        if set(&event[field]) {
            errors.push((field.into(), "Invalid value: \"\": needs to be unset".into()));
        }
    }
    if set(&event["series"]) {
        if event["series"]["count"].as_i64().unwrap_or(0) < 2 {
            errors.push((
                "series.count".into(),
                "Invalid value: \"\": should be at least 2".into(),
            ));
        }
        if !set(&event["series"]["lastObservedTime"]) {
            errors.push(("series.lastObservedTime".into(), "Required value".into()));
        }
    }
    errors
}

fn invalid(name: &str, errors: &[(String, String)]) -> ApiError {
    let list: Vec<String> = errors.iter().map(|(f, m)| format!("{f}: {m}")).collect();
    let message = if list.len() == 1 {
        list.join("")
    } else {
        format!("[{}]", list.join(", "))
    };
    let mut error = ApiError::new(
        422,
        "Invalid",
        format!("Event.{GROUP} \"{name}\" is invalid: {message}"),
    );
    error.details = Some(Box::new(json!({
        "name": name, "group": GROUP, "kind": "Event",
        "causes": errors.iter().map(|(f, m)| json!({"reason": "FieldValueInvalid", "message": m, "field": f})).collect::<Vec<_>>(),
    })));
    error
}

/// Serves a request to `events.k8s.io/v1` events from the `core/v1` storage.
///
/// # Errors
/// What the verb on the core Events answers, a 422 for an invalid Event,
/// a 405 for a verb this view does not serve.
pub fn handle(
    cluster: &Arc<Cluster>,
    core: &Arc<ResourceType>,
    req: &ApiRequest,
    verb: &str,
    body: Value,
    ctx: &WriteCtx<'_>,
) -> Result<Reply, ApiError> {
    let p = &req.path;
    let namespace = p.namespace.clone().unwrap_or_default();
    let name = p.name.as_deref().unwrap_or("");
    match verb {
        "create" => {
            let errors = validate_create(&body, &namespace);
            if !errors.is_empty() {
                return Err(invalid(text(&body["metadata"], "name"), &errors));
            }
            let created = write::create(cluster, core, p.namespace.as_deref(), to_core(&body), ctx)?;
            Ok(Reply::Json(201, from_core(&created)))
        }
        "get" => {
            let object = cluster
                .store
                .get(&core.group_resource(), &namespace, name)
                .ok_or_else(|| ApiError::not_found(GROUP, "events", name))?;
            Ok(Reply::Json(200, from_core(&object)))
        }
        "list" => {
            let Reply::Json(code, mut list) = super::handlers::list(cluster, core, req)? else {
                return Err(ApiError::internal("a list that is not JSON"));
            };
            // A Table (`kubectl get`) keeps its own kind and columns.
            if list["kind"] == "EventList" {
                if let Some(items) = list["items"].as_array_mut() {
                    for item in items.iter_mut() {
                        *item = from_core(item);
                    }
                }
                list["apiVersion"] = json!(format!("{GROUP}/v1"));
            }
            Ok(Reply::Json(code, list))
        }
        "delete" => {
            let options = DeleteOptions::from_body(&body, req.query.propagation_policy());
            let outcome = write::delete(cluster, core, &namespace, name, &options, ctx)?;
            Ok(Reply::Json(200, from_core(&outcome.object())))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Value {
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "vault.1", "namespace": "argocd"},
            "eventTime": "2026-12-07T10:00:00.000000Z",
            "reportingController": "executor", "reportingInstance": "executor-abc",
            "action": "Deploy", "reason": "HealthTimeout", "type": "Warning",
            "note": "vault did not become healthy",
            "regarding": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "namespace": "argocd", "name": "vault", "uid": "u-1"},
        })
    }

    #[test]
    fn the_two_views_convert_both_ways() {
        let core = to_core(&event());
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["involvedObject"]["name"], "vault");
        assert_eq!(core["message"], "vault did not become healthy");
        assert_eq!(core["reportingComponent"], "executor");
        assert!(core.get("regarding").is_none());
        assert_eq!(from_core(&core), event());
    }

    #[test]
    fn a_valid_event_passes_and_the_required_fields_are_named() {
        assert!(validate_create(&event(), "argocd").is_empty());
        let mut bare = event();
        for field in [
            "eventTime",
            "reportingController",
            "reportingInstance",
            "action",
            "reason",
        ] {
            bare.as_object_mut().unwrap().remove(field);
        }
        let fields: Vec<String> = validate_create(&bare, "argocd").into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "eventTime",
                "reportingController",
                "reportingInstance",
                "action",
                "reason"
            ]
        );
    }

    #[test]
    fn a_note_over_1_kib_and_deprecated_fields_are_refused() {
        let mut long = event();
        long["note"] = json!("x".repeat(NOTE_LIMIT + 1));
        long["deprecatedCount"] = json!(3);
        let fields: Vec<String> = validate_create(&long, "argocd").into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["note", "deprecatedCount"]);
        long["note"] = json!("x".repeat(NOTE_LIMIT));
        long.as_object_mut().unwrap().remove("deprecatedCount");
        assert!(validate_create(&long, "argocd").is_empty());
    }
}
