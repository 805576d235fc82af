//! Pod nodes following their pods (`operator.go` `podReconciliation`,
//! `assessNodeStatus`, `inferFailedReason`, `getPendingReason`) and the
//! execution control of shutdown and deadlines (`exec_control.go`
//! `applyExecutionControl`: Pending or Running pods are terminated and their
//! nodes fail with `workflow shutdown with strategy:  <s>` or `Step exceeded
//! its deadline`; `failNodesWithoutCreatedPodsAfterDeadlineOrShutdown`).

use super::nodes::{self, fulfilled};
use super::operator::Op;
use crate::api::object;
use crate::api::write::{self, WriteCtx};
use crate::resources::GroupResource;
use serde_json::{Value, json};

fn pod_of(op: &Op<'_>, node: &Value) -> Option<std::sync::Arc<Value>> {
    let name = nodes::pod_name(
        &op.name(),
        node["name"].as_str().unwrap_or(""),
        nodes::template_of(node),
    );
    op.cluster
        .store
        .get(&GroupResource::new("", "pods"), &op.namespace(), &name)
}

/// `inferFailedReason` for pods without a wait container.
fn failed_reason(pod: &Value) -> (&'static str, String) {
    if let Some(m) = pod["status"]["message"].as_str().filter(|m| !m.is_empty()) {
        return ("Failed", m.to_string());
    }
    let statuses: Vec<Value> = ["initContainerStatuses", "containerStatuses"]
        .iter()
        .flat_map(|k| pod["status"][*k].as_array().cloned().unwrap_or_default())
        .collect();
    if statuses.is_empty() {
        return (
            "Failed",
            format!(
                "can't find failed message for pod {} namespace {}",
                object::name(pod),
                object::namespace(pod)
            ),
        );
    }
    let init: Vec<String> = pod["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(String::from))
        .collect();
    let mut main_ok = false;
    for c in &statuses {
        let name = c["name"].as_str().unwrap_or("");
        if let Some(w) = c["state"]["waiting"].as_object() {
            let reason = w.get("reason").and_then(Value::as_str).unwrap_or("");
            let message = w.get("message").and_then(Value::as_str).unwrap_or("");
            return (
                "Error",
                format!("Pod failed before {name} container starts due to {reason}: {message}"),
            );
        }
        let t = &c["state"]["terminated"];
        let Some(code) = t["exitCode"].as_i64() else { continue };
        if code == 0 {
            main_ok |= name == "main";
            continue;
        }
        let mut msg = format!("{} (exit code {code})", t["reason"].as_str().unwrap_or(""));
        if let Some(m) = t["message"].as_str().filter(|m| !m.is_empty()) {
            msg = format!("{msg}: {m}");
        }
        let msg = format!("{name}: {msg}");
        return (
            if init.iter().any(|i| i == name) {
                "Error"
            } else {
                "Failed"
            },
            msg,
        );
    }
    if main_ok {
        (
            "Failed",
            "pod failed: wait container did not complete successfully".into(),
        )
    } else {
        (
            "Failed",
            "pod failed: neither main nor wait container completed successfully".into(),
        )
    }
}

fn pending_reason(pod: &Value) -> Option<String> {
    pod["status"]["containerStatuses"].as_array()?.iter().find_map(|c| {
        let w = c["state"]["waiting"].as_object()?;
        let reason = w.get("reason").and_then(Value::as_str)?;
        let message = w.get("message").and_then(Value::as_str).unwrap_or("");
        (!matches!(reason, "ContainerCreating" | "PodInitializing")).then(|| format!("{reason}: {message}"))
    })
}

fn latest_finish(pod: &Value) -> Option<String> {
    pod["status"]["containerStatuses"]
        .as_array()?
        .iter()
        .filter_map(|c| c["state"]["terminated"]["finishedAt"].as_str())
        .max()
        .map(String::from)
}

/// `assessNodeStatus` for every unfinished Pod node.
pub fn pods(op: &mut Op<'_>) {
    for node in op.all_nodes() {
        if node["type"] != "Pod" || fulfilled(&node) {
            continue;
        }
        let Some(pod) = pod_of(op, &node) else {
            if node["phase"] == "Running" {
                let name = node["name"].as_str().unwrap_or("").to_string();
                op.mark(&name, "Error", Some("pod deleted"));
            }
            continue;
        };
        let mut updated = node.clone();
        let (phase, message) = match pod["status"]["phase"].as_str().unwrap_or("Pending") {
            "Pending" => ("Pending", pending_reason(&pod)),
            "Running" => ("Running", None),
            "Succeeded" => ("Succeeded", None),
            "Failed" => {
                let (p, m) = failed_reason(&pod);
                (p, Some(m))
            }
            other => (
                "Error",
                Some(format!("Unexpected pod phase for {}: {other}", object::name(&pod))),
            ),
        };
        if node["phase"] == "Pending"
            && phase != "Pending"
            && message.is_none()
            && let Some(o) = updated.as_object_mut()
        {
            o.remove("message");
        }
        updated["phase"] = json!(phase);
        if let Some(m) = message {
            updated["message"] = json!(m);
        }
        if let Some(host) = pod["spec"]["nodeName"].as_str() {
            updated["hostNodeName"] = json!(host);
        }
        let main = pod["status"]["containerStatuses"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == "main").cloned());
        if let Some(code) = main
            .as_ref()
            .and_then(|c| c["state"]["terminated"]["exitCode"].as_i64())
        {
            updated["outputs"]["exitCode"] = json!(code.to_string());
            if op.include_result
                && let Some(buffer) = op.cluster.runtime.logs.get(&op.namespace(), object::name(&pod), "main")
            {
                updated["outputs"]["result"] = json!(buffer.text().trim_end_matches('\n'));
            }
        }
        if fulfilled(&updated) && updated["finishedAt"].is_null() {
            updated["finishedAt"] = json!(latest_finish(&pod).unwrap_or_else(crate::time::now_rfc3339));
            label_completed(op, &pod);
        }
        if updated != node {
            op.set_node(updated);
        }
    }
}

