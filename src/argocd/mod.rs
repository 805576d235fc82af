//! Argo CD Applications, driven through the Kubernetes API (no Argo CD REST
//! token needed): reading their state, requesting syncs, judging readiness,
//! and collecting diagnostics when they fail.

pub mod store;

use serde_json::{Value, json};

use crate::k8s::{Kind, ObjectKey};

/// `apiVersion` of Applications.
pub const API_VERSION: &str = "argoproj.io/v1alpha1";
/// The finalizer that makes Argo CD delete an Application's resources with it.
pub const CASCADE_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";
/// Annotation asking Argo CD to refresh an Application.
pub const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";
/// Name of the `operation.info` item that identifies a sync the executor
/// requested; Argo CD copies the operation into `status.operationState`.
pub const REQUEST_INFO: &str = "executor.io/sync-request";

/// A sync this run requested: when, and the id it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    /// Taken just before the request was sent.
    pub at: jiff::Timestamp,
    /// Unique per request, sent as `operation.info[executor.io/sync-request]`.
    pub id: String,
}

/// The Application kind.
pub fn application_kind() -> Kind {
    Kind::new(API_VERSION, "Application")
}

/// The key of Application `name` in `namespace`.
pub fn app_key(namespace: &str, name: &str) -> ObjectKey {
    ObjectKey::new(application_kind(), namespace, name)
}

/// What an Application reports, flattened.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppState {
    /// `status.sync.status` (`Synced`, `OutOfSync`, `Unknown`; empty before the first reconcile).
    pub sync: String,
    /// `status.health.status`.
    pub health: String,
    /// `status.health.message`.
    pub health_message: String,
    /// `status.operationState.phase` (`Running`, `Succeeded`, `Failed`, `Error`, `Terminating`).
    pub operation_phase: Option<String>,
    /// `status.operationState.message`.
    pub operation_message: String,
    /// `status.operationState.startedAt`.
    pub operation_started: Option<String>,
    /// Whether an `operation` is requested and not yet picked up.
    pub operation_pending: bool,
    /// `status.conditions[]` as `Type: message`.
    pub conditions: Vec<String>,
    /// `status.sync.revision`.
    pub revision: String,
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// Reads an Application's state.
pub fn state(app: &Value) -> AppState {
    let status = &app["status"];
    let operation = &status["operationState"];
    AppState {
        sync: text(&status["sync"]["status"]),
        health: text(&status["health"]["status"]),
        health_message: text(&status["health"]["message"]),
        operation_phase: operation["phase"].as_str().map(str::to_owned),
        operation_message: text(&operation["message"]),
        operation_started: operation["startedAt"].as_str().map(str::to_owned),
        operation_pending: !app["operation"].is_null(),
        conditions: status["conditions"]
            .as_array()
            .map(|c| {
                c.iter()
                    .map(|c| format!("{}: {}", text(&c["type"]), text(&c["message"])))
                    .collect()
            })
            .unwrap_or_default(),
        revision: text(&status["sync"]["revision"]),
    }
}

/// Where an Application stands, for someone waiting on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Synced and Healthy, with no operation in flight.
    Ready,
    /// Not there yet; the reason says what it is waiting for.
    Waiting(String),
    /// The sync operation failed (may be retried).
    SyncFailed(String),
    /// Synced but Degraded (or otherwise failed health): the node fails.
    Unhealthy(String),
    /// Our request is gone without having run: Argo CD clears `operation`
    /// when an operation ends, so a request made while another operation
    /// was running is dropped with it. Request again.
    RequestLost,
}

fn parse_time(text: &str) -> Option<jiff::Timestamp> {
    text.parse::<jiff::Timestamp>().ok()
}

/// Whether the operation Argo CD reports is the one `request` asked for.
///
/// Argo CD records the operation it ran in `status.operationState.operation`,
/// `info` included, so the request's id identifies it without comparing
/// clocks. Only when no operation is recorded at all does the start time
/// decide (Argo CD records seconds: a start in the request's second counts).
fn is_ours(app: &Value, request: &SyncRequest) -> bool {
    let operation_state = &app["status"]["operationState"];
    let recorded = &operation_state["operation"];
    if recorded.is_object() {
        return recorded["info"].as_array().is_some_and(|info| {
            info.iter()
                .any(|i| i["name"] == REQUEST_INFO && i["value"] == request.id.as_str())
        });
    }
    let floor = jiff::Timestamp::from_second(request.at.as_second()).unwrap_or(request.at);
    operation_state["startedAt"]
        .as_str()
        .and_then(parse_time)
        .is_some_and(|started| started >= floor)
}

