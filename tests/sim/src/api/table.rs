//! `meta.k8s.io/v1` Table responses, which `kubectl get` asks for, with the
//! columns kubectl users expect for the common kinds and a CRD's
//! `additionalPrinterColumns`.

use crate::resources::ResourceType;
use crate::time::short_age;
use serde_json::{Value, json};
use std::sync::Arc;

fn col(name: &str, kind: &str, priority: u8) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    json!({"name": name, "type": kind, "format": format, "description": "", "priority": priority})
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => "<none>".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn n(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn simple_path<'a>(object: &'a Value, path: &str) -> &'a Value {
    let mut node = object;
    for seg in path.trim_start_matches('.').split('.') {
        node = &node[seg];
    }
    node
}

type Cell = Box<dyn Fn(&Value) -> Value>;

/// `kubectl get events`: the event printer's columns (no Name, no Age).
fn event_columns() -> Vec<(String, Cell)> {
    vec![
        (
            "Last Seen".into(),
            Box::new(|o: &Value| json!(short_age(o["lastTimestamp"].as_str().unwrap_or("")))),
        ),
        ("Type".into(), Box::new(|o: &Value| json!(s(&o["type"])))),
        ("Reason".into(), Box::new(|o: &Value| json!(s(&o["reason"])))),
        (
            "Object".into(),
            Box::new(|o: &Value| {
                let kind = o["involvedObject"]["kind"].as_str().unwrap_or("").to_lowercase();
                json!(format!("{kind}/{}", s(&o["involvedObject"]["name"])))
            }),
        ),
        ("Message".into(), Box::new(|o: &Value| json!(s(&o["message"])))),
    ]
}

fn columns(rt: &ResourceType) -> Vec<(String, Cell)> {
    if rt.group.is_empty() && rt.resource == "events" {
        return event_columns();
    }
    let mut out: Vec<(String, Cell)> = vec![("Name".into(), Box::new(|o: &Value| o["metadata"]["name"].clone()))];
    let mut add = |name: &str, f: Cell| out.push((name.to_string(), f));
    match (rt.group.as_str(), rt.resource.as_str()) {
        ("", "namespaces") => add("Status", Box::new(|o| json!(s(&o["status"]["phase"])))),
        ("", "pods") => {
            add(
                "Ready",
                Box::new(|o| {
                    let total = o["spec"]["containers"].as_array().map_or(0, Vec::len);
                    let ready = o["status"]["containerStatuses"]
                        .as_array()
                        .map_or(0, |c| c.iter().filter(|c| c["ready"].as_bool() == Some(true)).count());
                    json!(format!("{ready}/{total}"))
                }),
            );
            add("Status", Box::new(|o| json!(s(&o["status"]["phase"]))));
            add("Restarts", Box::new(|_| json!(0)));
        }
        ("apps", "deployments") => {
            add(
                "Ready",
                Box::new(|o| {
                    json!(format!(
                        "{}/{}",
                        n(&o["status"]["readyReplicas"]),
                        n(&o["spec"]["replicas"])
                    ))
                }),
            );
            add("Up-to-date", Box::new(|o| json!(n(&o["status"]["updatedReplicas"]))));
            add("Available", Box::new(|o| json!(n(&o["status"]["availableReplicas"]))));
        }
        ("apps", "statefulsets") => {
            add(
                "Ready",
                Box::new(|o| {
                    json!(format!(
                        "{}/{}",
                        n(&o["status"]["readyReplicas"]),
                        n(&o["spec"]["replicas"])
                    ))
                }),
            );
        }
        ("apps", "replicasets") => {
            add("Desired", Box::new(|o| json!(n(&o["spec"]["replicas"]))));
            add("Current", Box::new(|o| json!(n(&o["status"]["replicas"]))));
            add("Ready", Box::new(|o| json!(n(&o["status"]["readyReplicas"]))));
        }
        ("apps", "daemonsets") => {
            add(
                "Desired",
                Box::new(|o| json!(n(&o["status"]["desiredNumberScheduled"]))),
            );
            add(
                "Current",
                Box::new(|o| json!(n(&o["status"]["currentNumberScheduled"]))),
            );
            add("Ready", Box::new(|o| json!(n(&o["status"]["numberReady"]))));
        }
        ("", "services") => {
            add("Type", Box::new(|o| json!(s(&o["spec"]["type"]))));
            add("Cluster-IP", Box::new(|o| json!(s(&o["spec"]["clusterIP"]))));
            add(
                "External-IP",
                Box::new(|o| json!(s(&o["status"]["loadBalancer"]["ingress"][0]["ip"]))),
            );
            add(
                "Port(s)",
                Box::new(|o| {
                    let ports: Vec<String> = o["spec"]["ports"]
                        .as_array()
                        .map(|ps| {
                            ps.iter()
                                .map(|p| format!("{}/{}", s(&p["port"]), p["protocol"].as_str().unwrap_or("TCP")))
                                .collect()
                        })
                        .unwrap_or_default();
                    json!(if ports.is_empty() {
                        "<none>".to_string()
                    } else {
                        ports.join(",")
                    })
                }),
            );
        }
        ("", "persistentvolumeclaims") => {
            add("Status", Box::new(|o| json!(s(&o["status"]["phase"]))));
            add(
                "Volume",
                Box::new(|o| json!(o["spec"]["volumeName"].as_str().unwrap_or(""))),
            );
            add("StorageClass", Box::new(|o| json!(s(&o["spec"]["storageClassName"]))));
        }
        ("", "persistentvolumes") => {
            add(
                "Reclaim Policy",
                Box::new(|o| json!(s(&o["spec"]["persistentVolumeReclaimPolicy"]))),
            );
            add("Status", Box::new(|o| json!(s(&o["status"]["phase"]))));
            add(
                "Claim",
                Box::new(|o| {
                    json!(format!(
                        "{}/{}",
                        o["spec"]["claimRef"]["namespace"].as_str().unwrap_or(""),
                        o["spec"]["claimRef"]["name"].as_str().unwrap_or("")
                    ))
                }),
            );
        }
        ("batch", "jobs") => {
            add(
                "Completions",
                Box::new(|o| {
                    json!(format!(
                        "{}/{}",
                        n(&o["status"]["succeeded"]),
                        o["spec"]["completions"].as_i64().unwrap_or(1)
                    ))
                }),
            );
        }
        ("", "configmaps") => add(
            "Data",
            Box::new(|o| json!(o["data"].as_object().map_or(0, |d| d.len()))),
        ),
        ("", "secrets") => {
            add("Type", Box::new(|o| json!(s(&o["type"]))));
            add(
                "Data",
                Box::new(|o| json!(o["data"].as_object().map_or(0, |d| d.len()))),
            );
        }
        ("", "nodes") => {
            add("Status", Box::new(|_| json!("Ready")));
            add(
                "Version",
                Box::new(|o| json!(s(&o["status"]["nodeInfo"]["kubeletVersion"]))),
            );
        }
        _ => {
            for c in &rt.printer_columns {
                if c.json_path == ".metadata.creationTimestamp" {
                    continue;
                }
                let path = c.json_path.clone();
                add(&c.name, Box::new(move |o| json!(s(simple_path(o, &path)))));
            }
        }
    }
    out.push((
        "Age".into(),
        Box::new(|o: &Value| json!(short_age(o["metadata"]["creationTimestamp"].as_str().unwrap_or("")))),
    ));
    out
}

