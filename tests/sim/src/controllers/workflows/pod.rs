//! The Pod of a container node, shaped like `workflow/controller/workflowpod.go`
//! (`createWorkflowPod`, `podBuilder.build`): name from `GeneratePodName`,
//! labels `workflows.argoproj.io/workflow` and `workflows.argoproj.io/completed`,
//! annotations `workflows.argoproj.io/node-name`, `workflows.argoproj.io/node-id`
//! and `kubectl.kubernetes.io/default-container: main`, the Workflow as
//! controller owner, `restartPolicy: Never`, `activeDeadlineSeconds` the
//! smaller of the template's and what is left of the workflow's, and the
//! `ARGO_*` variables the main container gets.
//!
//! Unlike Argo there is no `init`/`wait` container and no `argoexec`
//! emissary wrapping the command: `main` runs the template's container as
//! written.

use super::nodes;
use serde_json::{Map, Value, json};

/// What the pod builder needs to know.
#[derive(Debug)]
pub struct PodInput<'a> {
    /// The Workflow.
    pub wf: &'a Value,
    /// The workflow spec in effect.
    pub spec: &'a Value,
    /// The node the pod runs.
    pub node_name: &'a str,
    /// The processed template.
    pub template: &'a Value,
    /// Seconds left before the workflow's deadline, if it has one.
    pub seconds_left: Option<i64>,
}

fn merge(into: &mut Map<String, Value>, from: &Value) {
    if let Some(m) = from.as_object() {
        for (k, v) in m {
            into.insert(k.clone(), v.clone());
        }
    }
}

fn int_or_string(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// The pod, or `None` when the workflow's deadline has passed (no pod is
/// created then, as in `podBuilder.build`).
pub fn build(input: &PodInput<'_>) -> Option<Value> {
    let wf_name = crate::api::object::name(input.wf);
    let t = input.template;
    let tmpl_name = t["name"].as_str().unwrap_or("");
    let node_id = nodes::node_id(wf_name, input.node_name);
    let tmpl_deadline = int_or_string(&t["activeDeadlineSeconds"]);
    let deadline = match (input.seconds_left, tmpl_deadline) {
        (Some(left), _) if left <= 0 => return None,
        (Some(left), Some(d)) => Some(left.min(d)),
        (Some(left), None) => Some(left),
        (None, d) => d,
    };
    let mut labels = Map::new();
    labels.insert("workflows.argoproj.io/workflow".into(), json!(wf_name));
    labels.insert("workflows.argoproj.io/completed".into(), json!("false"));
    merge(&mut labels, &t["metadata"]["labels"]);
    let mut annotations = Map::new();
    annotations.insert("workflows.argoproj.io/node-name".into(), json!(input.node_name));
    annotations.insert("workflows.argoproj.io/node-id".into(), json!(node_id));
    merge(&mut annotations, &t["metadata"]["annotations"]);
    annotations.insert("kubectl.kubernetes.io/default-container".into(), json!("main"));
    let mut main = t["container"].clone();
    main["name"] = json!("main");
    let mut env = main["env"].as_array().cloned().unwrap_or_default();
    let mut template_env = t.clone();
    template_env["inputs"] = json!({});
    for (k, v) in [
        ("ARGO_CONTAINER_NAME", json!("main")),
        ("ARGO_TEMPLATE", json!(template_env.to_string())),
        ("ARGO_NODE_ID", json!(node_id)),
        ("ARGO_INCLUDE_SCRIPT_OUTPUT", json!("false")),
        ("ARGO_DEADLINE", json!(deadline_text(input.seconds_left))),
        ("ARGO_WORKFLOW_NAME", json!(wf_name)),
    ] {
        env.push(json!({"name": k, "value": v}));
    }
    main["env"] = json!(env);
    let mut volumes = input.spec["volumes"].as_array().cloned().unwrap_or_default();
    volumes.extend(t["volumes"].as_array().cloned().unwrap_or_default());
    let mut spec = json!({"restartPolicy": "Never", "containers": [main]});
    if !volumes.is_empty() {
        spec["volumes"] = json!(volumes);
    }
    if let Some(d) = deadline {
        spec["activeDeadlineSeconds"] = json!(d);
    }
    let sa = t["serviceAccountName"]
        .as_str()
        .or_else(|| input.spec["serviceAccountName"].as_str());
    if let Some(sa) = sa.filter(|s| !s.is_empty()) {
        spec["serviceAccountName"] = json!(sa);
    }
    for key in [
        "automountServiceAccountToken",
        "nodeSelector",
        "securityContext",
        "initContainers",
    ] {
        let v = if t[key].is_null() { &input.spec[key] } else { &t[key] };
        if !v.is_null() {
            spec[key] = v.clone();
        }
    }
    Some(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": nodes::pod_name(wf_name, input.node_name, tmpl_name),
            "namespace": crate::api::object::namespace(input.wf),
            "labels": labels, "annotations": annotations,
            "ownerReferences": [{
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": wf_name,
                "uid": input.wf["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": spec,
    }))
}

/// `ARGO_DEADLINE`: the workflow's deadline, or Go's zero time.
fn deadline_text(seconds_left: Option<i64>) -> String {
    match seconds_left.and_then(|s| {
        jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_secs(s))
            .ok()
    }) {
        Some(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => "0001-01-01T00:00:00Z".to_string(),
    }
}
