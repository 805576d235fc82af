//! The Argo Workflow that runs a plan inside the cluster: one `dag`
//! template, one task per application node, dependencies exactly the
//! graph's edges.
//!
//! Each task uses the bundled WorkflowTemplate of its action by
//! `templateRef` (`sync-and-wait` for deploy, `teardown` scoped to one
//! application for teardown, whose tasks follow the reverse graph) and runs
//! the executor as a task (`EXECUTOR_TASK=true`): that one node, its
//! dependencies left to the Workflow. A task runs only when every task it
//! depends on Succeeded (`depends: "a.Succeeded && b.Succeeded"`, Argo's
//! enhanced depends logic, argoproj/argo-workflows `docs/enhanced-depends-logic.md`): a
//! failed task leaves its dependents Omitted while independent branches go
//! on.
//!
//! The rendering is a pure function of its inputs: `executor plan --format
//! workflow` prints it, and the name derives from a digest of the inputs
//! so a restarted run finds the Workflow it started.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::dag::{Action, Plan};

/// Label: the action a Workflow runs.
pub const ACTION_LABEL: &str = "executor.io/action";
/// Label: the environment tier it runs for.
pub const ENVIRONMENT_LABEL: &str = "executor.io/environment";
/// Label: the digest of the inputs (the same for every Workflow of the same run inputs).
pub const RUN_LABEL: &str = "executor.io/run";
/// Annotation: the run's W3C trace context.
pub const TRACEPARENT_ANNOTATION: &str = "traceparent";
/// The DAG template's name.
pub const ENTRYPOINT: &str = "graph";

/// What a Workflow is rendered from.
#[derive(Debug, Clone)]
pub struct WorkflowInputs<'a> {
    /// The plan (its nodes become tasks).
    pub plan: &'a Plan,
    /// `ENVIRONMENT` (the tier).
    pub tier: &'a str,
    /// environment.yaml's `name`.
    pub environment_name: &'a str,
    /// `workflowsNamespace`.
    pub namespace: &'a str,
    /// The image the tasks run.
    pub image: &'a str,
    /// A digest of the configuration (files of `CONFIG_DIR`, settings).
    pub config_digest: &'a str,
    /// The files of the tasks' `CONFIG_DIR`, as `(ConfigMap key, path
    /// relative to CONFIG_DIR)`.
    pub config_files: &'a [(String, String)],
    /// The run's trace context (`None` for `executor plan`: no ids, deterministic).
    pub trace: Option<(&'a str, &'a str, String)>,
    /// Where the run's spans go, for the tasks' own (`None`: traces off).
    pub otel: Option<&'a crate::observe::otel::OtelSettings>,
    /// Seconds the Workflow may run (`ACTION_TIMEOUT`).
    pub deadline_seconds: Option<u64>,
    /// Teardown: `PV_POLICY` and `TEARDOWN_CONFIRM` for the tasks.
    pub teardown: Option<(&'a str, &'a str)>,
}

/// The parameters every task passes on from the Workflow's own.
const TASK_PARAMETERS: [&str; 7] = [
    "image",
    "trace-id",
    "span-id",
    "task",
    "otel-endpoint",
    "otel-service-name",
    "otel-resource-attributes",
];

/// The WorkflowTemplate a task of `action` runs.
pub fn template_of(action: Action) -> &'static str {
    match action {
        Action::Teardown => "teardown",
        _ => "sync-and-wait",
    }
}

