//! Failures recorded on the Kubernetes objects: one `events.k8s.io/v1`
//! Event per Application that failed, timed out or was skipped, so
//! `kubectl describe application <name>` and `kubectl get events` show
//! why, next to Argo CD's own events.
//!
//! The Events are written at the end of a run (deploy or teardown, never a
//! dry run or validate), while the environment's lock is still held, from
//! the report's components and failures. A successful run writes none, so a
//! no-op re-deploy still makes no write. Writing an Event is best effort:
//! a failure is a warning and never changes the run's outcome.
//!
//! Upstream limits (k8s.io/kubernetes `pkg/apis/core/validation/events.go`,
//! `ValidateEventCreate`): `reportingController`, `reportingInstance`,
//! `action`, `reason` and `eventTime` are required; `note` is at most
//! 1024 bytes ([`NOTE_LIMIT`]), `reportingInstance`, `action` and `reason`
//! at most 128.

use std::time::Duration;

use serde_json::{Value, json};

use crate::k8s::Cluster;
use crate::report::{Component, ComponentKind, ComponentStatus, Failure, FailureReason};

/// `reportingController` of every Event the executor writes.
pub const REPORTING_CONTROLLER: &str = "executor";
/// The longest `note` upstream accepts, in bytes.
pub const NOTE_LIMIT: usize = 1024;
/// Every Event of a run together: a slow API server does not hold the
/// run's end (nor a terminating Pod's grace period).
const BUDGET: Duration = Duration::from_secs(5);

/// What a run tells about its failures.
pub struct RunEvents<'a> {
    /// `Deploy` or `Teardown` (the Event's `action`).
    pub action: &'a str,
    /// `reportingInstance`: `executor-<trace id>`, this run.
    pub instance: String,
    /// Where the Applications live (`argocdNamespace`).
    pub argocd_namespace: &'a str,
}

/// The Event's `reason` for a component that did not succeed.
///
/// `DependencyFailed` for a skipped node; `HealthTimeout` when it timed
/// out; otherwise the failure's own reason (`SyncFailed`, `HookFailed`,
/// `Degraded`, ...).
pub fn reason(component: &Component, failure: Option<&Failure>) -> String {
    match (component.status, failure.map(|f| &f.reason)) {
        (ComponentStatus::Skipped, _) => "DependencyFailed".to_owned(),
        (ComponentStatus::TimedOut, _) | (_, Some(FailureReason::TimedOut)) => "HealthTimeout".to_owned(),
        (_, Some(reason)) if !reason.as_str().is_empty() => reason.as_str().chars().take(128).collect(),
        _ => "Failed".to_owned(),
    }
}

/// `text` cut to at most `limit` bytes, on a character boundary, marked
/// with `…` when cut.
pub fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let ellipsis = "…";
    let mut end = limit.saturating_sub(ellipsis.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ellipsis}", &text[..end])
}

/// The note: the diagnostic of the failure (message, then its details, `; `-separated).
fn note(component: &Component, failure: Option<&Failure>) -> String {
    let text = match failure {
        Some(f) if f.diagnostics.is_empty() => f.message.replace('\n', " "),
        // One line, as `kubectl describe` prints one line per Event.
        Some(f) => format!("{}; {}", f.message.replace('\n', " "), f.diagnostics.join("; ")),
        None => component.message.clone(),
    };
    truncate(&text, NOTE_LIMIT)
}

/// The Event about `application` (its live object, for the `uid`; `None`
/// when it does not exist).
pub fn event(
    run: &RunEvents<'_>,
    component: &Component,
    failure: Option<&Failure>,
    application: Option<&Value>,
    now: jiff::Timestamp,
) -> Value {
    let name = &component.name;
    let mut regarding = json!({
        "apiVersion": crate::argocd::application_kind().api_version,
        "kind": "Application",
        "namespace": run.argocd_namespace,
        "name": name,
    });
    if let Some(uid) = application.and_then(|a| a["metadata"]["uid"].as_str()) {
        regarding["uid"] = json!(uid);
    }
    if let Some(rv) = application.and_then(|a| a["metadata"]["resourceVersion"].as_str()) {
        regarding["resourceVersion"] = json!(rv);
    }
    let suffix = crate::observe::trace::random_hex(8);
    json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {
            // As client-go's recorder names them: `<object>.<unique suffix>`.
            "name": format!("{}.{suffix}", truncate_name(name)),
            "namespace": run.argocd_namespace,
        },
        "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        "reportingController": REPORTING_CONTROLLER,
        "reportingInstance": truncate(&run.instance, 128),
        "action": run.action,
        "reason": reason(component, failure),
        "type": "Warning",
        "note": note(component, failure),
        "regarding": regarding,
    })
}

/// A name prefix that leaves room for the suffix within 253 characters.
fn truncate_name(name: &str) -> &str {
    name.get(..253 - 17).unwrap_or(name)
}

