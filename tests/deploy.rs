//! `executor deploy` end to end against kube-sim: bare cluster to healthy
//! platform, idempotent re-runs, failure propagation, timeouts, dry runs,
//! ordering.

use std::collections::BTreeMap;
use std::path::Path;

use crate::harness::{Platform, demo_environment, demo_sim_config, describe};

fn components(report: &serde_json::Value, kind: &str) -> BTreeMap<String, serde_json::Value> {
    report["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == kind)
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c.clone()))
        .collect()
}

fn kubectl(platform: &Platform, args: &[&str]) -> Option<String> {
    let kubeconfig = platform.sandbox.env.get("KUBECONFIG_PATH").cloned()?;
    let output = std::process::Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn bare_cluster_to_healthy_platform_then_a_no_op_rerun() {
    let platform = Platform::start(demo_sim_config());
    platform
        .sandbox
        .config_file("environment.yaml", &demo_environment("argocdNamespace: gitops\n"));
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 0, "first deploy\n{}", run.stderr);
    let report = run.report();
    assert_eq!(report["summary"]["status"], "Succeeded");
    let apps = components(&report, "app");
    assert_eq!(apps.len(), 27);
    for (name, app) in &apps {
        assert_eq!(app["status"], "Deployed", "{name}: {app}");
        assert_eq!(app["health"], "Healthy", "{name}");
        assert_eq!(app["sync"], "Synced", "{name}");
    }
    assert_eq!(components(&report, "stack").len(), 8);
    assert_eq!(components(&report, "bootstrap")["bootstrap"]["status"], "Deployed");

    // kubectl, an independent client, sees Argo CD in the configured namespace.
    match kubectl(
        &platform,
        &[
            "get",
            "deployment",
            "argocd-server",
            "-n",
            "gitops",
            "-o",
            "jsonpath={.status.readyReplicas}",
        ],
    ) {
        Some(ready) => assert_eq!(ready, "1"),
        None => eprintln!("kubectl not found: the kubectl check of this test was skipped"),
    }
    if let Some(apps) = kubectl(&platform, &["get", "applications", "-n", "gitops", "-o", "json"]) {
        let apps: serde_json::Value = serde_json::from_str(&apps).unwrap();
        let items = apps["items"].as_array().unwrap();
        assert_eq!(items.len(), 27);
        assert!(
            items
                .iter()
                .all(|a| a["status"]["health"]["status"] == "Healthy" && a["status"]["sync"]["status"] == "Synced")
        );
    }

    // Again, on the healthy platform: zero writes, nothing changes.
    let versions_before = resource_versions(&platform);
    let mark = platform.audit().len();
    let again = platform.run(&["deploy"]);
    assert_eq!(again.code, 0, "second deploy\n{}", again.stderr);
    let writes = platform.writes_since(mark);
    assert!(
        writes.is_empty(),
        "a re-deploy must not write:\n{:#?}",
        describe(&writes)
    );
    assert_eq!(
        resource_versions(&platform),
        versions_before,
        "no resourceVersion may change"
    );
    let report = again.report();
    for component in report["components"].as_array().unwrap() {
        assert_eq!(component["status"], "Unchanged", "{component}");
    }
    let requests = report["metrics"]["apiRequestsTotal"].as_u64().unwrap();
    assert!(requests <= 25, "no-op re-deploy made {requests} requests");
    assert_eq!(report["metrics"]["mutatingRequests"], 0);
}

/// `resourceVersion` of every Application and bootstrap Deployment.
fn resource_versions(platform: &Platform) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (kind, ns) in [
        ("applications", "gitops"),
        ("deployments", "gitops"),
        ("deployments", "argo"),
    ] {
        let Some(text) = kubectl(platform, &["get", kind, "-n", ns, "-o", "json"]) else {
            continue;
        };
        let list: serde_json::Value = serde_json::from_str(&text).unwrap();
        for item in list["items"].as_array().unwrap() {
            out.insert(
                format!("{kind}/{ns}/{}", item["metadata"]["name"].as_str().unwrap()),
                item["metadata"]["resourceVersion"].as_str().unwrap().to_owned(),
            );
        }
    }
    out
}

