//! Failures recorded on the Kubernetes objects: a failed or skipped node's
//! Application carries an `events.k8s.io/v1` Event, seen with the real
//! `kubectl describe application` and `kubectl get events` against
//! kube-sim; successful runs write none.

use serde_json::Value;

use crate::harness::{Platform, demo_sim_config, describe};

/// `kubectl <args>` against the platform; `None` when kubectl is not installed.
fn kubectl(platform: &Platform, args: &[&str]) -> Option<String> {
    let kubeconfig = platform.sandbox.env.get("KUBECONFIG_PATH").cloned()?;
    let output = std::process::Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .ok()?;
    assert!(
        output.status.success(),
        "kubectl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The `Events:` section of `kubectl describe` output.
fn events_section(described: &str) -> &str {
    described
        .split_once("\nEvents:")
        .map(|(_, events)| events)
        .unwrap_or_else(|| panic!("no Events section:\n{described}"))
}

#[test]
fn a_failed_and_a_skipped_application_carry_warning_events_kubectl_shows() {
    let mut config = demo_sim_config();
    config.apps.insert(
        "postgres-clusters".into(),
        serde_json::from_value(serde_json::json!({"health": "Degraded"})).unwrap(),
    );
    let platform = Platform::start(config.clone());
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 2, "partial\n{}", run.stderr);
    let trace_id = run.report()["summary"]["traceId"].as_str().unwrap().to_owned();

    // `kubectl describe` of a custom resource lists the core/v1 Events
    // whose involvedObject is that object (client-go's
    // `EventExpansion.Search`: fieldSelector involvedObject.name,
    // .namespace, .kind and .uid).
    let Some(described) = kubectl(
        &platform,
        &["describe", "application", "postgres-clusters", "-n", "argocd"],
    ) else {
        eprintln!("kubectl not found: this test needs it");
        return;
    };
    let events = events_section(&described);
    let line = events
        .lines()
        .find(|l| l.contains("Degraded"))
        .unwrap_or_else(|| panic!("no Degraded event:\n{described}"));
    assert!(line.trim_start().starts_with("Warning"), "{line}");
    assert!(line.contains("executor"), "{line}");
    // One line: the diagnostics follow the message on the same line.
    assert!(line.contains("Degraded (SyncFailed)"), "{line}");
    assert!(
        events.contains("acid.zalan.do/postgresql:databases/platform-postgres"),
        "the diagnostic is the note:\n{events}"
    );
    // A skipped node's Application was never created: its Event is found
    // by the same field selector kubectl describe uses.
    let skipped = kubectl(
        &platform,
        &[
            "get",
            "events",
            "-n",
            "argocd",
            "--field-selector",
            "involvedObject.kind=Application,involvedObject.name=keycloak",
        ],
    )
    .unwrap();
    let line = skipped
        .lines()
        .find(|l| l.contains("DependencyFailed"))
        .unwrap_or_else(|| panic!("{skipped}"));
    assert!(line.contains("Warning") && line.contains("postgres-clusters"), "{line}");
    // An application that deployed carries none of the executor's events.
    let described = kubectl(&platform, &["describe", "application", "vault", "-n", "argocd"]).unwrap();
    assert!(
        !described.contains("DependencyFailed") && !described.contains("executor-"),
        "{described}"
    );

    // `kubectl get events` (core/v1) and the events.k8s.io/v1 view show the
    // same objects, under each API's field names.
    let core: Value =
        serde_json::from_str(&kubectl(&platform, &["get", "events", "-n", "argocd", "-o", "json"]).unwrap()).unwrap();
    let ours: Vec<&Value> = core["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reportingComponent"] == "executor")
        .collect();
    let failed = ours
        .iter()
        .find(|e| e["involvedObject"]["name"] == "postgres-clusters")
        .unwrap_or_else(|| panic!("{core:#}"));
    assert_eq!(failed["type"], "Warning");
    assert_eq!(failed["action"], "Deploy");
    assert_eq!(failed["reportingInstance"], format!("executor-{trace_id}"));
    assert_eq!(failed["involvedObject"]["kind"], "Application");
    assert_eq!(failed["involvedObject"]["apiVersion"], "argoproj.io/v1alpha1");
    let app: Value = serde_json::from_str(
        &kubectl(
            &platform,
            &["get", "application", "postgres-clusters", "-n", "argocd", "-o", "json"],
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(failed["involvedObject"]["uid"], app["metadata"]["uid"]);
    let v1: Value = serde_json::from_str(
        &kubectl(
            &platform,
            &["get", "events.v1.events.k8s.io", "-n", "argocd", "-o", "json"],
        )
        .unwrap(),
    )
    .unwrap();
    let same = v1["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["metadata"]["name"] == failed["metadata"]["name"])
        .unwrap_or_else(|| panic!("{v1:#}"));
    assert_eq!(same["regarding"]["name"], "postgres-clusters");
    assert_eq!(same["reportingController"], "executor");
    assert_eq!(same["note"], failed["message"]);

    // Fixed: the re-run succeeds and records no Event.
    config.apps.remove("postgres-clusters");
    platform.sim.reload(config);
    let mark = platform.audit().len();
    let rerun = platform.run(&["deploy"]);
    assert_eq!(rerun.code, 0, "after the fix\n{}", rerun.stderr);
    let events: Vec<_> = platform
        .writes_since(mark)
        .into_iter()
        .filter(|e| e.object_ref.as_ref().is_some_and(|o| o.resource == "events"))
        .collect();
    assert!(
        events.is_empty(),
        "a successful run wrote events:\n{:#?}",
        describe(&events)
    );
}

#[test]
fn a_dry_run_records_no_event() {
    let mut config = demo_sim_config();
    config.apps.insert(
        "postgres-clusters".into(),
        serde_json::from_value(serde_json::json!({"health": "Degraded"})).unwrap(),
    );
    let platform = Platform::start(config);
    let first = platform.run(&["deploy"]);
    assert_eq!(first.code, 2, "{}", first.stderr);
    let mut platform = platform;
    platform.sandbox.set("DRY_RUN", "true");
    let mark = platform.audit().len();
    let dry = platform.run(&["deploy"]);
    let writes = platform.writes_since(mark);
    assert!(
        writes.is_empty(),
        "a dry run wrote (exit {}):\n{:#?}",
        dry.code,
        describe(&writes)
    );
}

#[test]
fn a_bootstrap_failure_is_recorded_on_the_workload_concerned() {
    let mut config = demo_sim_config();
    // Argo CD's workloads never become ready within the health timeout.
    config.workloads.ready_after = Some(std::time::Duration::from_secs(3600));
    let platform = Platform::start(config);
    platform.sandbox.config_file(
        "environment.yaml",
        "name: demo\ndomain: demo.example.com\ngitRepository: https://git.example.com/platform.git\ngitRevision: main\ntimeouts: {sync: 30s, health: 2s}\n",
    );
    let run = platform.run(&["deploy"]);
    assert_ne!(run.code, 0, "{}", run.stderr);
    let failure = run.report()["failures"][0]["message"].as_str().unwrap().to_owned();
    let Some(listed) = kubectl(
        &platform,
        &[
            "get",
            "events",
            "-A",
            "--field-selector",
            "reportingComponent=executor",
            "-o",
            "json",
        ],
    ) else {
        eprintln!("kubectl not found: this test needs it");
        return;
    };
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed:#}");
    let event = &items[0];
    let object = &event["involvedObject"];
    assert_eq!(object["kind"], "Deployment", "{event:#}");
    let name = object["name"].as_str().unwrap();
    let namespace = object["namespace"].as_str().unwrap();
    assert!(
        failure.contains(&format!("Deployment {namespace}/{name}")),
        "the Event is on the object the failure names: {failure}\n{event:#}"
    );
    assert_eq!(event["type"], "Warning");
    // The wait ran out of time: the failure's kind, not its words, says so.
    assert_eq!(event["reason"], "HealthTimeout", "{event:#}");
    assert_eq!(event["metadata"]["namespace"], namespace);
    let described = kubectl(&platform, &["describe", "deployment", name, "-n", namespace]).unwrap();
    assert!(events_section(&described).contains("executor"), "{described}");
}
