//! `events.k8s.io/v1` Events as a second view of the `core/v1` Events, as
//! kube-apiserver serves them (k8s.io/kubernetes
//! `pkg/apis/events/v1/conversion.go`), validated on create as upstream's
//! `ValidateEventCreate` (`pkg/apis/core/validation/events.go`) does.

use crate::util::{SimProcess, http};

const EVENT: &str = r#"{
  "apiVersion": "events.k8s.io/v1", "kind": "Event",
  "metadata": {"name": "vault.0001"},
  "eventTime": "2026-12-07T10:00:00.000000Z",
  "reportingController": "executor", "reportingInstance": "executor-abc",
  "action": "Deploy", "reason": "HealthTimeout", "type": "Warning",
  "note": "vault did not become healthy within 10m",
  "regarding": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "namespace": "default", "name": "vault", "uid": "u-1"}
}"#;

#[test]
fn an_events_k8s_io_event_is_a_core_event_and_the_reverse() {
    let sim = SimProcess::start(None);
    let token = sim.token();
    let (code, _, body) = http(
        &sim.url,
        "POST",
        "/apis/events.k8s.io/v1/namespaces/default/events",
        &token,
        Some(EVENT),
    );
    assert_eq!(code, 201, "{body}");
    let created: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(created["apiVersion"], "events.k8s.io/v1");
    assert_eq!(created["regarding"]["name"], "vault");

    // The same object through core/v1, found by kubectl describe's selector.
    let (code, _, body) = http(
        &sim.url,
        "GET",
        "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dvault,involvedObject.kind%3DApplication,involvedObject.uid%3Du-1",
        &token,
        None,
    );
    assert_eq!(code, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list:#}");
    assert_eq!(items[0]["message"], "vault did not become healthy within 10m");
    assert_eq!(items[0]["reportingComponent"], "executor");
    assert_eq!(items[0]["metadata"]["uid"], created["metadata"]["uid"]);
    assert!(items[0].get("note").is_none() && items[0].get("regarding").is_none());

    // Read back through events.k8s.io/v1, it has the new names again.
    let (code, _, body) = http(
        &sim.url,
        "GET",
        "/apis/events.k8s.io/v1/namespaces/default/events/vault.0001",
        &token,
        None,
    );
    assert_eq!(code, 200, "{body}");
    let read: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(read["note"], created["note"]);
}

#[test]
fn an_invalid_events_k8s_io_event_is_refused_naming_every_field() {
    let sim = SimProcess::start(None);
    let mut event: serde_json::Value = serde_json::from_str(EVENT).unwrap();
    let object = event.as_object_mut().unwrap();
    object.remove("reportingController");
    object.remove("action");
    object.insert("note".into(), "x".repeat(1025).into());
    let (code, _, body) = http(
        &sim.url,
        "POST",
        "/apis/events.k8s.io/v1/namespaces/default/events",
        &sim.token(),
        Some(&event.to_string()),
    );
    assert_eq!(code, 422, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    let fields: Vec<&str> = status["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["reportingController", "action", "note"], "{status:#}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("can have at most 1024 characters")
    );
}
