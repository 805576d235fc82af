//! Field sets: the `fieldsV1` trees of `metadata.managedFields`, and the
//! list semantics (atomic, map keyed by fields, set) that decide their shape.
//!
//! A field set names leaves of an object: `f:<field>` for a map field,
//! `k:{"name":"x"}` for an item of a list keyed by fields, `v:<json>` for an
//! item of a set-like list. Server-side apply compares these sets between
//! field managers to find conflicts and fields a manager stopped applying.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// How a list merges.
#[derive(Debug, Clone, PartialEq)]
pub enum ListType {
    /// Replaced as a whole.
    Atomic,
    /// Items identified by these key fields.
    Map(Vec<String>),
    /// Items identified by their value.
    Set,
}

/// A node of a field set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSet {
    /// Whether this node itself is owned.
    pub member: bool,
    /// Children by path element (`f:spec`, `k:{...}`, `v:...`).
    pub children: BTreeMap<String, FieldSet>,
}

/// Metadata fields that no manager owns.
const UNOWNED_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
];

/// List semantics for well-known fields of built-in kinds.
fn builtin_list_type(field: &str, items: &[Value]) -> ListType {
    let first = items.first();
    let has = |k: &str| first.is_some_and(|i| i.get(k).is_some());
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "volumeClaimTemplates" => ListType::Map(vec!["name".into()]),
        "volumeMounts" => ListType::Map(vec!["mountPath".into()]),
        "volumeDevices" => ListType::Map(vec!["devicePath".into()]),
        "conditions" => ListType::Map(vec!["type".into()]),
        "ownerReferences" => ListType::Map(vec!["uid".into()]),
        "finalizers" => ListType::Set,
        "hostAliases" => ListType::Map(vec!["ip".into()]),
        "topologySpreadConstraints" => ListType::Map(vec!["topologyKey".into(), "whenUnsatisfiable".into()]),
        "ports" if has("containerPort") => ListType::Map(vec!["containerPort".into(), "protocol".into()]),
        "ports" if has("port") && !has("name") || has("port") && has("targetPort") => {
            ListType::Map(vec!["port".into(), "protocol".into()])
        }
        _ => ListType::Atomic,
    }
}

/// List semantics from a CRD schema node, falling back to the built-in table.
pub fn list_type(field: &str, schema: Option<&Value>, items: &[Value]) -> ListType {
    match schema {
        Some(s) => match s["x-kubernetes-list-type"].as_str() {
            Some("map") => ListType::Map(
                s["x-kubernetes-list-map-keys"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|k| k.as_str().map(String::from)).collect())
                    .unwrap_or_default(),
            ),
            Some("set") => ListType::Set,
            _ => ListType::Atomic,
        },
        None => builtin_list_type(field, items),
    }
}

/// The schema of a map field's value.
pub fn child_schema<'a>(schema: Option<&'a Value>, field: &str) -> Option<&'a Value> {
    let s = schema?;
    s["properties"]
        .get(field)
        .or_else(|| s.get("additionalProperties").filter(|a| a.is_object()))
}

/// The schema of a list's items.
pub fn item_schema(schema: Option<&Value>) -> Option<&Value> {
    schema?.get("items")
}

/// The `k:` element naming a keyed list item.
pub fn key_element(item: &Value, keys: &[String]) -> String {
    let mut map = Map::new();
    for k in keys {
        if let Some(v) = item.get(k) {
            map.insert(k.clone(), v.clone());
        }
    }
    format!("k:{}", Value::Object(map))
}

impl FieldSet {
    fn leaf() -> Self {
        Self {
            member: true,
            children: BTreeMap::new(),
        }
    }