/// The bundle object a bootstrap failure's `message` names, as object keys
/// print (`apps/v1 Deployment argocd/argocd-server`); the longest match.
pub fn concerned<'a>(objects: impl Iterator<Item = &'a Value>, message: &str) -> Option<&'a Value> {
    objects
        .filter_map(|object| {
            let key = crate::k8s::ObjectKey::of(object).ok()?.to_string();
            message.contains(&key).then_some((key.len(), object))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, object)| object)
}

/// The Event about a bootstrap object (its live state, for the `uid`) the
/// run's failure `message` names; `timed_out` from the failure's kind.
pub fn bootstrap_event(
    run: &RunEvents<'_>,
    object: &Value,
    live: Option<&Value>,
    (message, timed_out): (&str, bool),
    now: jiff::Timestamp,
) -> Value {
    let meta = &object["metadata"];
    let namespace = meta["namespace"]
        .as_str()
        .filter(|n| !n.is_empty())
        .unwrap_or("default");
    let name = meta["name"].as_str().unwrap_or_default();
    let mut regarding = json!({
        "apiVersion": object["apiVersion"],
        "kind": object["kind"],
        "name": name,
    });
    if let Some(ns) = meta["namespace"].as_str().filter(|n| !n.is_empty()) {
        regarding["namespace"] = json!(ns);
    }
    if let Some(uid) = live.and_then(|l| l["metadata"]["uid"].as_str()) {
        regarding["uid"] = json!(uid);
    }
    let reason = if timed_out { "HealthTimeout" } else { "BootstrapFailed" };
    json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {
            "name": format!("{}.{}", truncate_name(name), crate::observe::trace::random_hex(8)),
            "namespace": namespace,
        },
        "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        "reportingController": REPORTING_CONTROLLER,
        "reportingInstance": truncate(&run.instance, 128),
        "action": run.action,
        "reason": reason,
        "type": "Warning",
        "note": truncate(&message.replace('\n', " "), NOTE_LIMIT),
        "regarding": regarding,
    })
}

/// Writes the Event of a bootstrap failure on the bundle object its
/// message names, if any; a failure to write is a warning.
async fn record_bootstrap(
    cluster: &dyn Cluster,
    run: &RunEvents<'_>,
    bundle: &crate::bootstrap::Bundle,
    failure: &crate::script::error::ScriptError,
) -> usize {
    let message = failure.to_string();
    let timed_out = failure.kind == crate::script::error::ScriptErrorKind::Timeout;
    let Some(object) = concerned(bundle.objects(), &message) else {
        return 0;
    };
    let write = async {
        let live = match crate::k8s::ObjectKey::of(object) {
            Ok(key) => cluster.get(&key).await.ok().flatten(),
            Err(_) => None,
        };
        let event = bootstrap_event(
            run,
            object,
            live.as_ref(),
            (&message, timed_out),
            jiff::Timestamp::now(),
        );
        cluster.create(&event).await
    };
    match tokio::time::timeout(BUDGET, write).await {
        Ok(Ok(_)) => 1,
        Ok(Err(error)) => {
            tracing::warn!(
                phase = "events",
                "cannot record the bootstrap failure as an Event: {error}"
            );
            0
        }
        Err(_) => {
            tracing::warn!(
                phase = "events",
                "recording the bootstrap failure as an Event took longer than {BUDGET:?}: stopped"
            );
            0
        }
    }
}

/// The Applications that did not succeed, with their failure.
fn not_done<'a>(components: &'a [Component], failures: &'a [Failure]) -> Vec<(&'a Component, Option<&'a Failure>)> {
    components
        .iter()
        .filter(|c| c.kind == ComponentKind::App && c.status.is_incomplete())
        .map(|c| (c, failures.iter().find(|f| f.component == c.name)))
        .collect()
}

/// Writes one Event per Application that failed, timed out or was skipped.
/// Failures are logged as warnings; the count written is returned.
pub async fn record(
    cluster: &dyn Cluster,
    run: &RunEvents<'_>,
    components: &[Component],
    failures: &[Failure],
) -> usize {
    let targets = not_done(components, failures);
    if targets.is_empty() {
        return 0;
    }
    let write_all = async {
        let mut written = 0;
        for (component, failure) in targets {
            let key = crate::argocd::app_key(run.argocd_namespace, &component.name);
            let application = cluster.get(&key).await.ok().flatten();
            let event = event(run, component, failure, application.as_ref(), jiff::Timestamp::now());
            match cluster.create(&event).await {
                Ok(_) => written += 1,
                Err(error) => tracing::warn!(
                    phase = "events",
                    component = component.name.as_str(),
                    "cannot record the failure as an Event on the Application: {error}"
                ),
            }
        }
        written
    };
    match tokio::time::timeout(BUDGET, write_all).await {
        Ok(written) => written,
        Err(_) => {
            tracing::warn!(
                phase = "events",
                "recording failures as Events took longer than {BUDGET:?}: stopped"
            );
            0
        }
    }
}

