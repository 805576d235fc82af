//! Benchmark: configuration parsing + graph validation + plan for synthetic
//! graphs of 1,000 nodes (target: well under 50 ms) and 10,000 nodes
//! (target: at most 200 ms).
//!
//! Run with `cargo bench --bench plan`. Prints the median and spread of many
//! runs of the same code path `executor plan` uses: read environment.yaml and
//! dag.yaml from a config directory, validate the graph, compute the plan,
//! render it as text.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a benchmark: a panic is a failure

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use executor::cli::GlobalArgs;
use executor::dag::Action;
use executor::dag::render::{PlanFormat, render};

/// A deterministic graph of `stacks` × `apps` nodes; each app depends on up
/// to three apps of earlier stacks and, every fifth stack, on a whole stack.
fn synthetic_dag(stacks: usize, apps: usize) -> String {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    let mut out = String::from("stacks:\n");
    for s in 0..stacks {
        let _ = writeln!(out, "  - name: stack-{s}");
        if s >= 5 && s % 5 == 0 {
            let _ = writeln!(out, "    dependsOn: [stack-{}]", s - 5);
        }
        let _ = writeln!(out, "    apps:");
        for a in 0..apps {
            let mut deps = Vec::new();
            if s > 0 {
                for _ in 0..next(4) {
                    let dep = format!("app-{}-{}", next(s), next(apps));
                    if !deps.contains(&dep) {
                        deps.push(dep);
                    }
                }
            }
            let _ = writeln!(
                out,
                "      - {{name: app-{s}-{a}, path: stacks/{s}/{a}, namespace: ns-{s}, dependsOn: [{}], timeouts: {{health: {}m}}}}",
                deps.join(", "),
                1 + next(30)
            );
        }
    }
    out
}

fn main() {
    // 1,000 nodes (target well under 50 ms) and 10,000 (issue 16: ≤ 200 ms).
    for (stacks, apps, iterations) in [(50, 20, 40), (500, 20, 10)] {
        measure(stacks, apps, iterations);
    }
}

fn measure(stacks: usize, apps: usize, iterations: usize) {
    let nodes = stacks * apps;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("environment.yaml"),
        "name: bench\ndomain: bench.example.com\ngitRepository: https://git.example.com/p.git\ngitRevision: main\ntimeouts: {sync: 5m, health: 10m}\n",
    )
    .unwrap();
    let dag = synthetic_dag(stacks, apps);
    std::fs::write(dir.path().join("dag.yaml"), &dag).unwrap();
    let args = GlobalArgs::default().with(&executor::config::inputs::CONFIG_DIR.spec, dir.path());

    let once = || {
        let plan = executor::config::load_plan(Action::Deploy, &args).unwrap();
        render(&plan, PlanFormat::Text)
    };
    let text = once();
    assert_eq!(
        text.lines().filter(|l| l.contains("app-")).count(),
        nodes,
        "every node planned"
    );

    let mut samples: Vec<Duration> = (0..3).map(|_| time(&once)).collect(); // warm-up
    samples.clear();
    for _ in 0..iterations {
        samples.push(time(&once));
    }
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "plan/{nodes}-nodes (config + dag.yaml parse, validate, plan, render; {} KiB dag.yaml): median {:.2} ms, min {:.2} ms, p90 {:.2} ms over {iterations} runs",
        dag.len() / 1024,
        ms(samples[iterations / 2]),
        ms(samples[0]),
        ms(samples[iterations * 9 / 10]),
    );
    let parse_only = median(iterations, || {
        let parsed = executor::dag::file::parse(
            std::path::Path::new("dag.yaml"),
            &dag,
            executor::dag::model::GraphOrigin::Replaced,
        );
        format!("{}", parsed.is_ok())
    });
    let load_only = median(iterations, || format!("{}", executor::dag::load(dir.path()).is_ok()));
    let graph = executor::dag::load(dir.path()).unwrap();
    let timeouts = executor::config::environment::Timeouts::default();
    let scope = executor::dag::Scope::Platform;
    let plan_only = median(iterations, || {
        let plan = executor::dag::plan::build(&graph, Action::Deploy, &scope, timeouts).unwrap();
        format!("{}", plan.nodes.len())
    });
    let plan = executor::dag::plan::build(&graph, Action::Deploy, &scope, timeouts).unwrap();
    let render_only = median(iterations, || render(&plan, PlanFormat::Text));
    println!(
        "  of which: dag.yaml YAML parse {:.2} ms, parse + checks (hooks, names, cycles) {:.2} ms, plan {:.2} ms, text render {:.2} ms",
        ms(parse_only),
        ms(load_only),
        ms(plan_only),
        ms(render_only)
    );
}

/// Median of `runs` timings of `f`.
fn median(runs: usize, f: impl Fn() -> String) -> Duration {
    let mut samples: Vec<Duration> = (0..runs).map(|_| time(&f)).collect();
    samples.sort();
    samples[runs / 2]
}

fn time(f: &impl Fn() -> String) -> Duration {
    let start = Instant::now();
    let out = f();
    let elapsed = start.elapsed();
    std::hint::black_box(out);
    elapsed
}
