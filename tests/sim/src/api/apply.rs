//! Server-side apply and `metadata.managedFields`.
//!
//! Every write records which field manager owns which fields. An apply
//! (`application/apply-patch+yaml`) merges the applied configuration into the
//! live object, refuses (409) to take fields another manager set to a
//! different value unless forced, and removes fields the manager applied
//! before but no longer applies (if nobody else owns them). Applying the same
//! configuration twice produces an identical object, so the caller can detect
//! a true no-op and skip the write.

use super::ApiError;
use super::fieldset::{
    FieldSet, ListType, child_schema, display_path, item_schema, key_element, list_type, remove_at, value_at,
};
use serde_json::{Map, Value, json};

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedEntry {
    /// Field manager name.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// The apiVersion the manager used.
    pub api_version: String,
    /// When the entry last changed.
    pub time: String,
    /// `status` for status-subresource writes.
    pub subresource: Option<String>,
    /// The owned fields.
    pub fields: FieldSet,
}

impl ManagedEntry {
    fn same_slot(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager && self.operation == operation && self.subresource.as_deref() == subresource
    }

    fn to_value(&self) -> Value {
        let mut v = json!({
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": self.fields.to_fields_v1(),
        });
        if let Some(s) = &self.subresource {
            v["subresource"] = json!(s);
        }
        v
    }
}

/// Reads the entries of an object's `metadata.managedFields`.
pub fn entries_of(object: &Value) -> Vec<ManagedEntry> {
    object["metadata"]["managedFields"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| ManagedEntry {
                    manager: e["manager"].as_str().unwrap_or("").to_string(),
                    operation: e["operation"].as_str().unwrap_or("Update").to_string(),
                    api_version: e["apiVersion"].as_str().unwrap_or("").to_string(),
                    time: e["time"].as_str().unwrap_or("").to_string(),
                    subresource: e["subresource"].as_str().map(String::from),
                    fields: FieldSet::from_fields_v1(&e["fieldsV1"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Writes entries back into `metadata.managedFields` (dropping empty ones).
pub fn set_entries(object: &mut Value, entries: &[ManagedEntry]) {
    let values: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(ManagedEntry::to_value)
        .collect();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        if values.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(values));
        }
    }
}

/// Who is writing, for managed-fields bookkeeping.
#[derive(Debug, Clone)]
pub struct Writer<'a> {
    /// Field manager name.
    pub manager: &'a str,
    /// The apiVersion used.
    pub api_version: String,
    /// `Some("status")` for status writes.
    pub subresource: Option<&'a str>,
    /// CRD schema of the type, if any.
    pub schema: Option<&'a Value>,
    /// Whether the type has a status subresource.
    pub status_subresource: bool,
}

impl Writer<'_> {
    fn set_of(&self, object: &Value) -> FieldSet {
        let only_status = self.subresource == Some("status");
        FieldSet::of_object(
            object,
            self.schema,
            self.status_subresource && !only_status,
            only_status,
        )
    }
}

/// Records an Update (create/update/patch) by `writer` turning `old` into `new`:
/// the writer takes the fields it changed, everyone loses removed fields.
/// Timestamps change only for entries whose fields changed.
pub fn track_update(old: Option<&Value>, new: &mut Value, writer: &Writer<'_>, now: &str) {
    let mut entries = old.map(entries_of).unwrap_or_default();
    let new_set = writer.set_of(new);
    let old_set = old.map(|o| writer.set_of(o)).unwrap_or_default();
    let mut changed = FieldSet::default();
    for path in new_set.members() {
        let before = old.and_then(|o| value_at(o, &path));
        let after = value_at(new, &path);
        let is_item = path.last().is_some_and(|p| p.starts_with("k:"));
        if before.is_none() || (!is_item && before != after) {
            changed.insert(&path);
        }
    }
    let removed = old_set.difference(&new_set);
    for e in &mut entries {
        let before = e.fields.clone();
        e.fields = e.fields.difference(&changed).difference(&removed);
        if e.fields != before && !e.same_slot(writer.manager, "Update", writer.subresource) {
            // Ownership moved away; real servers keep the old timestamp.
        }
    }
    match entries
        .iter_mut()
        .find(|e| e.same_slot(writer.manager, "Update", writer.subresource))
    {
        Some(e) => {
            if !changed.is_empty() {
                e.fields = e.fields.union(&changed);
                e.time = now.to_string();
                e.api_version = writer.api_version.to_string();
            }
        }
        None => {
            if !changed.is_empty() {
                entries.push(ManagedEntry {
                    manager: writer.manager.to_string(),
                    operation: "Update".into(),
                    api_version: writer.api_version.to_string(),
                    time: now.to_string(),
                    subresource: writer.subresource.map(String::from),
                    fields: changed,
                });
            }
        }
    }
    set_entries(new, &entries);
}