/// What a waiting node expects of its Application's state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expectation {
    /// The sync this run requested, if it did: only that operation counts.
    pub request: Option<SyncRequest>,
    /// The spec this run just wrote, when Argo CD's automated policy is to
    /// sync it: only a comparison of this spec counts (Argo CD records what
    /// it compared in `status.sync.comparedTo`, so a status from before the
    /// write is not taken for the new one).
    pub spec: Option<Value>,
    /// When that spec was written: an operation that failed before then
    /// (an earlier run's) is not the verdict on it.
    pub since: Option<jiff::Timestamp>,
}

/// Whether Argo CD's last comparison was of `spec` (its source and destination).
pub fn compared(app: &Value, spec: &Value) -> bool {
    let compared_to = &app["status"]["sync"]["comparedTo"];
    ["source", "destination"]
        .iter()
        .all(|part| spec[part].is_null() || crate::k8s::compare::contains(&compared_to[part], &spec[part]))
}

/// Judges an Application. `request` is the sync we requested, if we did:
/// only that operation counts.
pub fn verdict(app: Option<&Value>, request: Option<&SyncRequest>) -> Verdict {
    verdict_of(
        app,
        &Expectation {
            request: request.cloned(),
            ..Expectation::default()
        },
    )
}

/// Judges an Application against what the waiting node expects.
pub fn verdict_of(app: Option<&Value>, expect: &Expectation) -> Verdict {
    let request = expect.request.as_ref();
    let Some(app) = app else {
        return Verdict::Waiting("the Application does not exist".to_owned());
    };
    let s = state(app);
    if app["metadata"]["deletionTimestamp"].is_string() {
        return Verdict::Waiting("the Application is being deleted".to_owned());
    }
    if s.operation_pending {
        return Verdict::Waiting("waiting for Argo CD to start the requested sync".to_owned());
    }
    if let Some(spec) = &expect.spec
        && !compared(app, spec)
    {
        return Verdict::Waiting("waiting for Argo CD to compare the new spec".to_owned());
    }
    if let Some(request) = request
        && !is_ours(app, request)
    {
        let other_ended = app["status"]["operationState"]["operation"].is_object()
            && matches!(s.operation_phase.as_deref(), Some("Succeeded" | "Failed" | "Error"));
        if other_ended {
            return Verdict::RequestLost;
        }
        return Verdict::Waiting("waiting for Argo CD to start the requested sync".to_owned());
    }
    let before_since = |app: &Value| {
        expect.since.is_some_and(|since| {
            let floor = jiff::Timestamp::from_second(since.as_second()).unwrap_or(since);
            app["status"]["operationState"]["startedAt"]
                .as_str()
                .and_then(parse_time)
                .is_none_or(|started| started < floor)
        })
    };
    match s.operation_phase.as_deref() {
        Some("Running" | "Terminating") => {
            return Verdict::Waiting(format!("sync running: {}", s.operation_message));
        }
        Some("Failed" | "Error") if request.is_none() && before_since(app) => {
            return Verdict::Waiting("waiting for Argo CD to sync the new spec".to_owned());
        }
        Some("Failed" | "Error") if request.is_some() || s.sync != "Synced" => {
            return Verdict::SyncFailed(if s.operation_message.is_empty() {
                "the sync operation failed".to_owned()
            } else {
                s.operation_message.clone()
            });
        }
        _ => {}
    }
    if s.sync != "Synced" {
        let why = if s.sync.is_empty() {
            "not reconciled yet".to_owned()
        } else {
            s.sync.clone()
        };
        let detail = s.conditions.first().map(|c| format!(" ({c})")).unwrap_or_default();
        return Verdict::Waiting(format!("sync status {why}{detail}"));
    }
    // Argo CD could not run a health check (a script error in argocd-cm):
    // that does not pass by waiting (controller/state.go adds this condition).
    let health_error = s
        .conditions
        .iter()
        .find(|c| c.starts_with("ComparisonError: error setting app health"));
    match s.health.as_str() {
        "Healthy" => Verdict::Ready,
        "Degraded" => Verdict::Unhealthy(format!("Degraded: {}", s.health_message)),
        "Unknown" if health_error.is_some() => Verdict::Unhealthy(format!(
            "Unknown: Argo CD cannot assess the health of its resources ({})",
            health_error.map(String::as_str).unwrap_or_default()
        )),
        "" => Verdict::Waiting("health not reported yet".to_owned()),
        other if s.health_message.is_empty() => Verdict::Waiting(format!("health {other}")),
        other => Verdict::Waiting(format!("health {other}: {}", s.health_message)),
    }
}

