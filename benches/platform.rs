//! Benchmark: the executor against kube-sim on the reference platform.
//!
//! Run with `cargo bench --bench platform` (needs kubectl and the upstream
//! manifests, see docs/benchmarks.md). Measures, each in one run on the same
//! simulator build:
//! - orchestration overhead: the graph's wall time over its critical path
//!   (the longest dependency chain of the simulated per-app delays);
//! - the same graph run wave by wave by `benches/wave-baseline.sh`
//!   (`kubectl apply` + `kubectl wait` per dependency level);
//! - a no-op re-deploy: requests (total, mutating) and wall time;
//! - bootstrap vs `kubectl apply --server-side` of the same files;
//! - the same deploy in `ORCHESTRATION=workflow` (one Argo Workflow whose
//!   tasks kube-sim's pod runner starts as this executor), over the critical path;
//! - peak memory (RSS) of a deploy of the reference platform;
//! - validate: requests and wall vs `kubectl get applications -A -o json`,
//!   and validate over 500 Applications;
//! - the fault matrix: deploys under 5 % and 20 % API errors and resets vs
//!   clean (alone with `PLATFORM_BENCH=faults`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a benchmark: a panic is a failure

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kube_sim::{SimConfig, SimOptions, SimThread};

/// The executor under test: this build's, or `EXECUTOR_BIN` (e.g. the
/// static musl binary the image ships, to measure its memory).
fn executor_bin() -> String {
    std::env::var("EXECUTOR_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_executor").to_owned())
}

/// A deterministic simulated delay per application: 300 ms to 1.1 s.
fn delay(app: &str) -> Duration {
    let sum: u32 = app.bytes().map(u32::from).sum();
    Duration::from_millis(300 + u64::from(sum % 5) * 200)
}

fn sim_config() -> SimConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sim/fixtures/demo-sim.yaml");
    let mut config = SimConfig::from_file(&path).unwrap();
    config.workloads.ready_after = Some(Duration::from_millis(50));
    config.apps.clear();
    let graph = executor::dag::load::bundled().unwrap();
    for (_, app) in graph.graph.apps() {
        let behaviour = serde_json::from_value(
            serde_json::json!({"healthyAfter": format!("{}ms", delay(&app.name.name).as_millis())}),
        )
        .unwrap();
        config.apps.insert(app.name.name.clone(), behaviour);
    }
    config
}

/// The longest chain of simulated delays through the graph.
fn critical_path() -> Duration {
    let graph = executor::dag::load::bundled().unwrap();
    let plan = executor::dag::plan::build(
        &graph,
        executor::dag::Action::Deploy,
        &executor::dag::Scope::Platform,
        Default::default(),
    )
    .unwrap();
    let mut longest: BTreeMap<String, Duration> = BTreeMap::new();
    for node in &plan.nodes {
        let before = node.depends_on.iter().map(|d| longest[d]).max().unwrap_or_default();
        longest.insert(node.name.clone(), before + delay(&node.name));
    }
    longest.values().max().copied().unwrap()
}

struct Env {
    /// Kept alive for the environment's lifetime (dropping it stops the simulator).
    _sim: SimThread,
    dir: tempfile::TempDir,
}

fn upstream() -> PathBuf {
    executor::bootstrap::test_support::upstream_dir().expect("the upstream manifests (set EXECUTOR_UPSTREAM_DIR)")
}

