//! Tests of graph loading, validation and planning on small graphs.

use std::path::Path;

use super::file::{self, DagFile};
use super::load::{self, ValidGraph};
use super::model::GraphOrigin;
use super::plan::{self, Action, Role, Scope};
use super::validate;
use crate::dag::plan::Timeouts;

fn graph(yaml: &str) -> Result<ValidGraph, Vec<String>> {
    let path = Path::new("dag.yaml");
    let parsed = file::parse(path, yaml, GraphOrigin::Replaced)
        .map_err(|p| p.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let DagFile::Graph(graph) = parsed else {
        panic!("expected a full graph");
    };
    let resolved = validate::resolve(&graph).map_err(|p| p.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    Ok(ValidGraph { graph, resolved })
}

const CHAIN: &str = "stacks:
  - name: base
    apps:
      - {name: a, path: p/a, namespace: a}
      - {name: b, path: p/b, namespace: b, dependsOn: [a]}
  - name: top
    dependsOn: [base]
    apps:
      - {name: c, path: p/c, namespace: c}
      - {name: d, path: p/d, namespace: d, dependsOn: [c]}
";

fn names(plan: &plan::Plan) -> Vec<&str> {
    plan.nodes.iter().map(|n| n.name.as_str()).collect()
}

#[test]
fn cycle_is_reported_with_its_path() {
    let errors = graph(
        "stacks:
  - name: s
    apps:
      - {name: a, path: p, namespace: a, dependsOn: [c]}
      - {name: b, path: p, namespace: b, dependsOn: [a]}
      - {name: c, path: p, namespace: c, dependsOn: [b]}
",
    )
    .unwrap_err();
    assert_eq!(errors, ["dag.yaml:4:54: dependsOn: dependency cycle: a → c → b → a"]);
}

#[test]
fn unknown_duplicate_and_self_dependencies_are_all_reported() {
    let errors = graph(
        "stacks:
  - name: s
    apps:
      - {name: vault, path: p, namespace: v, dependsOn: [vualt]}
      - {name: vault, path: p, namespace: v}
      - {name: x, path: p, namespace: x, dependsOn: [x]}
",
    )
    .unwrap_err();
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert!(
        errors[0].contains("dag.yaml:5:16: name: `vault` is defined twice (first at dag.yaml:4:16)"),
        "{errors:#?}"
    );
    assert!(
        errors[1].contains("depends on unknown application or stack `vualt` (did you mean `vault`?)"),
        "{errors:#?}"
    );
    assert!(errors[2].contains("`x` depends on itself"), "{errors:#?}");
}

#[test]
fn stack_dependencies_expand_to_every_app() {
    let valid = graph(CHAIN).unwrap();
    let plan = plan::build(&valid, Action::Deploy, &Scope::Platform, Timeouts::default()).unwrap();
    assert_eq!(names(&plan), ["a", "b", "c", "d"]);
    assert_eq!(plan.node("c").unwrap().depends_on, ["a", "b"]);
    assert_eq!(plan.node("d").unwrap().level, 3);
}

#[test]
fn scoped_deploy_brings_dependencies_and_teardown_brings_dependents() {
    let valid = graph(CHAIN).unwrap();
    let deploy = plan::build(&valid, Action::Deploy, &Scope::App("c".into()), Timeouts::default()).unwrap();
    assert_eq!(names(&deploy), ["a", "b", "c"]);
    assert_eq!(deploy.node("a").unwrap().role, Role::Dependency);
    assert_eq!(deploy.node("c").unwrap().role, Role::Target);

    let teardown = plan::build(&valid, Action::Teardown, &Scope::App("b".into()), Timeouts::default()).unwrap();
    assert_eq!(names(&teardown), ["d", "c", "b"]);
    assert_eq!(teardown.node("d").unwrap().role, Role::Dependent);
    assert_eq!(teardown.node("d").unwrap().level, 0);
    assert_eq!(teardown.node("b").unwrap().level, 2);
}

#[test]
fn scope_naming_nothing_is_a_problem_with_a_suggestion() {
    let valid = graph(CHAIN).unwrap();
    let problem = plan::build(
        &valid,
        Action::Deploy,
        &Scope::Stack("bsae".into()),
        Timeouts::default(),
    )
    .unwrap_err();
    assert_eq!(
        problem.to_string(),
        "TARGET_SCOPE: no stack named `bsae` in the graph (did you mean `base`?)"
    );
}

#[test]
fn node_timeouts_override_environment_defaults() {
    let valid = graph(
        "stacks:
  - name: s
    apps:
      - {name: a, path: p, namespace: a, timeouts: {health: 30m}}
",
    )
    .unwrap();
    let plan = plan::build(&valid, Action::Deploy, &Scope::Platform, Timeouts::default()).unwrap();
    assert_eq!(plan.nodes[0].health_timeout.as_secs(), 1800);
    assert_eq!(plan.nodes[0].sync_timeout, Timeouts::default().sync);
}

#[test]
fn bundled_graph_is_the_reference_platform() {
    let valid = load::bundled().unwrap();
    assert_eq!(valid.graph.stacks.len(), 8);
    assert_eq!(valid.graph.app_count(), 27);
    let deps = |app: &str| valid.resolved.deps[app].keys().cloned().collect::<Vec<_>>();
    assert_eq!(deps("ceph-cluster"), ["ceph-operator"]);
    assert_eq!(deps("vault"), ["ingress-nginx", "storage-classes"]);
    assert_eq!(deps("postgres-operator"), ["cert-manager", "metallb", "sealed-secrets"]);
    assert_eq!(
        deps("harbor"),
        [
            "ingress-nginx",
            "postgres-clusters",
            "redis-clusters",
            "storage-classes"
        ]
    );
    assert!(deps("kargo").is_empty());
}

fn overlay(text: &str) -> Result<ValidGraph, Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dag.yaml"), text).unwrap();
    std::fs::create_dir(dir.path().join("hooks")).unwrap();
    std::fs::write(dir.path().join("hooks/vault.rhai"), "fn post_sync(node, ctx) {}").unwrap();
    load::load(dir.path()).map_err(|p| {
        p.iter()
            .map(|p| p.to_string().replace(&dir.path().display().to_string(), "$CONFIG_DIR"))
            .collect()
    })
}

#[test]
fn overlay_includes_dependencies_and_changes_nodes() {
    let valid = overlay(
        "overlay:
  include: [security]
  exclude: [kyverno]
  dependsOn: {vault: [storage-classes]}
  timeouts: {ceph-cluster: {health: 45m}}
  hooks: {vault: {postSync: hooks/vault.rhai}}
",
    )
    .unwrap();
    let apps: Vec<&str> = valid.graph.apps().map(|(_, a)| a.name.name.as_str()).collect();
    assert!(apps.contains(&"vault") && apps.contains(&"ceph-cluster"), "{apps:?}");
    assert!(!apps.contains(&"kyverno") && !apps.contains(&"grafana"), "{apps:?}");
    assert!(
        !apps.contains(&"ingress-nginx") || apps.contains(&"keycloak"),
        "ingress only via keycloak: {apps:?}"
    );
    assert_eq!(
        valid
            .graph
            .app("ceph-cluster")
            .unwrap()
            .timeouts
            .health
            .unwrap()
            .as_secs(),
        2700
    );
    assert_eq!(
        valid.resolved.deps["vault"].keys().collect::<Vec<_>>(),
        ["storage-classes"]
    );
    assert_eq!(valid.graph.origin, GraphOrigin::Overlaid);
}

#[test]
fn overlay_refuses_excluding_a_dependency_and_unknown_names() {
    let errors = overlay("overlay:\n  exclude: [storage-classes]\n").unwrap_err();
    assert!(errors[0].contains("cannot exclude `storage-classes`"), "{errors:#?}");
    assert!(errors[0].contains("`loki`"), "{errors:#?}");

    let errors = overlay("overlay:\n  include: [securty]\n  timeouts: {vualt: {sync: 1m}}\n").unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        errors
            .iter()
            .any(|e| e
                .contains("`securty` names no stack or application of the bundled graph (did you mean `security`?)")),
        "{errors:#?}"
    );
    assert!(errors.iter().any(|e| e.contains("overlay.timeouts")), "{errors:#?}");
}

