//! Benchmark: the executor on generated platforms of growing size.
//!
//! Run with `cargo bench --bench scale` (needs kubectl and the upstream
//! manifests; `SCALE_SIZES=27,500,2000` by default, see docs/benchmarks.md).
//! For each size it generates, from a fixed seed, a platform of that many
//! Applications in stacks, a random DAG (each application depends on up to
//! two applications of the previous dependency level, so the longest chain
//! has about 15 nodes) and simulated health delays (0.2–3 s, one in a
//! hundred at 10 s), then measures in one run on one simulator:
//! - deploy from a bare cluster: graph wall time over the critical path of
//!   the simulated delays, peak RSS, requests (total / mutating), the number
//!   of sync requests, and the simulator's own CPU use meanwhile;
//! - a no-op re-deploy: requests (total / mutating) and wall time;
//! - validate against `kubectl get applications -A -o json` (medians).
//!
//! It writes the figures as one line per size and plots ratio and peak RSS
//! against size into an SVG (`SCALE_PLOT`, default `docs/scale.svg`).
//!
//! The benchmark reads only the executor's command line and report (its
//! contract), never its library, so it measures any build (`EXECUTOR_BIN`,
//! e.g. the image's static musl binary).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a benchmark: a panic is a failure

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kube_sim::{SimConfig, SimOptions, SimThread};

/// Applications per stack: 2,000 Applications make 40 stacks.
const APPS_PER_STACK: usize = 50;
/// Dependency levels of the generated graph (the critical path's length in nodes).
const LEVELS: usize = 15;

/// The executor under test: this build's, or `EXECUTOR_BIN`.
fn executor_bin() -> String {
    std::env::var("EXECUTOR_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_executor").to_owned())
}

/// splitmix64: a small, seedable, portable generator (the graph must be the
/// same on every machine and every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

/// One generated application.
struct App {
    name: String,
    stack: usize,
    level: usize,
    depends_on: Vec<usize>,
    delay: Duration,
}

/// A generated platform: applications in stacks, with dependencies on
/// applications of the previous level and a simulated health delay each.
struct Platform {
    apps: Vec<App>,
    stacks: usize,
}

impl Platform {
    fn generate(size: usize, seed: u64) -> Self {
        let mut rng = Rng(seed);
        let stacks = size.div_ceil(APPS_PER_STACK).max(1);
        let levels = LEVELS.min(stacks.max(size.min(LEVELS)));
        let mut apps: Vec<App> = Vec::with_capacity(size);
        for i in 0..size {
            let stack = i * stacks / size;
            // Levels spread evenly over the applications, so the stacks of one
            // level depend only on earlier levels.
            let level = i * levels / size;
            let earlier: Vec<usize> = (0..i).filter(|&j| apps[j].level + 1 == level).collect();
            let mut depends_on = Vec::new();
            if !earlier.is_empty() {
                for _ in 0..1 + rng.below(2) {
                    let dep = earlier[rng.below(earlier.len())];
                    if !depends_on.contains(&dep) {
                        depends_on.push(dep);
                    }
                }
            }
            let delay = if rng.below(100) == 0 {
                Duration::from_secs(10)
            } else {
                Duration::from_millis(200 + rng.below(2801) as u64)
            };
            apps.push(App {
                name: format!("app-{i:04}"),
                stack,
                level,
                depends_on,
                delay,
            });
        }
        Self { apps, stacks }
    }

    /// The longest chain of simulated delays, and its length in nodes.
    fn critical_path(&self) -> (Duration, usize) {
        let mut longest: Vec<(Duration, usize)> = Vec::with_capacity(self.apps.len());
        for app in &self.apps {
            let before = app.depends_on.iter().map(|&d| longest[d]).max().unwrap_or_default();
            longest.push((before.0 + app.delay, before.1 + 1));
        }
        longest.into_iter().max().unwrap_or_default()
    }

    fn dag_yaml(&self) -> String {
        let mut out = String::from("stacks:\n");
        for s in 0..self.stacks {
            let _ = writeln!(out, "  - name: stack-{s:02}\n    apps:");
            for app in self.apps.iter().filter(|a| a.stack == s) {
                let deps: Vec<&str> = app.depends_on.iter().map(|&d| self.apps[d].name.as_str()).collect();
                let _ = writeln!(
                    out,
                    "      - {{name: {}, path: apps/common, namespace: {}, dependsOn: [{}]}}",
                    app.name,
                    app.name,
                    deps.join(", ")
                );
            }
        }
        out
    }

