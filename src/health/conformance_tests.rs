//! Argo CD's own health test cases against the executor's `health::assess`
//! (the primitive scripts call: deletion first, then the Rhai check for the
//! kind, then the built-in rules), built exactly as a run builds it.
//!
//! The cases are data in `shared/conformance/argocd-health/` (found by
//! `bootstrap::test_support::conformance_dir`, or `EXECUTOR_CONFORMANCE_DIR`):
//! every object of gitops-engine's health tests and of Argo CD's
//! `resource_customizations/<group>/<Kind>/health_test.yaml` for the kinds
//! the executor has rules or checks for, with the status (and, where Argo
//! CD's test asserts it, the message) Argo CD expects at the argo-cd commit
//! in `SOURCES`. Any disagreement fails the test, except the deliberate ones
//! in [`DIFFERENCES`], each with its reason and documented in
//! docs/health.md ("Where the executor differs from Argo CD").
//!
//! Re-run: `cargo test --lib health::conformance`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{Health, HealthStatus};
use crate::script::compile::{Needs, compile_all};
use crate::script::engine::{self, Limits};
use crate::script::error::Origins;
use crate::script::host::{Host, HostParts, RunSettings};
use crate::script::source::Library;
use crate::script::testing::fake::FakeCluster;

/// A case where the executor deliberately gives another answer than Argo
/// CD's test expects: the case id, what the executor gives, and why.
struct Difference {
    id: &'static str,
    ours: (HealthStatus, &'static str),
    why: &'static str,
}

/// The deliberate differences. Each is documented in docs/health.md.
const DIFFERENCES: [Difference; 3] = [
    Difference {
        id: "ge-application-healthy",
        ours: (HealthStatus::Healthy, ""),
        why: "Argo CD has no health for an Application unless configured; the bootstrap installs \
              the argoproj.io_Application check into argocd-cm, and the executor reads an \
              Application through its twin, so both report the child's own health",
    },
    Difference {
        id: "ge-application-degraded",
        ours: (HealthStatus::Degraded, ""),
        why: "as ge-application-healthy",
    },
    Difference {
        id: "lua-CustomResourceDefinition-crd-v1-terminating-timestamp-progressing",
        ours: (HealthStatus::Progressing, "Pending deletion"),
        why: "Argo CD's Lua test calls the CRD script directly; Argo CD itself answers \
              \"Pending deletion\" for any object being deleted before a script runs \
              (GetResourceHealth, gitops-engine/pkg/health/health.go), and so does the executor; \
              the CRD rule alone gives the Lua's message (asserted below)",
    },
];

/// The cases of the legacy standalone gitops-engine (`v2beta*` HPAs), which
/// current Argo CD answers with Unknown (see the corpus README).
const LEGACY_SET: &str = "legacy-gitops-engine";

/// What a run's `health::assess` says, built as `actions::execute` builds it.
struct Assessor {
    host: Arc<Host>,
    _engine: Arc<rhai::Engine>,
    _runtime: tokio::runtime::Runtime,
}

impl Assessor {
    fn new() -> Assessor {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = runtime.enter();
        let config_dir = tempfile::tempdir().unwrap();
        let library = Library::new(config_dir.path());
        let origins = Origins::default();
        let plan = crate::dag::plan::build(
            &crate::dag::load::bundled().unwrap(),
            crate::dag::Action::Validate,
            &crate::dag::Scope::Platform,
            crate::dag::plan::Timeouts::default(),
        )
        .unwrap();
        let mut engine = engine::build(&library, &origins, Limits::default());
        crate::script::primitives::register_modules(&mut engine);
        let needs = Needs {
            action: None,
            plan: None,
            health: true,
            policies: false,
        };
        let compiled = compile_all(&engine, &library, &origins, needs).unwrap_or_else(|p| panic!("{p:?}"));
        let bounds = crate::k8s::wait::Bounds {
            deadline: tokio::time::Instant::now() + std::time::Duration::from_secs(600),
            cancel: CancellationToken::new(),
        };
        let (engine, host) = Host::bind(
            engine,
            HostParts {
                settings: RunSettings {
                    dry_run: true,
                    ..Default::default()
                },
                origins,
                scripts: Arc::new(compiled),
                ..HostParts::offline(Arc::new(FakeCluster::new()), runtime.handle().clone(), bounds, plan)
            },
        );
        Assessor {
            host,
            _engine: engine,
            _runtime: runtime,
        }
    }