#[test]
fn a_degraded_app_skips_its_dependents_and_a_fixed_rerun_finishes_the_job() {
    let mut config = demo_sim_config();
    // The simulated operator reports the cluster SyncFailed; Argo CD's
    // postgresql check makes it, and so the Application, Degraded.
    config.apps.insert(
        "postgres-clusters".into(),
        serde_json::from_value(serde_json::json!({"health": "Degraded"})).unwrap(),
    );
    let platform = Platform::start(config.clone());
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 2, "partial\n{}", run.stderr);
    let report = run.report();
    assert_eq!(report["summary"]["status"], "Partial");
    let apps = components(&report, "app");
    assert_eq!(apps["postgres-clusters"]["status"], "Failed");
    for dependent in ["keycloak", "harbor", "backstage", "temporal"] {
        assert_eq!(apps[dependent]["status"], "Skipped", "{dependent}");
        assert!(
            apps[dependent]["message"]
                .as_str()
                .unwrap()
                .contains("postgres-clusters")
        );
    }
    for independent in ["vault", "grafana", "loki", "redis-clusters", "external-secrets"] {
        assert_eq!(apps[independent]["status"], "Deployed", "{independent}");
    }
    let failure = report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["component"] == "postgres-clusters")
        .unwrap();
    assert_eq!(failure["reason"], "Degraded");
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .contains("acid.zalan.do/postgresql:databases/platform-postgres"),
        "{failure}"
    );
    assert!(
        failure["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d == "postgresql databases/platform-postgres: Degraded (SyncFailed)"),
        "{failure}"
    );
    assert!(report["summary"]["exitCode"] == 2);

    // Fix it and run again: only the remaining nodes are worked.
    config.apps.remove("postgres-clusters");
    platform.sim.reload(config);
    let mark = platform.audit().len();
    let rerun = platform.run(&["deploy"]);
    assert_eq!(rerun.code, 0, "after the fix\n{}", rerun.stderr);
    let apps = components(&rerun.report(), "app");
    assert_eq!(apps["vault"]["status"], "Unchanged");
    assert_eq!(apps["keycloak"]["status"], "Deployed");
    let written: Vec<String> = platform
        .writes_since(mark)
        .iter()
        .filter_map(|e| e.object_ref.as_ref().and_then(|o| o.name.clone()))
        .collect();
    for untouched in ["vault", "grafana", "loki", "metallb"] {
        assert!(
            !written.contains(&untouched.to_owned()),
            "{untouched} was written again: {written:?}"
        );
    }
}

#[test]
fn dry_run_changes_nothing_and_says_what_would_change() {
    let mut platform = Platform::start(demo_sim_config());
    platform.sandbox.set("DRY_RUN", "true");
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let writes = platform.writes_since(0);
    assert!(writes.is_empty(), "dry run wrote:\n{:#?}", describe(&writes));
    let report = run.report();
    assert_eq!(report["summary"]["dryRun"], true);
    assert_eq!(components(&report, "bootstrap")["bootstrap"]["status"], "WouldCreate");
    assert!(
        components(&report, "app")
            .values()
            .all(|a| a["status"] == "WouldCreate")
    );
}

#[test]
fn a_never_healthy_node_times_out() {
    let mut config = demo_sim_config();
    config.apps.insert(
        "loki".into(),
        serde_json::from_value(serde_json::json!({"health": "Progressing"})).unwrap(),
    );
    let platform = Platform::start(config);
    // Node timeouts: the node times out, its branch stops, exit 2.
    platform
        .sandbox
        .config_file("dag.yaml", "overlay:\n  timeouts: {loki: {sync: 1s, health: 2s}}\n");
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let apps = components(&run.report(), "app");
    assert_eq!(apps["loki"]["status"], "TimedOut");
    assert_eq!(apps["grafana"]["status"], "Deployed");

    // The action's deadline: exit 4 with a partial report.
    let mut platform = platform;
    std::fs::remove_file(platform.sandbox.config_dir().join("dag.yaml")).unwrap();
    platform.sandbox.set("ACTION_TIMEOUT", "3s");
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let report = run.report();
    assert_eq!(report["summary"]["status"], "TimedOut");
    assert_eq!(components(&report, "app")["grafana"]["status"], "Unchanged");
}

