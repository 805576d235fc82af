//! Custom resources held to their CRD's structural schema, with the real
//! Argo CD and Argo Workflows CRDs (`../shared/upstream`) and real kubectl.
//!
//! What a real kube-apiserver answers, per k8s.io/apiextensions-apiserver
//! `pkg/apiserver/validation/validation.go` (kube-openapi errors as
//! `field.Error`s), `pkg/apiserver/schema/pruning` and `.../defaulting`,
//! and k8s.io/apiserver `pkg/endpoints/handlers/rest.go`
//! (`transformDecodeError`: strict decoding errors are 400 BadRequest).
//! kubectl sends `fieldValidation=Strict` by default (`--validate=strict`,
//! k8s.io/kubectl `pkg/cmd/util/helpers.go` `GetValidationDirective`),
//! `Warn` for `--validate=warn` and `Ignore` for `--validate=false`.

use crate::util::{SimProcess, http, kubectl_available, upstream};

/// The CRDs of a multi-document install manifest, as one YAML stream.
fn crds_of(file: &str) -> String {
    let text = std::fs::read_to_string(upstream(file)).unwrap();
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).unwrap();
    docs.into_iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .map(|d| serde_json::to_string(&d).unwrap())
        .collect::<Vec<_>>()
        .join("\n---\n")
}

fn with_argo_cd_crds() -> SimProcess {
    let sim = SimProcess::start(None);
    let out = sim.kubectl_stdin(
        &["apply", "--server-side", "-f", "-"],
        &crds_of("argo-cd-v3.5.1-install.yaml"),
    );
    assert!(out.status.success(), "{out:?}");
    sim.apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: argocd\n", &[]);
    sim
}

const APP: &str = r#"apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: NAME, namespace: argocd}
spec:
  project: default
  destination: {server: "https://kubernetes.default.svc", namespace: web}
  source: {repoURL: "https://git.example.com/platform.git", targetRevision: main, path: PATH}
"#;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_wrongly_typed_application_field_is_422_with_its_path() {
    if !kubectl_available("a_wrongly_typed_application_field_is_422_with_its_path") {
        return;
    }
    let sim = with_argo_cd_crds();
    let out = sim.kubectl_stdin(&["apply", "-f", "-"], &APP.replace("NAME", "bad").replace("PATH", "42"));
    assert!(!out.status.success());
    // kubectl prints a 422's causes as a list under the message.
    let err = stderr(&out);
    assert!(
        err.contains(r#"The Application "bad" is invalid: spec.source.path: Invalid value: "integer": spec.source.path in body must be of type string: "integer""#),
        "{err}"
    );
    // The Status itself, as a client library sees it.
    let body = serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "bad", "namespace": "argocd"},
        "spec": {"source": {"repoURL": "https://git.example.com/x.git", "path": 42},
                 "destination": {"namespace": "web"}},
    });
    let (code, _, text) = http(
        &sim.url,
        "POST",
        "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications",
        &sim.token(),
        Some(&body.to_string()),
    );
    assert_eq!(code, 422, "{text}");
    let status: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(status["details"]["kind"], "Application");
    assert_eq!(status["details"]["group"], "argoproj.io");
    let causes = status["details"]["causes"].as_array().unwrap();
    let fields: Vec<(&str, &str)> = causes
        .iter()
        .map(|c| (c["field"].as_str().unwrap(), c["reason"].as_str().unwrap()))
        .collect();
    assert!(
        fields.contains(&("spec.source.path", "FieldValueTypeInvalid")),
        "{fields:?}"
    );
    assert!(fields.contains(&("spec.project", "FieldValueRequired")), "{fields:?}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .starts_with("Application.argoproj.io \"bad\" is invalid: ["),
        "two errors are listed: {status}"
    );
    let out = sim.kubectl(&["get", "application", "bad", "-n", "argocd"]);
    assert!(!out.status.success(), "nothing was stored");
}

