//! Tests of the bundled Rhai health checks (`stdlib/health/*.rhai`).
//!
//! Each check runs the way the executor runs it: a raw engine with only the
//! standard package, strict variables, no `eval`, no module resolver (so no
//! imports), an operations limit, and the object converted from JSON with
//! `rhai::serde::to_dynamic`. The result must convert to a [`Health`] with
//! `rhai::serde::from_dynamic`, which is the contract other code relies on.

use rhai::packages::{Package, StandardPackage};
use rhai::{AST, Engine, Scope};
use serde_json::{Value, json};

use super::{BUNDLED_CHECKS, Health, HealthStatus};

const CEPH: &str = include_str!("../../stdlib/health/ceph.rook.io_CephCluster.rhai");
const POSTGRES: &str = include_str!("../../stdlib/health/acid.zalan.do_postgresql.rhai");
const VAULT: &str = include_str!("../../stdlib/health/vault.banzaicloud.com_Vault.rhai");

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
    for check in BUNDLED_CHECKS {
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
    for check in BUNDLED_CHECKS {
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

// --- CephCluster -----------------------------------------------------------

fn ceph(status: Value) -> Value {
    json!({"apiVersion": "ceph.rook.io/v1", "kind": "CephCluster",
           "metadata": {"name": "rook-ceph", "namespace": "rook-ceph"},
           "spec": {"cephVersion": {"image": "quay.io/ceph/ceph:v19.2.0"}},
           "status": status})
}

#[test]
fn ceph_without_status_waits_for_the_operator() {
    let mut obj = ceph(json!(null));
    check(
        CEPH,
        obj.clone(),
        HealthStatus::Progressing,
        "waiting for the Rook operator",
    );
    if let Some(map) = obj.as_object_mut() {
        map.remove("status");
    }
    check(CEPH, obj, HealthStatus::Progressing, "waiting for the Rook operator");
}

#[test]
fn ceph_ready_and_health_ok_is_healthy() {
    check(
        CEPH,
        ceph(
            json!({"phase": "Ready", "state": "Created", "message": "Cluster created successfully",
                    "ceph": {"health": "HEALTH_OK"}}),
        ),
        HealthStatus::Healthy,
        "phase Ready - Ceph health is HEALTH_OK - Cluster created successfully",
    );
}

#[test]
fn ceph_health_err_is_degraded_with_details() {
    check(
        CEPH,
        ceph(json!({"phase": "Ready", "message": "Cluster has critical errors",
                    "ceph": {"health": "HEALTH_ERR", "details": {
                        "OSD_DOWN": {"message": "8 osds down", "severity": "HEALTH_ERR"},
                        "MON_DOWN": {"message": "1/3 mons down", "severity": "HEALTH_WARN"}}}})),
        HealthStatus::Degraded,
        "phase Ready - Ceph health is HEALTH_ERR (1/3 mons down; 8 osds down) - Cluster has critical errors",
    );
}

#[test]
fn ceph_error_or_failure_phase_is_degraded() {
    check(
        CEPH,
        ceph(json!({"phase": "Error", "message": "failed to create cluster: mon quorum not reached"})),
        HealthStatus::Degraded,
        "phase Error - Ceph health not reported yet - failed to create cluster: mon quorum not reached",
    );
    check(
        CEPH,
        ceph(json!({"phase": "Failure", "ceph": {"health": "HEALTH_WARN"}})),
        HealthStatus::Degraded,
        "phase Failure - Ceph health is HEALTH_WARN",
    );
}

#[test]
fn ceph_health_warn_is_progressing_with_details() {
    check(
        CEPH,
        ceph(json!({"phase": "Ready", "ceph": {"health": "HEALTH_WARN", "details": {
            "PG_DEGRADED": {"message": "Degraded data redundancy: 12 pgs degraded", "severity": "HEALTH_WARN"}}}})),
        HealthStatus::Progressing,
        "phase Ready - Ceph health is HEALTH_WARN (Degraded data redundancy: 12 pgs degraded)",
    );
    check(
        CEPH,
        ceph(json!({"phase": "Ready", "ceph": {"health": "HEALTH_WARN"}})),
        HealthStatus::Progressing,
        "phase Ready - Ceph health is HEALTH_WARN",
    );
}

#[test]
fn ceph_other_phases_are_progressing() {
    for phase in ["Creating", "Progressing", "Updating", "Connecting"] {
        check(
            CEPH,
            ceph(json!({"phase": phase, "message": "Configuring Ceph Mons"})),
            HealthStatus::Progressing,
            &format!("phase {phase} - Ceph health not reported yet - Configuring Ceph Mons"),
        );
    }
    check(
        CEPH,
        ceph(json!({"phase": "Progressing", "ceph": {"health": "HEALTH_OK"}})),
        HealthStatus::Progressing,
        "phase Progressing - Ceph health is HEALTH_OK",
    );
    check(
        CEPH,
        ceph(json!({"phase": "Ready"})),
        HealthStatus::Progressing,
        "phase Ready - Ceph health not reported yet",
    );
    check(
        CEPH,
        ceph(json!({})),
        HealthStatus::Progressing,
        "Ceph health not reported yet",
    );
}

// --- Zalando postgresql ----------------------------------------------------

fn pg(spec: Value, status: Value) -> Value {
    json!({"apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
           "metadata": {"name": "acid-keycloak", "namespace": "postgres"},
           "spec": spec, "status": status})
}

#[test]
fn postgres_running_with_all_instances_ready_is_healthy() {
    check(
        POSTGRES,
        pg(
            json!({"numberOfInstances": 2}),
            json!({"PostgresClusterStatus": "Running", "readyInstances": 2}),
        ),
        HealthStatus::Healthy,
        "Running, 2 of 2 instances ready",
    );
    check(
        POSTGRES,
        pg(
            json!({}),
            json!({"PostgresClusterStatus": "Running", "readyInstances": 1}),
        ),
        HealthStatus::Healthy,
        "Running, 1 of 1 instances ready",
    );
}

#[test]
fn postgres_running_without_a_ready_count_is_healthy() {
    check(
        POSTGRES,
        pg(
            json!({"numberOfInstances": 3}),
            json!({"PostgresClusterStatus": "Running"}),
        ),
        HealthStatus::Healthy,
        "cluster status is Running",
    );
}

#[test]
fn postgres_running_with_fewer_ready_is_progressing() {
    check(
        POSTGRES,
        pg(
            json!({"numberOfInstances": 3}),
            json!({"PostgresClusterStatus": "Running", "readyInstances": 1}),
        ),
        HealthStatus::Progressing,
        "1 of 3 instances ready",
    );
    check(
        POSTGRES,
        pg(
            json!({"numberOfInstances": 1}),
            json!({"PostgresClusterStatus": "Running", "readyInstances": 2}),
        ),
        HealthStatus::Progressing,
        "2 instances ready, 1 desired: scaling down",
    );
}

#[test]
fn postgres_creating_updating_or_unreported_is_progressing() {
    for state in ["Creating", "Updating"] {
        check(
            POSTGRES,
            pg(json!({}), json!({"PostgresClusterStatus": state})),
            HealthStatus::Progressing,
            &format!("cluster status is {state}"),
        );
    }
    check(
        POSTGRES,
        pg(json!({}), json!({"PostgresClusterStatus": ""})),
        HealthStatus::Progressing,
        "waiting for the postgres operator",
    );
    check(
        POSTGRES,
        pg(json!({}), json!({})),
        HealthStatus::Progressing,
        "waiting for the postgres operator",
    );
    check(
        POSTGRES,
        json!({"apiVersion": "acid.zalan.do/v1", "kind": "postgresql", "spec": {}}),
        HealthStatus::Progressing,
        "waiting for the postgres operator",
    );
}

#[test]
fn postgres_failed_or_invalid_is_degraded() {
    for state in ["CreateFailed", "UpdateFailed", "SyncFailed", "AddFailed", "Invalid"] {
        check(
            POSTGRES,
            pg(json!({"numberOfInstances": 2}), json!({"PostgresClusterStatus": state})),
            HealthStatus::Degraded,
            &format!("cluster status is {state}"),
        );
    }
}

#[test]
fn postgres_unknown_values_are_unknown() {
    check(
        POSTGRES,
        pg(json!({}), json!({"PostgresClusterStatus": "Hibernating"})),
        HealthStatus::Unknown,
        "unknown cluster status Hibernating",
    );
    check(
        POSTGRES,
        pg(
            json!({"numberOfInstances": "two"}),
            json!({"PostgresClusterStatus": "Running", "readyInstances": 2}),
        ),
        HealthStatus::Unknown,
        "unreadable instance counts: 2 of two",
    );
}

// --- Bank-Vaults Vault -----------------------------------------------------

fn vault(status: Value) -> Value {
    json!({"apiVersion": "vault.banzaicloud.com/v1alpha1", "kind": "Vault",
           "metadata": {"name": "vault", "namespace": "vault"},
           "spec": {"size": 3}, "status": status})
}

#[test]
fn vault_initialised_unsealed_with_a_leader_is_healthy() {
    check(
        VAULT,
        vault(json!({"initialized": true, "sealed": false, "leader": "vault-0",
                     "nodes": ["vault-0", "vault-1", "vault-2"]})),
        HealthStatus::Healthy,
        "initialised, unsealed, active node vault-0",
    );
}

#[test]
fn vault_not_initialised_is_progressing() {
    check(
        VAULT,
        vault(json!({"initialized": false, "sealed": true})),
        HealthStatus::Progressing,
        "not initialised",
    );
    check(VAULT, vault(json!({})), HealthStatus::Progressing, "not initialised");
    check(
        VAULT,
        json!({"apiVersion": "vault.banzaicloud.com/v1alpha1", "kind": "Vault"}),
        HealthStatus::Progressing,
        "not initialised",
    );
}

#[test]
fn vault_sealed_is_degraded() {
    check(
        VAULT,
        vault(json!({"initialized": true, "sealed": true, "leader": "vault-0"})),
        HealthStatus::Degraded,
        "sealed: unseal it",
    );
}

#[test]
fn vault_without_a_seal_state_is_progressing() {
    check(
        VAULT,
        vault(json!({"initialized": true, "leader": "vault-0"})),
        HealthStatus::Progressing,
        "seal state not reported yet",
    );
}

#[test]
fn vault_without_an_active_node_is_progressing() {
    for status in [
        json!({"initialized": true, "sealed": false}),
        json!({"initialized": true, "sealed": false, "leader": ""}),
        json!({"initialized": true, "sealed": false, "leader": null}),
    ] {
        check(VAULT, vault(status), HealthStatus::Progressing, "no active node");
    }
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