#[test]
fn no_application_is_created_before_its_dependencies_are_healthy() {
    use std::sync::{Arc, Mutex};
    let platform = Platform::start(demo_sim_config());
    // An independent observer: one watch on Applications, started before the
    // run. Its events come in resourceVersion order, so "created" (the first
    // event of an Application) and "Healthy" (the first event showing it)
    // are ordered by the cluster itself, not by anyone's clock.
    let seen: Arc<Mutex<Observed>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let observer = {
        let kubeconfig = platform.sim.kubeconfig("admin");
        let seen = seen.clone();
        let stop = stop.clone();
        std::thread::spawn(move || observe(&kubeconfig, &seen, &stop))
    };
    let run = platform.run(&["deploy"]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    observer.join().unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);

    let seen = seen.lock().unwrap();
    let graph = executor::dag::load::bundled().unwrap();
    assert_eq!(seen.created.len(), 27);
    for (app, deps) in &graph.resolved.deps {
        let created = seen.created[app];
        for dep in deps.keys() {
            let healthy = *seen
                .healthy
                .get(dep)
                .unwrap_or_else(|| panic!("{dep} never observed Healthy"));
            assert!(
                created > healthy,
                "{app} was created at resourceVersion {created}, before {dep} was Healthy at {healthy}"
            );
        }
    }
}

/// First resourceVersion at which each Application existed / was Healthy.
#[derive(Default)]
struct Observed {
    created: BTreeMap<String, u64>,
    healthy: BTreeMap<String, u64>,
}

/// Watches Applications with kube-rs until `stop`.
fn observe(kubeconfig: &str, seen: &std::sync::Mutex<Observed>, stop: &std::sync::atomic::AtomicBool) {
    use futures::StreamExt as _;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = kube::config::Kubeconfig::from_yaml(kubeconfig).unwrap();
        let config = kube::Config::from_custom_kubeconfig(config, &Default::default())
            .await
            .unwrap();
        let client = kube::Client::try_from(config).unwrap();
        let resource = kube::core::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
            "applications",
        );
        let api: kube::Api<kube::core::DynamicObject> = kube::Api::all_with(client, &resource);
        let mut stream =
            kube::runtime::WatchStreamExt::default_backoff(kube::runtime::watcher(api, Default::default())).boxed();
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            let next = tokio::time::timeout(std::time::Duration::from_millis(100), stream.next()).await;
            let Ok(Some(Ok(event))) = next else { continue };
            let objects = match event {
                kube::runtime::watcher::Event::Apply(o) | kube::runtime::watcher::Event::InitApply(o) => vec![o],
                _ => vec![],
            };
            let mut seen = seen.lock().unwrap();
            for object in objects {
                let name = object.metadata.name.clone().unwrap_or_default();
                let version: u64 = object
                    .metadata
                    .resource_version
                    .as_deref()
                    .unwrap_or("0")
                    .parse()
                    .unwrap_or(0);
                seen.created.entry(name.clone()).or_insert(version);
                if object.data["status"]["health"]["status"] == "Healthy" {
                    seen.healthy.entry(name).or_insert(version);
                }
            }
        }
    });
}

#[test]
fn converges_through_faults_and_counts_retries() {
    let mut config = demo_sim_config();
    config.seed = 7;
    config.faults = serde_json::from_value(serde_json::json!([
        {"match": {"verb": "patch", "user": "admin"}, "rate": 0.05, "status": 503},
        {"match": {"verb": "list", "user": "admin"}, "rate": 0.05, "status": 503},
        {"match": {"verb": "get", "user": "admin"}, "rate": 0.05, "reset": true},
        {"match": {"verb": "watch", "user": "admin"}, "rate": 0.2, "reset": true, "resetAfter": "300ms"}
    ]))
    .unwrap();
    let platform = Platform::start(config);
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.report();
    assert!(components(&report, "app").values().all(|a| a["health"] == "Healthy"));
    let retries = report["metrics"]["retries"].as_u64().unwrap();
    assert!(
        retries > 0,
        "faults were injected, so retries must show: {}",
        report["metrics"]
    );
    let failed = platform
        .audit()
        .iter()
        .filter(|e| e.user.username == "admin" && e.response_status.code == 503)
        .count();
    assert!(failed > 0, "the fault rules must have fired");
}

