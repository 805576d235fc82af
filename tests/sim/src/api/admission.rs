//! Admission for the write path: name validation, type checks, namespace
//! existence and termination, and the defaulting a real API server does
//! (replicas, rollout strategies, Service IPs, Secret `stringData`, CRD
//! status), kept idempotent so a repeated apply stays a no-op.

use super::ApiError;
use super::object::{self, is_deleting, meta_mut};
use crate::cluster::Cluster;
use crate::resources::ResourceType;
use serde_json::{Value, json};

/// Whether the type is Namespace.
pub(super) fn is_namespace(rt: &ResourceType) -> bool {
    rt.group.is_empty() && rt.resource == "namespaces"
}

pub(super) fn valid_name(name: &str, rt: &ResourceType) -> Result<(), String> {
    if name.is_empty() {
        return Err("name or generateName is required".into());
    }
    if name.len() > 253 {
        return Err("must be no more than 253 characters".into());
    }
    let label_only = is_namespace(rt) || (rt.group.is_empty() && rt.resource == "services");
    let ok = name.chars().all(|c| {
        c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || c == '-'
            || (c == '.' && !label_only)
            || (c == ':' && rt.group.starts_with("rbac"))
    }) && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().last().is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "a lowercase RFC 1123 {} must consist of lower case alphanumeric characters, '-'{}, and must start and end with an alphanumeric character",
            if label_only { "label" } else { "subdomain" },
            if label_only { "" } else { " or '.'" }
        ))
    }
}

pub(super) fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..5].to_string()
}

/// Defaulting done on every write (idempotent, so re-applies stay no-ops).
pub(super) fn normalize(cluster: &Cluster, rt: &ResourceType, object: &mut Value, old: Option<&Value>) {
    object["apiVersion"] = json!(rt.api_version());
    object["kind"] = json!(rt.kind);
    if !rt.namespaced {
        meta_mut(object).remove("namespace");
    }
    match (rt.group.as_str(), rt.resource.as_str()) {
        ("", "secrets") => {
            if let Some(string_data) = object
                .as_object_mut()
                .and_then(|m| m.remove("stringData"))
                .and_then(|v| v.as_object().cloned())
            {
                use base64::Engine;
                for (k, v) in string_data {
                    let text = v.as_str().unwrap_or("").to_string();
                    object["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(text));
                }
            }
            if object["type"].is_null() {
                object["type"] = json!("Opaque");
            }
        }
        ("apps", kind) if object["spec"].is_object() => {
            let spec = &mut object["spec"];
            if kind != "daemonsets" && spec["replicas"].is_null() {
                spec["replicas"] = json!(1);
            }
            if spec["revisionHistoryLimit"].is_null() && kind != "replicasets" {
                spec["revisionHistoryLimit"] = json!(10);
            }
            match kind {
                "deployments" => {
                    default_strategy(
                        &mut spec["strategy"],
                        &[("maxUnavailable", json!("25%")), ("maxSurge", json!("25%"))],
                    );
                    if spec["progressDeadlineSeconds"].is_null() {
                        spec["progressDeadlineSeconds"] = json!(600);
                    }
                }
                "statefulsets" => {
                    default_strategy(&mut spec["updateStrategy"], &[("partition", json!(0))]);
                    if spec["podManagementPolicy"].is_null() {
                        spec["podManagementPolicy"] = json!("OrderedReady");
                    }
                }
                "daemonsets" => {
                    default_strategy(
                        &mut spec["updateStrategy"],
                        &[("maxUnavailable", json!(1)), ("maxSurge", json!(0))],
                    );
                }
                _ => {}
            }
        }
        ("", "services") => {
            if object["spec"].is_null() {
                object["spec"] = json!({});
            }
            if object["spec"]["type"].is_null() {
                object["spec"]["type"] = json!("ClusterIP");
            }
            if object["spec"]["clusterIP"].is_null() && object["spec"]["type"] != "ExternalName" {
                let ip = old
                    .and_then(|o| o["spec"]["clusterIP"].as_str().map(String::from))
                    .unwrap_or_else(|| cluster.allocate_ip("10.96"));
                object["spec"]["clusterIP"] = json!(ip);
                object["spec"]["clusterIPs"] = json!([ip]);
            }
        }
        _ => {}
    }
}

/// A rollout strategy as apps/v1 defaulting leaves it (k8s.io/kubernetes
/// `pkg/apis/apps/v1/defaults.go`): type `RollingUpdate` when unset, and the
/// rolling update's unset parameters filled in.
fn default_strategy(strategy: &mut Value, rolling: &[(&str, Value)]) {
    if !strategy.is_object() {
        *strategy = json!({});
    }
    if strategy["type"].as_str().is_none_or(str::is_empty) {
        strategy["type"] = json!("RollingUpdate");
    }
    if strategy["type"] == "RollingUpdate" {
        if !strategy["rollingUpdate"].is_object() {
            strategy["rollingUpdate"] = json!({});
        }
        for (key, value) in rolling {
            if strategy["rollingUpdate"][*key].is_null() {
                strategy["rollingUpdate"][*key] = value.clone();
            }
        }
    }
}

pub(super) fn ensure_crd_names_free(crd: &Value) -> Result<(), ApiError> {
    let group = crd["spec"]["group"].as_str().unwrap_or("");
    let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or("");
    let expected = format!("{plural}.{group}");
    if object::name(crd) != expected {
        return Err(ApiError::invalid(
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            object::name(crd),
            "metadata.name",
            &format!("must be spec.names.plural+\".\"+spec.group ({expected})"),
        ));
    }
    Ok(())
}

pub(super) fn crd_status(crd: &Value) -> Value {
    let now = crate::time::now_rfc3339();
    let storage: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .filter(|v| v["storage"].as_bool() == Some(true))
                .map(|v| v["name"].clone())
                .collect()
        })
        .unwrap_or_default();
    json!({
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now, "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": now, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
        ],
        "acceptedNames": crd["spec"]["names"],
        "storedVersions": storage,
    })
}

