//! Tests of the bundled Rhai health checks (`stdlib/health/*.rhai`): the
//! sandbox contract, and the twins of the checks the bootstrap installs into
//! Argo CD against their table of cases (`bundle/health/cases.json`; the
//! Lua side runs in kube-sim's Argo CD sandbox, `tests/sim`). CephCluster
//! and postgresql follow Argo CD's own checks and are held to Argo CD's
//! cases by the conformance test (`conformance_tests.rs`).
//!
//! Each check runs the way the executor runs it: a raw engine with only the
//! standard package, strict variables, no `eval`, no module resolver (so no
//! imports), an operations limit, and the object converted from JSON with
//! `rhai::serde::to_dynamic`. The result must convert to a [`Health`] with
//! `rhai::serde::from_dynamic`, which is the contract other code relies on.

use rhai::packages::{Package, StandardPackage};
use rhai::{AST, Engine, Scope};
use serde_json::{Value, json};

use super::{Health, HealthStatus, bundled_check, bundled_checks};

/// The table of cases both twins must pass.
const TWIN_CASES: &str = include_str!("../../bundle/health/cases.json");

fn engine() -> Engine {
    let mut engine = Engine::new_raw();
    StandardPackage::new().register_into_engine(&mut engine);
    engine.set_strict_variables(true);
    engine.disable_symbol("eval");
    engine.set_max_operations(50_000);
    engine
}

fn compile(engine: &Engine, source: &str) -> AST {
    match engine.compile(source) {
        Ok(ast) => ast,
        Err(err) => panic!("health check does not compile: {err}"),
    }
}

/// Runs `health(obj)` of a check on a JSON object.
fn run(source: &str, obj: &Value) -> Health {
    let engine = engine();
    let ast = compile(&engine, source);
    let arg = rhai::serde::to_dynamic(obj).unwrap();
    let result: rhai::Dynamic = engine
        .call_fn(&mut Scope::new(), &ast, "health", (arg,))
        .unwrap_or_else(|err| panic!("health({obj}) failed: {err}"));
    rhai::serde::from_dynamic::<Health>(&result)
        .unwrap_or_else(|err| panic!("health({obj}) returned {result}, not a Health: {err}"))
}

fn check(source: &str, obj: Value, status: HealthStatus, message: &str) {
    let health = run(source, &obj);
    assert_eq!((health.status, health.message.as_str()), (status, message), "for {obj}");
}

#[test]
fn every_bundled_check_compiles_under_the_sandbox_and_defines_health() {
    let engine = engine();
    for check in bundled_checks() {
        let ast = compile(&engine, check.source);
        assert!(
            ast.iter_functions().any(|f| f.name == "health" && f.params == ["obj"]),
            "{} must define fn health(obj)",
            check.file_name
        );
        assert!(!check.source.contains("import "), "{} must not import", check.file_name);
    }
}

#[test]
fn every_bundled_check_survives_hostile_shapes() {
    // Whatever the object looks like, a check returns a health (usually
    // Progressing or Unknown) rather than a script error.
    for check in bundled_checks() {
        for obj in [
            json!({}),
            json!({"status": null}),
            json!({"status": "weird"}),
            json!({"status": {}}),
            json!({"spec": {}, "status": {"phase": 3, "ceph": "x", "PostgresClusterStatus": 7,
                   "initialized": "yes", "leader": 5}}),
        ] {
            let _ = run(check.source, &obj);
        }
    }
}

#[test]
fn the_twins_of_the_installed_checks_pass_the_shared_table() {
    let table: Value = serde_json::from_str(TWIN_CASES).unwrap();
    let cases = table["cases"].as_array().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for case in cases {
        let key = case["check"].as_str().unwrap();
        seen.insert(key.to_owned());
        let twin = bundled_checks()
            .find(|c| c.file_name == format!("{key}.rhai"))
            .unwrap_or_else(|| panic!("no Rhai twin for {key}"));
        let health = run(twin.source, &case["object"]);
        assert_eq!(
            (health.status.as_str(), health.message.as_str()),
            (case["status"].as_str().unwrap(), case["message"].as_str().unwrap()),
            "{key}: {}",
            case["name"]
        );
    }
    // Every check the bootstrap installs has cases, and nothing else does.
    let installed: std::collections::BTreeSet<String> = crate::bootstrap::health_checks::HEALTH_CHECKS
        .iter()
        .map(|(key, _)| (*key).to_owned())
        .collect();
    assert_eq!(seen, installed);
}

#[test]
fn ceph_and_postgres_follow_argo_cd_beyond_its_cases() {
    let ceph = bundled_check("ceph.rook.io/v1", "CephCluster").unwrap().source;
    let postgres = bundled_check("acid.zalan.do/v1", "postgresql").unwrap().source;
    // Healthy Ceph in an Error state is Degraded; details are sorted by name.
    check(
        ceph,
        json!({"status": {"state": "Error", "ceph": {"health": "HEALTH_OK"}}}),
        HealthStatus::Degraded,
        "Ceph health is HEALTH_OK - Ceph cluster state is Error",
    );
    check(
        ceph,
        json!({"status": {"ceph": {"health": "HEALTH_WARN", "details": {
            "b": {"message": "second"}, "a": {"message": "first"}, "c": {}}}}}),
        HealthStatus::Degraded,
        "Ceph health is HEALTH_WARN (first; second)",
    );
    check(ceph, json!({"status": {}}), HealthStatus::Progressing, "");
    check(
        postgres,
        json!({"status": {"PostgresClusterStatus": "SyncFailed"}}),
        HealthStatus::Degraded,
        "SyncFailed",
    );
}

// --- The worked example in docs/health.md ----------------------------------

/// The first ```rhai block of docs/health.md, so the documented example
/// keeps working.
fn documented_example() -> String {
    let doc = include_str!("../../docs/health.md");
    let start = doc.find("```rhai\n").unwrap() + "```rhai\n".len();
    let end = start + doc[start..].find("```").unwrap();
    doc[start..end].to_owned()
}

#[test]
fn the_documented_example_works_as_documented() {
    let source = documented_example();
    let certificate = |conditions: Value| {
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
               "metadata": {"name": "grafana-tls", "namespace": "observability"},
               "status": {"conditions": conditions}})
    };
    check(
        &source,
        certificate(json!([{"type": "Ready", "status": "True",
                            "message": "Certificate is up to date and has not expired"}])),
        HealthStatus::Healthy,
        "Certificate is up to date and has not expired",
    );
    check(
        &source,
        certificate(json!([{"type": "Issuing", "status": "True"},
                           {"type": "Ready", "status": "False", "message": "Issuing certificate as Secret does not exist"}])),
        HealthStatus::Progressing,
        "Issuing certificate as Secret does not exist",
    );
    check(
        &source,
        certificate(json!([{"type": "Issuing", "status": "True"}])),
        HealthStatus::Progressing,
        "no Ready condition yet",
    );
    check(
        &source,
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate"}),
        HealthStatus::Progressing,
        "waiting for cert-manager",
    );
    check(
        &source,
        certificate(json!([{"type": "Ready"}])),
        HealthStatus::Progressing,
        "",
    );
}