/// `labelPodCompleted`.
fn label_completed(op: &Op<'_>, pod: &Value) {
    if let Some(rt) = op.cluster.registry.preferred("", "pods") {
        let ctx = WriteCtx::controller(op.user, "workflow-controller");
        let _ = write::modify(
            op.cluster,
            &rt,
            object::namespace(pod),
            object::name(pod),
            None,
            &ctx,
            |p| {
                p["metadata"]["labels"]["workflows.argoproj.io/completed"] = json!("true");
            },
        );
    }
}

/// Shutdown and deadline: terminate what runs, fail what waits.
pub fn execution_control(op: &mut Op<'_>) {
    let shutdown = op.shutdown.clone();
    let deadline = op.deadline_passed();
    if shutdown.is_none() && !deadline {
        return;
    }
    for node in op.all_nodes() {
        if fulfilled(&node) {
            continue;
        }
        let name = node["name"].as_str().unwrap_or("").to_string();
        match node["type"].as_str() {
            Some("Pod") => {
                let message = match &shutdown {
                    Some(s) => format!("workflow shutdown with strategy:  {s}"),
                    None => "Step exceeded its deadline".to_string(),
                };
                match pod_of(op, &node) {
                    Some(pod) if matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed")) => {}
                    Some(pod) => {
                        crate::podrunner::terminate(op.cluster, &pod);
                        op.mark(&name, "Failed", Some(&message));
                    }
                    None if deadline && node["phase"] == "Pending" => {
                        op.mark(&name, "Failed", Some("Step exceeded its deadline"));
                    }
                    None => {}
                }
            }
            Some("Retry") => {
                if let Some(s) = &shutdown {
                    let all_done = node["children"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c.as_str())
                        .all(|id| op.node_by_id(id).is_some_and(|c| fulfilled(&c)));
                    if all_done {
                        op.mark(&name, "Failed", Some(&format!("Stopped with strategy '{s}'")));
                    }
                }
            }
            _ => {}
        }
    }
}
