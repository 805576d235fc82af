//! The reusable Argo Workflows templates: the executor itself, one node or action at a time.
//!
//! When the graph must run inside the cluster, each task of an Argo Workflow
//! runs the same executor image scoped to one node. These WorkflowTemplates
//! (in the workflows namespace) are the building blocks, usable with
//! `templateRef` from a workflow or submitted on their own
//! (`argo submit --from workflowtemplate/validate`):
//!
//! | template | runs | parameters |
//! |---|---|---|
//! | `sync-and-wait` | `executor deploy` with `TARGET_SCOPE=app:<app>` | `app` (required) |
//! | `validate` | `executor validate` with `TARGET_SCOPE=<scope>` | `scope` (default `platform`) |
//! | `teardown` | `executor teardown` with `TARGET_SCOPE=<scope>` | `scope` (default `platform`), `confirm` (required: `TEARDOWN_CONFIRM`), `pv-policy` (default `retain`) |
//!
//! Every template also takes `image` (default: the executor image given to
//! the bundle), `trace-id` and `span-id` (the parent trace: `TRACE_ID`,
//! `SPAN_ID`) and `task` (`EXECUTOR_TASK`: `true` when the template runs one
//! node of an orchestration Workflow, its dependencies left to the
//! Workflow). `ENVIRONMENT` is the tier the bundle was built for; the
//! volumes `config` (mounted as `CONFIG_DIR`) and `secrets` (`SECRETS_DIR`)
//! come from the Workflow that uses the template (a `templateRef` brings the
//! template, not its WorkflowTemplate's volumes: argoproj/argo-workflows
//! #3341, #7606); submitted alone, a template uses the ConfigMap
//! `executor-config` and the Secret `executor-secrets`. The pods run as the
//! `executor-workflow` ServiceAccount and reach the API server with its
//! projected token (`KUBECONFIG_PATH` names the service-account volume): no
//! cluster credential is stored in the cluster.
//!
//! Teardown has no default confirmation on purpose: a template must not make
//! teardown run "with default values alone".

use serde_json::{Value, json};

/// The ServiceAccount the template pods run as.
pub const WORKFLOW_SERVICE_ACCOUNT: &str = "executor-workflow";
/// The Role (in Argo CD's namespace) that lets it write Applications; its
/// own name, so Argo CD and Argo Workflows may share one namespace.
pub const APPLICATIONS_ROLE: &str = "executor-workflow-applications";

/// The ConfigMap a template submitted alone mounts as `CONFIG_DIR`.
pub const DEFAULT_CONFIG_MAP: &str = "executor-config";
/// The Secret a template submitted alone mounts as `SECRETS_DIR`.
pub const DEFAULT_SECRETS_SECRET: &str = "executor-secrets";
/// Where a pod's projected service-account volume is mounted; the tasks'
/// `KUBECONFIG_PATH` (in-cluster credentials).
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The template names, in the order they are built.
pub const TEMPLATE_NAMES: [&str; 3] = ["sync-and-wait", "validate", "teardown"];

/// One input parameter: name, default (none: required) and description.
struct Parameter {
    name: &'static str,
    default: Option<String>,
    description: &'static str,
}

impl Parameter {
    fn required(name: &'static str, description: &'static str) -> Self {
        Parameter {
            name,
            default: None,
            description,
        }
    }

    fn optional(name: &'static str, default: &str, description: &'static str) -> Self {
        Parameter {
            name,
            default: Some(default.to_owned()),
            description,
        }
    }

    fn to_json(&self) -> Value {
        let mut value = json!({"name": self.name, "description": self.description});
        if let (Some(default), Some(fields)) = (&self.default, value.as_object_mut()) {
            fields.insert("value".to_owned(), Value::from(default.as_str()));
        }
        value
    }
}

/// What one template runs.
struct Action {
    name: &'static str,
    description: &'static str,
    command: &'static str,
    parameters: Vec<Parameter>,
    env: Vec<(&'static str, &'static str)>,
}

