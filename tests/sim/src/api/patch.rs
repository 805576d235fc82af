//! The non-apply patch types: JSON merge patch (RFC 7386), JSON patch
//! (RFC 6902) and strategic merge patch as kubectl sends it for built-in
//! kinds (merge keys for containers, env, ports, volumes...; `$patch`,
//! `$retainKeys`, `$setElementOrder` and `$deleteFromPrimitiveList` directives).

use super::ApiError;
use super::fieldset::{ListType, list_type};
use serde_json::Value;

/// Which patch format a request body is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchType {
    /// The patch type of a `Content-Type` header.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let base = content_type.split(';').next().unwrap_or("").trim();
        match base {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/json-patch+json" => Some(Self::Json),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// Applies a merge, JSON or strategic patch to an object.
///
/// # Errors
/// `400`/`422` when the patch does not parse or a JSON patch operation fails.
pub fn apply_patch(target: &Value, patch: &Value, kind: PatchType) -> Result<Value, ApiError> {
    let mut out = target.clone();
    match kind {
        PatchType::Merge => json_patch::merge(&mut out, patch),
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(&mut out, &ops).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?;
        }
        PatchType::Strategic => strategic_merge(&mut out, patch, ""),
        PatchType::Apply => return Err(ApiError::internal("apply is not a plain patch")),
    }
    Ok(out)
}

/// Merge key of a list for strategic merge patches.
fn merge_key(field: &str, items: &[Value]) -> Option<Vec<String>> {
    match list_type(field, None, items) {
        ListType::Map(keys) => {
            // Strategic merge uses a single primary key.
            let primary = match field {
                "ports" if keys.first().map(String::as_str) == Some("port") => "port",
                _ => keys.first()?.as_str(),
            };
            Some(vec![primary.to_string()])
        }
        _ => None,
    }
}

fn same_item(a: &Value, b: &Value, keys: &[String]) -> bool {
    keys.iter().all(|k| a.get(k).is_some() && a.get(k) == b.get(k))
}

/// Applies a strategic merge patch in place.
pub fn strategic_merge(target: &mut Value, patch: &Value, field: &str) {
    let Some(patch_map) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    match patch_map.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut replaced = patch.clone();
            if let Some(m) = replaced.as_object_mut() {
                m.remove("$patch");
            }
            *target = replaced;
            return;
        }
        Some("delete") => {
            *target = Value::Null;
            return;
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let Some(target_map) = target.as_object_mut() else {
        return;
    };
    if let Some(retain) = patch_map.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
        target_map.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, v) in patch_map {
        if k == "$patch" || k == "$retainKeys" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(list) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(existing), Some(remove)) =
                (target_map.get_mut(list).and_then(Value::as_array_mut), v.as_array())
            {
                existing.retain(|e| !remove.contains(e));
            }
            continue;
        }
        if v.is_null() {
            target_map.remove(k);
            continue;
        }
        match v {
            Value::Object(_) => {
                let entry = target_map.entry(k.clone()).or_insert(Value::Null);
                strategic_merge(entry, v, k);
                if entry.is_null() {
                    target_map.remove(k);
                }
            }
            Value::Array(items) => {
                let existing = target_map.get_mut(k);
                merge_list(existing, items, k).map(|merged| target_map.insert(k.clone(), merged));
            }
            _ => {
                target_map.insert(k.clone(), v.clone());
            }
        }
    }
    let _ = field;
}

fn merge_list(existing: Option<&mut Value>, patch_items: &[Value], field: &str) -> Option<Value> {
    let replace_all = patch_items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"));
    if replace_all {
        return Some(Value::Array(
            patch_items
                .iter()
                .filter(|i| i.get("$patch").is_none())
                .cloned()
                .collect(),
        ));
    }
    let keys = if field == "finalizers" {
        None
    } else {
        merge_key(field, patch_items)
    };
    let existing_items = existing.and_then(|e| e.as_array().cloned()).unwrap_or_default();
    match keys {
        Some(keys) => {
            let mut out = existing_items;
            for item in patch_items {
                let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                match out.iter().position(|o| same_item(o, item, &keys)) {
                    Some(i) if delete => {
                        out.remove(i);
                    }
                    Some(i) => strategic_merge(&mut out[i], item, ""),
                    None if delete => {}
                    None => out.push(item.clone()),
                }
            }
            Some(Value::Array(out))
        }
        None if field == "finalizers" => {
            let mut out = existing_items;
            for item in patch_items {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            Some(Value::Array(out))
        }
        None => Some(Value::Array(patch_items.to_vec())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_containers_by_name() {
        let target = json!({"spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}});
        let patch = json!({"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}], "containers": [{"name": "b", "image": "b:2"}]}});
        let out = apply_patch(&target, &patch, PatchType::Strategic).unwrap();
        assert_eq!(out["spec"]["containers"][0]["image"], "a:1");
        assert_eq!(out["spec"]["containers"][1]["image"], "b:2");
        let del = json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}});
        let out = apply_patch(&out, &del, PatchType::Strategic).unwrap();
        assert_eq!(out["spec"]["containers"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn json_patch_and_merge() {
        let target = json!({"metadata": {"labels": {"a": "1"}}});
        let out = apply_patch(
            &target,
            &json!([{"op": "add", "path": "/metadata/labels/b", "value": "2"}]),
            PatchType::Json,
        )
        .unwrap();
        assert_eq!(out["metadata"]["labels"]["b"], "2");
        let out = apply_patch(&out, &json!({"metadata": {"labels": {"a": null}}}), PatchType::Merge).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"b": "2"}));
    }
}