    fn sim_config(&self, repo: &Path) -> SimConfig {
        let mut apps = serde_json::Map::new();
        for app in &self.apps {
            apps.insert(
                app.name.clone(),
                serde_json::json!({"healthyAfter": format!("{}ms", app.delay.as_millis())}),
            );
        }
        let config = serde_json::json!({
            "repositories": [{"url": "https://git.example.com/platform.git", "dir": repo}],
            "workloads": {"readyAfter": "50ms"},
            "apps": apps,
        });
        let mut config: SimConfig = serde_json::from_value(config).unwrap();
        config.repositories[0].dir = repo.to_path_buf();
        config
    }
}

/// A simulator with a generated platform and a config directory.
struct Env {
    sim: SimThread,
    dir: tempfile::TempDir,
}

fn upstream() -> PathBuf {
    std::env::var_os("EXECUTOR_UPSTREAM_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .map(|a| a.join("shared/upstream"))
                .find(|p| p.is_dir())
        })
        .expect("the upstream manifests (set EXECUTOR_UPSTREAM_DIR)")
}

impl Env {
    fn new(platform: &Platform) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(repo.join("apps/common")).unwrap();
        // A ConfigMap and a one-replica Deployment: the Deployment's
        // readiness is what the simulated delay holds back (kube-sim acts
        // out `healthyAfter` on the objects, and Argo CD's health checks
        // judge them).
        std::fs::write(
            repo.join("apps/common/settings.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: generated\n",
        )
        .unwrap();
        std::fs::write(
            repo.join("apps/common/server.yaml"),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: server\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: server}\n  template:\n    metadata:\n      labels: {app: server}\n    spec:\n      containers:\n      - {name: server, image: registry.example.com/server:1.0}\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        std::fs::create_dir_all(dir.path().join("secrets")).unwrap();
        std::fs::write(
            dir.path().join("config/environment.yaml"),
            "name: scale\ndomain: scale.example.com\ngitRepository: https://git.example.com/platform.git\ngitRevision: main\ntimeouts: {sync: 30m, health: 30m}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("config/dag.yaml"), platform.dag_yaml()).unwrap();
        let sim = SimThread::start(SimOptions::with_config(platform.sim_config(&repo))).unwrap();
        std::fs::write(dir.path().join("kubeconfig"), sim.kubeconfig("admin")).unwrap();
        Self { sim, dir }
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// Runs an action; returns the report, its wall time, the peak RSS in
    /// KiB and this process's CPU time meanwhile (the simulator's: it is the
    /// only thing this process does while the executor runs).
    fn run(&self, action: &str) -> Run {
        let rss = self.dir.path().join("rss");
        let cpu = process_cpu();
        let started = Instant::now();
        let output = Command::new("/usr/bin/time")
            .args(["-f", "%M %U %S", "-o", rss.to_str().unwrap(), &executor_bin(), action])
            .env_clear()
            .env("CONFIG_DIR", self.dir.path().join("config"))
            .env("SECRETS_DIR", self.dir.path().join("secrets"))
            .env("KUBECONFIG_PATH", self.kubeconfig())
            .env("BUNDLE_DIR", upstream())
            .env("ENVIRONMENT", "development")
            .env(
                "LOG_LEVEL",
                std::env::var("SCALE_LOG_LEVEL").unwrap_or_else(|_| "warn".to_owned()),
            )
            .env("ACTION_TIMEOUT", "2h")
            .output()
            .unwrap();
        let wall = started.elapsed();
        let sim_cpu = process_cpu() - cpu;
        if let Some(dir) = std::env::var_os("SCALE_REPORT_DIR") {
            let _ = std::fs::create_dir_all(&dir);
            static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let _ = std::fs::write(PathBuf::from(dir).join(format!("{n:02}-{action}.log")), &output.stderr);
        }
        let report: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&output.stderr)));
        assert_eq!(report["summary"]["exitCode"], 0, "{action} failed: {report:#}");
        let measured = std::fs::read_to_string(&rss).unwrap_or_default();
        let fields: Vec<&str> = measured.split_whitespace().collect();
        let peak_kib = fields.first().and_then(|f| f.parse().ok()).unwrap_or(0);
        let seconds = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        let cpu = Duration::from_secs_f64(seconds(1) + seconds(2));
        Run {
            report,
            wall,
            peak_kib,
            sim_cpu,
            cpu,
        }
    }

    fn kubectl_get_applications(&self) -> Duration {
        let started = Instant::now();
        let output = Command::new("kubectl")
            .args(["get", "applications", "-A", "-o", "json"])
            .env("KUBECONFIG", self.kubeconfig())
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        started.elapsed()
    }

    /// Sync requests the executor sent: its merge patches of Applications
    /// (it writes Applications themselves by server-side apply, which names
    /// its field manager; a sync request is a merge patch of `operation`).
    fn sync_requests(&self) -> usize {
        self.sim
            .audit()
            .iter()
            .filter(|e| {
                e.user.username == "admin"
                    && e.verb == "patch"
                    && !e.request_uri.contains("fieldManager=")
                    && e.object_ref
                        .as_ref()
                        .is_some_and(|o| o.resource == "applications" && o.subresource.is_none())
            })
            .count()
    }
}