fn env(config: SimConfig, dag: Option<&str>) -> Env {
    let sim = SimThread::start(SimOptions::with_config(config)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::create_dir_all(dir.path().join("secrets")).unwrap();
    std::fs::write(
        dir.path().join("config/environment.yaml"),
        "name: bench\ndomain: bench.example.com\ngitRepository: https://git.example.com/platform.git\ngitRevision: main\ntimeouts: {sync: 5m, health: 10m}\n",
    )
    .unwrap();
    if let Some(dag) = dag {
        std::fs::write(dir.path().join("config/dag.yaml"), dag).unwrap();
    }
    std::fs::write(dir.path().join("kubeconfig"), sim.kubeconfig("admin")).unwrap();
    Env { _sim: sim, dir }
}

impl Env {
    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// Runs an action; returns (report, wall, peak RSS in KiB).
    fn run(&self, action: &str, extra: &[(&str, &str)]) -> (serde_json::Value, Duration, u64) {
        let rss = self.dir.path().join("rss");
        let started = Instant::now();
        let output = Command::new("/usr/bin/time")
            .args(["-f", "%M", "-o", rss.to_str().unwrap(), &executor_bin(), action])
            .env_clear()
            .env("CONFIG_DIR", self.dir.path().join("config"))
            .env("SECRETS_DIR", self.dir.path().join("secrets"))
            .env("KUBECONFIG_PATH", self.kubeconfig())
            .env("BUNDLE_DIR", upstream())
            .env("ENVIRONMENT", "development")
            .env("LOG_LEVEL", "warn")
            .envs(extra.iter().copied())
            .output()
            .unwrap();
        let wall = started.elapsed();
        let report: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&output.stderr)));
        assert_eq!(report["summary"]["exitCode"], 0, "{action} failed: {report:#}");
        let peak = std::fs::read_to_string(&rss)
            .unwrap_or_default()
            .trim()
            .parse()
            .unwrap_or(0);
        (report, wall, peak)
    }

    fn kubectl(&self, args: &[&str]) -> Duration {
        let started = Instant::now();
        let output = Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        started.elapsed()
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The fault matrix's time bound (issue 18): the whole deploy of the
/// reference platform on a fresh cluster, clean and with every executor
/// request answered 503 (no `Retry-After`) or reset at the given rates,
/// three seeds each; medians compared within this one run.
fn fault_matrix() {
    let deploy = |errors: f64, resets: f64, seed: u64| {
        let mut config = sim_config();
        config.seed = seed;
        if errors > 0.0 {
            config.faults = serde_json::from_value(serde_json::json!([
                {"match": {"user": "admin"}, "rate": errors, "status": 503, "retryAfter": 0},
                {"match": {"user": "admin"}, "rate": resets, "reset": true, "resetAfter": "500ms"}
            ]))
            .unwrap();
        }
        let (report, wall, _) = env(config, None).run("deploy", &[]);
        (wall, report["metrics"]["retries"].as_u64().unwrap_or(0))
    };
    let clean = median((1..=3).map(|seed| deploy(0.0, 0.0, seed).0).collect());
    println!("fault matrix: clean deploy {} (median of 3)", secs(clean));
    for (errors, resets) in [(0.05, 0.01), (0.20, 0.05)] {
        let runs: Vec<(Duration, u64)> = (1..=3).map(|seed| deploy(errors, resets, seed)).collect();
        let wall = median(runs.iter().map(|r| r.0).collect());
        let retries: Vec<u64> = runs.iter().map(|r| r.1).collect();
        println!(
            "fault matrix: {:.0} % 503 + {:.0} % resets: exit 0 in 3 of 3, median {} = {:.2}× clean, retries {retries:?}",
            errors * 100.0,
            resets * 100.0,
            secs(wall),
            wall.as_secs_f64() / clean.as_secs_f64()
        );
    }
}

fn main() {
    if std::env::var("PLATFORM_BENCH").as_deref() == Ok("faults") {
        fault_matrix();
        return;
    }
    let cp = critical_path();
    println!("critical path of the simulated delays: {}", secs(cp));

    // Deploy the reference platform on a bare cluster.
    let a = env(sim_config(), None);
    let (report, wall, peak) = a.run("deploy", &[]);
    let graph_wall = Duration::from_secs_f64(report["metrics"]["schedule"]["wallSeconds"].as_f64().unwrap());
    let bootstrap = Duration::from_secs_f64(
        report["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == "bootstrap")
            .unwrap()["durationSeconds"]
            .as_f64()
            .unwrap(),
    );
    println!(
        "deploy from a bare cluster: {} in all ({} bootstrap, {} graph), peak RSS {} MiB",
        secs(wall),
        secs(bootstrap),
        secs(graph_wall),
        peak / 1024
    );
    println!(
        "orchestration overhead: graph wall / critical path = {:.3} (fixed part {:.0} ms)",
        graph_wall.as_secs_f64() / cp.as_secs_f64(),
        (graph_wall.as_secs_f64() - cp.as_secs_f64()) * 1000.0
    );

    // No-op re-deploy.
    let (report, wall, _) = a.run("deploy", &[]);
    println!(
        "no-op re-deploy: {} requests ({} mutating), {}",
        report["metrics"]["apiRequestsTotal"],
        report["metrics"]["mutatingRequests"],
        secs(wall)
    );

    // The same deploy in ORCHESTRATION=workflow on a fresh cluster: one
    // Argo Workflow, each task a process of the same executor binary that
    // kube-sim's pod runner starts.
    let mut config = sim_config();
    config.images.insert("executor:*".into(), PathBuf::from(executor_bin()));
    let w = env(config, None);
    let (report, wall, _) = w.run(
        "deploy",
        &[("ORCHESTRATION", "workflow"), ("EXECUTOR_IMAGE", "executor:bench")],
    );
    let workflow_graph = Duration::from_secs_f64(report["metrics"]["schedule"]["wallSeconds"].as_f64().unwrap());
    println!(
        "orchestration modes (reference platform, fresh cluster each): local graph {} ({:.3}× the critical path) — workflow graph {} ({:.3}×; bound 1.25 × {} + 2 s = {}), whole run {}",
        secs(graph_wall),
        graph_wall.as_secs_f64() / cp.as_secs_f64(),
        secs(workflow_graph),
        workflow_graph.as_secs_f64() / cp.as_secs_f64(),
        secs(cp),
        secs(cp.mul_f64(1.25) + Duration::from_secs(2)),
        secs(wall)
    );
    drop(w);

    // Validate on the reference platform vs kubectl reading the Applications.
    let mut validate_walls = Vec::new();
    let mut validate_requests = serde_json::Value::Null;
    for _ in 0..5 {
        let (report, wall, _) = a.run("validate", &[]);
        validate_requests = report["metrics"]["apiRequestsTotal"].clone();
        validate_walls.push(wall);
    }
    let kubectl_walls: Vec<Duration> = (0..5)
        .map(|_| a.kubectl(&["get", "applications", "-A", "-o", "json"]))
        .collect();
    let (v, k) = (median(validate_walls), median(kubectl_walls));
    println!(
        "validate (reference platform): {validate_requests} requests, {} — kubectl get applications -A -o json: {} (ratio {:.2})",
        secs(v),
        secs(k),
        v.as_secs_f64() / k.as_secs_f64()
    );

    // The wave-by-wave baseline on a fresh cluster with the same delays:
    // bootstrap first (executor, scope kargo: no dependencies), then waves.
    let b = env(sim_config(), None);
    b.run("deploy", &[("TARGET_SCOPE", "app:kargo")]);
    let waves = b.dir.path().join("waves");
    std::fs::create_dir_all(&waves).unwrap();
    let graph = executor::dag::load::bundled().unwrap();
    let plan = executor::dag::plan::build(
        &graph,
        executor::dag::Action::Deploy,
        &executor::dag::Scope::Platform,
        Default::default(),
    )
    .unwrap();
    let mut by_level: BTreeMap<usize, String> = BTreeMap::new();
    for node in plan.nodes.iter().filter(|n| n.name != "kargo") {
        let doc = format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  namespace: argocd\nspec:\n  project: platform\n  source: {{repoURL: https://git.example.com/platform.git, targetRevision: main, path: {path}}}\n  destination: {{server: https://kubernetes.default.svc, namespace: {ns}}}\n  syncPolicy: {{automated: {{prune: true, selfHeal: true}}, syncOptions: [CreateNamespace=true]}}\n---\n",
            name = node.name,
            path = node.path,
            ns = node.namespace
        );
        by_level.entry(node.level).or_default().push_str(&doc);
    }
    for (level, docs) in &by_level {
        std::fs::write(waves.join(format!("wave-{level}.yaml")), docs).unwrap();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/wave-baseline.sh");
    let started = Instant::now();
    let status = Command::new("bash")
        .arg(&script)
        .arg(&waves)
        .arg("argocd")
        .env("KUBECONFIG", b.kubeconfig())
        .status()
        .unwrap();
    assert!(status.success());
    let wave_wall = started.elapsed();
    println!(
        "wave-by-wave baseline (kubectl apply + wait per level, {} waves): {} — executor graph: {} (baseline / executor = {:.2})",
        by_level.len(),
        secs(wave_wall),
        secs(graph_wall),
        wave_wall.as_secs_f64() / graph_wall.as_secs_f64()
    );

    // Bootstrap vs kubectl apply --server-side of the same files (+ waits).
    let c = env(sim_config(), None);
    let (report, _, _) = c.run("deploy", &[("TARGET_SCOPE", "app:kargo")]);
    let executor_bootstrap = Duration::from_secs_f64(
        report["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == "bootstrap")
            .unwrap()["durationSeconds"]
            .as_f64()
            .unwrap(),
    );
    let d = env(sim_config(), None);
    let up = upstream();
    let started = Instant::now();
    let ns = d.dir.path().join("ns.yaml");
    std::fs::write(&ns, "apiVersion: v1\nkind: Namespace\nmetadata: {name: argocd}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: argo}\n").unwrap();
    d.kubectl(&["apply", "--server-side", "-f", ns.to_str().unwrap()]);
    d.kubectl(&[
        "apply",
        "--server-side",
        "-n",
        "argocd",
        "-f",
        up.join("argo-cd-v3.5.1-install.yaml").to_str().unwrap(),
    ]);
    d.kubectl(&[
        "apply",
        "--server-side",
        "-f",
        up.join("argo-workflows-v4.1.2-install.yaml").to_str().unwrap(),
    ]);
    d.kubectl(&["wait", "--for=condition=Established", "crd", "--all", "--timeout=5m"]);
    d.kubectl(&[
        "wait",
        "--for=condition=Available",
        "deployment",
        "--all",
        "-n",
        "argocd",
        "--timeout=5m",
    ]);
    d.kubectl(&[
        "wait",
        "--for=condition=Available",
        "deployment",
        "--all",
        "-n",
        "argo",
        "--timeout=5m",
    ]);
    let kubectl_bootstrap = started.elapsed();
    println!(
        "bootstrap (apply the bundle, wait Established and ready): executor {} — kubectl apply --server-side + wait {} (executor / kubectl = {:.2})",
        secs(executor_bootstrap),
        secs(kubectl_bootstrap),
        executor_bootstrap.as_secs_f64() / kubectl_bootstrap.as_secs_f64()
    );

    // Validate over 500 Applications.
    let mut dag = String::from("stacks:\n  - name: scale\n    apps:\n");
    for i in 0..500 {
        dag.push_str(&format!(
            "      - {{name: app-{i}, path: stacks/foundation/sealed-secrets, namespace: scale-{i}}}\n"
        ));
    }
    let mut config = sim_config();
    config.apps.clear();
    let e = env(config, Some(&dag));
    let (_, deploy_wall, peak) = e.run("deploy", &[]);
    let mut walls = Vec::new();
    let mut requests = serde_json::Value::Null;
    for _ in 0..3 {
        let (report, wall, _) = e.run("validate", &[]);
        requests = report["metrics"]["apiRequestsTotal"].clone();
        walls.push(wall);
    }
    let kubectl = median(
        (0..3)
            .map(|_| e.kubectl(&["get", "applications", "-A", "-o", "json"]))
            .collect(),
    );
    println!(
        "500 Applications: deploy {} (peak RSS {} MiB); validate {requests} requests, {} — kubectl get applications -A -o json: {}",
        secs(deploy_wall),
        peak / 1024,
        secs(median(walls)),
        secs(kubectl)
    );

    fault_matrix();
}
