//! Structural schemas of custom resources, applied on every write as
//! kube-apiserver does for `apiextensions.k8s.io/v1` CRDs: defaulting from
//! `default:`, pruning of fields the schema does not declare (reported per
//! `fieldValidation`), then validation ([`validate`]) with `422 Invalid` and
//! the real server's `details.causes[]`.
//!
//! Order and rules follow k8s.io/apiextensions-apiserver: `pkg/apiserver/
//! schema/defaulting` (defaults applied where a property is absent, or null
//! and not `nullable`), `pkg/apiserver/schema/pruning` (unknown fields
//! dropped except under `x-kubernetes-preserve-unknown-fields`; `apiVersion`,
//! `kind` and `metadata` of the root and of `x-kubernetes-embedded-resource`
//! objects always kept; null values of non-nullable fields dropped) and
//! `pkg/apiserver/validation` (kube-openapi's validator, its errors turned
//! into `field.Error`s).
//!
//! Why not the `jsonschema` crate: its instance paths are JSON pointers and
//! its messages are its own, while clients (and tests) see kube-openapi's
//! (`spec.source.path in body must be of type string: "integer"`); and the
//! parts that make a schema structural (`nullable`, int-or-string,
//! preserve-unknown-fields, embedded resources, list types, pruning,
//! defaulting) are Kubernetes' own and need a walk of the schema anyway. The
//! OpenAPI keywords CRDs may use are few, so one walk does all of it.
//!
//! Not simulated: `x-kubernetes-validations` (CEL rules) and validation
//! ratcheting of unchanged invalid fields.

pub mod validate;

use serde_json::{Map, Value};

/// `fieldValidation`: what to do with fields the schema does not declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them and warn (the server's default when the parameter is absent).
    #[default]
    Warn,
    /// Refuse the request (`400 BadRequest`, `strict decoding error`).
    Strict,
}

impl FieldValidation {
    /// Reads the query parameter (absent: `Warn`).
    ///
    /// # Errors
    /// The message for a value other than `Ignore`, `Warn` or `Strict`.
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value {
            None | Some("") | Some("Warn") => Ok(Self::Warn),
            Some("Ignore") => Ok(Self::Ignore),
            Some("Strict") => Ok(Self::Strict),
            Some(other) => Err(format!(
                "fieldValidation parameter unsupported: {other}, must be one of: Ignore, Warn, Strict"
            )),
        }
    }
}

/// Applies the schema's defaults to `value` in place.
pub fn apply_defaults(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(props) = schema["properties"].as_object() {
                for (name, prop) in props {
                    let missing = match map.get(name) {
                        None => true,
                        Some(Value::Null) => prop["nullable"].as_bool() != Some(true),
                        Some(_) => false,
                    };
                    if missing && let Some(default) = prop.get("default") {
                        map.insert(name.clone(), default.clone());
                    }
                }
                for (name, prop) in props {
                    if let Some(v) = map.get_mut(name) {
                        apply_defaults(prop, v);
                    }
                }
            } else if schema["additionalProperties"].is_object() {
                for v in map.values_mut() {
                    apply_defaults(&schema["additionalProperties"], v);
                }
            }
        }
        Value::Array(items) if schema["items"].is_object() => {
            for item in items {
                apply_defaults(&schema["items"], item);
            }
        }
        _ => {}
    }
}

/// Drops what the schema does not declare; returns the paths of dropped
/// fields (`spec.foo`), for the warning or the strict error.
pub fn prune(schema: &Value, value: &mut Value) -> Vec<String> {
    let mut pruned = Vec::new();
    prune_at(schema, value, "", true, &mut pruned);
    pruned
}

fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn prune_at(schema: &Value, value: &mut Value, path: &str, root: bool, pruned: &mut Vec<String>) {
    let preserve = schema["x-kubernetes-preserve-unknown-fields"].as_bool() == Some(true);
    let embedded = schema["x-kubernetes-embedded-resource"].as_bool() == Some(true);
    match value {
        Value::Object(map) => {
            let props = schema["properties"].as_object();
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            drop_nulls(map, props);
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let kept_meta = (root || embedded) && matches!(key.as_str(), "apiVersion" | "kind" | "metadata");
                let sub = props.and_then(|p| p.get(&key)).or(additional);
                match sub {
                    Some(sub) if !(kept_meta && key == "metadata") => {
                        if let Some(v) = map.get_mut(&key) {
                            prune_at(sub, v, &child(path, &key), false, pruned);
                        }
                    }
                    _ if kept_meta || preserve => {}
                    _ => {
                        map.remove(&key);
                        pruned.push(child(path, &key));
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items").filter(|i| i.is_object()) {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_at(item_schema, item, &format!("{path}[{i}]"), false, pruned);
                }
            }
        }
        _ => {}
    }
}

/// Null values of fields that are not `nullable` are dropped before
/// defaulting and validation.
fn drop_nulls(map: &mut Map<String, Value>, props: Option<&Map<String, Value>>) {
    map.retain(|k, v| {
        !v.is_null()
            || props
                .and_then(|p| p.get(k))
                .is_some_and(|s| s["nullable"].as_bool() == Some(true))
    });
}

/// Everything a write of a custom resource goes through: nulls and unknown
/// fields pruned, defaults applied, the result validated. Returns the
/// warnings to send (`unknown field "spec.foo"`).
///
/// # Errors
/// `400` for unknown fields under `Strict`, `422` for schema violations.
pub fn admit(
    schema: &Value,
    object: &mut Value,
    kind: &str,
    group: &str,
    version: &str,
    validation: FieldValidation,
) -> Result<Vec<String>, crate::api::ApiError> {
    let mut pruned = prune(schema, object);
    apply_defaults(schema, object);
    // Defaults may bring fields of their own that the schema does not know.
    pruned.extend(prune(schema, object));
    let messages: Vec<String> = pruned.iter().map(|p| format!("unknown field \"{p}\"")).collect();
    if validation == FieldValidation::Strict && !messages.is_empty() {
        return Err(crate::api::ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
            messages.join(", ")
        )));
    }
    let errors = validate::validate(schema, object);
    if !errors.is_empty() {
        let name = object["metadata"]["name"].as_str().unwrap_or("");
        return Err(validate::invalid(kind, group, name, &errors));
    }
    Ok(if validation == FieldValidation::Warn {
        messages
    } else {
        Vec::new()
    })
}
