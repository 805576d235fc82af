//! The simulated Argo Workflows controller, after the upstream install is
//! applied: validation messages, `depends` semantics, retries, deadlines,
//! shutdown, parallelism, parameters and the node status shape.
//!
//! Every Workflow and WorkflowTemplate these tests submit is first checked
//! against the upstream JSON Schema
//! (`../shared/upstream/argo-workflows-v4.1.2-schema.json`), so they are
//! written in real Argo syntax. Expected messages and shapes come from
//! argo-workflows v4.1.2: `workflow/validate/validate.go`,
//! `workflow/controller/dag.go`, `operator.go`, `exec_control.go`,
//! `workflow/util/pod_name.go`, `docs/enhanced-depends-logic.md` (argoproj/argo-workflows).

use crate::util::{apply_file, kube_client, upstream, wait_for};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube_sim::controllers::workflows::{nodes, schema};
use kube_sim::{Sim, SimConfig};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

fn resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", kind))
}

/// A simulator with Argo Workflows installed and `alpine:*` mapped to /bin/sh.
async fn argo() -> (Sim, kube::Client) {
    let config = SimConfig::from_yaml("workloads: {readyAfter: 50ms}\nimages: {\"alpine:*\": /bin/sh}\n").unwrap();
    let (sim, client) = kube_client(config).await;
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    for name in ["argo", "work"] {
        ns.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
        )
        .await
        .unwrap();
    }
    apply_file(&client, &upstream("argo-workflows-v4.1.2-install.yaml"), "argo").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "argo");
    wait_for(
        &deployments,
        "workflow-controller",
        Duration::from_secs(10),
        |d: &Deployment| {
            d.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Available" && c.status == "True"))
        },
    )
    .await;
    (sim, client)
}

/// Creates an Argo object after checking it against the upstream schema.
async fn submit(client: &kube::Client, kind: &str, yaml: &str) -> String {
    let value: Value = serde_saphyr::from_str(yaml).unwrap();
    schema::check(kind, &value).unwrap_or_else(|e| panic!("the test's {kind} is not valid Argo: {e}"));
    create_unchecked(client, kind, value).await
}

async fn create_unchecked(client: &kube::Client, kind: &str, value: Value) -> String {
    let ns = value["metadata"]["namespace"].as_str().unwrap_or("work").to_string();
    let api: Api<DynamicObject> = if kind == "ClusterWorkflowTemplate" {
        Api::all_with(client.clone(), &resource(kind))
    } else {
        Api::namespaced_with(client.clone(), &ns, &resource(kind))
    };
    let obj: DynamicObject = serde_json::from_value(value).unwrap();
    api.create(&PostParams::default(), &obj)
        .await
        .unwrap()
        .metadata
        .name
        .unwrap()
}

fn workflows(client: &kube::Client) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), "work", &resource("Workflow"))
}

async fn finished(client: &kube::Client, name: &str, within: Duration) -> Value {
    let wf = wait_for(&workflows(client), name, within, |w: &DynamicObject| {
        matches!(
            w.data["status"]["phase"].as_str(),
            Some("Succeeded" | "Failed" | "Error")
        )
    })
    .await;
    serde_json::to_value(wf).unwrap()
}

/// The nodes of a workflow by display name.
fn by_display(wf: &Value) -> BTreeMap<String, Value> {
    wf["status"]["nodes"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| (n["displayName"].as_str().unwrap().to_string(), n.clone()))
        .collect()
}

fn sh(name: &str, script: &str) -> String {
    format!(
        "  - name: {name}\n    container:\n      image: alpine:3.20\n      command: [sh, -c]\n      args: [\"{script}\"]\n"
    )
}