struct Run {
    report: serde_json::Value,
    wall: Duration,
    peak_kib: u64,
    sim_cpu: Duration,
    /// The executor's own CPU time (user + system).
    cpu: Duration,
}

impl Run {
    fn metric(&self, key: &str) -> u64 {
        self.report["metrics"][key].as_u64().unwrap_or(0)
    }

    fn graph_wall(&self) -> Duration {
        Duration::from_secs_f64(
            self.report["metrics"]["schedule"]["wallSeconds"]
                .as_f64()
                .unwrap_or(0.0),
        )
    }
}

/// User + system CPU time of this process, from `/proc/self/stat`.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<u64> = after.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    // After the command name: state is not a number, so utime/stime are the
    // 11th and 12th numeric fields (fields 14 and 15 of proc(5)).
    let ticks = fields.get(10).copied().unwrap_or(0) + fields.get(11).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The figures of one size.
struct Figures {
    size: usize,
    ratio: f64,
    peak_mib: f64,
}

fn measure(size: usize) -> Figures {
    let platform = Platform::generate(size, 0x5ca1_e000 + size as u64);
    let (cp, cp_nodes) = platform.critical_path();
    let env = Env::new(&platform);

    let deploy = env.run("deploy");
    if let Some(dir) = std::env::var_os("SCALE_REPORT_DIR") {
        // For a closer look: the deploy's report and each Application's delay.
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("deploy-{size}.json")), deploy.report.to_string()).unwrap();
        let delays: serde_json::Map<String, serde_json::Value> = platform
            .apps
            .iter()
            .map(|a| (a.name.clone(), serde_json::json!(a.delay.as_secs_f64())))
            .collect();
        std::fs::write(
            dir.join(format!("delays-{size}.json")),
            serde_json::Value::Object(delays).to_string(),
        )
        .unwrap();
    }
    let graph = deploy.graph_wall();
    let syncs = env.sync_requests();
    let ratio = graph.as_secs_f64() / cp.as_secs_f64();
    println!(
        "{size} Applications ({} stacks): critical path {:.2} s ({cp_nodes} nodes); deploy {:.2} s, graph {:.2} s, ratio {ratio:.3}; peak RSS {:.1} MiB ({:.0} KiB per Application); {} requests ({} mutating), {syncs} sync requests; executor CPU {:.2} s; kube-sim CPU {:.2} s ({:.0}% of one core)",
        platform.stacks,
        cp.as_secs_f64(),
        deploy.wall.as_secs_f64(),
        graph.as_secs_f64(),
        deploy.peak_kib as f64 / 1024.0,
        deploy.peak_kib as f64 / size as f64,
        deploy.metric("apiRequestsTotal"),
        deploy.metric("mutatingRequests"),
        deploy.cpu.as_secs_f64(),
        deploy.sim_cpu.as_secs_f64(),
        100.0 * deploy.sim_cpu.as_secs_f64() / deploy.wall.as_secs_f64(),
    );

    let noop = env.run("deploy");
    println!(
        "{size} Applications: no-op re-deploy {} requests ({} mutating), {:.2} s",
        noop.metric("apiRequestsTotal"),
        noop.metric("mutatingRequests"),
        noop.wall.as_secs_f64()
    );

    let mut validate = Vec::new();
    let mut validate_requests = 0;
    for _ in 0..3 {
        let run = env.run("validate");
        validate_requests = run.metric("apiRequestsTotal");
        validate.push(run.wall);
    }
    let kubectl = median((0..3).map(|_| env.kubectl_get_applications()).collect());
    let validate = median(validate);
    println!(
        "{size} Applications: validate {validate_requests} requests, {:.2} s; kubectl get applications -A -o json {:.2} s (validate / kubectl = {:.2})",
        validate.as_secs_f64(),
        kubectl.as_secs_f64(),
        validate.as_secs_f64() / kubectl.as_secs_f64()
    );
    Figures {
        size,
        ratio,
        peak_mib: deploy.peak_kib as f64 / 1024.0,
    }
}

