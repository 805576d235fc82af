//! Benchmark: the cost of calling a compiled hook, and of `health::assess`
//! through a Rhai health check.
//!
//! Run with `cargo bench --bench scripting`. Targets: a hook call well under
//! 1 ms; at least 50,000 objects/s assessed through a Rhai check.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a benchmark: a panic is a failure

use std::sync::Arc;
use std::time::{Duration, Instant};

use executor::script::compile::{Needs, compile, compile_all};
use executor::script::engine::{self, Limits};
use executor::script::error::Origins;
use executor::script::host::{Host, HostParts};
use executor::script::primitives;
use executor::script::source::{Library, Origin, Source};
use executor::script::testing::fake::FakeCluster;
use rhai::{CallFnOptions, Dynamic, Scope};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let library = Library::new(std::path::Path::new("/nonexistent"));
    let origins = Origins::default();
    let plan = executor::dag::plan::build(
        &executor::dag::load::bundled().unwrap(),
        executor::dag::Action::Deploy,
        &executor::dag::Scope::Platform,
        executor::config::environment::Timeouts::default(),
    )
    .unwrap();
    let mut engine = engine::build(&library, &origins, Limits::default());
    primitives::register_modules(&mut engine);
    let compiled = compile_all(
        &engine,
        &library,
        &origins,
        Needs {
            action: None,
            plan: None,
            health: true,
            policies: false,
        },
    )
    .unwrap();
    let bounds = executor::k8s::wait::Bounds {
        deadline: tokio::time::Instant::now() + Duration::from_secs(3600),
        cancel: Default::default(),
    };
    let (engine, host) = Host::bind(
        engine,
        HostParts {
            origins: origins.clone(),
            scripts: Arc::new(compiled),
            ..HostParts::offline(
                Arc::new(FakeCluster::new()),
                runtime.handle().clone(),
                bounds,
                plan.clone(),
            )
        },
    );

    // 1. A compiled hook: what a node's post_sync costs to call.
    let hook = compile(
        &engine,
        Source {
            name: "hook.rhai".into(),
            display: "hook.rhai".into(),
            text: "fn post_sync(node, ctx) {\n  let name = node.name;\n  if ctx.dry_run { return (); }\n  #{status: \"Healthy\", message: `${name} ok`}\n}\n".into(),
            origin: Origin::Override,
        },
        &origins,
    )
    .unwrap();
    let node_json = serde_json::to_value(&plan.nodes[0]).unwrap();
    let node_keys = node_json.as_object().map_or(0, serde_json::Map::len);
    let node = executor::script::convert::to_dynamic(&node_json);
    let ctx =
        executor::script::convert::to_dynamic(&serde_json::json!({"dry_run": false, "environment": "development"}));
    let call = || {
        let _: Dynamic = engine
            .call_fn_with_options(
                CallFnOptions::new(),
                &mut Scope::new(),
                &hook.ast,
                "post_sync",
                (node.clone(), ctx.clone()),
            )
            .unwrap();
    };
    for _ in 0..1000 {
        call();
    }
    let calls = 20_000;
    let started = Instant::now();
    for _ in 0..calls {
        call();
    }
    let per_call = started.elapsed() / calls;
    println!(
        "hook call (compiled post_sync(node, ctx), node map of {} keys): {:.1} µs per call",
        node_keys,
        per_call.as_secs_f64() * 1e6
    );

    // 2. health::assess through a Rhai check (the bundled CephCluster check).
    let objects: Vec<serde_json::Value> = (0..1000)
        .map(|i| {
            serde_json::json!({
                "apiVersion": "ceph.rook.io/v1", "kind": "CephCluster",
                "metadata": {"name": format!("cluster-{i}"), "namespace": "rook-ceph", "labels": {"app": "rook-ceph"}},
                "spec": {"cephVersion": {"image": "quay.io/ceph/ceph:v18.2.4"}, "mon": {"count": 3}},
                "status": {"phase": if i % 3 == 0 { "Progressing" } else { "Ready" }, "ceph": {"health": if i % 5 == 0 { "HEALTH_WARN" } else { "HEALTH_OK" }}},
            })
        })
        .collect();
    for object in objects.iter().take(200) {
        primitives::health::assess(&host, object).unwrap();
    }
    let rounds = 30;
    let started = Instant::now();
    for _ in 0..rounds {
        for object in &objects {
            std::hint::black_box(primitives::health::assess(&host, object).unwrap());
        }
    }
    let elapsed = started.elapsed();
    let per_second = (rounds * objects.len()) as f64 / elapsed.as_secs_f64();
    println!("health::assess via the Rhai CephCluster check: {per_second:.0} objects/s");

    // 3. The same through a built-in rule, for comparison.
    let deployments: Vec<serde_json::Value> = (0..1000)
        .map(|i| serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": format!("d-{i}"), "namespace": "a", "generation": 2},
            "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2, "readyReplicas": 2}
        }))
        .collect();
    let started = Instant::now();
    for _ in 0..rounds {
        for object in &deployments {
            std::hint::black_box(primitives::health::assess(&host, object).unwrap());
        }
    }
    let per_second = (rounds * deployments.len()) as f64 / started.elapsed().as_secs_f64();
    println!("health::assess via the built-in Deployment rule: {per_second:.0} objects/s");

    // 4. Primitives called from a script: the boundary's own cost (a
    // primitive that reads the run's state, one that needs none).
    let loop_script = compile(
        &engine,
        Source {
            name: "calls.rhai".into(),
            display: "calls.rhai".into(),
            text: "fn calls(n) {\n  let found = 0;\n  for i in 0..n {\n    if secrets::has(\"absent\") { found += 1; }\n    if health::check_key(#{apiVersion: \"v1\", kind: \"Service\"}) == \"\" { found += 1; }\n  }\n  found\n}\n".into(),
            origin: Origin::Override,
        },
        &origins,
    )
    .unwrap();
    let calls_per_run: i64 = 10_000;
    let run = || {
        let _: Dynamic = engine
            .call_fn_with_options(
                CallFnOptions::new(),
                &mut Scope::new(),
                &loop_script.ast,
                "calls",
                (calls_per_run,),
            )
            .unwrap();
    };
    run();
    let runs = 20;
    let started = Instant::now();
    for _ in 0..runs {
        run();
    }
    let per_pair = started.elapsed() / (runs * u32::try_from(calls_per_run).unwrap());
    println!(
        "primitive calls from a script (secrets::has + health::check_key, loop included): {:.2} µs per pair",
        per_pair.as_secs_f64() * 1e6
    );
}