/// Whether the executor must ask for a sync of this (unchanged)
/// Application, or leave it to Argo CD: an Application with an automated
/// policy is synced by Argo CD itself when it is OutOfSync (argo-cd
/// `controller/appcontroller.go`, `autoSync`), except at a revision whose
/// automated sync already failed, or without self-heal at the revision it
/// already synced. Asking while Argo CD is about to do it would only have the
/// request dropped when Argo CD's own operation ends.
pub fn needs_request(app: &Value) -> bool {
    let s = state(app);
    if s.operation_pending || matches!(s.operation_phase.as_deref(), Some("Running" | "Terminating")) {
        return false;
    }
    if !is_automated(app) {
        return s.sync != "Synced";
    }
    if s.sync != "OutOfSync" {
        // Synced, or not compared yet (Argo CD will): nothing to ask.
        return false;
    }
    let last = &app["status"]["operationState"];
    let same_revision = last["syncResult"]["revision"].as_str().is_some_and(|r| r == s.revision);
    let failed = matches!(s.operation_phase.as_deref(), Some("Failed" | "Error"));
    let self_heal = app["spec"]["syncPolicy"]["automated"]["selfHeal"].as_bool() == Some(true);
    same_revision && (failed || !self_heal)
}

/// Whether Argo CD's automated policy will sync `application` (as written).
pub fn is_automated(application: &Value) -> bool {
    let automated = &application["spec"]["syncPolicy"]["automated"];
    automated.is_object() && automated["enabled"].as_bool() != Some(false)
}

/// The merge patch that requests a sync, as `argocd app sync` does, marked
/// with the request's id.
pub fn sync_patch(revision: &str, request: &SyncRequest) -> Value {
    json!({
        "operation": {
            "initiatedBy": {"username": "executor", "automated": false},
            "info": [{"name": REQUEST_INFO, "value": request.id}],
            "sync": {"revision": revision, "syncStrategy": {"hook": {}}},
            "retry": {}
        }
    })
}