    /// The executor's verdict, or `None` when it has no health for the kind
    /// (no check, no rule: Healthy by existing, Argo CD's "no health").
    fn assess(&self, obj: &Value) -> Option<Health> {
        let key = crate::script::primitives::health::check_key(obj)?;
        let has_check = self.host.scripts.health.contains_key(&key);
        let api_version = obj["apiVersion"].as_str().unwrap_or_default();
        let kind = obj["kind"].as_str().unwrap_or_default();
        let deleting = super::assess_deletion(obj).is_some();
        if !has_check && !super::has_builtin(api_version, kind) && !deleting {
            return None;
        }
        Some(crate::script::primitives::health::assess(&self.host, obj).unwrap_or_else(|e| panic!("{e}")))
    }
}

fn corpus() -> (PathBuf, Vec<Value>) {
    let dir = crate::bootstrap::test_support::conformance_dir().expect(
        "Argo CD's health cases (../shared/conformance/argocd-health) are needed; set EXECUTOR_CONFORMANCE_DIR",
    );
    let text = std::fs::read_to_string(dir.join("cases.json")).unwrap();
    let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
    (dir, cases)
}

fn object(dir: &Path, id: &str) -> Value {
    let text = std::fs::read_to_string(dir.join("objects").join(format!("{id}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn describe(health: Option<&Health>) -> String {
    health.map_or_else(|| "no health".to_owned(), |h| format!("{} {:?}", h.status, h.message))
}

#[test]
fn every_argo_cd_case_gets_argo_cds_verdict() {
    let (dir, cases) = corpus();
    assert!(cases.len() >= 100, "the corpus has {} cases", cases.len());
    let assessor = Assessor::new();
    let mut disagreements = Vec::new();
    let mut agreed = 0;
    for case in &cases {
        let id = case["id"].as_str().unwrap();
        let obj = object(&dir, id);
        let ours = assessor.assess(&obj);
        if let Some(difference) = DIFFERENCES.iter().find(|d| d.id == id) {
            let (status, message) = difference.ours;
            assert_eq!(
                ours.as_ref().map(|h| (h.status, h.message.as_str())),
                Some((status, message)),
                "{id}: a listed difference must stay exactly as listed ({})",
                difference.why
            );
            continue;
        }
        let expected_status = if case["set"] == LEGACY_SET {
            Some("Unknown")
        } else {
            case["expected_status"].as_str()
        };
        let status_ok = ours.as_ref().map(|h| h.status.as_str()) == expected_status;
        let message_ok = match (&ours, case["asserts_message"].as_bool() == Some(true)) {
            (Some(h), true) => Some(h.message.as_str()) == case["expected_message"].as_str(),
            _ => true,
        };
        if status_ok && message_ok {
            agreed += 1;
        } else {
            disagreements.push(format!(
                "{id} ({}): Argo CD {:?} {:?}, executor {}",
                case["source"].as_str().unwrap_or_default(),
                expected_status,
                case["expected_message"],
                describe(ours.as_ref())
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} cases disagree:\n{}",
        disagreements.len(),
        cases.len(),
        disagreements.join("\n")
    );
    assert_eq!(agreed + DIFFERENCES.len(), cases.len());
}

#[test]
fn the_crd_rule_alone_gives_argo_cds_lua_message() {
    let (dir, _) = corpus();
    let obj = object(
        &dir,
        "lua-CustomResourceDefinition-crd-v1-terminating-timestamp-progressing",
    );
    let health = super::apis::custom_resource_definition(&obj);
    assert_eq!(
        (health.status, health.message.as_str()),
        (HealthStatus::Progressing, "CRD is terminating")
    );
}

#[test]
fn legacy_hpa_cases_are_unknown_as_in_current_argo_cd() {
    let (dir, cases) = corpus();
    let assessor = Assessor::new();
    let legacy: Vec<&Value> = cases.iter().filter(|c| c["set"] == LEGACY_SET).collect();
    assert!(!legacy.is_empty());
    for case in legacy {
        let obj = object(&dir, case["id"].as_str().unwrap());
        let health = assessor.assess(&obj).unwrap();
        let version = obj["apiVersion"].as_str().unwrap();
        assert_eq!(health.status, HealthStatus::Unknown);
        assert_eq!(
            health.message,
            format!("unsupported HPA GVK: {version}, Kind=HorizontalPodAutoscaler")
        );
    }
}

#[test]
fn every_difference_is_documented() {
    let doc = include_str!("../../docs/health.md");
    for difference in DIFFERENCES {
        assert!(
            doc.contains(difference.id),
            "docs/health.md must document {}",
            difference.id
        );
    }
}