#[test]
fn missing_and_escaping_hook_files_are_reported() {
    let errors =
        overlay("overlay:\n  hooks: {vault: {preSync: hooks/missing.rhai, postSync: ../escape.rhai}}\n").unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("hook script `hooks/missing.rhai` of `vault` not found")),
        "{errors:#?}"
    );
    assert!(errors.iter().any(|e| e.contains("leaves its directory")), "{errors:#?}");
}

#[test]
fn a_gate_says_who_judges_it() {
    let ok = graph(
        "stacks:
  - name: s
    apps:
      - name: web
        path: p
        namespace: web
        resources:
          - {apiVersion: cert-manager.io/v1, kind: Certificate, name: a}
          - {apiVersion: cert-manager.io/v1, kind: Certificate, name: b, check: executor}
",
    )
    .unwrap();
    let checks: Vec<Option<&str>> = ok.graph.stacks[0].apps[0]
        .resources
        .iter()
        .map(|g| g.check.as_deref())
        .collect();
    assert_eq!(checks, [None, Some("executor")]);
    let errors = graph(
        "stacks:
  - name: s
    apps:
      - {name: web, path: p, namespace: web, resources: [{apiVersion: v1, kind: Secret, name: a, check: mounted}]}
",
    )
    .unwrap_err();
    assert!(
        errors[0].contains("resources[].check") && errors[0].contains("`mounted`: expected `argocd` or `executor`"),
        "{errors:#?}"
    );
}

