//! What validate reads of every node, in one pass: its Application's sync
//! and health as Argo CD reports them, why it is not healthy, and its
//! resource gates as whoever decides them judges them (docs/health.md,
//! "Who decides").
//!
//! One list of Applications, judged in Rust: on a platform of thousands of
//! Applications, handing each to a script to read its state was most of
//! validate's time. The script decides what the verdicts mean (what fails
//! a critical component, the outcome).

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::argocd as acd;
use crate::dag::PlanNode;
use crate::dag::model::ResourceGate;
use crate::health::{Health, HealthStatus, managing};
use crate::k8s::{Kind, ObjectKey};
use crate::script::host::Host;

/// How one resource gate stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateVerdict {
    /// The gate's kind.
    pub kind: String,
    /// Its namespace (the node's when the gate names none).
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The verdict.
    pub health: Health,
    /// `argocd` (an Application's recorded verdict) or `executor`.
    pub decided_by: &'static str,
}

/// How one node stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    /// Its Application's health (`Missing` when it does not exist,
    /// `Unknown` when Argo CD reports none).
    pub health: String,
    /// The health message.
    pub message: String,
    /// Its sync status (`Missing` when it does not exist).
    pub sync: String,
    /// Why it is not healthy (conditions, unhealthy resources).
    pub diagnostics: Vec<String>,
    /// Its resource gates.
    pub gates: Vec<GateVerdict>,
}

impl Judged {
    /// As scripts see it: `#{health, sync, message, diagnostics, gates:
    /// [#{kind, namespace, name, status, message, decided_by}]}`.
    pub fn to_json(&self) -> Value {
        json!({
            "health": self.health,
            "sync": self.sync,
            "message": self.message,
            "diagnostics": self.diagnostics,
            "gates": self.gates.iter().map(|g| json!({
                "kind": g.kind, "namespace": g.namespace, "name": g.name,
                "status": g.health.status.to_string(), "message": g.health.message,
                "decided_by": g.decided_by,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Judges `nodes` from `apps` (every Application of Argo CD's namespace).
/// A gate no Application records (or with `check: executor`) is judged by
/// the executor's own checks on the live object, read with one `get`.
pub fn judge(host: &Host, nodes: &[PlanNode], apps: &[Value]) -> Vec<(String, Judged)> {
    let by_name: HashMap<&str, &Value> = apps
        .iter()
        .filter_map(|a| a["metadata"]["name"].as_str().map(|n| (n, a)))
        .collect();
    nodes
        .iter()
        .map(|node| {
            let app = by_name.get(node.name.as_str()).copied();
            let mut judged = match app {
                None => Judged {
                    health: "Missing".to_owned(),
                    message: "the Application does not exist".to_owned(),
                    sync: "Missing".to_owned(),
                    diagnostics: Vec::new(),
                    gates: Vec::new(),
                },
                Some(app) => {
                    let state = acd::state(app);
                    Judged {
                        health: if state.health.is_empty() {
                            "Unknown".to_owned()
                        } else {
                            state.health
                        },
                        message: state.health_message,
                        sync: state.sync,
                        diagnostics: acd::diagnostics(app),
                        gates: Vec::new(),
                    }
                }
            };
            judged.gates = node
                .resources
                .iter()
                .map(|gate| judge_gate(host, node, gate, app, apps))
                .collect();
            (node.name.clone(), judged)
        })
        .collect()
}

fn judge_gate(host: &Host, node: &PlanNode, gate: &ResourceGate, own: Option<&Value>, apps: &[Value]) -> GateVerdict {
    let namespace = gate.namespace.clone().unwrap_or_else(|| node.namespace.clone());
    let verdict = |health: Health, decided_by| GateVerdict {
        kind: gate.kind.clone(),
        namespace: namespace.clone(),
        name: gate.name.clone(),
        health,
        decided_by,
    };
    if !gate.by_executor() {
        let recorded = own
            .and_then(|app| crate::health::recorded(app, &gate.api_version, &gate.kind, &namespace, &gate.name))
            .or_else(|| managing(apps, &gate.api_version, &gate.kind, &namespace, &gate.name));
        if let Some(health) = recorded.and_then(|r| r.health) {
            return verdict(health, "argocd");
        }
    }
    let key = ObjectKey::new(Kind::new(&gate.api_version, &gate.kind), &namespace, gate.name.clone());
    let health = match host.block_k8s(&format!("reading {key}"), host.cluster.get(&key)) {
        Ok(None) => Health::new(HealthStatus::Missing, "not found"),
        Ok(Some(live)) => crate::script::primitives::health::assess(host, &live)
            .unwrap_or_else(|e| Health::new(HealthStatus::Unknown, e.to_string())),
        Err(error) => Health::new(HealthStatus::Unknown, error.to_string()),
    };
    verdict(health, "executor")
}
