//! kube-sim's Argo CD health against Argo CD's own test cases, and the Lua
//! checks the executor installs into `argocd-cm` run in kube-sim's Argo CD
//! sandbox (a real Lua 5.1).
//!
//! The corpus (`shared/conformance/argocd-health`, argo-cd at the commit in
//! its `SOURCES`) is run the way Argo CD runs it: gitops-engine's cases
//! through the whole assessment with no configuration (`GetResourceHealth(obj,
//! nil)` in `gitops-engine/pkg/health/health_test.go`), the shipped Lua
//! checks' cases through the check alone (`util/lua/health_test.go` calls
//! the script directly). kube-sim has its own Rust rules (it may not carry
//! Argo CD's scripts); every case must agree.

use kube_sim::controllers::argocd::health::{self, Health, Settings, builtin, lua, shipped};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn corpus() -> (PathBuf, Vec<Value>) {
    let dir = crate::util::conformance_dir();
    let cases = serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    (dir, cases)
}

fn object(dir: &Path, id: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(format!("objects/{id}.json"))).unwrap()).unwrap()
}

fn group_kind(obj: &Value) -> (String, String) {
    let api_version = obj["apiVersion"].as_str().unwrap_or("");
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    (group.to_string(), obj["kind"].as_str().unwrap_or("").to_string())
}

#[test]
fn kube_sims_argo_cd_passes_argo_cds_health_cases() {
    let (dir, cases) = corpus();
    assert!(cases.len() >= 100);
    let mut disagreements = Vec::new();
    for case in &cases {
        let id = case["id"].as_str().unwrap();
        let obj = object(&dir, id);
        let (group, kind) = group_kind(&obj);
        let ours = if case["set"] == "argo-cd-lua" {
            let check = shipped::check_for(&group, &kind).unwrap_or_else(|| panic!("{id}: no shipped check"));
            Some(check(&obj).unwrap_or_else(|e| (Health::Unknown, e)))
        } else {
            health::assess(&Settings::default(), &group, &kind, &obj).health
        };
        let expected_status = if case["set"] == "legacy-gitops-engine" {
            // Current Argo CD answers these v2beta* HPAs Unknown (corpus README).
            Some("Unknown")
        } else {
            case["expected_status"].as_str()
        };
        let status_ok = ours.as_ref().map(|(h, _)| h.as_str()) == expected_status;
        let message_ok = case["asserts_message"] != true
            || ours.as_ref().map(|(_, m)| m.as_str()) == case["expected_message"].as_str();
        if !status_ok || !message_ok {
            disagreements.push(format!(
                "{id}: Argo CD {expected_status:?} {}, kube-sim {ours:?}",
                case["expected_message"]
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

/// The checks the executor installs: `bundle/health/<key>.lua`.
fn installed() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bundle/health");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let path = e.ok()?.path();
            let key = path.file_name()?.to_str()?.strip_suffix(".lua")?.to_string();
            Some((key, std::fs::read_to_string(&path).ok()?))
        })
        .collect();
    out.sort();
    out
}

fn as_check(key: &str, script: &str) -> lua::Check {
    let data = serde_json::json!({ format!("{}{key}", lua::HEALTH_PREFIX): script });
    lua::checks(data.as_object().unwrap()).remove(0)
}

#[test]
fn installed_checks_pass_their_table_in_argo_cds_sandbox() {
    let table: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bundle/health/cases.json")).unwrap(),
    )
    .unwrap();
    let scripts = installed();
    assert!(scripts.len() >= 2, "{scripts:?}");
    let mut covered = std::collections::BTreeSet::new();
    for case in table["cases"].as_array().unwrap() {
        let key = case["check"].as_str().unwrap();
        covered.insert(key.to_string());
        let (_, script) = scripts.iter().find(|(k, _)| k == key).unwrap();
        let got = lua::run(&as_check(key, script), &case["object"]).unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(
            got,
            Some((
                Health::parse(case["status"].as_str().unwrap()),
                case["message"].as_str().unwrap().to_string()
            )),
            "{key}: {}",
            case["name"]
        );
    }
    let keys: std::collections::BTreeSet<String> = scripts.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(covered, keys, "every installed check has cases");
}

#[test]
fn installed_checks_pass_argo_cds_cases_for_their_kinds() {
    let (dir, cases) = corpus();
    let scripts = installed();
    let mut ran = 0;
    for case in cases.iter().filter(|c| c["expected_status"].is_string()) {
        let obj = object(&dir, case["id"].as_str().unwrap());
        let (group, kind) = group_kind(&obj);
        let key = if group.is_empty() {
            kind.clone()
        } else {
            format!("{group}_{kind}")
        };
        let Some((_, script)) = scripts.iter().find(|(k, _)| *k == key) else {
            continue;
        };
        ran += 1;
        let got = lua::run(&as_check(&key, script), &obj).unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(
            got.as_ref().map(|(h, _)| h.as_str()),
            case["expected_status"].as_str(),
            "{key}"
        );
    }
    // Argo CD has cases for none of them today (it has no check for
    // Application or Vault); an override of a kind it has cases for is held
    // to them here.
    assert_eq!(ran, 0);
}

#[test]
fn the_old_postgresql_check_fails_in_argo_cds_sandbox() {
    // The check the bootstrap installed before (tests/sim/fixtures/health):
    // it calls string.find, which Argo CD's sandbox does not have, so every
    // postgresql of Argo CD's cases is Unknown, with an error naming it.
    let script =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/health/broken-postgresql.lua"))
            .unwrap();
    let check = as_check("acid.zalan.do_postgresql", &script);
    let settings = Settings {
        checks: vec![check],
        persist: true,
    };
    let (dir, cases) = corpus();
    let postgres: Vec<&Value> = cases.iter().filter(|c| c["kind"] == "postgresql").collect();
    assert_eq!(postgres.len(), 4);
    let mut unknown = 0;
    for case in postgres {
        let obj = object(&dir, case["id"].as_str().unwrap());
        let assessment = health::assess(&settings, "acid.zalan.do", "postgresql", &obj);
        if assessment.health.as_ref().map(|(h, _)| *h) == Some(Health::Unknown) {
            unknown += 1;
            let error = assessment.error.unwrap();
            assert!(
                error.contains("resource.customizations.health.acid.zalan.do_postgresql")
                    && error.contains("attempt to index global 'string'"),
                "{error}"
            );
        }
    }
    // The one without status returns before reaching string.find.
    assert_eq!(unknown, 3);
    assert!(builtin::check_for("acid.zalan.do", "postgresql").is_none());
}
