//! Finding templates and filling them in, as Argo Workflows does:
//! `workflow/templateresolution/context.go` (a `template` name is looked up
//! in the templates of the current base — the Workflow, or the
//! WorkflowTemplate a `templateRef` led to; a `templateRef` names a
//! WorkflowTemplate of the workflow's namespace, or a
//! ClusterWorkflowTemplate with `clusterScope: true`), `workflow/common/util.go`
//! `ProcessArgs` (an input parameter takes its argument, else its `value`
//! or `default`, else it "was not supplied") and `util/template` (every
//! `{{ tag }}` whose trimmed name is known is replaced; others stay).

use crate::cluster::Cluster;
use crate::resources::GroupResource;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where template names resolve.
#[derive(Debug, Clone)]
pub enum Base {
    /// The Workflow's own `spec.templates`.
    Workflow(Arc<Value>),
    /// A WorkflowTemplate (namespace, object).
    Namespaced(Arc<Value>),
    /// A ClusterWorkflowTemplate.
    Cluster(Arc<Value>),
}

impl Base {
    fn object(&self) -> &Value {
        match self {
            Self::Workflow(o) | Self::Namespaced(o) | Self::Cluster(o) => o,
        }
    }

    /// `TemplateContext.GetTemplateScope` (`local/<wf>`, `namespaced/<name>`,
    /// `cluster/<name>`).
    pub fn scope(&self) -> String {
        let name = crate::api::object::name(self.object());
        match self {
            Self::Workflow(_) => format!("local/{name}"),
            Self::Namespaced(_) => format!("namespaced/{name}"),
            Self::Cluster(_) => format!("cluster/{name}"),
        }
    }

    /// A template of this base by name.
    pub fn template(&self, name: &str) -> Option<Value> {
        self.object()["spec"]["templates"]
            .as_array()?
            .iter()
            .find(|t| t["name"].as_str() == Some(name))
            .cloned()
    }
}

/// A WorkflowTemplate (or, `cluster`, a ClusterWorkflowTemplate).
pub fn fetch(cluster: &Cluster, namespace: &str, name: &str, cluster_scope: bool) -> Option<Arc<Value>> {
    if cluster_scope {
        cluster
            .store
            .get(&GroupResource::new("argoproj.io", "clusterworkflowtemplates"), "", name)
    } else {
        cluster
            .store
            .get(&GroupResource::new("argoproj.io", "workflowtemplates"), namespace, name)
    }
}

/// Resolves a template holder (a task, or `{"template": <entrypoint>}`)
/// against `base`: the template and the base its own references resolve in.
///
/// # Errors
/// Argo's `CodeNotFound` messages.
pub fn resolve(cluster: &Cluster, namespace: &str, base: &Base, holder: &Value) -> Result<(Value, Base), String> {
    if let Some(r) = holder.get("templateRef").filter(|r| r.is_object()) {
        let name = r["name"].as_str().unwrap_or("");
        let template = r["template"].as_str().unwrap_or("");
        let clustered = r["clusterScope"].as_bool().unwrap_or(false);
        let object =
            fetch(cluster, namespace, name, clustered).ok_or_else(|| format!("workflow template {name} not found"))?;
        let new_base = if clustered {
            Base::Cluster(object)
        } else {
            Base::Namespaced(object)
        };
        let t = new_base
            .template(template)
            .ok_or_else(|| format!("template {template} not found in workflow template {name}"))?;
        return Ok((t, new_base));
    }
    let name = holder["template"].as_str().unwrap_or("");
    let t = base
        .template(name)
        .ok_or_else(|| format!("template {name} not found"))?;
    Ok((t, base.clone()))
}

/// The text of a parameter value (strings as they are, other JSON as JSON).
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// `ProcessArgs` for parameters: the template's inputs with their values.
///
/// # Errors
/// `inputs.parameters.<name> was not supplied`.
pub fn process_inputs(template: &Value, args: &Value) -> Result<Value, String> {
    let mut t = template.clone();
    let Some(params) = t
        .get_mut("inputs")
        .and_then(|i| i.get_mut("parameters"))
        .and_then(Value::as_array_mut)
    else {
        return Ok(t);
    };
    for p in params.iter_mut() {
        let name = p["name"].as_str().unwrap_or("").to_string();
        let arg = args["parameters"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"].as_str() == Some(&name)))
            .and_then(|a| text(&a["value"]));
        let value = arg.or_else(|| text(&p["value"])).or_else(|| text(&p["default"]));
        match value {
            Some(v) => p["value"] = json!(v),
            None => return Err(format!("inputs.parameters.{name} was not supplied")),
        }
    }
    Ok(t)
}

/// The `inputs.parameters.*` names of a processed template.
pub fn input_params(template: &Value, out: &mut BTreeMap<String, String>) {
    let params = template["inputs"]["parameters"].as_array().cloned().unwrap_or_default();
    for p in &params {
        if let (Some(n), Some(v)) = (p["name"].as_str(), p["value"].as_str()) {
            out.insert(format!("inputs.parameters.{n}"), v.to_string());
        }
    }
    let list: Vec<Value> = params
        .iter()
        .map(|p| json!({"name": p["name"], "value": p["value"]}))
        .collect();
    out.insert("inputs.parameters".into(), Value::Array(list).to_string());
}

/// Replaces every known `{{ tag }}` in every string of `value`.
pub fn substitute(value: &Value, params: &BTreeMap<String, String>) -> Value {
    match value {
        Value::String(s) => Value::String(replace(s, params)),
        Value::Array(a) => Value::Array(a.iter().map(|v| substitute(v, params)).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), substitute(v, params))).collect()),
        other => other.clone(),
    }
}