/// Issue 18: two stacks of 1,000 applications, one depending on the other,
/// would expand to a million edges (gigabytes with their sources); the
/// count is checked before anything is expanded, and the stack named.
#[test]
fn a_quadratic_fan_out_is_refused_before_it_is_expanded() {
    use std::fmt::Write as _;
    let mut yaml = String::from("stacks:\n");
    for (stack, depends) in [("wide", ""), ("wider", "    dependsOn: [wide]\n")] {
        let _ = write!(yaml, "  - name: {stack}\n{depends}    apps:\n");
        for i in 0..1000 {
            let _ = writeln!(yaml, "      - {{name: {stack}-{i}, path: p, namespace: n}}");
        }
    }
    let problems = graph(&yaml).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("more than 250000 dependencies") && problems[0].contains("stack `wider`"),
        "{problems:?}"
    );
}

/// Fuzzing finding 1 (docs/fuzzing.md): every unknown dependency was
/// compared with every name of the graph for a suggestion, so many of them
/// took minutes. Each is still reported; only the first 50 get a "did you
/// mean", and a name longer than any label gets none.
#[test]
fn many_unknown_dependencies_are_all_reported_and_few_get_suggestions() {
    use std::fmt::Write as _;
    let mut yaml = String::from("stacks:\n  - name: s\n    apps:\n");
    for i in 0..200 {
        let _ = writeln!(
            yaml,
            "      - {{name: application-number-{i:03}, path: p, namespace: n}}"
        );
    }
    let unknown: Vec<String> = (0..200).map(|i| format!("application-nunber-{i:03}")).collect();
    let _ = writeln!(
        yaml,
        "      - {{name: last, path: p, namespace: n, dependsOn: [{}]}}",
        unknown.join(", ")
    );
    let problems = graph(&yaml).unwrap_err();
    assert_eq!(problems.len(), 200, "{problems:?}");
    assert_eq!(problems.iter().filter(|p| p.contains("did you mean")).count(), 50);
    assert!(
        problems[0].contains("(did you mean `application-number-000`?)"),
        "{}",
        problems[0]
    );
    let long = "x".repeat(100_000);
    assert_eq!(crate::input::problem::closest(&long, ["x"]), None);
}