/// The three WorkflowTemplates in `namespace`, running `image` for `tier`.
pub fn workflow_templates(namespace: &str, image: &str, tier: &str) -> Vec<Value> {
    let actions = [
        Action {
            name: "sync-and-wait",
            description: "Deploys one application (with its dependencies, unless it runs as a task of an orchestration Workflow) and waits until it is Synced and Healthy.",
            command: "deploy",
            parameters: vec![Parameter::required("app", "The application (graph node) to deploy.")],
            env: vec![("TARGET_SCOPE", "app:{{inputs.parameters.app}}")],
        },
        Action {
            name: "validate",
            description: "Checks the health of the platform or part of it; changes nothing.",
            command: "validate",
            parameters: vec![Parameter::optional(
                "scope",
                "platform",
                "platform, stack:<name> or app:<name>.",
            )],
            env: vec![("TARGET_SCOPE", "{{inputs.parameters.scope}}")],
        },
        Action {
            name: "teardown",
            description: "Removes the platform or part of it, dependents first.",
            command: "teardown",
            parameters: vec![
                Parameter::optional("scope", "platform", "platform, stack:<name> or app:<name>."),
                Parameter::required(
                    "confirm",
                    "The environment's name, confirming the teardown (TEARDOWN_CONFIRM).",
                ),
                Parameter::optional("pv-policy", "retain", "retain or delete (PV_POLICY)."),
            ],
            env: vec![
                ("TARGET_SCOPE", "{{inputs.parameters.scope}}"),
                ("TEARDOWN_CONFIRM", "{{inputs.parameters.confirm}}"),
                ("PV_POLICY", "{{inputs.parameters.pv-policy}}"),
            ],
        },
    ];
    actions
        .into_iter()
        .map(|action| template(namespace, image, tier, action))
        .collect()
}

fn template(namespace: &str, image: &str, tier: &str, action: Action) -> Value {
    let mut parameters = action.parameters;
    parameters.extend([
        Parameter::optional("image", image, "The executor image."),
        Parameter::optional("trace-id", "", "The parent trace id (TRACE_ID), if any."),
        Parameter::optional("span-id", "", "The parent span id (SPAN_ID), if any."),
        Parameter::optional(
            "otel-endpoint",
            "",
            "Where spans go (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); empty: traces off. Headers come from the secret file otel-exporter-otlp-headers.",
        ),
        Parameter::optional("otel-service-name", "", "OTEL_SERVICE_NAME (empty: executor)."),
        Parameter::optional("otel-resource-attributes", "", "OTEL_RESOURCE_ATTRIBUTES."),
        Parameter::optional(
            "task",
            "false",
            "true: one node of an orchestration Workflow (EXECUTOR_TASK), its dependencies left to the Workflow.",
        ),
    ]);
    let declared: Vec<Value> = parameters.iter().map(Parameter::to_json).collect();
    let mut env = vec![
        json!({"name": "ENVIRONMENT", "value": tier}),
        json!({"name": "KUBECONFIG_PATH", "value": SERVICE_ACCOUNT_DIR}),
        json!({"name": "CONFIG_DIR", "value": "/config"}),
        json!({"name": "SECRETS_DIR", "value": "/secrets"}),
        json!({"name": "LOG_FORMAT", "value": "json"}),
        json!({"name": "REPORT_FORMAT", "value": "json"}),
        json!({"name": "TRACE_ID", "value": "{{inputs.parameters.trace-id}}"}),
        json!({"name": "SPAN_ID", "value": "{{inputs.parameters.span-id}}"}),
        json!({"name": "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "value": "{{inputs.parameters.otel-endpoint}}"}),
        json!({"name": "OTEL_SERVICE_NAME", "value": "{{inputs.parameters.otel-service-name}}"}),
        json!({"name": "OTEL_RESOURCE_ATTRIBUTES", "value": "{{inputs.parameters.otel-resource-attributes}}"}),
        json!({"name": "EXECUTOR_TASK", "value": "{{inputs.parameters.task}}"}),
    ];
    env.extend(
        action
            .env
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value})),
    );
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {
            "name": action.name,
            "namespace": namespace,
            "annotations": {"workflows.argoproj.io/description": action.description},
        },
        "spec": {
            "entrypoint": "main",
            "serviceAccountName": WORKFLOW_SERVICE_ACCOUNT,
            "arguments": {"parameters": declared},
            // Used when the template is submitted alone; a Workflow that
            // uses it by templateRef brings its own.
            "volumes": [
                {"name": "config", "configMap": {"name": DEFAULT_CONFIG_MAP, "optional": true}},
                {"name": "secrets", "secret": {"secretName": DEFAULT_SECRETS_SECRET, "optional": true}},
            ],
            "templates": [{
                "name": "main",
                "inputs": {"parameters": declared},
                "container": {
                    "image": "{{inputs.parameters.image}}",
                    "command": ["executor"],
                    "args": [action.command],
                    "env": env,
                    "volumeMounts": [
                        {"name": "config", "mountPath": "/config", "readOnly": true},
                        {"name": "secrets", "mountPath": "/secrets", "readOnly": true},
                    ],
                    "securityContext": {
                        "allowPrivilegeEscalation": false,
                        "readOnlyRootFilesystem": true,
                        "runAsNonRoot": true,
                        "capabilities": {"drop": ["ALL"]},
                    },
                },
            }],
        },
    })
}

