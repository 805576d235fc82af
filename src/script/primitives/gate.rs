//! `health::gate` — a resource gate judged by whoever decides its health
//! (docs/health.md, "Who decides"): Argo CD's recorded verdict when an
//! Application manages the resource, the executor's own assessment
//! otherwise or when the gate says `check: executor`. Waits by watching the
//! Application or the object; Degraded fails at once.

use rhai::{Dynamic, EvalAltResult, Map};
use serde_json::Value;

use super::argocd::failure;
use crate::argocd as acd;
use crate::health::{Health, HealthStatus, Recorded, managing, recorded};
use crate::k8s::wait::{WaitFailure, wait_for};
use crate::k8s::{K8sError, Kind, ObjectKey};
use crate::report::FailureReason;
use crate::script::host::{Host, script_error};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// The resource a gate names.
struct Gate {
    api_version: String,
    kind: String,
    namespace: String,
    name: String,
    by_executor: bool,
}

impl Gate {
    fn of(gate: &Value) -> Result<Gate> {
        let text = |key: &str| gate[key].as_str().unwrap_or_default().to_owned();
        let by_executor = match gate["check"].as_str() {
            None | Some("argocd") => false,
            Some("executor") => true,
            Some(other) => {
                return Err(script_error(format!(
                    "gate check `{other}`: expected `argocd` or `executor`"
                )));
            }
        };
        Ok(Gate {
            api_version: text("apiVersion"),
            kind: text("kind"),
            namespace: text("namespace"),
            name: text("name"),
            by_executor,
        })
    }

    fn recorded_in(&self, app: &Value) -> Option<Recorded> {
        recorded(app, &self.api_version, &self.kind, &self.namespace, &self.name)
    }

    fn label(&self) -> String {
        match self.namespace.as_str() {
            "" => format!("{} {}", self.kind, self.name),
            ns => format!("{} {ns}/{}", self.kind, self.name),
        }
    }
}

/// The Application that manages the gate's resource and records its
/// health: `options.apps` when given (already listed), else the node's own
/// Application (`options.app`), else every Application.
fn manager(host: &Host, gate: &Gate, options: &Value) -> Result<Option<Recorded>> {
    if let Some(apps) = options["apps"].as_array() {
        return Ok(managing(
            apps,
            &gate.api_version,
            &gate.kind,
            &gate.namespace,
            &gate.name,
        ));
    }
    let ns = &host.settings.argocd_namespace;
    if let Some(own) = options["app"].as_str() {
        let key = acd::app_key(ns, own);
        let live = host.block(&format!("reading Application {own}"), host.cluster.get(&key))?;
        if let Some(found) = live.as_ref().and_then(|app| gate.recorded_in(app)) {
            return Ok(Some(found));
        }
    }
    let apps = super::k8s::list(host, &acd::application_kind(), Some(ns), None)?;
    Ok(managing(
        &apps,
        &gate.api_version,
        &gate.kind,
        &gate.namespace,
        &gate.name,
    ))
}

fn verdict_map(health: &Health, by: &str, app: &str) -> Dynamic {
    let mut map = Map::new();
    map.insert("status".into(), Dynamic::from(health.status.to_string()));
    map.insert("message".into(), Dynamic::from(health.message.clone()));
    map.insert("decided_by".into(), Dynamic::from(by.to_owned()));
    map.insert("app".into(), Dynamic::from(app.to_owned()));
    Dynamic::from_map(map)
}

/// The executor's own verdict on the live object (`None`: absent).
fn own(host: &Host, live: Option<&Value>) -> Health {
    match live {
        None => Health::new(HealthStatus::Missing, "not found"),
        Some(object) => {
            super::health::assess(host, object).unwrap_or_else(|e| Health::new(HealthStatus::Unknown, e.to_string()))
        }
    }
}

/// Judges a gate once (`timeout` absent) or waits until it is Healthy.
///
/// # Errors
/// An invalid `check`; while waiting, `#{reason: "Degraded" | "TimedOut",
/// message, diagnostics}`.
pub fn gate(host: &Host, gate_value: &Value, options: &Value) -> Result<Dynamic> {
    let gate = Gate::of(gate_value)?;
    let decider = if gate.by_executor {
        None
    } else {
        manager(host, &gate, options)?.filter(|r| r.health.is_some())
    };
    let wait = match options.get("timeout") {
        None | Some(Value::Null) => None,
        Some(t) => Some(super::duration_arg(&crate::script::convert::to_dynamic(t))?),
    };
    let (by, app, key) = match &decider {
        Some(r) => (
            "argocd",
            r.app.clone(),
            acd::app_key(&host.settings.argocd_namespace, &r.app),
        ),
        None => (
            "executor",
            String::new(),
            ObjectKey::new(Kind::new(&gate.api_version, &gate.kind), &gate.namespace, &gate.name),
        ),
    };
    let judge = |state: Option<&Value>| -> Health {
        match &decider {
            Some(_) => state
                .and_then(|app| gate.recorded_in(app))
                .and_then(|r| r.health)
                .unwrap_or_else(|| Health::new(HealthStatus::Unknown, "no longer listed by its Application")),
            None => own(host, state),
        }
    };
    let who = match by {
        "argocd" => format!("Argo CD, Application {app}"),
        _ => "executor".to_owned(),
    };
    let Some(timeout) = wait else {
        // Judged once: Argo CD's verdict is the one just read with its
        // Application; the executor's needs the object.
        if let Some(health) = decider.as_ref().and_then(|r| r.health.clone()) {
            return Ok(verdict_map(&health, by, &app));
        }
        let live = host.block(&format!("reading {key}"), host.cluster.get(&key))?;
        return Ok(verdict_map(&judge(live.as_ref()), by, &app));
    };
    let bounds = host.current_bounds().within(timeout);
    let mut last = Health::new(HealthStatus::Unknown, "not seen yet");
    let what = format!("{} to be Healthy ({who})", gate.label());
    let result = host.block_on(wait_for(
        host.cluster.as_ref(),
        &key,
        |state| {
            last = judge(state);
            match last.status {
                HealthStatus::Healthy => Ok(true),
                HealthStatus::Degraded => Err(K8sError::Invalid(last.message.clone())),
                _ => Ok(false),
            }
        },
        &bounds,
        &what,
    ));
    let described = format!("{}: {} ({who}): {}", gate.label(), last.status, last.message);
    match result {
        Ok(_) => Ok(verdict_map(&last, by, &app)),
        Err(WaitFailure {
            error: K8sError::Invalid(_),
            ..
        }) => Err(failure(&FailureReason::Degraded, described.clone(), vec![described])),
        Err(WaitFailure {
            error: error @ K8sError::Timeout { .. },
            ..
        }) => Err(failure(
            &FailureReason::TimedOut,
            format!("{error}; {described}"),
            vec![described],
        )),
        Err(WaitFailure { error, .. }) => Err(crate::script::error::cluster_error(&error)),
    }
}