/// The fault matrix of issue 18: API failure rates × seeds. Every request
/// of the executor may be answered 503 (no `Retry-After`, as
/// kube-apiserver's `NewServiceUnavailable` sends none) or have its
/// connection reset. The deploy converges with exit 0 and no failure (no
/// transient error reaches a script), and a re-run under the same faults
/// writes nothing. The time bound is a benchmark (docs/benchmarks.md).
#[test]
fn a_flaky_api_server_costs_retries_not_the_run() {
    for (errors, resets) in [(0.05, 0.01), (0.20, 0.05)] {
        for seed in [11, 12] {
            let mut config = demo_sim_config();
            config.seed = seed;
            config.faults = serde_json::from_value(serde_json::json!([
                {"match": {"user": "admin"}, "rate": errors, "status": 503, "retryAfter": 0},
                {"match": {"user": "admin"}, "rate": resets, "reset": true, "resetAfter": "500ms"}
            ]))
            .unwrap();
            let platform = Platform::start(config);
            let case = format!("{errors} errors, {resets} resets, seed {seed}");
            let run = platform.run(&["deploy"]);
            let report = run.report();
            assert_eq!(run.code, 0, "{case}: {}", report["failures"]);
            assert_eq!(report["failures"], serde_json::json!([]), "{case}");
            assert!(
                report["metrics"]["retries"].as_u64().unwrap() > 0,
                "{case}: faults must have fired"
            );
            let mark = platform.audit().len();
            let again = platform.run(&["deploy"]);
            assert_eq!(again.code, 0, "{case}, re-run: {}", again.report()["failures"]);
            assert_eq!(
                describe(&platform.writes_since(mark)),
                Vec::<String>::new(),
                "{case}: the re-run wrote"
            );
        }
    }
}

#[test]
fn a_sync_that_starts_before_the_answer_arrives_still_counts() {
    // Argo CD may start (and finish) a requested sync before the patch's
    // answer reaches the executor, in what is already the next second: the
    // request time must be taken before sending, or the wait never ends.
    let mut config = demo_sim_config();
    config.faults = serde_json::from_value(serde_json::json!([
        {"match": {"verb": "patch", "resource": "applications", "name": "metallb", "user": "admin"}, "responseLatency": "1500ms"}
    ]))
    .unwrap();
    let mut platform = Platform::start(config);
    platform.sandbox.set("ACTION_TIMEOUT", "60s");
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(components(&run.report(), "app")["metallb"]["health"], "Healthy");
    let patched = platform
        .audit()
        .iter()
        .filter(|e| e.verb == "patch" && e.object_ref.as_ref().and_then(|r| r.name.as_deref()) == Some("metallb"))
        .count();
    assert!(patched > 0, "the delayed answer must have been exercised");
}

#[test]
fn killed_mid_run_and_rerun_converges_to_a_clean_deploy() {
    let mut platform = Platform::start(demo_sim_config());
    // A killed run's lease expires within 15 s; each re-run waits for it.
    platform.sandbox.set("LOCK_TIMEOUT", "60s");
    // Kill at several points: during bootstrap (after 20 writes), early in
    // the graph (after 3 Application writes), later (after 10 more).
    for (resource, writes_before_kill) in [(None, 20), (Some("applications"), 3), (Some("applications"), 10)] {
        let mark = platform.audit().len();
        let mut child = std::process::Command::new(crate::harness::executor_bin())
            .arg("deploy")
            .env_clear()
            .envs(&platform.sandbox.env)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let writes = platform
                .writes_since(mark)
                .iter()
                .filter(|e| resource.is_none_or(|r| e.object_ref.as_ref().is_some_and(|o| o.resource == r)))
                .count();
            if writes >= writes_before_kill || std::time::Instant::now() > deadline {
                break;
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "the deploy finished before the kill point {writes_before_kill}"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL: no chance to clean up
        child.wait().unwrap();
    }
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // Same state as a clean deploy on a fresh cluster.
    let clean = Platform::start(demo_sim_config());
    assert_eq!(clean.run(&["deploy"]).code, 0);
    assert_eq!(state(&platform), state(&clean));
}

/// What a deploy leaves: every Application's spec and health, and the
/// bootstrap objects by kind and name.
pub(crate) fn state(platform: &Platform) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(text) = kubectl(platform, &["get", "applications", "-A", "-o", "json"]) else {
        return out;
    };
    let list: serde_json::Value = serde_json::from_str(&text).unwrap();
    for app in list["items"].as_array().unwrap() {
        out.insert(
            format!("app/{}", app["metadata"]["name"].as_str().unwrap()),
            format!(
                "{} {} {}",
                app["spec"], app["status"]["sync"]["status"], app["status"]["health"]["status"]
            ),
        );
    }
    for kind in [
        "deployments",
        "statefulsets",
        "configmaps",
        "services",
        "serviceaccounts",
        "customresourcedefinitions",
    ] {
        let text = kubectl(
            platform,
            &[
                "get",
                kind,
                "-A",
                "-l",
                "app.kubernetes.io/managed-by=executor",
                "-o",
                "name",
            ],
        )
        .unwrap_or_default();
        out.insert(format!("bootstrap/{kind}"), text);
    }
    out
}