#[tokio::test]
async fn invalid_workflows_fail_with_argos_messages() {
    let (_sim, client) = argo().await;
    submit(
        &client,
        "WorkflowTemplate",
        &format!("apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nmetadata: {{name: sync-and-wait, namespace: work}}\nspec:\n  templates:\n{}", sh("sync", "true")),
    )
    .await;
    let dag = |tasks: &str| {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {{generateName: bad-, namespace: work}}\nspec:\n  entrypoint: main\n  templates:\n  - name: main\n    dag:\n      tasks:\n{tasks}{}",
            sh("ok", "true")
        )
    };
    let cases = [
        (
            dag("      - {name: a, template: nope}\n"),
            "invalid spec: templates.main.tasks.a template name 'nope' undefined",
        ),
        (
            dag("      - {name: a, templateRef: {name: sync-and-wait, template: nope}}\n"),
            "invalid spec: templates.main.tasks.a template reference sync-and-wait.nope not found",
        ),
        (
            dag("      - {name: a, templateRef: {name: missing, template: sync}}\n"),
            "invalid spec: templates.main.tasks.a template reference missing.sync not found",
        ),
        (
            dag("      - {name: a, template: ok, dependencies: [ghost]}\n"),
            "invalid spec: templates.main sorting failed: invalid dependency ghost",
        ),
        (
            dag("      - {name: a, template: ok, depends: b}\n      - {name: b, template: ok, depends: a.Succeeded}\n"),
            "invalid spec: templates.main sorting failed: graph with cycle",
        ),
        (
            dag("      - {name: a, template: ok}\n      - {name: b, template: ok, depends: a.Finished}\n"),
            "invalid spec: templates.main.tasks.b task result 'Finished' for task 'a' is invalid",
        ),
        (
            dag("      - {name: a, template: ok, depends: ''}\n      - {name: b, template: ok, depends: a, dependencies: [a]}\n"),
            "invalid spec: templates.main cannot use both 'depends' and 'dependencies' in the same DAG template",
        ),
        (
            "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: bad-, namespace: work}\nspec:\n  templates:\n  - {name: main, container: {image: alpine}}\n".to_string(),
            "invalid spec: spec.entrypoint is required",
        ),
    ];
    let mut names = vec![];
    for (yaml, _) in &cases {
        names.push(submit(&client, "Workflow", yaml).await);
    }
    // Wrongly typed fields pass the API server (the CRD has no schema) but
    // not the controller.
    let typed: Value = serde_saphyr::from_str(&dag("      - {name: a, template: ok}\n")).unwrap();
    let mut typed = typed;
    typed["spec"]["parallelism"] = json!("two");
    assert!(schema::check("Workflow", &typed).is_err());
    let typed_name = create_unchecked(&client, "Workflow", typed).await;
    for (name, (_, message)) in names.iter().zip(cases.iter()) {
        let wf = finished(&client, name, Duration::from_secs(10)).await;
        assert_eq!(wf["status"]["phase"], "Failed", "{name}");
        assert_eq!(wf["status"]["message"], *message, "{name}");
        assert!(wf["status"]["nodes"].is_null(), "nothing ran for {name}");
        assert!(wf["status"]["startedAt"].is_string() && wf["status"]["finishedAt"].is_string());
    }
    let wf = finished(&client, &typed_name, Duration::from_secs(10)).await;
    let message = wf["status"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("cannot unmarshall spec: /spec/parallelism: "),
        "{message}"
    );
}

const DEPENDS: &str = r#"apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: depends, namespace: work}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: a, template: pass}
      - {name: b, template: fail}
      - {name: k, template: pass, when: "1 == 2"}
      - {name: c, template: pass, depends: a}
      - {name: d, template: pass, depends: b}
      - {name: e, template: pass, depends: b.Failed}
      - {name: f, template: pass, depends: a && b}
      - {name: g, template: pass, depends: "!b.Succeeded"}
      - {name: h, template: pass, depends: "(a.Succeeded || b.Succeeded) && !c.Failed"}
      - {name: i, template: pass, depends: d.Omitted}
      - {name: j, template: pass, depends: d}
      - {name: l, template: pass, depends: k}
      - {name: m, template: pass, depends: b.Errored}
      - {name: p, template: pass, depends: "!(a.Failed || b.Succeeded)"}
      - {name: q, template: pass, depends: k.Skipped && a.Succeeded}
"#;

