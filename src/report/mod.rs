//! The report: one structure for every action, written on completion.
//!
//! Its JSON keys are a contract other tools read (`summary.exitCode`,
//! `components[].status`, ...). Actions fill it; renderers in [`render`]
//! print it as JSON, YAML or text.

pub mod formats;
pub mod graph;
pub mod html;
pub mod render;
pub mod status;

pub use status::{ComponentStatus, FailureReason};

#[cfg(test)]
pub mod tests;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::outcome::Outcome;

/// The report of one run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Overall result.
    pub summary: Summary,
    /// Per-component status and health.
    pub components: Vec<Component>,
    /// Failed components (or invalid inputs) with diagnostics.
    pub failures: Vec<Failure>,
    /// Execution statistics.
    pub metrics: BTreeMap<String, serde_json::Value>,
    /// Suggested actions.
    pub recommendations: Vec<String>,
    /// Policy compliance (validate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compliance: Option<serde_json::Value>,
    /// Objects removed (teardown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed: Option<Vec<ListedObject>>,
    /// Objects kept on purpose, e.g. volumes under `PV_POLICY=retain` (teardown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retained: Option<Vec<ListedObject>>,
    /// Objects that should be gone but are not (teardown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orphans: Option<Vec<ListedObject>>,
    /// Where the graph ran (deploy, teardown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orchestration: Option<Orchestration>,
    /// The bootstrap's apply phases, in order, when the run bootstrapped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bootstrap_phases: Vec<Phase>,
}

/// A timed step: a node's `hook`, `sync` or `wait`, or a bootstrap phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Phase {
    /// `hook`, `sync`, `wait` (a node), or the bootstrap phase's name.
    pub name: String,
    /// When it started, in seconds after the action's script started.
    pub start_seconds: f64,
    /// How long it took.
    pub duration_seconds: f64,
}

/// The `orchestration` section: the engine that ran the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Orchestration {
    /// `local` (this process) or `argo-workflows`.
    pub engine: String,
    /// `<namespace>/<name>` of the Workflow, with `argo-workflows`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
}

/// The `summary` section.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// `deploy`, `validate`, `teardown` (or `plan`).
    pub action: String,
    /// `Succeeded`, `Failed`, `Partial`, `Invalid` or `TimedOut`.
    pub status: Outcome,
    /// The process exit code.
    pub exit_code: u8,
    /// `ENVIRONMENT` (development, staging, production), when valid.
    pub environment: Option<String>,
    /// The environment's `name` from environment.yaml, when read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment_name: Option<String>,
    /// `TARGET_SCOPE`.
    pub scope: String,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// RFC 3339 start time.
    pub started_at: String,
    /// RFC 3339 end time.
    pub finished_at: String,
    /// Wall time in seconds.
    pub duration_seconds: f64,
    /// The trace this run belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

/// What a component is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ComponentKind {
    /// An application (one Argo CD Application).
    App,
    /// A stack (aggregate of its applications).
    Stack,
    /// An orchestration primitive installed by bootstrap.
    Bootstrap,
}

/// One entry of `components`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Component {
    /// Component name.
    pub name: String,
    /// Its stack (empty for bootstrap components).
    pub stack: String,
    /// What it is.
    pub kind: ComponentKind,
    /// What the run did with it (`Deployed`, `Unchanged`, `Failed`, ...).
    pub status: ComponentStatus,
    /// Health as Argo CD reports it (`Healthy`, `Degraded`, ...).
    pub health: String,
    /// Sync status (`Synced`, `OutOfSync`, ...).
    pub sync: String,
    /// A human sentence about it.
    pub message: String,
    /// Time spent on it in this run.
    pub duration_seconds: f64,
    /// Attempts made (1 without retries).
    pub attempts: u32,
    /// The components it depends on (a graph node's `dependsOn`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// When it started, in seconds after the action's script started (a
    /// graph node that ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_seconds: Option<f64>,
    /// Its timed steps, in order (a node the deploy pipeline ran).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<Phase>,
}

/// One entry of `failures`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// The failed component, or `input` for invalid inputs.
    pub component: String,
    /// A short machine-friendly reason (`Invalid`, `Degraded`, `TimedOut`, ...).
    pub reason: FailureReason,
    /// What happened.
    pub message: String,
    /// Supporting detail: conditions, unhealthy resources, positions.
    pub diagnostics: Vec<String>,
}

/// A Kubernetes object listed in a teardown report (removed, retained or
/// orphaned) with why; an object's identity alone is
/// [`crate::bootstrap::object::ObjectRef`].
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct ListedObject {
    /// `group/version` or `v1`.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Why it is listed (e.g. why it remained).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

impl Report {
    /// An empty report for `action`, to be filled by the run.
    pub fn new(action: &str, scope: String, dry_run: bool, started: jiff::Timestamp) -> Self {
        let stamp = timestamp(started);
        Report {
            summary: Summary {
                action: action.to_owned(),
                status: Outcome::Succeeded,
                exit_code: 0,
                environment: None,
                environment_name: None,
                scope,
                dry_run,
                started_at: stamp.clone(),
                finished_at: stamp,
                duration_seconds: 0.0,
                trace_id: None,
            },
            components: Vec::new(),
            failures: Vec::new(),
            metrics: BTreeMap::new(),
            recommendations: Vec::new(),
            compliance: None,
            removed: None,
            retained: None,
            orphans: None,
            orchestration: None,
            bootstrap_phases: Vec::new(),
        }
    }

    /// Records the end of the run and its outcome.
    pub fn finish(&mut self, outcome: Outcome, started: jiff::Timestamp, finished: jiff::Timestamp) {
        self.summary.status = outcome;
        self.summary.exit_code = outcome.exit_code();
        self.summary.finished_at = timestamp(finished);
        let elapsed = finished.duration_since(started);
        self.summary.duration_seconds = round_seconds(elapsed.as_secs_f64());
    }
}

/// RFC 3339 UTC with second precision, as in the spec's log example.
pub fn timestamp(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Seconds rounded to milliseconds, so reports stay readable.
pub fn round_seconds(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}