#[test]
fn sigterm_stops_the_run_and_still_writes_the_report() {
    let mut config = demo_sim_config();
    config.apps.insert(
        "loki".into(),
        serde_json::from_value(serde_json::json!({"health": "Progressing"})).unwrap(),
    );
    let platform = Platform::start(config);
    let child = std::process::Command::new(crate::harness::executor_bin())
        .arg("deploy")
        .env_clear()
        .envs(&platform.sandbox.env)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the graph is running (loki never turns healthy), then stop it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !platform
        .writes_since(0)
        .iter()
        .any(|e| e.request_uri.contains("applications/loki"))
    {
        assert!(std::time::Instant::now() < deadline, "loki was never written");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let stopped_at = std::time::Instant::now();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let output = child.wait_with_output().unwrap();
    assert!(
        stopped_at.elapsed() < std::time::Duration::from_secs(15),
        "the run must stop promptly"
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["summary"]["status"], "Failed");
    assert!(
        report["failures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["reason"] == "Interrupted"),
        "{report:#}"
    );
    assert!(report["recommendations"].to_string().contains("again"));
}

/// `kube-sim demo` (the README's main job) with kube-sim's random default
/// tokens: the executor redacts its credentials, and no word of the
/// platform's objects is one, so nothing it prints is `<redacted>` (with the
/// word `admin` as token, `ClusterRole argo-aggregate-to-admin` printed as
/// `argo-aggregate-to-<redacted>`).
#[test]
fn the_demo_prints_no_redactions() {
    let out = tempfile::tempdir().unwrap();
    let args = kube_sim::demo::DemoArgs {
        executor: Some(env!("CARGO_BIN_EXE_executor").into()),
        bundle_dir: Some(crate::harness::upstream_dir()),
        teardown: true,
        keep: false,
        output_dir: Some(out.path().to_owned()),
        orchestration: "local".to_owned(),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(kube_sim::demo::run(args)).unwrap();
    let mut files: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"1-deploy.stdout".to_owned()), "{names:?}");
    assert!(names.contains(&"4-teardown.stderr".to_owned()), "{names:?}");
    let mut all = String::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            !text.contains("<redacted>"),
            "{} prints <redacted>:\n{text}",
            file.display()
        );
        all.push_str(&text);
    }
    assert!(
        all.contains("argo-aggregate-to-admin"),
        "the ClusterRole's name is printed whole"
    );
}

/// Issue 16: one sync operation per Application per run. Argo CD syncs a
/// new spec itself when the Application's policy is automated (argo-cd
/// `controller/appcontroller.go`, `autoSync`), and drops a requested
/// operation when its own ends; so the executor asks only for the
/// Applications whose automated sync is off. kube-sim's Argo CD keeps
/// `status.history` as Argo CD does (one entry per completed sync).
#[test]
fn one_sync_per_application_requested_only_where_argo_cd_would_not_sync() {
    let platform = Platform::start(demo_sim_config());
    let manual = ["metallb", "vault", "grafana"];
    let mut graph = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("bundle/dag.yaml")).unwrap();
    for name in manual {
        let line = format!("      - name: {name}\n");
        assert!(graph.contains(&line), "{name} is in the reference graph");
        graph = graph.replace(&line, &format!("{line}        autoSync: false\n"));
    }
    platform.sandbox.config_file("dag.yaml", &graph);
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.report();
    assert_eq!(
        report["metrics"]["syncRequests"],
        manual.len(),
        "a sync request for each Application without automated sync, none for the others"
    );
    let requests: Vec<String> = platform
        .audit()
        .iter()
        // Server-side applies are patches too; they carry a field manager.
        .filter(|e| e.user.username == "admin" && e.verb == "patch" && !e.request_uri.contains("fieldManager="))
        .filter_map(|e| {
            e.object_ref
                .as_ref()
                .filter(|o| o.resource == "applications")
                .and_then(|o| o.name.clone())
        })
        .collect();
    let mut requested: Vec<&str> = requests.iter().map(String::as_str).collect();
    requested.sort_unstable();
    let mut expected = manual.to_vec();
    expected.sort_unstable();
    assert_eq!(
        requested, expected,
        "the executor's patches of Applications are its sync requests"
    );
    let Some(text) = kubectl(&platform, &["get", "applications", "-A", "-o", "json"]) else {
        eprintln!("kubectl not found: the per-Application sync count of this test was skipped");
        return;
    };
    let list: serde_json::Value = serde_json::from_str(&text).unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 27);
    for app in items {
        let history = app["status"]["history"].as_array().map_or(0, Vec::len);
        assert_eq!(
            history, 1,
            "{}: one sync operation, got {history}",
            app["metadata"]["name"]
        );
    }
}