/// The digest naming a run: environment, action, scope, the plan and the
/// configuration.
pub fn run_digest(inputs: &WorkflowInputs<'_>) -> String {
    let mut hasher = Sha256::new();
    for part in [
        inputs.environment_name,
        inputs.tier,
        inputs.plan.action.name(),
        &inputs.plan.scope.to_string(),
        inputs.config_digest,
        inputs.image,
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.update(serde_json::to_vec(inputs.plan).unwrap_or_default());
    hex::encode(&hasher.finalize()[..5])
}

/// The Workflow's base name: `executor-<action>-<environment>-<digest>`
/// (a DNS label: at most 63 characters).
pub fn base_name(inputs: &WorkflowInputs<'_>) -> String {
    let mut environment: String = inputs.environment_name.chars().take(30).collect();
    while environment.ends_with('-') {
        environment.pop();
    }
    format!(
        "executor-{}-{environment}-{}",
        inputs.plan.action.name(),
        run_digest(inputs)
    )
}

/// The ConfigMap the tasks of Workflow `name` mount as `CONFIG_DIR`.
pub fn config_map_name(name: &str) -> String {
    format!("{name}-config")
}

/// The Secret the tasks of Workflow `name` mount as `SECRETS_DIR`.
pub fn secret_name(name: &str) -> String {
    format!("{name}-secrets")
}

/// The `depends` expression of a task: every prerequisite Succeeded.
fn depends(prerequisites: &[String]) -> Option<String> {
    (!prerequisites.is_empty()).then(|| {
        prerequisites
            .iter()
            .map(|p| format!("{p}.Succeeded"))
            .collect::<Vec<_>>()
            .join(" && ")
    })
}

/// The Workflow for `inputs`, named `name`.
pub fn workflow(inputs: &WorkflowInputs<'_>, name: &str) -> Value {
    let action = inputs.plan.action;
    let template = template_of(action);
    let in_plan: std::collections::BTreeSet<&str> = inputs.plan.nodes.iter().map(|n| n.name.as_str()).collect();
    let tasks: Vec<Value> = inputs
        .plan
        .nodes
        .iter()
        .map(|node| {
            let before = if action == Action::Teardown { &node.dependents } else { &node.depends_on };
            let before: Vec<String> = before.iter().filter(|n| in_plan.contains(n.as_str())).cloned().collect();
            let mut parameters = vec![json!({"name": if action == Action::Teardown { "scope" } else { "app" },
                                              "value": if action == Action::Teardown { format!("app:{}", node.name) } else { node.name.clone() }})];
            parameters.extend(
                TASK_PARAMETERS
                    .iter()
                    .map(|p| json!({"name": p, "value": format!("{{{{workflow.parameters.{p}}}}}")})),
            );
            if action == Action::Teardown {
                parameters.extend(
                    ["confirm", "pv-policy"]
                        .iter()
                        .map(|p| json!({"name": p, "value": format!("{{{{workflow.parameters.{p}}}}}")})),
                );
            }
            let mut task = json!({
                "name": node.name,
                "templateRef": {"name": template, "template": "main"},
                "arguments": {"parameters": parameters},
            });
            if let Some(depends) = depends(&before) {
                task["depends"] = json!(depends);
            }
            task
        })
        .collect();
    let (trace_id, span_id, traceparent) = match &inputs.trace {
        Some((trace, span, parent)) => ((*trace).to_owned(), (*span).to_owned(), Some(parent.clone())),
        None => (String::new(), String::new(), None),
    };
    let otel = |value: fn(&crate::observe::otel::OtelSettings) -> String| inputs.otel.map(value).unwrap_or_default();
    let mut arguments = vec![
        json!({"name": "image", "value": inputs.image}),
        json!({"name": "trace-id", "value": trace_id}),
        json!({"name": "span-id", "value": span_id}),
        json!({"name": "task", "value": "true"}),
        json!({"name": "otel-endpoint", "value": otel(|o| o.endpoint.clone())}),
        json!({"name": "otel-service-name", "value": otel(|o| o.service_name.clone())}),
        json!({"name": "otel-resource-attributes", "value": otel(crate::observe::otel::OtelSettings::resource_text)}),
    ];
    if let Some((pv_policy, confirm)) = inputs.teardown {
        arguments.push(json!({"name": "confirm", "value": confirm}));
        arguments.push(json!({"name": "pv-policy", "value": pv_policy}));
    }
    let items: Vec<Value> = inputs
        .config_files
        .iter()
        .map(|(key, path)| json!({"key": key, "path": path}))
        .collect();
    let mut workflow = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "name": name,
            "namespace": inputs.namespace,
            "labels": {
                ACTION_LABEL: action.name(),
                ENVIRONMENT_LABEL: inputs.tier,
                RUN_LABEL: base_name(inputs),
                crate::bootstrap::inventory::MANAGED_BY_LABEL: crate::bootstrap::inventory::MANAGED_BY,
            },
        },
        "spec": {
            "entrypoint": ENTRYPOINT,
            "serviceAccountName": crate::bootstrap::templates::WORKFLOW_SERVICE_ACCOUNT,
            "arguments": {"parameters": arguments},
            // The tasks' CONFIG_DIR and SECRETS_DIR (a templateRef brings
            // the template, not its WorkflowTemplate's volumes). Both are
            // written just after the Workflow (they are owned by it) and
            // both are required: the kubelet holds a pod whose required
            // volume source is missing, so no task starts before its
            // secrets (OTLP headers among them) are there.
            "volumes": [
                {"name": "config", "configMap": {"name": config_map_name(name), "items": items}},
                {"name": "secrets", "secret": {"secretName": secret_name(name)}},
            ],
            "templates": [{"name": ENTRYPOINT, "dag": {"tasks": tasks}}],
        },
    });
    if let Some(traceparent) = traceparent {
        workflow["metadata"]["annotations"] = json!({TRACEPARENT_ANNOTATION: traceparent});
    }
    if let Some(seconds) = inputs.deadline_seconds {
        workflow["spec"]["activeDeadlineSeconds"] = json!(seconds);
    }
    workflow
}
