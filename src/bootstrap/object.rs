//! Reading and editing Kubernetes objects held as untyped JSON.
//!
//! The bundle's objects stay `serde_json::Value`s from parsing to applying:
//! the upstream manifests hold dozens of kinds with large schemas, and the
//! executor only ever needs their identity and metadata. Every object that
//! enters the bundle has been checked by [`check`] (a mapping with string
//! `apiVersion`, `kind` and `metadata.name`), so the readers here can return
//! plain `&str`s and the writers never meet a missing `metadata`.

use std::fmt;

use serde_json::{Map, Value};

/// The identity of an object: what makes two objects the same object in a cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    /// API group (`""` for the core group).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace, `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl ObjectRef {
    /// The identity of `object`.
    pub fn of(object: &Value) -> ObjectRef {
        ObjectRef {
            group: group(object).to_owned(),
            kind: kind(object).to_owned(),
            namespace: namespace(object).map(str::to_owned),
            name: name(object).to_owned(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.kind)?;
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        match &self.namespace {
            Some(namespace) => write!(f, " {namespace}/{}", self.name),
            None => write!(f, " {}", self.name),
        }
    }
}

/// Checks that a parsed document is a Kubernetes object the bundle can handle.
///
/// # Errors
/// A message saying what is missing.
pub fn check(object: &Value) -> Result<(), String> {
    let Some(map) = object.as_object() else {
        return Err("the document is not a mapping".to_owned());
    };
    for field in ["apiVersion", "kind"] {
        if map.get(field).and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(format!("the object has no `{field}`"));
        }
    }
    let Some(metadata) = map.get("metadata").and_then(Value::as_object) else {
        return Err(format!(
            "the {} has no `metadata` mapping",
            map.get("kind").and_then(Value::as_str).unwrap_or_default()
        ));
    };
    if metadata.get("name").and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err(format!(
            "the {} has no `metadata.name`",
            map.get("kind").and_then(Value::as_str).unwrap_or_default()
        ));
    }
    Ok(())
}

/// `apiVersion`.
pub fn api_version(object: &Value) -> &str {
    object.get("apiVersion").and_then(Value::as_str).unwrap_or_default()
}

/// `kind`.
pub fn kind(object: &Value) -> &str {
    object.get("kind").and_then(Value::as_str).unwrap_or_default()
}

/// The API group of `apiVersion` (`""` for `v1`).
pub fn group(object: &Value) -> &str {
    api_version(object).rsplit_once('/').map_or("", |(group, _)| group)
}

/// `metadata.name`.
pub fn name(object: &Value) -> &str {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// `metadata.namespace`, when set.
pub fn namespace(object: &Value) -> Option<&str> {
    object.pointer("/metadata/namespace").and_then(Value::as_str)
}

/// `Kind.group`, or `Kind` for the core group: the ApplySet spelling of a group-kind.
pub fn group_kind(object: &Value) -> String {
    match group(object) {
        "" => kind(object).to_owned(),
        group => format!("{}.{group}", kind(object)),
    }
}

/// Is this object of `kind` in `group`?
pub fn is(object: &Value, group_name: &str, kind_name: &str) -> bool {
    kind(object) == kind_name && group(object) == group_name
}

/// `metadata`, created when missing.
pub fn metadata_mut(object: &mut Value) -> Option<&mut Map<String, Value>> {
    let map = object.as_object_mut()?;
    let metadata = map.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    metadata.as_object_mut()
}

/// Sets `metadata.namespace`.
pub fn set_namespace(object: &mut Value, namespace: &str) {
    if let Some(metadata) = metadata_mut(object) {
        metadata.insert("namespace".to_owned(), Value::from(namespace));
    }
}

/// Removes `metadata.namespace`.
pub fn clear_namespace(object: &mut Value) {
    if let Some(metadata) = metadata_mut(object) {
        metadata.remove("namespace");
    }
}

/// Sets one entry of the string map `metadata.<field>` (`labels` or `annotations`).
fn set_metadata_entry(object: &mut Value, field: &str, key: &str, value: &str) {
    if let Some(metadata) = metadata_mut(object) {
        let entries = metadata.entry(field).or_insert_with(|| Value::Object(Map::new()));
        if !entries.is_object() {
            *entries = Value::Object(Map::new());
        }
        if let Some(entries) = entries.as_object_mut() {
            entries.insert(key.to_owned(), Value::from(value));
        }
    }
}

/// Sets a label.
pub fn set_label(object: &mut Value, key: &str, value: &str) {
    set_metadata_entry(object, "labels", key, value);
}

/// Sets an annotation.
pub fn set_annotation(object: &mut Value, key: &str, value: &str) {
    set_metadata_entry(object, "annotations", key, value);
}

/// A label's value, when set.
pub fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object
        .pointer("/metadata/labels")
        .and_then(|labels| labels.get(key))
        .and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_identity_and_group_kind() {
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"}});
        let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert_eq!(group(&deployment), "apps");
        assert_eq!(group(&config), "");
        assert_eq!(group_kind(&deployment), "Deployment.apps");
        assert_eq!(group_kind(&config), "ConfigMap");
        assert_eq!(ObjectRef::of(&deployment).to_string(), "Deployment.apps shop/web");
        assert_eq!(ObjectRef::of(&config).to_string(), "ConfigMap c");
    }

    #[test]
    fn check_names_what_is_missing() {
        assert!(check(&json!([1])).unwrap_err().contains("mapping"));
        assert!(
            check(&json!({"kind": "X", "metadata": {"name": "a"}}))
                .unwrap_err()
                .contains("apiVersion")
        );
        assert!(
            check(&json!({"apiVersion": "v1", "kind": "X", "metadata": {}}))
                .unwrap_err()
                .contains("metadata.name")
        );
    }

    #[test]
    fn writes_labels_and_namespace() {
        let mut object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        set_label(&mut object, "a", "1");
        set_annotation(&mut object, "b", "2");
        set_namespace(&mut object, "ns");
        assert_eq!(label(&object, "a"), Some("1"));
        assert_eq!(namespace(&object), Some("ns"));
        clear_namespace(&mut object);
        assert_eq!(namespace(&object), None);
        assert_eq!(object["metadata"]["annotations"]["b"], "2");
    }
}
