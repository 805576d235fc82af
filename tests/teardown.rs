//! `executor teardown` end to end: confirmation, reverse order verified by
//! the cluster, volume policy, orphans, idempotency, scopes, dry run.

use std::collections::BTreeMap;

use crate::harness::{Platform, demo_sim_config, describe};

fn deployed_with(config: kube_sim::SimConfig) -> Platform {
    let platform = Platform::start(config);
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 0, "deploy\n{}", run.stderr);
    platform
}

fn kubectl(platform: &Platform, args: &[&str]) -> String {
    let output = std::process::Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", &platform.sandbox.env["KUBECONFIG_PATH"])
        .output()
        .expect("kubectl is needed by the teardown tests");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn names(platform: &Platform, args: &[&str]) -> Vec<String> {
    kubectl(platform, args)
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn confirmed_teardown_removes_everything_in_reverse_order() {
    use std::sync::{Arc, Mutex};
    let mut platform = deployed_with(demo_sim_config());
    platform
        .sandbox
        .set("TEARDOWN_CONFIRM", "demo")
        .set("PV_POLICY", "delete")
        .set("TEARDOWN_CRDS", "true");

    let seen: Arc<Mutex<Lifecycle>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let observer = {
        let kubeconfig = platform.sim.kubeconfig("admin");
        let (seen, stop) = (seen.clone(), stop.clone());
        std::thread::spawn(move || observe(&kubeconfig, &seen, &stop))
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let run = platform.run(&["teardown"]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    observer.join().unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.report();
    assert_eq!(report["orphans"], serde_json::json!([]));
    assert!(
        report["components"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "Removed")
    );

    // kubectl finds no platform objects, no Argo CD, no Workflows.
    assert!(names(&platform, &["get", "applications", "-A", "-o", "name"]).is_empty());
    assert!(
        names(
            &platform,
            &[
                "get",
                "deployments,statefulsets,services,configmaps",
                "-A",
                "-l",
                "app.kubernetes.io/managed-by=executor",
                "-o",
                "name"
            ]
        )
        .is_empty()
    );
    assert!(
        names(&platform, &["get", "crd", "-o", "name"])
            .iter()
            .all(|c| !c.contains("argoproj.io")),
        "TEARDOWN_CRDS=true"
    );
    let namespaces = names(&platform, &["get", "namespaces", "-o", "name"]);
    for gone in [
        "namespace/argocd",
        "namespace/argo",
        "namespace/monitoring",
        "namespace/vault",
        "namespace/rook-ceph",
    ] {
        assert!(
            !namespaces.contains(&gone.to_owned()),
            "{gone} still exists: {namespaces:?}"
        );
    }
    assert!(
        names(&platform, &["get", "pvc", "-A", "-o", "name"]).is_empty(),
        "PV_POLICY=delete removes every claim"
    );

    // Every Application was deleted only after its dependents were gone.
    let seen = seen.lock().unwrap();
    let graph = executor::dag::load::bundled().unwrap();
    for (app, deps) in &graph.resolved.deps {
        for dep in deps.keys() {
            let dependent_gone = seen.gone[app];
            let dependency_deleting = seen.deleting[dep];
            assert!(
                dependency_deleting > dependent_gone,
                "{dep} started deleting (rv {dependency_deleting}) before its dependent {app} was gone (rv {dependent_gone})"
            );
        }
    }
}

/// resourceVersions at which each Application started deleting / was gone.
#[derive(Default)]
struct Lifecycle {
    deleting: BTreeMap<String, u64>,
    gone: BTreeMap<String, u64>,
}

fn observe(kubeconfig: &str, seen: &std::sync::Mutex<Lifecycle>, stop: &std::sync::atomic::AtomicBool) {
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
            let mut seen = seen.lock().unwrap();
            let version = |o: &kube::core::DynamicObject| {
                o.metadata
                    .resource_version
                    .as_deref()
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
            };
            match event {
                kube::runtime::watcher::Event::Apply(o) | kube::runtime::watcher::Event::InitApply(o)
                    if o.metadata.deletion_timestamp.is_some() =>
                {
                    seen.deleting
                        .entry(o.metadata.name.clone().unwrap_or_default())
                        .or_insert(version(&o));
                }
                kube::runtime::watcher::Event::Delete(o) => {
                    let name = o.metadata.name.clone().unwrap_or_default();
                    seen.deleting.entry(name.clone()).or_insert(version(&o));
                    seen.gone.insert(name, version(&o));
                }
                _ => {}
            }
        }
    });
}

#[test]
fn retain_keeps_volumes_and_a_second_teardown_has_nothing_to_do() {
    let mut platform = deployed_with(demo_sim_config());
    let claims_before = names(&platform, &["get", "pvc", "-A", "-o", "name"]);
    assert!(!claims_before.is_empty(), "the demo platform has volume claims");
    platform.sandbox.set("TEARDOWN_CONFIRM", "demo");
    let run = platform.run(&["teardown"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.report();
    let retained: Vec<String> = report["retained"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "PersistentVolumeClaim")
        .map(|r| format!("persistentvolumeclaim/{}", r["name"].as_str().unwrap()))
        .collect();
    let mut after = names(&platform, &["get", "pvc", "-A", "-o", "name"]);
    after.sort();
    let mut expected = claims_before.clone();
    expected.sort();
    assert_eq!(after, expected, "PV_POLICY=retain keeps every claim");
    assert_eq!(
        retained.len(),
        claims_before.len(),
        "each kept claim is reported as retained: {retained:?}"
    );
    assert_eq!(
        report["orphans"],
        serde_json::json!([]),
        "retained volumes are not orphans"
    );
    assert!(names(&platform, &["get", "applications", "-A", "-o", "name"]).is_empty());

    let mark = platform.audit().len();
    let again = platform.run(&["teardown"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.report()["components"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "Absent")
    );
    let writes = platform.writes_since(mark);
    assert!(
        writes.is_empty(),
        "nothing to do means no writes:\n{:#?}",
        describe(&writes)
    );

    // The kept claims are there for the next deploy, which reuses them.
    platform.sandbox.set("ACTION_TIMEOUT", "3m");
    let redeploy = platform.run(&["deploy"]);
    assert_eq!(
        redeploy.code, 0,
        "deploy after a retaining teardown\n{}",
        redeploy.stderr
    );
    let mut reused = names(&platform, &["get", "pvc", "-A", "-o", "name"]);
    reused.sort();
    assert_eq!(reused, expected, "the same claims, not new ones");
}

#[test]
fn a_stuck_finalizer_is_an_orphan_with_a_recommendation() {
    let mut config = demo_sim_config();
    config.apps.insert(
        "grafana".into(),
        serde_json::from_value(serde_json::json!({"stuckFinalizer": true})).unwrap(),
    );
    let mut platform = deployed_with(config);
    platform
        .sandbox
        .config_file("dag.yaml", "overlay:\n  timeouts: {grafana: {sync: 1s, health: 2s}}\n");
    platform.sandbox.set("TEARDOWN_CONFIRM", "demo");
    let run = platform.run(&["teardown"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let report = run.report();
    let orphans = report["orphans"].as_array().unwrap();
    let grafana = orphans
        .iter()
        .find(|o| o["name"] == "grafana")
        .expect("grafana is an orphan");
    assert!(grafana["reason"].as_str().unwrap().contains("finalizer"), "{grafana}");
    // What grafana depends on stays, and says why.
    let prometheus = orphans
        .iter()
        .find(|o| o["name"] == "prometheus")
        .expect("prometheus stays");
    assert!(
        prometheus["reason"].as_str().unwrap().contains("grafana"),
        "{prometheus}"
    );
    assert!(
        report["recommendations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("grafana"))
    );
    // Argo CD stays: it is needed to finish the job.
    assert!(
        !names(
            &platform,
            &["get", "deployment", "argocd-server", "-n", "argocd", "-o", "name"]
        )
        .is_empty()
    );
}

#[test]
fn scoped_teardown_with_and_without_outside_dependents() {
    let mut platform = deployed_with(demo_sim_config());
    platform.sandbox.set("TEARDOWN_CONFIRM", "demo");

    // grafana (left out of the graph by an overlay) still depends on prometheus: refuse.
    platform
        .sandbox
        .config_file("dag.yaml", "overlay:\n  exclude: [grafana]\n");
    platform.sandbox.set("TARGET_SCOPE", "stack:observability");
    let mark = platform.audit().len();
    let refused = platform.run(&["teardown"]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    let failure = &refused.report()["failures"][0];
    assert_eq!(failure["reason"], "DependentsOutsideScope");
    assert!(
        failure["diagnostics"]
            .to_string()
            .contains("grafana (depends on prometheus)"),
        "{failure}"
    );
    assert!(platform.writes_since(mark).is_empty());

    // With the whole stack in scope it goes, and nothing else does.
    std::fs::remove_file(platform.sandbox.config_dir().join("dag.yaml")).unwrap();
    let run = platform.run(&["teardown"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let apps = names(&platform, &["get", "applications", "-n", "argocd", "-o", "name"]);
    for gone in ["grafana", "prometheus", "loki", "tempo"] {
        assert!(!apps.contains(&format!("application.argoproj.io/{gone}")), "{gone}");
    }
    assert_eq!(apps.len(), 23, "{apps:?}");
    assert!(
        !names(
            &platform,
            &["get", "deployment", "argocd-server", "-n", "argocd", "-o", "name"]
        )
        .is_empty(),
        "Argo CD stays for a scoped teardown"
    );

    // A scope whose dependents are inside the graph brings them along (the plan says so).
    platform.sandbox.set("TARGET_SCOPE", "app:postgres-clusters");
    let plan = platform.run(&["plan", "--for", "teardown"]);
    for dependent in ["keycloak +", "harbor +", "backstage +", "temporal +"] {
        assert!(plan.stdout.contains(dependent), "{dependent}\n{}", plan.stdout);
    }
    let run = platform.run(&["teardown"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let apps = names(&platform, &["get", "applications", "-n", "argocd", "-o", "name"]);
    assert_eq!(apps.len(), 18, "{apps:?}");
}

#[test]
fn dry_run_lists_what_would_go_and_refusals_touch_nothing() {
    let mut platform = deployed_with(demo_sim_config());
    let mark = platform.audit().len();
    // No confirmation: refused before any request.
    let refused = platform.run(&["teardown"]);
    assert_eq!(refused.code, 3);
    assert_eq!(
        platform.audit().len(),
        mark,
        "a refused teardown makes no request at all"
    );
    platform.sandbox.set("TEARDOWN_CONFIRM", "staging");
    assert_eq!(platform.run(&["teardown"]).code, 3);
    assert_eq!(platform.audit().len(), mark);

    platform.sandbox.set("DRY_RUN", "true").set("TEARDOWN_CONFIRM", "");
    let run = platform.run(&["teardown"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(platform.writes_since(mark).is_empty());
    let report = run.report();
    let order: Vec<&str> = report["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(order.len(), 27);
    assert!(
        report["components"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "WouldRemove")
    );
    let pos = |n: &str| order.iter().position(|o| *o == n).unwrap();
    assert!(
        pos("grafana") < pos("prometheus") && pos("prometheus") < pos("storage-classes"),
        "{order:?}"
    );
}

/// Invariant 6 holds for the bootstrap too (issue 18): a teardown whose
/// graph no longer names the deployed Applications keeps Argo CD, its CRDs
/// and its namespace while they exist, and says which remain (exit 2).
#[test]
fn argo_cd_is_kept_while_applications_it_manages_remain() {
    let mut platform = deployed_with(demo_sim_config());
    platform.sandbox.config_file(
        "dag.yaml",
        "stacks:\n  - name: lonely\n    apps:\n      - {name: solo, path: stacks/foundation/sealed-secrets, namespace: solo}\n",
    );
    platform.sandbox.set("TEARDOWN_CONFIRM", "demo");
    let run = platform.run(&["teardown"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let report = run.report();
    let kept = report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["reason"] == "ApplicationsRemain")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert!(kept["diagnostics"].to_string().contains("cert-manager"), "{kept}");
    // Argo CD is still there to cascade-delete them later.
    let crds = names(&platform, &["get", "crd", "-o", "name"]);
    assert!(crds.iter().any(|c| c.contains("applications.argoproj.io")), "{crds:?}");
    let apps = names(&platform, &["get", "applications", "-n", "argocd", "-o", "name"]);
    assert_eq!(apps.len(), 27, "{apps:?}");
    let servers = names(&platform, &["get", "deployments", "-n", "argocd", "-o", "name"]);
    assert!(!servers.is_empty(), "Argo CD's workloads are kept");
}

/// Issue 18's SIGKILL loop for teardown: kill it twice at points drawn from
/// a seed (printed; `KILL_SEED` replays one), re-run it, and compare what is
/// left with a clean deploy-and-teardown on a fresh cluster, plus the
/// namespaces, normalised to names.
#[test]
fn killed_mid_teardown_and_rerun_ends_as_a_clean_teardown() {
    let seed: u64 = std::env::var("KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
                .into()
        });
    let mut draw = {
        let mut state = seed;
        move |below: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % below
        }
    };
    let mut platform = deployed_with(demo_sim_config());
    // A killed run's lease expires within 15 s; each re-run waits for it.
    platform
        .sandbox
        .set("TEARDOWN_CONFIRM", "demo")
        .set("LOCK_TIMEOUT", "60s");
    let mut kill_points = Vec::new();
    for _ in 0..2 {
        let deletes_before_kill = 1 + draw(20) as usize;
        kill_points.push(deletes_before_kill);
        let mark = platform.audit().len();
        let mut child = platform.spawn("teardown", &[], false);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
        while platform
            .writes_since(mark)
            .iter()
            .filter(|e| e.verb == "delete")
            .count()
            < deletes_before_kill
            && std::time::Instant::now() < deadline
            && child.try_wait().unwrap().is_none()
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let _ = child.kill(); // SIGKILL (it may have finished already: then nothing to kill)
        child.wait().unwrap();
    }
    let run = platform.run(&["teardown"]);
    assert_eq!(
        run.code,
        0,
        "seed {seed}, kill points {kill_points:?}: {}",
        run.report()["failures"]
    );

    let mut clean = deployed_with(demo_sim_config());
    clean.sandbox.set("TEARDOWN_CONFIRM", "demo");
    assert_eq!(clean.run(&["teardown"]).code, 0);
    let left = |p: &Platform| (crate::deploy::state(p), names(p, &["get", "namespaces", "-o", "name"]));
    assert_eq!(
        left(&platform),
        left(&clean),
        "seed {seed}, kill points {kill_points:?}"
    );
}
