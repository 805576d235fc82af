//! `ORCHESTRATION=workflow` end to end: the graph runs as one Argo Workflow
//! in kube-sim, whose Workflows controller runs each task as a pod of the
//! real executor binary (the pod runner maps the task image to it), with
//! the ServiceAccount token it mounts. What Argo Workflows does is held to
//! its schema and semantics in kube-sim's own tests (tests/sim/tests/
//! workflows.rs); here the executor's side is checked through kubectl.

use std::collections::{BTreeMap, BTreeSet};

use crate::harness::{Platform, demo_sim_config, describe, executor_bin};

/// A simulator whose pod runner runs the executor for the task image.
fn workflow_platform(config: kube_sim::SimConfig) -> Platform {
    let mut config = config;
    config.images.insert("executor:*".into(), executor_bin().to_owned());
    let mut platform = Platform::start(config);
    platform
        .sandbox
        .set("ORCHESTRATION", "workflow")
        .set("EXECUTOR_IMAGE", "executor:test");
    platform
}

fn kubectl(platform: &Platform, args: &[&str]) -> Option<String> {
    let kubeconfig = platform.sandbox.dir.path().join("kubectl-kubeconfig");
    std::fs::write(&kubeconfig, platform.sim.kubeconfig("admin")).unwrap();
    let output = std::process::Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .ok()?;
    assert!(
        output.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).unwrap())
}

fn apps(report: &serde_json::Value) -> BTreeMap<String, serde_json::Value> {
    report["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "app")
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c.clone()))
        .collect()
}

/// Each task's dependencies, from its `depends` expression.
fn task_edges(workflow: &serde_json::Value) -> BTreeMap<String, BTreeSet<String>> {
    workflow["spec"]["templates"][0]["dag"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let deps = t["depends"]
                .as_str()
                .unwrap_or_default()
                .split("&&")
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(|d| d.trim_end_matches(".Succeeded").to_owned())
                .collect();
            (t["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

#[test]
fn the_reference_platform_deploys_as_one_workflow_and_a_rerun_submits_nothing() {
    let platform = workflow_platform(demo_sim_config());
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.report();
    assert_eq!(report["orchestration"]["engine"], "argo-workflows", "{report:#}");
    let workflow_name = report["orchestration"]["workflow"].as_str().unwrap().to_owned();
    let apps = apps(&report);
    assert_eq!(apps.len(), 27);
    for (name, app) in &apps {
        assert_eq!(app["status"], "Deployed", "{name}: {app}");
        assert_eq!(app["health"], "Healthy", "{name}");
    }

    let Some(json) = kubectl(&platform, &["get", "workflows", "-A", "-o", "json"]) else {
        eprintln!("kubectl not found: the Workflow checks of this test were skipped");
        return;
    };
    let list: serde_json::Value = serde_json::from_str(&json).unwrap();
    let workflows = list["items"].as_array().unwrap();
    assert_eq!(workflows.len(), 1, "one Workflow");
    let workflow = &workflows[0];
    assert_eq!(
        format!(
            "{}/{}",
            workflow["metadata"]["namespace"].as_str().unwrap(),
            workflow["metadata"]["name"].as_str().unwrap()
        ),
        workflow_name
    );
    assert_eq!(workflow["status"]["phase"], "Succeeded", "{:#}", workflow["status"]);
    assert_eq!(workflow["metadata"]["labels"]["executor.io/action"], "deploy");
    assert_eq!(workflow["metadata"]["labels"]["executor.io/environment"], "development");
    let trace_id = report["summary"]["traceId"].as_str().unwrap();
    assert!(
        workflow["metadata"]["annotations"]["traceparent"]
            .as_str()
            .unwrap()
            .contains(trace_id),
        "the run's trace is on the Workflow"
    );

    // The task graph is the plan's graph.
    let plan = platform.run(&["plan", "--format", "json"]);
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let planned: BTreeMap<String, BTreeSet<String>> = plan["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let deps = n["dependsOn"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_str().unwrap().to_owned())
                .collect();
            (n["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect();
    assert_eq!(task_edges(workflow), planned);

    // Every task ran in its own pod, its logs carrying the run's trace id.
    let pods = kubectl(
        &platform,
        &[
            "get",
            "pods",
            "-n",
            "argo",
            "-l",
            &format!(
                "workflows.argoproj.io/workflow={}",
                workflow["metadata"]["name"].as_str().unwrap()
            ),
            "-o",
            "name",
        ],
    )
    .unwrap();
    let pods: Vec<&str> = pods.lines().collect();
    assert_eq!(pods.len(), 27, "{pods:?}");
    for pod in &pods[..3] {
        let log = kubectl(&platform, &["logs", "-n", "argo", pod]).unwrap();
        let lines: Vec<serde_json::Value> = log
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|l: &serde_json::Value| l.get("trace_id").is_some())
            .collect();
        assert!(!lines.is_empty(), "{pod} logged: {log}");
        assert!(lines.iter().all(|l| l["trace_id"] == trace_id), "{pod}: {log}");
    }

    // No ConfigMap or Secret holds the caller's cluster credentials.
    let token = platform.sim.token("admin");
    for kind in ["secrets", "configmaps"] {
        let all = kubectl(&platform, &["get", kind, "-A", "-o", "json"]).unwrap();
        let list: serde_json::Value = serde_json::from_str(&all).unwrap();
        let values: String = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|o| o["data"].as_object().into_iter().flatten())
            .filter_map(|(_, v)| v.as_str())
            .filter_map(|v| {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.decode(v).ok()
            })
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect();
        let decoded = format!("{all}{values}");
        assert!(!decoded.contains(&token), "a {kind} holds the caller's token");
    }

    // Nothing to do: no Workflow is submitted and nothing is written.
    let mark = platform.audit().len();
    let again = platform.run(&["deploy"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let writes = platform.writes_since(mark);
    assert!(
        writes.is_empty(),
        "a re-deploy must not write:\n{:#?}",
        describe(&writes)
    );
    assert!(again.report()["orchestration"]["workflow"].is_null());
    for app in apps_of(&again.report()).values() {
        assert_eq!(app["status"], "Unchanged");
    }
}

fn apps_of(report: &serde_json::Value) -> BTreeMap<String, serde_json::Value> {
    apps(report)
}