/// Step 5 decides: an application that degrades after its node finished,
/// before the final verification, fails the run (issue 18: such a run
/// reported Succeeded, exit 0, with the failure listed). The report's
/// component says what the verification found.
#[test]
fn an_application_that_degrades_before_the_final_check_fails_the_run() {
    let mut config = demo_sim_config();
    // A slow leaf keeps the run going after cert-manager is done.
    config.apps.insert(
        "backstage".into(),
        serde_json::from_value(serde_json::json!({"healthyAfter": "6s"})).unwrap(),
    );
    let platform = Platform::start(config.clone());
    let child = platform.spawn("deploy", &[], true);
    platform.wait_for_write(
        "applications",
        Some("backstage"),
        std::time::Duration::from_secs(120),
        None,
    );
    config.apps.insert(
        "cert-manager".into(),
        serde_json::from_value(serde_json::json!({"health": "Degraded", "message": "issuer gone"})).unwrap(),
    );
    platform.sim.reload(config);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert_ne!(report["summary"]["status"], "Succeeded", "{report:#}");
    let cert_manager = report["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "cert-manager")
        .unwrap();
    assert_eq!(cert_manager["status"], "Failed", "{cert_manager}");
    assert_eq!(cert_manager["health"], "Degraded", "{cert_manager}");
    assert!(
        report["failures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["component"] == "cert-manager" && f["reason"] == "NotHealthy"),
        "{report:#}"
    );
}

/// One driver per environment (issue 18): a teardown while a deploy holds
/// the environment's Lease is refused, naming the holder, having written
/// nothing; a run killed while holding it blocks the next one only until
/// the lease expires; a run with nothing to change takes no lease at all.
#[test]
fn two_runs_never_drive_one_environment() {
    let mut config = demo_sim_config();
    config.apps.insert(
        "backstage".into(),
        serde_json::from_value(serde_json::json!({"healthyAfter": "30s"})).unwrap(),
    );
    let mut platform = Platform::start(config);
    let first_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut first = platform.spawn("deploy", &[("TRACE_ID", first_trace)], false);
    platform.wait_for_write(
        "applications",
        Some("backstage"),
        std::time::Duration::from_secs(120),
        None,
    );

    platform.sandbox.set("TEARDOWN_CONFIRM", "demo");
    let second = platform.run(&["teardown"]);
    assert_eq!(second.code, 1, "{}", second.stderr);
    let report = second.report();
    let failure = &report["failures"][0];
    assert_eq!(failure["reason"], "Locked", "{report:#}");
    let message = failure["message"].as_str().unwrap();
    assert!(message.contains(first_trace), "the holder is named: {message}");
    assert!(
        message.contains("argocd/executor-demo"),
        "the Lease is named: {message}"
    );
    assert_eq!(report["metrics"]["mutatingRequests"], 0, "{report:#}");

    // The holder is killed: its lease expires and the next run, willing to
    // wait, takes it over.
    first.kill().unwrap();
    first.wait().unwrap();
    platform.sandbox.set("LOCK_TIMEOUT", "90s");
    let third = platform.run(&["teardown"]);
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert!(third.stderr.contains("waiting for"), "{}", third.stderr);

    // Nothing left to remove: no lease taken, nothing written.
    let mark = platform.audit().len();
    let again = platform.run(&["teardown"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let writes = platform.writes_since(mark);
    assert!(writes.is_empty(), "{:#?}", describe(&writes));
}