#[tokio::test]
async fn dag_depends_follow_the_enhanced_depends_rules() {
    let (_sim, client) = argo().await;
    let yaml = format!("{DEPENDS}{}{}", sh("pass", "exit 0"), sh("fail", "exit 1"));
    submit(&client, "Workflow", &yaml).await;
    let wf = finished(&client, "depends", Duration::from_secs(30)).await;
    schema::check_with_status("Workflow", &wf).unwrap_or_else(|e| panic!("status does not fit Argo's schema: {e}"));
    let nodes = by_display(&wf);
    // (task, phase, type) as argo-workflows' docs/enhanced-depends-logic.md and dag.go decide.
    let table = [
        ("a", "Succeeded", "Pod"),
        ("b", "Failed", "Pod"),
        ("k", "Skipped", "Skipped"),
        ("c", "Succeeded", "Pod"),
        ("d", "Omitted", "Skipped"),
        ("e", "Succeeded", "Pod"),
        ("f", "Omitted", "Skipped"),
        ("g", "Succeeded", "Pod"),
        ("h", "Succeeded", "Pod"),
        ("i", "Succeeded", "Pod"),
        ("j", "Omitted", "Skipped"),
        ("l", "Succeeded", "Pod"),
        ("m", "Omitted", "Skipped"),
        ("p", "Succeeded", "Pod"),
        ("q", "Succeeded", "Pod"),
    ];
    for (task, phase, kind) in table {
        let n = &nodes[task];
        assert_eq!(
            (n["phase"].as_str(), n["type"].as_str()),
            (Some(phase), Some(kind)),
            "task {task}: {n}"
        );
    }
    assert_eq!(nodes["d"]["message"], "omitted: depends condition not met");
    assert_eq!(nodes["k"]["message"], "when '1 == 2' evaluated false");
    assert_eq!(nodes["b"]["message"], "main: Error (exit code 1)");
    assert_eq!(nodes["b"]["outputs"]["exitCode"], "1");
    // A failed branch fails the DAG (omitted descendants inherit it).
    assert_eq!(wf["status"]["phase"], "Failed");
    assert_eq!(nodes["depends"]["phase"], "Failed");
}

#[tokio::test]
async fn node_status_and_pods_are_shaped_like_argos() {
    let (_sim, client) = argo().await;
    let yaml = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {{name: shape, namespace: work}}\nspec:\n  entrypoint: main\n  templates:\n  - name: main\n    dag:\n      tasks:\n      - {{name: first, template: pass}}\n      - {{name: second, template: pass, dependencies: [first]}}\n{}",
        sh("pass", "echo hi")
    );
    submit(&client, "Workflow", &yaml).await;
    let wf = finished(&client, "shape", Duration::from_secs(20)).await;
    assert_eq!(wf["status"]["phase"], "Succeeded");
    schema::check_with_status("Workflow", &wf).unwrap_or_else(|e| panic!("status does not fit Argo's schema: {e}"));
    assert!(wf["status"]["message"].is_null());
    assert_eq!(wf["metadata"]["labels"]["workflows.argoproj.io/phase"], "Succeeded");
    assert_eq!(wf["metadata"]["labels"]["workflows.argoproj.io/completed"], "true");
    let nodes = by_display(&wf);
    let root = &nodes["shape"];
    let (first, second) = (&nodes["first"], &nodes["second"]);
    assert_eq!(root["id"], "shape");
    assert_eq!(root["type"], "DAG");
    assert_eq!(root["templateName"], "main");
    assert_eq!(root["templateScope"], "local/shape");
    assert!(root["boundaryID"].is_null());
    assert_eq!(first["id"], format!("shape-{}", nodes::fnv32a("shape.first")));
    assert_eq!(first["name"], "shape.first");
    assert_eq!(first["type"], "Pod");
    assert_eq!(first["templateName"], "pass");
    assert_eq!(first["boundaryID"], "shape");
    assert_eq!(first["hostNodeName"], "sim-node-1");
    assert_eq!(root["children"], json!([first["id"]]));
    assert_eq!(first["children"], json!([second["id"]]));
    assert_eq!(root["outboundNodes"], json!([second["id"]]));
    for n in [root, first, second] {
        assert!(n["startedAt"].is_string() && n["finishedAt"].is_string(), "{n}");
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), "work");
    let pod_name = format!("shape-pass-{}", nodes::fnv32a("shape.first"));
    let pod = pods.get(&pod_name).await.unwrap();
    let labels = pod.metadata.labels.unwrap();
    assert_eq!(labels["workflows.argoproj.io/workflow"], "shape");
    assert_eq!(labels["workflows.argoproj.io/completed"], "true");
    let annotations = pod.metadata.annotations.unwrap();
    assert_eq!(annotations["workflows.argoproj.io/node-name"], "shape.first");
    assert_eq!(
        annotations["workflows.argoproj.io/node-id"],
        first["id"].as_str().unwrap()
    );
    assert_eq!(annotations["kubectl.kubernetes.io/default-container"], "main");
    let owner = &pod.metadata.owner_references.unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("Workflow", "shape", Some(true))
    );
    let spec = pod.spec.unwrap();
    assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
    assert_eq!(spec.containers[0].name, "main");
    assert_eq!(pods.logs(&pod_name, &Default::default()).await.unwrap(), "hi\n");
}