/// [`record`] for the run of `request` on `host`, from what its report
/// holds so far and the action script's error, if it failed (a bootstrap
/// failure names the object concerned): nothing for validate or a dry run,
/// nor for one task of an orchestration Workflow (the Workflow's driver run
/// records its nodes).
pub async fn record_run(
    host: &crate::script::host::Host,
    request: &crate::config::Request,
    trace_id: &str,
    script_error: Option<&crate::script::error::ScriptError>,
) {
    use crate::config::Action;
    if request.dry_run || request.task || request.action == Action::Validate {
        return;
    }
    let (components, failures) = host.with_report(|parts| (parts.components.clone(), parts.failures.clone()));
    let run = RunEvents {
        action: if request.action == Action::Teardown {
            "Teardown"
        } else {
            "Deploy"
        },
        instance: format!("executor-{trace_id}"),
        argocd_namespace: &request.environment.argocd_namespace,
    };
    let mut written = record(host.cluster.as_ref(), &run, &components, &failures).await;
    if let (Some(failure), Some(bundle)) = (script_error, host.bundle.get()) {
        written += record_bootstrap(host.cluster.as_ref(), &run, bundle, failure).await;
    }
    if written > 0 {
        tracing::info!(
            phase = "events",
            "{written} failure(s) recorded as Events on the objects concerned"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(status: &str) -> Component {
        Component {
            name: "keycloak".into(),
            stack: "identity".into(),
            kind: ComponentKind::App,
            status: status.parse().unwrap(),
            health: "Unknown".into(),
            sync: "Unknown".into(),
            message: "skipped: `postgres-clusters` did not succeed and it depends on".into(),
            duration_seconds: 0.0,
            attempts: 0,
            depends_on: Vec::new(),
            start_seconds: None,
            phases: Vec::new(),
        }
    }

    fn failure(reason: &str, message: &str) -> Failure {
        Failure {
            component: "keycloak".into(),
            reason: reason.into(),
            message: message.into(),
            diagnostics: vec!["Deployment keycloak/keycloak: Progressing".into()],
        }
    }

    #[test]
    fn reasons() {
        assert_eq!(reason(&component("Skipped"), None), "DependencyFailed");
        assert_eq!(
            reason(&component("Failed"), Some(&failure("TimedOut", "x"))),
            "HealthTimeout"
        );
        assert_eq!(
            reason(&component("Failed"), Some(&failure("SyncFailed", "x"))),
            "SyncFailed"
        );
    }

    #[test]
    fn the_note_fits_upstream_limit_on_a_character_boundary() {
        let long = "é".repeat(2000);
        let f = failure("Degraded", &long);
        let event = event(
            &RunEvents {
                action: "Deploy",
                instance: "executor-0123".into(),
                argocd_namespace: "argocd",
            },
            &component("Failed"),
            Some(&f),
            Some(&json!({"metadata": {"uid": "u-1"}})),
            jiff::Timestamp::now(),
        );
        let note = event["note"].as_str().unwrap();
        assert!(note.len() <= NOTE_LIMIT, "{}", note.len());
        assert!(note.ends_with('…'));
        assert_eq!(event["regarding"]["uid"], "u-1");
        assert_eq!(event["regarding"]["namespace"], "argocd");
        assert_eq!(event["type"], "Warning");
    }

    #[test]
    fn a_bootstrap_failure_is_recorded_on_the_object_its_message_names() {
        let objects = [
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"namespace": "argocd", "name": "argocd-server"}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"namespace": "argocd", "name": "argocd-repo-server"}}),
        ];
        let message = "waiting for apps/v1 Deployment argocd/argocd-repo-server to meet the script's condition: timed out after 5s";
        let object = concerned(objects.iter(), message).unwrap();
        assert_eq!(object["metadata"]["name"], "argocd-repo-server");
        assert!(concerned(objects.iter(), "the Application CRD is missing").is_none());
        let run = RunEvents {
            action: "Deploy",
            instance: "executor-0123".into(),
            argocd_namespace: "argocd",
        };
        let live = json!({"metadata": {"uid": "u-9"}});
        let event = bootstrap_event(&run, object, Some(&live), (message, true), jiff::Timestamp::now());
        assert_eq!(event["reason"], "HealthTimeout");
        let failed = bootstrap_event(&run, object, Some(&live), (message, false), jiff::Timestamp::now());
        assert_eq!(failed["reason"], "BootstrapFailed", "the kind decides, not the words");
        assert_eq!(event["metadata"]["namespace"], "argocd");
        assert_eq!(
            event["regarding"],
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "argocd-repo-server", "namespace": "argocd", "uid": "u-9"})
        );
    }

    #[test]
    fn only_apps_that_did_not_succeed_get_an_event() {
        let mut ok = component("Deployed");
        ok.name = "vault".into();
        let components = [ok, component("Skipped")];
        let picked = not_done(&components, &[]);
        assert_eq!(picked.len(), 1);
        assert_eq!(picked[0].0.name, "keycloak");
    }
}
