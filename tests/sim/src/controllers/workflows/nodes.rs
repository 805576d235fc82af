//! Node ids, pod names, display names and the node status objects of
//! `status.nodes`, as Argo Workflows v4.1 makes them:
//! `pkg/apis/workflow/v1alpha1/workflow_types.go` (`Workflow.NodeID`: the
//! workflow name, or `<workflow>-<fnv32a(node name)>`; `NodePhase.Fulfilled`),
//! `workflow/util/pod_name.go` (`GeneratePodName`, v2 names
//! `<workflow>-<template>-<fnv32a(node name)>`), and
//! `workflow/controller/operator.go` (`initializeNode`: the display name is
//! the node name less its boundary node's name and a leading `.`).

use serde_json::{Value, json};

/// FNV-1a, 32 bits (Go's `hash/fnv.New32a`).
pub fn fnv32a(text: &str) -> u32 {
    text.bytes()
        .fold(2_166_136_261u32, |h, b| (h ^ u32::from(b)).wrapping_mul(16_777_619))
}

/// `Workflow.NodeID`.
pub fn node_id(workflow: &str, node_name: &str) -> String {
    if node_name == workflow {
        workflow.to_string()
    } else {
        format!("{workflow}-{}", fnv32a(node_name))
    }
}

/// `GeneratePodName` with v2 names (the default `POD_NAMES`).
pub fn pod_name(workflow: &str, node_name: &str, template: &str) -> String {
    if workflow == node_name {
        return workflow.to_string();
    }
    let mut prefix = if template.is_empty() {
        workflow.to_string()
    } else {
        format!("{workflow}-{template}")
    };
    // maxK8sResourceNameLength (253) - k8sNamingHashLength (10) - 1
    prefix.truncate(242);
    format!("{prefix}-{}", fnv32a(node_name))
}

/// The display name of a node inside a boundary (`stepsOrDagSeparator`).
pub fn display_name(node_name: &str, boundary_name: Option<&str>) -> String {
    let Some(boundary) = boundary_name else {
        return node_name.to_string();
    };
    let rest = node_name.strip_prefix(boundary).unwrap_or(node_name);
    let rest = match rest.strip_prefix('[') {
        Some(r) => match r.find("].") {
            Some(i) if r[..i].chars().all(|c| c.is_ascii_digit()) => &r[i + 2..],
            _ => rest,
        },
        None => rest.strip_prefix('.').unwrap_or(rest),
    };
    rest.to_string()
}

/// `NodePhase.Fulfilled`: ended, skipped or omitted.
pub fn fulfilled(node: &Value) -> bool {
    matches!(
        node["phase"].as_str(),
        Some("Succeeded" | "Failed" | "Error" | "Skipped" | "Omitted")
    )
}

/// `NodePhase.Completed`: ended (not skipped or omitted).
pub fn completed(node: &Value) -> bool {
    matches!(node["phase"].as_str(), Some("Succeeded" | "Failed" | "Error"))
}

/// `FailedOrError`.
pub fn failed_or_error(phase: &str) -> bool {
    matches!(phase, "Failed" | "Error")
}

/// Whether a node is Pending or Running.
pub fn active(node: &Value) -> bool {
    matches!(node["phase"].as_str(), Some("Pending" | "Running"))
}

/// The template a node ran (`GetTemplateFromNode`).
pub fn template_of(node: &Value) -> &str {
    node["templateRef"]["template"]
        .as_str()
        .or_else(|| node["templateName"].as_str())
        .unwrap_or("")
}

/// A new node status.
#[allow(clippy::too_many_arguments)] // one per NodeStatus field set at creation
pub fn new_node(
    workflow: &str,
    name: &str,
    kind: &str,
    holder: &Value,
    scope: &str,
    boundary: Option<(&str, &str)>,
    phase: &str,
    message: Option<&str>,
) -> Value {
    let now = crate::time::now_rfc3339();
    let mut node = json!({
        "id": node_id(workflow, name),
        "name": name,
        "displayName": display_name(name, boundary.map(|(_, n)| n)),
        "type": kind,
        "templateScope": scope,
        "phase": phase,
        "startedAt": now,
    });
    if let Some(t) = holder["template"].as_str() {
        node["templateName"] = json!(t);
    }
    if holder["templateRef"].is_object() {
        node["templateRef"] = holder["templateRef"].clone();
    }
    if let Some((id, _)) = boundary {
        node["boundaryID"] = json!(id);
    }
    if let Some(m) = message {
        node["message"] = json!(m);
    }
    if fulfilled(&node) {
        node["finishedAt"] = json!(now);
    }
    node
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_pod_names_match_argo() {
        // Go: fnv.New32a() of "" is the offset basis; of "a" is 0xe40c292c.
        assert_eq!(fnv32a(""), 2_166_136_261);
        assert_eq!(fnv32a("a"), 0xe40c_292c);
        assert_eq!(node_id("wf", "wf"), "wf");
        assert_eq!(node_id("wf", "wf.a"), format!("wf-{}", fnv32a("wf.a")));
        assert_eq!(pod_name("wf", "wf.a", "echo"), format!("wf-echo-{}", fnv32a("wf.a")));
        assert_eq!(pod_name("wf", "wf", "echo"), "wf");
    }

    #[test]
    fn display_names_drop_the_boundary() {
        assert_eq!(display_name("wf.a", Some("wf")), "a");
        assert_eq!(display_name("wf.a(0)", Some("wf")), "a(0)");
        assert_eq!(display_name("wf[0].step", Some("wf")), "step");
        assert_eq!(display_name("wf", None), "wf");
    }
}