#[tokio::test]
async fn retry_limit_and_retries_variable() {
    let (_sim, client) = argo().await;
    let yaml = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: retries, namespace: work}\nspec:\n  entrypoint: main\n  templates:\n  - name: main\n    dag:\n      tasks:\n      - {name: flaky, template: second-time}\n      - {name: broken, template: always-fails}\n      - {name: after, template: second-time, depends: flaky}\n  - name: second-time\n    retryStrategy: {limit: 3}\n    container: {image: alpine:3.20, command: [sh, -c], args: [\"[ {{retries}} -ge 1 ]\"]}\n  - name: always-fails\n    retryStrategy: {limit: \"2\"}\n    container: {image: alpine:3.20, command: [sh, -c], args: [\"exit 2\"]}\n";
    submit(&client, "Workflow", yaml).await;
    let wf = finished(&client, "retries", Duration::from_secs(30)).await;
    schema::check_with_status("Workflow", &wf).unwrap_or_else(|e| panic!("status does not fit Argo's schema: {e}"));
    let nodes = by_display(&wf);
    assert_eq!(nodes["flaky"]["type"], "Retry");
    assert_eq!(nodes["flaky"]["phase"], "Succeeded");
    assert_eq!(nodes["flaky"]["children"].as_array().unwrap().len(), 2);
    assert_eq!(nodes["flaky(0)"]["phase"], "Failed");
    assert_eq!(nodes["flaky(1)"]["phase"], "Succeeded");
    assert_eq!(nodes["flaky(1)"]["boundaryID"], "retries");
    // Dependents hang off the retry node's last attempt (its outbound node).
    assert_eq!(nodes["flaky(1)"]["children"], json!([nodes["after"]["id"]]));
    assert_eq!(nodes["broken"]["phase"], "Failed");
    assert_eq!(nodes["broken"]["message"], "No more retries left");
    assert_eq!(nodes["broken"]["children"].as_array().unwrap().len(), 3);
    assert_eq!(nodes["broken(2)"]["message"], "main: Error (exit code 2)");
    assert_eq!(wf["status"]["phase"], "Failed");
}

#[tokio::test]
async fn active_deadline_seconds_fails_running_steps() {
    let (_sim, client) = argo().await;
    let yaml = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {{name: deadline, namespace: work}}\nspec:\n  entrypoint: main\n  activeDeadlineSeconds: 2\n  templates:\n  - name: main\n    dag:\n      tasks:\n      - {{name: slow, template: slow}}\n      - {{name: next, template: slow, depends: slow}}\n{}",
        sh("slow", "sleep 30")
    );
    submit(&client, "Workflow", &yaml).await;
    let started = std::time::Instant::now();
    let wf = finished(&client, "deadline", Duration::from_secs(20)).await;
    assert!(started.elapsed() < Duration::from_secs(15), "the deadline ended it");
    assert_eq!(wf["status"]["phase"], "Failed");
    let nodes = by_display(&wf);
    assert_eq!(nodes["slow"]["phase"], "Failed");
    assert_eq!(nodes["slow"]["message"], "Step exceeded its deadline");
    assert_eq!(nodes["next"]["phase"], "Omitted");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "work");
    let pod = pods
        .get(&format!("deadline-slow-{}", nodes::fnv32a("deadline.slow")))
        .await
        .unwrap();
    let status = pod.status.unwrap();
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    let code = status.container_statuses.unwrap()[0]
        .state
        .as_ref()
        .unwrap()
        .terminated
        .as_ref()
        .unwrap()
        .exit_code;
    assert_eq!(code, 143, "terminated with SIGTERM");
}

