//! `executor plan`: deterministic output for the bundled, replaced and overlaid graph.

use crate::harness::Sandbox;

fn plan(sandbox: &Sandbox, args: &[&str]) -> String {
    let mut full = vec!["plan"];
    full.extend_from_slice(args);
    let run = sandbox.run(&full);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    run.stdout
}

#[test]
fn reference_platform_plan_is_stable_and_deterministic() {
    let sandbox = Sandbox::new();
    let first = plan(&sandbox, &[]);
    let second = plan(&sandbox, &[]);
    assert_eq!(first, second, "two runs must print the same bytes");
    insta::assert_snapshot!("plan_reference_platform", first);
}

#[test]
fn mermaid_renders_the_reference_platform() {
    let sandbox = Sandbox::new();
    let first = plan(&sandbox, &["--format", "mermaid"]);
    assert_eq!(first, plan(&sandbox, &["--format", "mermaid"]));
    assert!(first.starts_with("flowchart LR\n"));
    assert_eq!(first.matches("  subgraph ").count(), 8, "one subgraph per stack");
    assert!(first.contains("    ceph_cluster[\"ceph-cluster\"]\n"));
    assert!(first.contains("  storage_classes --> vault\n"));
    insta::assert_snapshot!("plan_reference_platform_mermaid", first);
}

#[test]
fn dot_and_json_formats_are_deterministic() {
    let sandbox = Sandbox::new();
    for format in ["dot", "json"] {
        let first = plan(&sandbox, &["--format", format]);
        assert_eq!(first, plan(&sandbox, &["--format", format]), "{format}");
    }
    let json: serde_json::Value = serde_json::from_str(&plan(&sandbox, &["--format", "json"])).unwrap();
    assert_eq!(json["nodes"].as_array().unwrap().len(), 27);
    assert_eq!(json["nodes"][0]["syncTimeout"], "5m");
}

#[test]
fn replacement_graph_is_planned_deterministically() {
    let sandbox = Sandbox::new();
    sandbox.config_file(
        "dag.yaml",
        "stacks:
  - name: infra
    apps:
      - {name: net, path: infra/net, namespace: net}
      - {name: dns, path: infra/dns, namespace: dns, dependsOn: [net], timeouts: {sync: 2m}}
  - name: apps
    dependsOn: [infra]
    apps:
      - {name: web, path: apps/web, namespace: web, hooks: {postSync: hooks/web.rhai}}
",
    );
    sandbox.config_file("hooks/web.rhai", "fn post_sync(node, ctx) {}\n");
    let first = plan(&sandbox, &[]);
    assert_eq!(first, plan(&sandbox, &[]));
    insta::assert_snapshot!("plan_replacement_graph", first);
}

#[test]
fn overlay_and_scope_are_applied() {
    let mut sandbox = Sandbox::new();
    sandbox.config_file(
        "dag.yaml",
        "overlay:
  exclude: [tempo]
  timeouts: {vault: {health: 45m}}
",
    );
    sandbox.set("TARGET_SCOPE", "stack:security");
    let first = plan(&sandbox, &[]);
    assert_eq!(first, plan(&sandbox, &[]));
    insta::assert_snapshot!("plan_overlay_security_scope", first);
    let teardown = plan(&sandbox, &["--for", "teardown"]);
    insta::assert_snapshot!("plan_overlay_security_teardown", teardown);
}

#[test]
fn environment_timeouts_are_the_node_defaults() {
    let sandbox = Sandbox::new();
    sandbox.config_file(
        "environment.yaml",
        &format!(
            "{}timeouts: {{sync: 90s, health: 20m}}\n",
            crate::harness::ENVIRONMENT_YAML
        ),
    );
    let json: serde_json::Value = serde_json::from_str(&plan(&sandbox, &["--format", "json"])).unwrap();
    let cert = json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "cert-manager")
        .unwrap();
    assert_eq!(cert["syncTimeout"], "1m30s");
    assert_eq!(cert["healthTimeout"], "20m");
}

#[test]
fn plan_refuses_a_broken_graph_with_exit_3() {
    let sandbox = Sandbox::new();
    sandbox.config_file("dag.yaml", "overlay:\n  dependsOn: {metallb: [grafana]}\n");
    let run = sandbox.run(&["plan"]);
    assert_eq!(run.code, 3);
    assert!(run.stderr.contains("dependency cycle: "), "{}", run.stderr);
}