pub(super) fn check_type(rt: &ResourceType, body: &Value) -> Result<(), ApiError> {
    if let Some(api_version) = body["apiVersion"].as_str()
        && api_version != rt.api_version()
        && !(rt.custom && api_version.starts_with(&format!("{}/", rt.group)))
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    if let Some(kind) = body["kind"].as_str()
        && kind != rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            rt.kind
        )));
    }
    Ok(())
}

pub(super) fn check_namespace(cluster: &Cluster, namespace: &str) -> Result<(), ApiError> {
    let ns_gr = crate::resources::GroupResource::new("", "namespaces");
    match cluster.store.get(&ns_gr, "", namespace) {
        None => Err(ApiError::not_found("", "namespaces", namespace)),
        Some(ns) if is_deleting(&ns) => {
            let mut e = ApiError::forbidden(format!(
                "unable to create new content in namespace {namespace} because it is being terminated"
            ));
            e.details = Some(Box::new(
                json!({"name": namespace, "kind": "namespaces", "causes": [{"reason": "NamespaceTerminating", "message": format!("namespace {namespace} is being terminated"), "field": "metadata.namespace"}]}),
            ));
            Err(e)
        }
        Some(_) => Ok(()),
    }
}

/// The limit real API servers put on the total size of annotations.
const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

/// Metadata checks every write passes (today: the total annotation size,
/// which is why large CRDs cannot be applied client-side).
pub(super) fn validate_metadata(rt: &ResourceType, object: &Value) -> Result<(), ApiError> {
    if let Some(annotations) = object["metadata"]["annotations"].as_object() {
        let size: usize = annotations
            .iter()
            .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
            .sum();
        if size > MAX_ANNOTATIONS_BYTES {
            return Err(ApiError::invalid(
                &rt.kind,
                &rt.group,
                object::name(object),
                "metadata.annotations",
                &format!("Too long: must have at most {MAX_ANNOTATIONS_BYTES} bytes"),
            ));
        }
    }
    Ok(())
}
