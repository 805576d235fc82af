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
//! the bundle), `config-map` (the ConfigMap mounted as `CONFIG_DIR`, default
//! `executor-config`), `kubeconfig-secret` (a Secret with key `kubeconfig`,
//! default `executor-kubeconfig`) and `secrets-secret` (mounted as
//! `SECRETS_DIR`, optional, default `executor-secrets`). `ENVIRONMENT` is the
//! tier the bundle was built for. The pods run as the `executor-workflow`
//! ServiceAccount, which may only report task results to Argo Workflows:
//! the executor reaches the API server with the mounted kubeconfig.
//!
//! Teardown has no default confirmation on purpose: a template must not make
//! teardown run "with default values alone".

use serde_json::{Value, json};

/// The ServiceAccount the template pods run as.
pub const WORKFLOW_SERVICE_ACCOUNT: &str = "executor-workflow";

/// Default of the `config-map` parameter.
pub const DEFAULT_CONFIG_MAP: &str = "executor-config";
/// Default of the `kubeconfig-secret` parameter.
pub const DEFAULT_KUBECONFIG_SECRET: &str = "executor-kubeconfig";
/// Default of the `secrets-secret` parameter.
pub const DEFAULT_SECRETS_SECRET: &str = "executor-secrets";

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
            description: "Deploys one application and its dependencies and waits until they are Synced and Healthy.",
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
        Parameter::optional(
            "config-map",
            DEFAULT_CONFIG_MAP,
            "ConfigMap holding environment.yaml (and dag.yaml), mounted as CONFIG_DIR.",
        ),
        Parameter::optional(
            "kubeconfig-secret",
            DEFAULT_KUBECONFIG_SECRET,
            "Secret whose key `kubeconfig` is the executor's kubeconfig.",
        ),
        Parameter::optional(
            "secrets-secret",
            DEFAULT_SECRETS_SECRET,
            "Secret mounted as SECRETS_DIR (optional).",
        ),
    ]);
    let declared: Vec<Value> = parameters.iter().map(Parameter::to_json).collect();
    let mut env = vec![
        json!({"name": "ENVIRONMENT", "value": tier}),
        json!({"name": "KUBECONFIG_PATH", "value": "/etc/executor/kubeconfig/kubeconfig"}),
        json!({"name": "CONFIG_DIR", "value": "/config"}),
        json!({"name": "SECRETS_DIR", "value": "/secrets"}),
        json!({"name": "LOG_FORMAT", "value": "json"}),
        json!({"name": "REPORT_FORMAT", "value": "json"}),
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
            "templates": [{
                "name": "main",
                "inputs": {"parameters": declared},
                "container": {
                    "image": "{{inputs.parameters.image}}",
                    "command": ["executor"],
                    "args": [action.command],
                    "env": env,
                    "volumeMounts": [
                        {"name": "kubeconfig", "mountPath": "/etc/executor/kubeconfig", "readOnly": true},
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
                "volumes": [
                    {"name": "kubeconfig", "secret": {"secretName": "{{inputs.parameters.kubeconfig-secret}}"}},
                    {"name": "config", "configMap": {"name": "{{inputs.parameters.config-map}}"}},
                    {"name": "secrets", "secret": {"secretName": "{{inputs.parameters.secrets-secret}}", "optional": true}},
                ],
            }],
        },
    })
}

/// The ServiceAccount, Role and RoleBinding the template pods run with:
/// enough for Argo Workflows' executor to record task results, nothing more.
pub fn workflow_rbac(namespace: &str) -> Vec<Value> {
    vec![
        json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": WORKFLOW_SERVICE_ACCOUNT, "namespace": namespace},
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": WORKFLOW_SERVICE_ACCOUNT, "namespace": namespace},
            "rules": [{
                "apiGroups": ["argoproj.io"],
                "resources": ["workflowtaskresults"],
                "verbs": ["create", "patch"],
            }],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": WORKFLOW_SERVICE_ACCOUNT, "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": WORKFLOW_SERVICE_ACCOUNT,
            },
            "subjects": [{
                "kind": "ServiceAccount",
                "name": WORKFLOW_SERVICE_ACCOUNT,
                "namespace": namespace,
            }],
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
        let rbac = workflow_rbac("wf");
        assert_eq!(rbac.len(), 3);
        assert_eq!(rbac[2]["subjects"][0]["namespace"], "wf");
    }
}