    /// Whether nothing is owned.
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    /// The fields of an object as a manager would own them.
    ///
    /// `status` is left out when `skip_status`; only `status` is kept when
    /// `only_status`.
    pub fn of_object(object: &Value, schema: Option<&Value>, skip_status: bool, only_status: bool) -> Self {
        let mut set = Self::default();
        let Some(map) = object.as_object() else {
            return set;
        };
        for (k, v) in map {
            if k == "apiVersion" || k == "kind" {
                continue;
            }
            if only_status != (k == "status") || (skip_status && k == "status") {
                continue;
            }
            if k == "metadata" {
                let mut meta = Self::default();
                if let Some(m) = v.as_object() {
                    for (mk, mv) in m {
                        if UNOWNED_METADATA.contains(&mk.as_str()) {
                            continue;
                        }
                        meta.children.insert(format!("f:{mk}"), Self::of_value(mv, None, mk));
                    }
                }
                if !meta.is_empty() {
                    set.children.insert("f:metadata".into(), meta);
                }
                continue;
            }
            set.children
                .insert(format!("f:{k}"), Self::of_value(v, child_schema(schema, k), k));
        }
        set
    }

    /// The fields of one value.
    pub fn of_value(value: &Value, schema: Option<&Value>, field: &str) -> Self {
        match value {
            Value::Object(map) if !map.is_empty() => {
                let mut node = Self::default();
                for (k, v) in map {
                    node.children
                        .insert(format!("f:{k}"), Self::of_value(v, child_schema(schema, k), k));
                }
                node
            }
            Value::Array(items) if !items.is_empty() => match list_type(field, schema, items) {
                ListType::Atomic => Self::leaf(),
                ListType::Set => {
                    let mut node = Self::default();
                    for item in items {
                        node.children.insert(format!("v:{item}"), Self::leaf());
                    }
                    node
                }
                ListType::Map(keys) => {
                    let mut node = Self::default();
                    let item_schema = item_schema(schema);
                    for item in items {
                        let mut child = Self::of_value(item, item_schema, "");
                        child.member = true;
                        node.children.insert(key_element(item, &keys), child);
                    }
                    node
                }
            },
            _ => Self::leaf(),
        }
    }

    /// Reads a `fieldsV1` object.
    pub fn from_fields_v1(value: &Value) -> Self {
        let mut node = Self::default();
        match value.as_object() {
            Some(map) if !map.is_empty() => {
                for (k, v) in map {
                    if k == "." {
                        node.member = true;
                    } else {
                        node.children.insert(k.clone(), Self::from_fields_v1(v));
                    }
                }
            }
            _ => node.member = true,
        }
        node
    }

    /// Writes the `fieldsV1` object.
    pub fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        if self.member && !self.children.is_empty() {
            map.insert(".".into(), Value::Object(Map::new()));
        }
        for (k, v) in &self.children {
            if !v.is_empty() {
                map.insert(k.clone(), v.to_fields_v1());
            }
        }
        Value::Object(map)
    }

    /// Every owned path (members), parents before children.
    pub fn members(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        if self.member && !prefix.is_empty() {
            out.push(prefix.clone());
        }
        for (k, v) in &self.children {
            prefix.push(k.clone());
            v.collect(prefix, out);
            prefix.pop();
        }
    }

    /// Whether a path is owned.
    pub fn contains(&self, path: &[String]) -> bool {
        let mut node = self;
        for p in path {
            match node.children.get(p) {
                Some(n) => node = n,
                None => return false,
            }
        }
        node.member
    }

    /// Adds a path as owned.
    pub fn insert(&mut self, path: &[String]) {
        let mut node = self;
        for p in path {
            node = node.children.entry(p.clone()).or_default();
        }
        node.member = true;
    }

    /// Stops owning a path (children stay).
    pub fn remove(&mut self, path: &[String]) {
        fn go(node: &mut FieldSet, path: &[String]) {
            match path.split_first() {
                None => node.member = false,
                Some((first, rest)) => {
                    if let Some(child) = node.children.get_mut(first) {
                        go(child, rest);
                        if child.is_empty() {
                            node.children.remove(first);
                        }
                    }
                }
            }
        }
        go(self, path);
    }

    /// Everything owned by either set.
    pub fn union(&self, other: &Self) -> Self {
        let mut out = self.clone();
        for path in other.members() {
            out.insert(&path);
        }
        out
    }

    /// What this set owns that `other` does not.
    pub fn difference(&self, other: &Self) -> Self {
        let mut out = Self::default();
        for path in self.members() {
            if !other.contains(&path) {
                out.insert(&path);
            }
        }
        out
    }
}

