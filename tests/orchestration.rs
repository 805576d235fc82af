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
    config.images.extend(platform_images());
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

/// The reference deploy in workflow mode, driven with exactly the rules of
/// docs/deploy/rbac.yaml, its tasks running as `executor-workflow` under
/// the RBAC the bootstrap gave it (docs/deploy/rbac-workflow.yaml).
#[test]
fn the_reference_platform_deploys_as_one_workflow_and_a_rerun_submits_nothing() {
    let mut config = demo_sim_config();
    crate::image::with_documented_rbac(&mut config);
    let mut platform = workflow_platform(config);
    platform.use_token("executor");
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let forbidden: Vec<String> = platform
        .audit()
        .iter()
        .filter(|e| e.response_status.code == 403)
        .map(|e| format!("{} {} {}", e.user.username, e.verb, e.request_uri))
        .collect();
    assert!(forbidden.is_empty(), "{forbidden:#?}");
    let driver: BTreeSet<(String, String)> = platform
        .audit()
        .iter()
        .filter(|e| e.user.username == "executor")
        .filter_map(|e| e.object_ref.as_ref().map(|o| (e.verb.clone(), o.resource.clone())))
        .collect();
    for used in [("patch", "workflows"), ("list", "workflows")] {
        assert!(
            driver.contains(&(used.0.to_owned(), used.1.to_owned())),
            "the documented rule {used:?} was not needed"
        );
    }
    assert!(
        platform
            .audit()
            .iter()
            .any(|e| e.user.username == "system:serviceaccount:argo:executor-workflow"),
        "the tasks ran as executor-workflow"
    );
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
    for pod in &pods {
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

/// A degraded Application fails its task: the Workflow does not run its
/// dependents (Omitted), reported Skipped as in local mode; independent
/// branches finish; exit 2 with the Application's diagnostics. Once the
/// application recovers, a new run submits a new Workflow in which the
/// nodes that completed finish at once as `Unchanged`.
#[test]
fn a_failed_task_skips_its_dependents_and_a_new_run_resumes() {
    let healthy = demo_sim_config();
    let mut config = healthy.clone();
    config.apps.insert(
        "postgres-clusters".into(),
        serde_json::from_value(serde_json::json!({"health": "Degraded"})).unwrap(),
    );
    crate::image::with_documented_rbac(&mut config);
    let mut platform = workflow_platform(config);
    platform.use_token("executor");
    platform.sandbox.set("LOG_LEVEL", "debug");
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let report = run.report();
    assert_eq!(report["summary"]["status"], "Partial");
    let apps = apps(&report);
    assert_eq!(
        apps["postgres-clusters"]["status"], "Failed",
        "{:#}",
        apps["postgres-clusters"]
    );
    for dependent in ["keycloak", "harbor", "backstage", "temporal"] {
        assert_eq!(apps[dependent]["status"], "Skipped", "{dependent}");
        assert!(
            apps[dependent]["message"]
                .as_str()
                .unwrap()
                .contains("postgres-clusters"),
            "{}",
            apps[dependent]
        );
    }
    for independent in ["vault", "grafana", "loki", "redis-clusters"] {
        assert_eq!(apps[independent]["status"], "Deployed", "{independent}");
    }
    let failure = report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["component"] == "postgres-clusters")
        .unwrap();
    assert_eq!(
        failure["reason"],
        "Degraded",
        "{failure}\n{}",
        run.stderr
            .lines()
            .filter(|l| l.contains("\"orchestration\""))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        failure["diagnostics"].to_string().contains("platform-postgres"),
        "the Application's diagnostics: {failure}"
    );
    if let Some(json) = kubectl(&platform, &["get", "workflows", "-A", "-o", "json"]) {
        let list: serde_json::Value = serde_json::from_str(&json).unwrap();
        let workflow = &list["items"][0];
        assert_eq!(workflow["status"]["phase"], "Failed");
        let omitted: BTreeSet<&str> = workflow["status"]["nodes"]
            .as_object()
            .unwrap()
            .values()
            .filter(|n| n["phase"] == "Omitted")
            .filter_map(|n| n["displayName"].as_str())
            .collect();
        assert!(
            omitted.contains("keycloak"),
            "Argo did not run the dependents: {omitted:?}"
        );
    }
    // The driver found the failed task's pod to read its log (the
    // documented `list pods` rule), and nothing was forbidden.
    let audit = platform.audit();
    assert!(
        audit.iter().any(|e| e.user.username == "executor"
            && e.verb == "list"
            && e.object_ref.as_ref().is_some_and(|o| o.resource == "pods")),
        "the documented `list pods` rule was not needed"
    );
    let forbidden: Vec<String> = audit
        .iter()
        .filter(|e| e.response_status.code == 403)
        .map(|e| format!("{} {} {}", e.user.username, e.verb, e.request_uri))
        .collect();
    assert!(forbidden.is_empty(), "{forbidden:#?}");

    // Resume: the database recovers; a new Workflow (the failed one is
    // kept, as Argo keeps finished Workflows) redoes only what is left.
    let mut recovered = healthy;
    crate::image::with_documented_rbac(&mut recovered);
    recovered.images = platform_images();
    platform.sim.reload(recovered);
    let again = platform.run(&["deploy"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let report = again.report();
    let second = report["orchestration"]["workflow"].as_str().unwrap();
    assert!(
        second.ends_with("-2"),
        "a second Workflow beside the failed one: {second}"
    );
    let apps = apps_of(&report);
    for done in ["vault", "grafana", "loki"] {
        assert_eq!(apps[done]["status"], "Unchanged", "{done}: {}", apps[done]);
    }
    for resumed in ["keycloak", "harbor"] {
        assert_eq!(apps[resumed]["status"], "Deployed", "{resumed}: {}", apps[resumed]);
    }
    assert_eq!(apps.values().filter(|a| a["health"] == "Healthy").count(), 27);
}

/// The pod runner's mapping of [`workflow_platform`].
fn platform_images() -> std::collections::BTreeMap<String, std::path::PathBuf> {
    [("executor:*".to_owned(), executor_bin().to_owned())].into()
}

/// The executor killed mid-run (the CI job restarted): started again with
/// the same inputs, it finds its Workflow still running and follows it to
/// its end instead of submitting a second one.
#[test]
fn a_restarted_executor_attaches_to_its_running_workflow() {
    // One slow leaf keeps the Workflow running while the executor restarts.
    let mut config = demo_sim_config();
    config.apps.insert(
        "backstage".into(),
        serde_json::from_value(serde_json::json!({"healthyAfter": "30s"})).unwrap(),
    );
    let mut platform = workflow_platform(config);
    // The killed driver's lease expires within 15 s; the restart waits.
    platform.sandbox.set("LOCK_TIMEOUT", "60s");
    let mut child = platform.spawn("deploy", &[], false);
    platform.wait_for_write("workflows", None, std::time::Duration::from_secs(60), Some(&mut child));
    child.kill().unwrap(); // SIGKILL: the Workflow goes on without it
    child.wait().unwrap();

    // The running Workflow drives the environment: a teardown (other
    // inputs) is refused once the killed driver's lease has expired,
    // naming the Workflow, and submits nothing.
    platform.sandbox.set("TEARDOWN_CONFIRM", "demo");
    let refused = platform.run(&["teardown"]);
    platform.sandbox.unset("TEARDOWN_CONFIRM");
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(
        refused.report()["failures"]
            .to_string()
            .contains("Workflow argo/executor-deploy-demo-"),
        "{:#}",
        refused.report()
    );

    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("attaching to Workflow"), "{}", run.stderr);
    let report = run.report();
    let submitted: Vec<String> = platform
        .writes_since(0)
        .iter()
        .filter(|e| e.verb == "patch" || e.verb == "create")
        .filter_map(|e| {
            e.object_ref
                .as_ref()
                .filter(|o| o.resource == "workflows" && o.subresource.is_none())
        })
        .filter_map(|o| o.name.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(submitted.len(), 1, "one Workflow: {submitted:?}");
    assert!(
        report["orchestration"]["workflow"]
            .as_str()
            .unwrap()
            .ends_with(&submitted[0])
    );
    assert_eq!(apps(&report).values().filter(|a| a["health"] == "Healthy").count(), 27);
}

/// ACTION_TIMEOUT stops the Workflow the way Argo's own `argo stop` does
/// (`spec.shutdown: Stop`): the run ends TimedOut (exit 4) with its report.
#[test]
fn action_timeout_stops_the_workflow() {
    let mut config = demo_sim_config();
    config.apps.insert(
        "loki".into(),
        serde_json::from_value(serde_json::json!({"health": "Progressing"})).unwrap(),
    );
    let mut platform = workflow_platform(config);
    // Long enough for the bootstrap and the Workflow's start on a busy
    // machine; loki never becomes healthy.
    platform.sandbox.set("ACTION_TIMEOUT", "40s");
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let report = run.report();
    assert_eq!(report["summary"]["status"], "TimedOut");
    assert!(report["orchestration"]["workflow"].is_string(), "{report:#}");
    let loki = apps(&report).get("loki").cloned();
    assert_eq!(
        loki.as_ref().map(|l| &l["status"]),
        Some(&serde_json::json!("TimedOut")),
        "{report:#}"
    );
    if let Some(json) = kubectl(&platform, &["get", "workflows", "-A", "-o", "json"]) {
        let list: serde_json::Value = serde_json::from_str(&json).unwrap();
        let workflow = &list["items"][0];
        assert_eq!(workflow["spec"]["shutdown"], "Stop", "{:#}", workflow["spec"]);
        assert_ne!(workflow["status"]["phase"], "Running");
    }
}

/// Teardown in workflow mode: the reverse graph, a `teardown` task per
/// application; then the executor removes the bootstrap itself.
#[test]
fn teardown_runs_the_reverse_graph_as_a_workflow() {
    let mut platform = workflow_platform(demo_sim_config());
    let deployed = platform.run(&["deploy"]);
    assert_eq!(deployed.code, 0, "{}", deployed.stderr);
    platform.sandbox.set("TEARDOWN_CONFIRM", "demo");
    let run = platform.run(&["teardown"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.report();
    assert_eq!(report["orchestration"]["engine"], "argo-workflows");
    assert!(
        report["orchestration"]["workflow"]
            .as_str()
            .unwrap()
            .contains("executor-teardown-")
    );
    for (name, app) in apps(&report) {
        assert_eq!(app["status"], "Removed", "{name}: {app}");
    }
    assert_eq!(report["orphans"], serde_json::json!([]));
    if let Some(apps) = kubectl(&platform, &["get", "applications", "-A", "-o", "name"]) {
        assert_eq!(apps.trim(), "", "every Application is gone");
    }
}