#[test]
fn unknown_fields_are_refused_warned_or_pruned_per_field_validation() {
    if !kubectl_available("unknown_fields_are_refused_warned_or_pruned_per_field_validation") {
        return;
    }
    let sim = with_argo_cd_crds();
    let app = |name: &str| {
        APP.replace("NAME", name)
            .replace("PATH", "apps/web")
            .replace("  project: default\n", "  project: default\n  colour: blue\n")
    };
    // kubectl's default --validate=strict: refused, nothing stored.
    let out = sim.kubectl_stdin(&["create", "-f", "-"], &app("strict"));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(r#"strict decoding error: unknown field "spec.colour""#),
        "{}",
        stderr(&out)
    );
    // --validate=warn: stored without the field, and kubectl shows the warning.
    let out = sim.kubectl_stdin(&["create", "--validate=warn", "-f", "-"], &app("warned"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(r#"Warning: unknown field "spec.colour""#),
        "{}",
        stderr(&out)
    );
    let spec = sim.ok(&["get", "application", "warned", "-n", "argocd", "-o", "jsonpath={.spec}"]);
    assert!(!spec.contains("colour") && spec.contains("apps/web"), "{spec}");
    // --validate=false: pruned silently.
    let out = sim.kubectl_stdin(&["create", "--validate=false", "-f", "-"], &app("ignored"));
    assert!(out.status.success() && !stderr(&out).contains("Warning"), "{out:?}");
    // Server-side apply under Strict is refused too.
    let out = sim.kubectl_stdin(&["apply", "--server-side", "-f", "-"], &app("applied"));
    assert!(!out.status.success(), "{out:?}");
    assert!(
        stderr(&out).contains("unknown field \"spec.colour\""),
        "{}",
        stderr(&out)
    );
}

/// The defaulting example of the Kubernetes documentation ("Defaulting",
/// tasks/extend-kubernetes/custom-resources/custom-resource-definitions):
/// `replicas` defaults to 1, `image` inside a defaulted object, `nullable`.
const CRONTAB_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: crontabs.stable.example.com}
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec: {type: string, pattern: '^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$', default: "5 0 * * *"}
              image: {type: string, maxLength: 20}
              replicas: {type: integer, minimum: 1, maximum: 10, default: 1}
              mode: {type: string, enum: [fast, slow]}
              port: {x-kubernetes-int-or-string: true}
              note: {type: string, nullable: true}
              tags: {type: array, items: {type: string}, x-kubernetes-list-type: set}
              template: {type: object, x-kubernetes-embedded-resource: true, x-kubernetes-preserve-unknown-fields: true}
          status:
            type: object
            properties:
              phase: {type: string, enum: [Pending, Running]}
"#;

#[test]
fn defaults_apply_and_the_schema_keywords_are_enforced() {
    if !kubectl_available("defaults_apply_and_the_schema_keywords_are_enforced") {
        return;
    }
    let sim = SimProcess::start(None);
    sim.apply(CRONTAB_CRD, &[]);
    let ct =
        |spec: &str| format!("apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {{name: c}}\nspec: {spec}\n");
    sim.apply(
        &ct("{image: nginx, port: http, note: null, template: {apiVersion: v1, kind: Pod, x: 1}}"),
        &[],
    );
    let spec: serde_json::Value =
        serde_json::from_str(&sim.ok(&["get", "crontab", "c", "-o", "jsonpath={.spec}"])).unwrap();
    assert_eq!(spec["replicas"], 1, "defaulted: {spec}");
    assert_eq!(spec["cronSpec"], "5 0 * * *", "defaulted: {spec}");
    assert_eq!(spec["note"], serde_json::Value::Null, "nullable keeps null");
    assert_eq!(spec["template"]["x"], 1, "preserve-unknown-fields keeps fields");
    let refused = |spec: &str, expected: &str| {
        let out = sim.kubectl_stdin(&["apply", "-f", "-"], &ct(spec));
        assert!(!out.status.success(), "{spec} was accepted");
        assert!(stderr(&out).contains(expected), "{spec}: {}", stderr(&out));
    };
    refused(
        "{replicas: 0}",
        "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1",
    );
    refused(
        "{replicas: 11}",
        "spec.replicas in body should be less than or equal to 10",
    );
    refused(
        "{mode: medium}",
        r#"spec.mode: Unsupported value: "medium": supported values: "fast", "slow""#,
    );
    refused(
        "{image: a-very-long-image-name-indeed}",
        "spec.image: Too long: may not be longer than 20",
    );
    refused("{cronSpec: often}", r"spec.cronSpec in body should match");
    refused("{port: [1]}", r#"spec.port: Invalid value: "array""#);
    refused("{tags: [a, b, a]}", r#"spec.tags[2]: Duplicate value: "a""#);
    refused("{template: {x: 1}}", "spec.template.apiVersion: Required value");
    // The status subresource is validated too.
    let out = sim.kubectl(&[
        "patch",
        "crontab",
        "c",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Lost"}}"#,
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(r#"status.phase: Unsupported value: "Lost""#),
        "{}",
        stderr(&out)
    );
    sim.ok(&[
        "patch",
        "crontab",
        "c",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Running"}}"#,
    ]);
}

#[test]
fn schemaless_workflow_crds_keep_everything() {
    if !kubectl_available("schemaless_workflow_crds_keep_everything") {
        return;
    }
    // Argo Workflows' minimal CRDs carry `x-kubernetes-preserve-unknown-fields`
    // and no properties: any content is kept as sent.
    let sim = SimProcess::start(None);
    let out = sim.kubectl_stdin(
        &["apply", "--server-side", "-f", "-"],
        &crds_of("argo-workflows-v4.1.2-install.yaml"),
    );
    assert!(out.status.success(), "{out:?}");
    sim.apply(
        "apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nmetadata: {name: t}\nspec: {entrypoint: main, anything: {goes: [1, 2]}}\n",
        &[],
    );
    let spec = sim.ok(&["get", "workflowtemplate", "t", "-o", "jsonpath={.spec.anything.goes}"]);
    assert_eq!(spec, "[1,2]");
}