/// Merges an applied configuration into a value (maps recursively, keyed
/// lists by key, sets by value, everything else replaced).
fn merge_applied(live: &mut Value, applied: &Value, schema: Option<&Value>, field: &str) {
    match (live, applied) {
        (Value::Object(live_map), Value::Object(applied_map)) => {
            for (k, v) in applied_map {
                if v.is_null() {
                    live_map.remove(k);
                    continue;
                }
                let child = if field == "metadata" {
                    None
                } else {
                    child_schema(schema, k)
                };
                match live_map.get_mut(k) {
                    Some(existing) => merge_applied(existing, v, child, k),
                    None => {
                        live_map.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(live_items), Value::Array(applied_items)) => match list_type(field, schema, applied_items) {
            ListType::Map(keys) => {
                let item_schema = item_schema(schema);
                for item in applied_items {
                    let key = key_element(item, &keys);
                    let found = live_items.iter_mut().find(|l| key_element(l, &keys) == key);
                    match found {
                        Some(l) => merge_applied(l, item, item_schema, ""),
                        None => live_items.push(item.clone()),
                    }
                }
            }
            ListType::Set => {
                for item in applied_items {
                    if !live_items.contains(item) {
                        live_items.push(item.clone());
                    }
                }
            }
            ListType::Atomic => *live_items = applied_items.clone(),
        },
        (live, applied) => *live = applied.clone(),
    }
}

/// The outcome of an apply.
#[derive(Debug)]
pub struct Applied {
    /// The object to store.
    pub object: Value,
}

/// Applies `config` for `writer` over `live` (or onto a new object).
///
/// # Errors
/// `409 Conflict` listing each field another manager owns with a different
/// value, unless `force`.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    writer: &Writer<'_>,
    force: bool,
    now: &str,
) -> Result<Applied, ApiError> {
    let mut config = config.clone();
    if let Some(meta) = config.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "managedFields",
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "generation",
        ] {
            meta.remove(k);
        }
    }
    if writer.status_subresource
        && writer.subresource.is_none()
        && let Some(map) = config.as_object_mut()
    {
        map.remove("status");
    }
    let applied_set = writer.set_of(&config);
    let mut entries = live.map(entries_of).unwrap_or_default();
    let is_mine = |e: &ManagedEntry| e.same_slot(writer.manager, "Apply", writer.subresource);

    if let Some(live) = live {
        let mut conflicts: Vec<(String, String, Vec<String>)> = Vec::new();
        for e in entries.iter().filter(|e| !is_mine(e)) {
            for path in applied_set.members() {
                if path.last().is_some_and(|p| p.starts_with("k:")) {
                    continue;
                }
                if e.fields.contains(&path) && value_at(live, &path) != value_at(&config, &path) {
                    conflicts.push((e.manager.clone(), e.api_version.clone(), path));
                }
            }
        }
        if !conflicts.is_empty() {
            if !force {
                return Err(conflict_error(&conflicts, writer, live));
            }
            for (manager, _, path) in &conflicts {
                for e in entries.iter_mut().filter(|e| &e.manager == manager && !is_mine(e)) {
                    e.fields.remove(path);
                }
            }
        }
    }

    let previous = entries
        .iter()
        .find(|e| is_mine(e))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let others = entries
        .iter()
        .filter(|e| !is_mine(e))
        .fold(FieldSet::default(), |acc, e| acc.union(&e.fields));
    let to_remove = previous.difference(&applied_set).difference(&others);

    let mut object = match live {
        Some(l) => l.clone(),
        None => json!({"metadata": {}}),
    };
    let mut removals = to_remove.members();
    removals.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for path in removals {
        remove_at(&mut object, &path);
    }
    prune_empty_metadata_maps(&mut object);
    merge_applied(&mut object, &config, writer.schema, "");

    match entries.iter_mut().find(|e| is_mine(e)) {
        Some(e) => {
            if e.fields != applied_set {
                e.fields = applied_set;
                e.time = now.to_string();
            }
            e.api_version = writer.api_version.to_string();
        }
        None => entries.push(ManagedEntry {
            manager: writer.manager.to_string(),
            operation: "Apply".into(),
            api_version: writer.api_version.to_string(),
            time: now.to_string(),
            subresource: writer.subresource.map(String::from),
            fields: applied_set,
        }),
    }
    set_entries(&mut object, &entries);
    Ok(Applied { object })
}