/// Replaces known tags in one string.
pub fn replace(text: &str, params: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let tag = &after[..end];
                match params.get(tag.trim()) {
                    Some(v) => out.push_str(v),
                    None => {
                        out.push_str("{{");
                        out.push_str(tag);
                        out.push_str("}}");
                    }
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The tags of `value` that start with `prefix` (for "failed to resolve").
pub fn tags_with_prefix(value: &Value, prefix: &str, out: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            let mut rest = s.as_str();
            while let Some(start) = rest.find("{{") {
                let after = &rest[start + 2..];
                let Some(end) = after.find("}}") else { break };
                let tag = after[..end].trim();
                if tag.starts_with(prefix) {
                    out.push(tag.to_string());
                }
                rest = &after[end + 2..];
            }
        }
        Value::Array(a) => a.iter().for_each(|v| tags_with_prefix(v, prefix, out)),
        Value::Object(m) => m.values().for_each(|v| tags_with_prefix(v, prefix, out)),
        _ => {}
    }
}

/// The `workflow.*` variables (`operator.go` `setGlobalParameters`).
pub fn global_params(wf: &Value, spec: &Value) -> BTreeMap<String, String> {
    let meta = &wf["metadata"];
    let mut p = BTreeMap::new();
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    p.insert("workflow.name".into(), s(&meta["name"]));
    p.insert("workflow.namespace".into(), s(&meta["namespace"]));
    p.insert("workflow.uid".into(), s(&meta["uid"]));
    p.insert("workflow.creationTimestamp".into(), s(&meta["creationTimestamp"]));
    p.insert("workflow.mainEntrypoint".into(), s(&spec["entrypoint"]));
    p.insert("workflow.serviceAccountName".into(), s(&spec["serviceAccountName"]));
    if let Some(prio) = spec["priority"].as_i64() {
        p.insert("workflow.priority".into(), prio.to_string());
    }
    let params = spec["arguments"]["parameters"].as_array().cloned().unwrap_or_default();
    for param in &params {
        if let (Some(n), Some(v)) = (param["name"].as_str(), text(&param["value"])) {
            p.insert(format!("workflow.parameters.{n}"), v);
        }
    }
    let list: Vec<Value> = params
        .iter()
        .map(|x| json!({"name": x["name"], "value": x["value"]}))
        .collect();
    p.insert("workflow.parameters".into(), Value::Array(list).to_string());
    p.insert("workflow.parameters.json".into(), p["workflow.parameters"].clone());
    for (field, key) in [("labels", "workflow.labels"), ("annotations", "workflow.annotations")] {
        let map = meta[field].as_object().cloned().unwrap_or_default();
        for (k, v) in &map {
            p.insert(format!("{key}.{k}"), s(v));
        }
        p.insert(key.into(), Value::Object(map).to_string());
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_replaced_when_known() {
        let mut params = BTreeMap::new();
        params.insert("inputs.parameters.app".to_string(), "vault".to_string());
        assert_eq!(replace("sync {{inputs.parameters.app}}", &params), "sync vault");
        assert_eq!(replace("{{ inputs.parameters.app }}!", &params), "vault!");
        assert_eq!(
            replace("{{inputs.parameters.other}}", &params),
            "{{inputs.parameters.other}}"
        );
        assert_eq!(replace("{{unclosed", &params), "{{unclosed");
    }

    #[test]
    fn inputs_take_arguments_then_defaults() {
        let t = json!({"inputs": {"parameters": [{"name": "a"}, {"name": "b", "default": "d"}, {"name": "c", "value": 3}]}});
        let out = process_inputs(&t, &json!({"parameters": [{"name": "a", "value": "x"}]})).unwrap();
        assert_eq!(out["inputs"]["parameters"][0]["value"], "x");
        assert_eq!(out["inputs"]["parameters"][1]["value"], "d");
        assert_eq!(out["inputs"]["parameters"][2]["value"], "3");
        assert_eq!(
            process_inputs(&t, &json!({})).unwrap_err(),
            "inputs.parameters.a was not supplied"
        );
    }
}