/// Two line charts side by side: graph wall / critical path and peak RSS,
/// against the number of Applications.
fn plot(figures: &[Figures]) -> String {
    let (w, h, pad) = (360.0, 240.0, 48.0);
    let max_size = figures.iter().map(|f| f.size).max().unwrap_or(1) as f64;
    let chart = |x0: f64, title: &str, value: &dyn Fn(&Figures) -> f64, target: f64, unit: &str| -> String {
        let top = figures.iter().map(value).fold(target, f64::max) * 1.15;
        let px = |size: usize| x0 + pad + (size as f64 / max_size) * (w - 2.0 * pad);
        let py = |v: f64| h - pad - (v / top) * (h - 2.0 * pad);
        let mut s = format!(
            "<text x=\"{}\" y=\"20\" font-size=\"13\" text-anchor=\"middle\">{title}</text>\n<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#333\"/>\n<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#333\"/>\n",
            x0 + w / 2.0,
            x0 + pad,
            h - pad,
            x0 + w - pad,
            h - pad,
            x0 + pad,
            pad,
            x0 + pad,
            h - pad
        );
        let _ = writeln!(
            s,
            "<line x1=\"{}\" y1=\"{:.1}\" x2=\"{}\" y2=\"{:.1}\" stroke=\"#c33\" stroke-dasharray=\"4 3\"/><text x=\"{}\" y=\"{:.1}\" font-size=\"10\" fill=\"#c33\" text-anchor=\"end\">target {target}{unit}</text>",
            x0 + pad,
            py(target),
            x0 + w - pad,
            py(target),
            x0 + w - pad,
            py(target) - 4.0
        );
        let points: Vec<String> = figures
            .iter()
            .map(|f| format!("{:.1},{:.1}", px(f.size), py(value(f))))
            .collect();
        let _ = writeln!(
            s,
            "<polyline fill=\"none\" stroke=\"#36c\" stroke-width=\"2\" points=\"{}\"/>",
            points.join(" ")
        );
        for f in figures {
            let _ = writeln!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#36c\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{:.2}{unit}</text><text x=\"{:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
                px(f.size),
                py(value(f)),
                px(f.size),
                py(value(f)) - 7.0,
                value(f),
                px(f.size),
                h - pad + 14.0,
                f.size
            );
        }
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">Applications</text>",
            x0 + w / 2.0,
            h - 10.0
        );
        s
    };
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{h}\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{}{}</svg>\n",
        2.0 * w,
        chart(0.0, "graph wall / critical path", &|f| f.ratio, 1.10, "×"),
        chart(w, "peak RSS of a deploy (MiB)", &|f| f.peak_mib, 128.0, " MiB"),
    )
}

fn main() {
    let sizes: Vec<usize> = std::env::var("SCALE_SIZES")
        .unwrap_or_else(|_| "27,500,2000".to_owned())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let figures: Vec<Figures> = sizes.iter().map(|&size| measure(size)).collect();
    for pair in figures.windows(2) {
        let per_app = (pair[1].peak_mib - pair[0].peak_mib) * 1024.0 * 1024.0 / (pair[1].size - pair[0].size) as f64;
        println!(
            "peak RSS growth from {} to {} Applications: {:.1} KiB per Application",
            pair[0].size,
            pair[1].size,
            per_app / 1024.0
        );
    }
    let out = std::env::var_os("SCALE_PLOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/scale.svg"));
    std::fs::write(&out, plot(&figures)).unwrap();
    println!("plot: {}", out.display());
}