/// Finds the value at a field-set path.
pub fn value_at<'a>(object: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut node = object;
    for element in path {
        node = step(node, element)?;
    }
    Some(node)
}

fn step<'a>(node: &'a Value, element: &str) -> Option<&'a Value> {
    if let Some(field) = element.strip_prefix("f:") {
        return node.get(field);
    }
    let items = node.as_array()?;
    if let Some(keys) = element.strip_prefix("k:") {
        let keys: Value = serde_json::from_str(keys).ok()?;
        let keys = keys.as_object()?;
        return items
            .iter()
            .find(|item| keys.iter().all(|(k, v)| item.get(k) == Some(v)));
    }
    if let Some(v) = element.strip_prefix("v:") {
        let v: Value = serde_json::from_str(v).ok()?;
        return items.iter().find(|item| **item == v);
    }
    if let Some(i) = element.strip_prefix("i:") {
        return items.get(i.parse::<usize>().ok()?);
    }
    None
}

/// Removes the value at a field-set path (a map field, or a list item).
pub fn remove_at(object: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = object;
    for element in parents {
        let next = match element.strip_prefix("f:") {
            Some(field) => node.get_mut(field),
            None => {
                let index = node.as_array().and_then(|items| position(items, element));
                match index {
                    Some(i) => node.get_mut(i),
                    None => None,
                }
            }
        };
        match next {
            Some(n) => node = n,
            None => return,
        }
    }
    if let Some(field) = last.strip_prefix("f:") {
        if let Some(map) = node.as_object_mut() {
            map.remove(field);
        }
    } else if let Some(items) = node.as_array_mut()
        && let Some(i) = position(items, last)
    {
        items.remove(i);
    }
}

fn position(items: &[Value], element: &str) -> Option<usize> {
    if let Some(keys) = element.strip_prefix("k:") {
        let keys: Value = serde_json::from_str(keys).ok()?;
        let keys = keys.as_object()?;
        return items
            .iter()
            .position(|item| keys.iter().all(|(k, v)| item.get(k) == Some(v)));
    }
    if let Some(v) = element.strip_prefix("v:") {
        let v: Value = serde_json::from_str(v).ok()?;
        return items.iter().position(|item| *item == v);
    }
    element.strip_prefix("i:")?.parse().ok()
}

/// Renders a path the way conflict messages do (`.spec.replicas`).
pub fn display_path(path: &[String]) -> String {
    let mut out = String::new();
    for element in path {
        if let Some(f) = element.strip_prefix("f:") {
            out.push('.');
            out.push_str(f);
        } else if let Some(k) = element.strip_prefix("k:") {
            out.push('[');
            out.push_str(k);
            out.push(']');
        } else if let Some(v) = element.strip_prefix("v:") {
            out.push_str(&format!("[={v}]"));
        } else {
            out.push_str(&format!("[{element}]"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sets_round_trip_and_navigate() {
        let obj = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "x", "labels": {"app": "x"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "i:1"}]}}}
        });
        let set = FieldSet::of_object(&obj, None, true, false);
        let back = FieldSet::from_fields_v1(&set.to_fields_v1());
        assert_eq!(set, back);
        let members = set.members();
        let image: Vec<String> = [
            "f:spec",
            "f:template",
            "f:spec",
            "f:containers",
            r#"k:{"name":"c"}"#,
            "f:image",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert!(members.contains(&image));
        assert_eq!(value_at(&obj, &image), Some(&json!("i:1")));
        assert_eq!(display_path(&image[..2]), ".spec.template");
        let mut obj2 = obj.clone();
        remove_at(&mut obj2, &image[..5]);
        assert_eq!(obj2["spec"]["template"]["spec"]["containers"], json!([]));
    }
}
