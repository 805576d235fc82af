//! Tokens, fault injection and the audit log, through kubectl and raw HTTP.

use crate::util::{SimProcess, http, kubectl_available};

const CM: &str =
    r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"NAME","namespace":"default"},"data":{"k":"v"}}"#;

#[test]
fn viewer_token_reads_but_cannot_write() {
    // Fixed tokens named in sim.yaml, so raw requests can use them.
    let sim = SimProcess::start(Some(
        "tokens:\n  root-token: {user: admin, groups: [system:masters]}\n  viewer: {user: viewer, verbs: [get, list, watch]}\n",
    ));
    let (code, _, _) = http(&sim.url, "GET", "/api/v1/namespaces", "viewer", None);
    assert_eq!(code, 200);
    let (code, _, body) = http(
        &sim.url,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "viewer",
        Some(&CM.replace("NAME", "v")),
    );
    assert_eq!(code, 403);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Forbidden");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("User \"viewer\" cannot create resource \"configmaps\"")
    );
    let (code, _, body) = http(&sim.url, "GET", "/api/v1/namespaces", "nobody", None);
    assert_eq!(code, 401, "{body}");
    let (code, _, body) = http(
        &sim.url,
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        "viewer",
        Some(
            r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{"resourceAttributes":{"verb":"delete","resource":"pods"}}}"#,
        ),
    );
    assert_eq!(code, 201);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["status"]["allowed"],
        false
    );

    if kubectl_available("viewer_token_reads_but_cannot_write (kubectl part)") {
        let viewer = sim.kubeconfig_for("viewer");
        assert!(sim.kubectl_as(&viewer, &["get", "ns"]).status.success());
        let out = sim.kubectl_as(&viewer, &["delete", "ns", "default"]);
        assert!(String::from_utf8_lossy(&out.stderr).contains("Forbidden"), "{out:?}");
        let can = sim.kubectl_as(&viewer, &["auth", "can-i", "create", "deployments"]);
        assert_eq!(String::from_utf8_lossy(&can.stdout).trim(), "no");
        let can = sim.kubectl(&["auth", "can-i", "create", "deployments"]);
        assert_eq!(String::from_utf8_lossy(&can.stdout).trim(), "yes");
    }
    let denied = sim
        .audit()
        .into_iter()
        .filter(|e| e.response_status.code == 403)
        .count();
    assert!(denied >= 1);
}

#[test]
fn nth_create_fails_and_audit_counts_match() {
    let sim = SimProcess::start(Some(
        "faults:\n  - {match: {verb: create, resource: configmaps}, nth: 3, status: 500}\n",
    ));
    let mut codes = Vec::new();
    for i in 0..5 {
        let (code, _, _) = http(
            &sim.url,
            "POST",
            "/api/v1/namespaces/default/configmaps",
            &sim.token(),
            Some(&CM.replace("NAME", &format!("c{i}"))),
        );
        codes.push(code);
    }
    assert_eq!(codes, vec![201, 201, 500, 201, 201]);
    let creates: Vec<_> = sim
        .audit()
        .into_iter()
        .filter(|e| e.verb == "create" && e.user.username == "admin")
        .collect();
    assert_eq!(creates.len(), 5, "one audit event per request sent");
    assert_eq!(creates.iter().filter(|e| e.response_status.code == 500).count(), 1);
    let c = &creates[0];
    assert_eq!(c.kind, "Event");
    assert_eq!(c.api_version, "audit.k8s.io/v1");
    assert_eq!(c.stage, "ResponseComplete");
    let r = c.object_ref.as_ref().unwrap();
    assert_eq!(
        (
            r.resource.as_str(),
            r.namespace.as_deref(),
            r.name.as_deref(),
            r.api_version.as_str()
        ),
        ("configmaps", Some("default"), Some("c0"), "v1")
    );
}

#[test]
fn status_faults_carry_retry_after_and_reset_drops_the_connection() {
    let sim = SimProcess::start(Some(
        "faults:\n  - {match: {verb: list, resource: secrets}, status: 503, retryAfter: 7}\n  - {match: {verb: get, resource: configmaps, name: boom}, reset: true}\n  - {match: {verb: list, resource: services}, latency: 300ms}\n",
    ));
    let (code, head, body) = http(&sim.url, "GET", "/api/v1/secrets", &sim.token(), None);
    assert_eq!(code, 503);
    assert!(head.to_ascii_lowercase().contains("retry-after: 7"), "{head}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["reason"],
        "ServiceUnavailable"
    );
    let (code, _, body) = http(
        &sim.url,
        "GET",
        "/api/v1/namespaces/default/configmaps/boom",
        &sim.token(),
        None,
    );
    assert_eq!((code, body.as_str()), (0, ""), "the connection was dropped");
    let started = std::time::Instant::now();
    let (code, _, _) = http(&sim.url, "GET", "/api/v1/services", &sim.token(), None);
    assert_eq!(code, 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
}

#[test]
fn watch_is_reset_mid_stream() {
    let sim = SimProcess::start(Some(
        "faults:\n  - {match: {verb: watch, resource: namespaces}, reset: true, resetAfter: 200ms}\n",
    ));
    let started = std::time::Instant::now();
    let (code, _, body) = http(&sim.url, "GET", "/api/v1/namespaces?watch=true", &sim.token(), None);
    assert_eq!(code, 200);
    assert!(body.contains("\"ADDED\""), "initial events arrive first: {body}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the stream was cut"
    );
}

#[test]
fn seeded_rate_faults_are_deterministic() {
    let config = "seed: 42\nfaults:\n  - {match: {verb: get}, rate: 0.5, status: 429}\n";
    let run = || {
        let sim = SimProcess::start(Some(config));
        let token = sim.token();
        (0..16)
            .map(|_| http(&sim.url, "GET", "/api/v1/namespaces/default", &token, None).0)
            .collect::<Vec<_>>()
    };
    let first = run();
    assert!(first.contains(&429) && first.contains(&200), "{first:?}");
    assert_eq!(first, run());
}