#[tokio::test]
async fn shutdown_stop_terminates_running_pods_and_starts_nothing_new() {
    let (_sim, client) = argo().await;
    let yaml = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {{name: stopped, namespace: work}}\nspec:\n  entrypoint: main\n  templates:\n  - name: main\n    dag:\n      tasks:\n      - {{name: running, template: slow}}\n      - {{name: later, template: slow, depends: running}}\n{}",
        sh("slow", "trap 'echo got TERM; exit 0' TERM; echo ready; sleep 30 & wait")
    );
    submit(&client, "Workflow", &yaml).await;
    let api = workflows(&client);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "work");
    let pod = format!("stopped-slow-{}", nodes::fnv32a("stopped.running"));
    wait_for(&pods, &pod, Duration::from_secs(10), |p: &Pod| {
        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    })
    .await;
    // Stop once the task has set its SIGTERM trap (it says so).
    {
        use futures::AsyncBufReadExt;
        let params = kube::api::LogParams {
            follow: true,
            ..Default::default()
        };
        let mut lines = pods.log_stream(&pod, &params).await.unwrap().lines();
        use futures::TryStreamExt;
        let first = tokio::time::timeout(Duration::from_secs(10), lines.try_next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.as_deref(), Some("ready"));
    }
    api.patch(
        "stopped",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"shutdown": "Stop"}})),
    )
    .await
    .unwrap();
    let wf = finished(&client, "stopped", Duration::from_secs(20)).await;
    assert_eq!(wf["status"]["phase"], "Failed");
    assert_eq!(wf["status"]["message"], "Stopped with strategy 'Stop'");
    let nodes = by_display(&wf);
    // exec_control.go terminates running pods for Stop too (only exit
    // handlers would still run); note the two spaces of its message.
    assert_eq!(nodes["running"]["phase"], "Failed");
    assert_eq!(nodes["running"]["message"], "workflow shutdown with strategy:  Stop");
    // Its dependent is omitted (its dependency failed): no pod started for it.
    assert_eq!(nodes["later"]["phase"], "Omitted");
    let later = format!("stopped-slow-{}", nodes::fnv32a("stopped.later"));
    assert!(pods.get_opt(&later).await.unwrap().is_none(), "nothing new started");
    assert_eq!(
        pods.logs(&pod, &Default::default()).await.unwrap(),
        "ready\ngot TERM\n",
        "SIGTERM reached the task"
    );
}

/// The most Pod nodes Pending or Running at once, over every status the
/// workflow went through.
async fn max_active_pods(client: &kube::Client, name: &str) -> usize {
    use futures::StreamExt;
    let api = workflows(client);
    let mut stream = Box::pin(kube::runtime::watcher::watch_object(api, name));
    let mut max = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while let Ok(Some(Ok(Some(wf)))) = tokio::time::timeout_at(deadline, stream.next()).await {
        let active = wf.data["status"]["nodes"]
            .as_object()
            .map(|n| {
                n.values()
                    .filter(|n| n["type"] == "Pod" && matches!(n["phase"].as_str(), Some("Pending" | "Running")))
                    .count()
            })
            .unwrap_or(0);
        max = max.max(active);
        if matches!(
            wf.data["status"]["phase"].as_str(),
            Some("Succeeded" | "Failed" | "Error")
        ) {
            break;
        }
    }
    max
}

#[tokio::test]
async fn workflow_and_template_parallelism_limit_running_pods() {
    let (_sim, client) = argo().await;
    let tasks = "      - {name: a, template: nap}\n      - {name: b, template: nap}\n      - {name: c, template: nap}\n      - {name: d, template: nap}\n";
    let wf = |name: &str, wf_par: &str, dag_par: &str| {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {{name: {name}, namespace: work}}\nspec:\n  entrypoint: main\n{wf_par}  templates:\n  - name: main\n{dag_par}    dag:\n      tasks:\n{tasks}{}",
            sh("nap", "sleep 0.3")
        )
    };
    submit(&client, "Workflow", &wf("one-at-a-time", "  parallelism: 1\n", "")).await;
    assert_eq!(max_active_pods(&client, "one-at-a-time").await, 1);
    submit(&client, "Workflow", &wf("two-at-a-time", "", "    parallelism: 2\n")).await;
    assert_eq!(max_active_pods(&client, "two-at-a-time").await, 2);
    submit(&client, "Workflow", &wf("all-at-once", "", "")).await;
    assert_eq!(max_active_pods(&client, "all-at-once").await, 4);
    for name in ["one-at-a-time", "two-at-a-time", "all-at-once"] {
        assert_eq!(
            finished(&client, name, Duration::from_secs(20)).await["status"]["phase"],
            "Succeeded"
        );
    }
}