/// The ServiceAccount the template pods run as, and exactly what a task
/// needs (docs/orchestration.md, docs/deploy/rbac-workflow.yaml): report its result to Argo
/// Workflows (`workflowtaskresults`, in the workflows namespace); read what
/// a node's deploy and its gates read (any kind: a gate may name any);
/// write the platform's Applications in Argo CD's namespace; keep or delete
/// a removed node's volume claims (teardown's `PV_POLICY`); record Events
/// on the objects it judges.
pub fn workflow_rbac(namespace: &str, argocd_namespace: &str) -> Vec<Value> {
    let name = WORKFLOW_SERVICE_ACCOUNT;
    let subject = json!([{"kind": "ServiceAccount", "name": name, "namespace": namespace}]);
    vec![
        json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace},
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": name, "namespace": namespace},
            "rules": [{
                "apiGroups": ["argoproj.io"],
                "resources": ["workflowtaskresults"],
                "verbs": ["create", "patch"],
            }],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": subject,
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": APPLICATIONS_ROLE, "namespace": argocd_namespace},
            "rules": [{
                "apiGroups": ["argoproj.io"],
                "resources": ["applications"],
                "verbs": ["create", "patch", "update", "delete"],
            }],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": APPLICATIONS_ROLE, "namespace": argocd_namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": APPLICATIONS_ROLE},
            "subjects": subject,
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["patch", "delete"]},
                {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create"]},
            ],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": subject,
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(template: &Value) -> Vec<(String, String)> {
        template["spec"]["templates"][0]["container"]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_owned(),
                    e["value"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn templates_run_the_executor_with_the_right_scope() {
        let templates = workflow_templates("wf", "registry.example.com/executor:1.0", "staging");
        let names: Vec<&str> = templates
            .iter()
            .map(|t| t["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, TEMPLATE_NAMES);
        let sync = &templates[0];
        assert_eq!(sync["metadata"]["namespace"], "wf");
        assert_eq!(sync["spec"]["templates"][0]["container"]["args"][0], "deploy");
        let env = env_of(sync);
        assert!(env.contains(&("TARGET_SCOPE".into(), "app:{{inputs.parameters.app}}".into())));
        assert!(env.contains(&("ENVIRONMENT".into(), "staging".into())));
        let image = sync["spec"]["arguments"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "image")
            .unwrap();
        assert_eq!(image["value"], "registry.example.com/executor:1.0");
    }

    #[test]
    fn teardown_confirmation_has_no_default() {
        let templates = workflow_templates("wf", "executor:1", "production");
        let teardown = &templates[2];
        assert_eq!(teardown["spec"]["templates"][0]["container"]["args"][0], "teardown");
        let confirm = teardown["spec"]["templates"][0]["inputs"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "confirm")
            .unwrap();
        assert!(confirm.get("value").is_none());
        assert!(env_of(teardown).contains(&("TEARDOWN_CONFIRM".into(), "{{inputs.parameters.confirm}}".into())));
    }

    #[test]
    fn rbac_binds_the_service_account_in_its_namespace() {
        let rbac = workflow_rbac("wf", "gitops");
        assert_eq!(rbac.len(), 7);
        for binding in rbac
            .iter()
            .filter(|o| o["kind"].as_str().is_some_and(|k| k.ends_with("Binding")))
        {
            assert_eq!(binding["subjects"][0]["namespace"], "wf", "{binding}");
        }
        let writes_apps = rbac
            .iter()
            .find(|o| o["kind"] == "Role" && o["metadata"]["namespace"] == "gitops")
            .unwrap();
        assert_eq!(writes_apps["rules"][0]["resources"][0], "applications");
    }

    /// docs/deploy/rbac-workflow.yaml is what the bootstrap creates for the
    /// default namespaces: the documentation cannot drift from the grants.
    #[test]
    fn the_documented_workflow_rbac_is_what_the_bootstrap_creates() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/deploy/rbac-workflow.yaml");
        let documented: Vec<Value> = serde_saphyr::from_multiple(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(documented, workflow_rbac("argo", "argocd"));
    }
}