fn joined(o: &Value, containers: &str, field: &str) -> Value {
    let values: Vec<String> = o["spec"]["template"]["spec"][containers]
        .as_array()
        .or_else(|| o["spec"][containers].as_array())
        .map(|cs| cs.iter().map(|c| s(&c[field])).collect())
        .unwrap_or_default();
    json!(values.join(","))
}

fn selector(o: &Value) -> Value {
    let labels: Vec<String> = o["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", s(v))).collect())
        .unwrap_or_default();
    json!(if labels.is_empty() {
        "<none>".into()
    } else {
        labels.join(",")
    })
}

/// The `-o wide` columns (priority 1), as kube-apiserver's table
/// convertors define them (k8s.io/kubernetes `pkg/printers/internalversion`).
fn wide_columns(rt: &ResourceType) -> Vec<(String, Cell)> {
    let mut out: Vec<(String, Cell)> = Vec::new();
    match (rt.group.as_str(), rt.resource.as_str()) {
        ("apps", "deployments" | "replicasets" | "statefulsets" | "daemonsets") | ("batch", "jobs") => {
            out.push(("Containers".into(), Box::new(|o| joined(o, "containers", "name"))));
            out.push(("Images".into(), Box::new(|o| joined(o, "containers", "image"))));
            out.push(("Selector".into(), Box::new(selector)));
        }
        ("", "pods") => {
            out.push(("IP".into(), Box::new(|o| json!(s(&o["status"]["podIP"])))));
            out.push(("Node".into(), Box::new(|o| json!(s(&o["spec"]["nodeName"])))));
            out.push(("Nominated Node".into(), Box::new(|_| json!("<none>"))));
            out.push(("Readiness Gates".into(), Box::new(|_| json!("<none>"))));
        }
        _ => {}
    }
    out
}

/// Renders objects as a Table.
pub fn to_table(rt: &ResourceType, items: &[Arc<Value>], resource_version: u64, continue_token: Option<&str>) -> Value {
    let normal = columns(rt);
    let wide = wide_columns(rt);
    let mut definitions: Vec<Value> = normal
        .iter()
        .map(|(name, _)| col(name, if name == "Age" { "date" } else { "string" }, 0))
        .collect();
    definitions.extend(wide.iter().map(|(name, _)| col(name, "string", 1)));
    let cols: Vec<(String, Cell)> = normal.into_iter().chain(wide).collect();
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let cells: Vec<Value> = cols.iter().map(|(_, f)| f(o)).collect();
            json!({"cells": cells, "object": **o})
        })
        .collect();
    let mut metadata = json!({"resourceVersion": resource_version.to_string()});
    if let Some(c) = continue_token {
        metadata["continue"] = json!(c);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": definitions,
        "rows": rows,
    })
}