fn prune_empty_metadata_maps(object: &mut Value) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in ["labels", "annotations"] {
            if meta.get(k).and_then(Value::as_object).is_some_and(Map::is_empty) {
                meta.remove(k);
            }
        }
    }
}

fn conflict_error(conflicts: &[(String, String, Vec<String>)], writer: &Writer<'_>, live: &Value) -> ApiError {
    let lines: Vec<String> = conflicts
        .iter()
        .map(|(m, v, p)| format!("conflict with \"{m}\" using {v}: {}", display_path(p)))
        .collect();
    let message = if lines.len() == 1 {
        format!("Apply failed with 1 conflict: {}", lines[0])
    } else {
        format!("Apply failed with {} conflicts: {}", lines.len(), lines.join("\n"))
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(m, v, p)| {
            json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with \"{m}\" using {v}"),
                "field": display_path(p),
            })
        })
        .collect();
    let name = live["metadata"]["name"].as_str().unwrap_or("");
    let group = writer.api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let mut e = ApiError::new(409, "Conflict", message);
    e.details = Some(Box::new(
        json!({"name": name, "group": group, "kind": live["kind"], "causes": causes}),
    ));
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(manager: &str) -> Writer<'_> {
        Writer {
            manager,
            api_version: "v1".into(),
            subresource: None,
            schema: None,
            status_subresource: false,
        }
    }

    #[test]
    fn apply_conflicts_force_and_removal() {
        let cfg_a =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
        let first = apply(None, &cfg_a, &writer("alice"), false, "t1").unwrap().object;
        // The same config again gives the same object: a no-op.
        let again = apply(Some(&first), &cfg_a, &writer("alice"), false, "t2")
            .unwrap()
            .object;
        assert_eq!(first, again);
        // Bob sets a different value: conflict unless forced.
        let cfg_b = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "9"}});
        let err = apply(Some(&first), &cfg_b, &writer("bob"), false, "t3").unwrap_err();
        assert_eq!(err.code, 409);
        assert!(err.message.contains(".data.a"), "{}", err.message);
        let forced = apply(Some(&first), &cfg_b, &writer("bob"), true, "t3").unwrap().object;
        assert_eq!(forced["data"]["a"], "9");
        // Alice stops applying b: it is removed.
        let cfg_a2 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "9"}});
        let later = apply(Some(&forced), &cfg_a2, &writer("alice"), false, "t4")
            .unwrap()
            .object;
        assert_eq!(later["data"], json!({"a": "9"}));
    }

    #[test]
    fn updates_take_ownership() {
        let old = json!({"metadata": {"name": "c"}, "data": {"a": "1"}});
        let mut created = old.clone();
        track_update(None, &mut created, &writer("creator"), "t1");
        let mut changed = created.clone();
        changed["data"]["a"] = json!("2");
        track_update(Some(&created), &mut changed, &writer("editor"), "t2");
        let entries = entries_of(&changed);
        let editor = entries.iter().find(|e| e.manager == "editor").unwrap();
        assert!(editor.fields.contains(&["f:data".to_string(), "f:a".to_string()]));
        assert!(
            !entries
                .iter()
                .any(|e| { e.manager == "creator" && e.fields.contains(&["f:data".to_string(), "f:a".to_string()]) })
        );
    }
}