/// Why an Application is not healthy: conditions, the operation's message,
/// and each unhealthy resource with its message.
pub fn diagnostics(app: &Value) -> Vec<String> {
    let s = state(app);
    let mut out = Vec::new();
    if !s.health.is_empty() && s.health != "Healthy" {
        out.push(
            format!("health {}: {}", s.health, s.health_message)
                .trim_end_matches(": ")
                .to_owned(),
        );
    }
    if !s.sync.is_empty() && s.sync != "Synced" {
        out.push(format!("sync {}", s.sync));
    }
    if let Some(phase) = &s.operation_phase
        && phase != "Succeeded"
    {
        out.push(format!("operation {phase}: {}", s.operation_message));
    }
    out.extend(s.conditions.iter().map(|c| format!("condition {c}")));
    for resource in app["status"]["resources"].as_array().into_iter().flatten() {
        let health = text(&resource["health"]["status"]);
        if !health.is_empty() && health != "Healthy" {
            let namespace = text(&resource["namespace"]);
            let place = if namespace.is_empty() {
                String::new()
            } else {
                format!("{namespace}/")
            };
            let message = text(&resource["health"]["message"]);
            if health == "Unknown" {
                // Name the check that failed: Argo CD runs the argocd-cm
                // customisation for the kind when there is one.
                let group = text(&resource["group"]);
                out.push(format!(
                    "{} {place}{}: Argo CD could not assess its health; see its health check \
                     (argocd-cm resource.customizations.health.{group}_{}, or Argo CD's own for the kind)",
                    text(&resource["kind"]),
                    text(&resource["name"]),
                    text(&resource["kind"]),
                ));
            }
            out.push(format!(
                "{} {place}{}: {health}{}",
                text(&resource["kind"]),
                text(&resource["name"]),
                if message.is_empty() {
                    String::new()
                } else {
                    format!(" ({message})")
                }
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(status: Value) -> Value {
        json!({"apiVersion": API_VERSION, "kind": "Application", "metadata": {"name": "a", "namespace": "argocd"}, "status": status})
    }

    #[test]
    fn ready_only_when_synced_and_healthy() {
        let healthy = app(json!({"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}));
        assert_eq!(verdict(Some(&healthy), None), Verdict::Ready);
        let progressing =
            app(json!({"sync": {"status": "Synced"}, "health": {"status": "Progressing", "message": "1 of 2"}}));
        assert_eq!(
            verdict(Some(&progressing), None),
            Verdict::Waiting("health Progressing: 1 of 2".into())
        );
        let degraded = app(json!({"sync": {"status": "Synced"}, "health": {"status": "Degraded", "message": "crash"}}));
        assert_eq!(
            verdict(Some(&degraded), None),
            Verdict::Unhealthy("Degraded: crash".into())
        );
        assert!(matches!(verdict(None, None), Verdict::Waiting(_)));
    }

    #[test]
    fn a_requested_sync_counts_only_once_argo_cd_runs_that_request() {
        let request = SyncRequest {
            at: "2026-11-28T10:00:05.300Z".parse().unwrap(),
            id: "c0ffee".into(),
        };
        let done = |operation: Value, started: &str| {
            app(json!({"sync": {"status": "Synced"}, "health": {"status": "Healthy"},
                "operationState": {"operation": operation, "phase": "Succeeded", "startedAt": started}}))
        };
        let ours = json!({"sync": {}, "info": [{"name": REQUEST_INFO, "value": "c0ffee"}]});
        // Identified by its id, whatever the clocks say.
        assert_eq!(
            verdict(Some(&done(ours, "2026-11-28T09:59:58Z")), Some(&request)),
            Verdict::Ready
        );
        // Another operation (an earlier request, an automated sync) that has
        // ended with no request pending: ours was dropped with it.
        let earlier = json!({"sync": {}, "info": [{"name": REQUEST_INFO, "value": "0ld"}]});
        assert_eq!(
            verdict(Some(&done(earlier, "2026-11-28T10:00:06Z")), Some(&request)),
            Verdict::RequestLost
        );
        let automated = json!({"sync": {}, "initiatedBy": {"automated": true}});
        assert_eq!(
            verdict(Some(&done(automated.clone(), "2026-11-28T10:00:06Z")), Some(&request)),
            Verdict::RequestLost
        );
        // Still running, or our request still pending: wait.
        let mut running = done(automated, "2026-11-28T10:00:04Z");
        running["status"]["operationState"]["phase"] = json!("Running");
        assert!(matches!(verdict(Some(&running), Some(&request)), Verdict::Waiting(_)));
        running["operation"] = json!({"sync": {}, "info": [{"name": REQUEST_INFO, "value": "c0ffee"}]});
        assert!(matches!(verdict(Some(&running), Some(&request)), Verdict::Waiting(_)));
    }

    #[test]
    fn without_a_recorded_operation_the_start_time_decides() {
        let request = SyncRequest {
            at: "2026-11-28T10:00:05.300Z".parse().unwrap(),
            id: "c0ffee".into(),
        };
        let old = app(json!({"sync": {"status": "Synced"}, "health": {"status": "Healthy"},
            "operationState": {"phase": "Succeeded", "startedAt": "2026-11-28T09:00:00Z"}}));
        assert!(matches!(verdict(Some(&old), Some(&request)), Verdict::Waiting(_)));
        let same_second = app(json!({"sync": {"status": "Synced"}, "health": {"status": "Healthy"},
            "operationState": {"phase": "Succeeded", "startedAt": "2026-11-28T10:00:05Z"}}));
        assert_eq!(verdict(Some(&same_second), Some(&request)), Verdict::Ready);
        let failed = app(json!({"sync": {"status": "OutOfSync"}, "health": {"status": "Missing"},
            "operationState": {"phase": "Failed", "message": "namespace x not found", "startedAt": "2026-11-28T10:00:06Z"}}));
        assert_eq!(
            verdict(Some(&failed), Some(&request)),
            Verdict::SyncFailed("namespace x not found".into())
        );
    }

    #[test]
    fn diagnostics_name_unhealthy_resources() {
        let a = app(
            json!({"sync": {"status": "Synced"}, "health": {"status": "Degraded", "message": "db"},
            "conditions": [{"type": "SyncError", "message": "boom"}],
            "resources": [{"kind": "Deployment", "namespace": "h", "name": "core", "health": {"status": "Degraded", "message": "crashloop"}},
                          {"kind": "Service", "namespace": "h", "name": "core", "health": {"status": "Healthy"}}]}),
        );
        assert_eq!(
            diagnostics(&a),
            vec![
                "health Degraded: db",
                "condition SyncError: boom",
                "Deployment h/core: Degraded (crashloop)"
            ]
        );
    }
}