#[tokio::test]
async fn template_refs_parameters_and_variables_are_substituted() {
    let (_sim, client) = argo().await;
    submit(
        &client,
        "WorkflowTemplate",
        "apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nmetadata: {name: sync-and-wait, namespace: work}\nspec:\n  templates:\n  - name: sync\n    inputs:\n      parameters:\n      - {name: app}\n      - {name: mode, default: apply}\n    container:\n      image: alpine:3.20\n      command: [sh, -c]\n      args: [\"echo {{inputs.parameters.app}} {{inputs.parameters.mode}} {{workflow.name}} {{workflow.namespace}} {{workflow.parameters.env}} {{pod.name}}\"]\n",
    )
    .await;
    submit(
        &client,
        "ClusterWorkflowTemplate",
        "apiVersion: argoproj.io/v1alpha1\nkind: ClusterWorkflowTemplate\nmetadata: {name: shared}\nspec:\n  templates:\n  - name: show\n    inputs: {parameters: [{name: text}]}\n    container: {image: alpine:3.20, command: [sh, -c], args: [\"echo got {{inputs.parameters.text}}\"]}\n",
    )
    .await;
    submit(
        &client,
        "Workflow",
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: params, namespace: work}\nspec:\n  entrypoint: main\n  arguments: {parameters: [{name: env, value: prod}]}\n  templates:\n  - name: main\n    dag:\n      tasks:\n      - name: vault\n        templateRef: {name: sync-and-wait, template: sync}\n        arguments: {parameters: [{name: app, value: \"vault-{{workflow.parameters.env}}\"}]}\n      - name: report\n        depends: vault\n        templateRef: {name: shared, template: show, clusterScope: true}\n        arguments: {parameters: [{name: text, value: \"{{tasks.vault.outputs.result}}/{{tasks.vault.status}}\"}]}\n",
    )
    .await;
    let wf = finished(&client, "params", Duration::from_secs(20)).await;
    assert_eq!(wf["status"]["phase"], "Succeeded", "{wf}");
    let nodes = by_display(&wf);
    assert_eq!(
        nodes["vault"]["templateRef"],
        json!({"name": "sync-and-wait", "template": "sync"})
    );
    assert_eq!(
        nodes["vault"]["inputs"]["parameters"][0],
        json!({"name": "app", "value": "vault-prod"})
    );
    let pod = format!("params-sync-{}", nodes::fnv32a("params.vault"));
    let expected = format!("vault-prod apply params work prod {pod}");
    assert_eq!(nodes["vault"]["outputs"]["result"], expected);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "work");
    let report = format!("params-show-{}", nodes::fnv32a("params.report"));
    assert_eq!(
        pods.logs(&report, &Default::default()).await.unwrap(),
        format!("got {expected}/Succeeded\n")
    );
}

#[tokio::test]
async fn nothing_runs_before_the_argo_install_is_up() {
    let config = SimConfig::from_yaml("workloads: {readyAfter: 50ms}\nimages: {\"alpine:*\": /bin/sh}\n").unwrap();
    let (_sim, client) = kube_client(config).await;
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "work"}})).unwrap(),
    )
    .await
    .unwrap();
    let crds = upstream("argo-workflows-v4.1.2-install.yaml");
    // Only the CRDs: no workflow-controller Deployment.
    let text = std::fs::read_to_string(crds).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    let crd_api: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    for doc in docs.into_iter().filter(|d| d["kind"] == "CustomResourceDefinition") {
        crd_api
            .patch(
                doc["metadata"]["name"].as_str().unwrap(),
                &PatchParams::apply("test").force(),
                &Patch::Apply(&doc),
            )
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let yaml = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {{name: idle, namespace: work}}\nspec:\n  entrypoint: pass\n  templates:\n{}",
        sh("pass", "true")
    );
    submit(&client, "Workflow", &yaml).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let wf = workflows(&client).get("idle").await.unwrap();
    assert!(
        wf.data["status"].is_null(),
        "no controller, no status: {:?}",
        wf.data["status"]
    );
    // Once the controller runs, the waiting Workflow is picked up.
    let argo: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    argo.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "argo"}})).unwrap(),
    )
    .await
    .unwrap();
    apply_file(&client, &upstream("argo-workflows-v4.1.2-install.yaml"), "argo").await;
    assert_eq!(
        finished(&client, "idle", Duration::from_secs(20)).await["status"]["phase"],
        "Succeeded"
    );
}
