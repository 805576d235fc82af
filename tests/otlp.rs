//! OpenTelemetry traces over OTLP/HTTP (issue 19): the real binary against
//! kube-sim, its spans received by a test collector on loopback.
//!
//! The receiver follows the OTLP/HTTP specification (opentelemetry-proto,
//! `docs/specification.md`, "OTLP/HTTP"): spans arrive as `POST /v1/traces`
//! whose body is a binary protobuf `ExportTraceServiceRequest`
//! (`opentelemetry/proto/collector/trace/v1/trace_service.proto`), and a
//! success is `200` with an `ExportTraceServiceResponse` (empty here: no
//! partial success). Spans are `opentelemetry/proto/trace/v1/trace.proto`
//! messages: 16-byte trace ids, 8-byte span ids, `Status.code` 2 is
//! `STATUS_CODE_ERROR`. `/v1/traces` is appended to
//! `OTEL_EXPORTER_OTLP_ENDPOINT` as the exporter specification says
//! (opentelemetry-specification, `specification/protocol/exporter.md`,
//! "Endpoint URLs for OTLP/HTTP").

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

use crate::harness::{Platform, Run, demo_sim_config, executor_bin};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";
const TOKEN: &str = "otlp-test-credential-7f3a";
const STATUS_CODE_ERROR: i32 = 2;

/// What the test collector received.
#[derive(Default)]
struct Received {
    /// Request path and `authorization` header of each export.
    requests: Vec<(String, Option<String>)>,
    /// Every span, with its resource's attributes.
    spans: Vec<(BTreeMap<String, String>, Span)>,
}

/// A loopback OTLP/HTTP receiver; it runs until the test ends.
struct Collector {
    addr: SocketAddr,
    received: Arc<Mutex<Received>>,
}

impl Collector {
    fn start() -> Collector {
        let received = Arc::new(Mutex::new(Received::default()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = received.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let service =
                            hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                                let shared = shared.clone();
                                async move {
                                    let path = request.uri().path().to_owned();
                                    let auth = request
                                        .headers()
                                        .get("authorization")
                                        .map(|v| v.to_str().unwrap().to_owned());
                                    let body = request.into_body().collect().await.unwrap().to_bytes();
                                    let export = ExportTraceServiceRequest::decode(body).unwrap();
                                    let mut received = shared.lock().unwrap();
                                    received.requests.push((path, auth));
                                    for resource_spans in export.resource_spans {
                                        let resource = attributes(
                                            &resource_spans.resource.map(|r| r.attributes).unwrap_or_default(),
                                        );
                                        for scope in resource_spans.scope_spans {
                                            for span in scope.spans {
                                                received.spans.push((resource.clone(), span));
                                            }
                                        }
                                    }
                                    http::Response::builder()
                                        .header("content-type", "application/x-protobuf")
                                        .body(Full::new(Bytes::new()))
                                }
                            });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        Collector { addr, received }
    }
}

fn text(value: &Option<AnyValue>) -> String {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn attributes(list: &[KeyValue]) -> BTreeMap<String, String> {
    list.iter().map(|kv| (kv.key.clone(), text(&kv.value))).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A graph of three applications (paths of kube-sim's platform repository):
/// `db` (manual sync, a pre-sync and a post-sync hook) that kube-sim's
/// Argo CD reports Degraded, `web` that depends on it, and `cache` (manual
/// sync, a pre-sync hook) that deploys.
fn platform_with_a_failing_node() -> Platform {
    platform_of(demo_sim_config())
}

fn platform_of(mut config: kube_sim::SimConfig) -> Platform {
    config.apps.insert(
        "db".into(),
        serde_json::from_value(serde_json::json!({"health": "Degraded"})).unwrap(),
    );
    let platform = Platform::start(config);
    platform.sandbox.config_file(
        "dag.yaml",
        "stacks:
  - name: data
    apps:
      - {name: db, path: stacks/core/external-dns, namespace: data, autoSync: false, hooks: {preSync: hooks/db.rhai, postSync: hooks/db.rhai}}
      - {name: cache, path: stacks/foundation/sealed-secrets, namespace: cache, autoSync: false, hooks: {preSync: hooks/cache.rhai}}
  - name: front
    apps:
      - {name: web, path: stacks/observability/grafana, namespace: web, dependsOn: [db]}
",
    );
    platform.sandbox.config_file(
        "hooks/db.rhai",
        "fn pre_sync(node, ctx) { log::info(\"db pre-sync\"); }\nfn post_sync(node, ctx) {}\n",
    );
    platform.sandbox.config_file(
        "hooks/cache.rhai",
        "fn pre_sync(node, ctx) { log::info(\"cache pre-sync\"); }\n",
    );
    platform
}

fn json_lines(run: &Run) -> Vec<serde_json::Value> {
    run.stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn a_partial_deploy_sends_one_trace_under_the_callers_span() {
    let collector = Collector::start();
    let mut platform = platform_with_a_failing_node();
    platform
        .sandbox
        .set("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://{}", collector.addr))
        .set("OTEL_EXPORTER_OTLP_HEADERS", &format!("Authorization=Bearer%20{TOKEN}"))
        .set("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
        .set("TRACE_ID", TRACE_ID)
        .set("SPAN_ID", PARENT_SPAN_ID);
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 2, "partial\n{}", run.stderr);
    assert!(
        !run.stderr.contains(TOKEN) && !run.stdout.contains(TOKEN),
        "the header's credential leaked"
    );

    let received = collector.received.lock().unwrap();
    assert!(
        !received.requests.is_empty(),
        "no export reached the collector\n{}",
        run.stderr
    );
    for (path, auth) in &received.requests {
        assert_eq!(path, "/v1/traces");
        assert_eq!(auth.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
    }
    let spans: Vec<&Span> = received.spans.iter().map(|(_, s)| s).collect();
    for (resource, span) in &received.spans {
        assert_eq!(hex(&span.trace_id), TRACE_ID, "span {} is in another trace", span.name);
        assert_eq!(resource.get("service.name").map(String::as_str), Some("executor"));
        assert_eq!(resource.get("deployment.environment").map(String::as_str), Some("test"));
    }
    let by_id: BTreeMap<String, &Span> = spans.iter().map(|s| (hex(&s.span_id), *s)).collect();
    let children = |parent: &Span| -> Vec<&Span> {
        let id = hex(&parent.span_id);
        spans.iter().copied().filter(|s| hex(&s.parent_span_id) == id).collect()
    };
    let names = |list: &[&Span]| -> Vec<String> {
        let mut names: Vec<String> = list.iter().map(|s| s.name.clone()).collect();
        names.sort();
        names
    };

    // One root: the action, child of the caller's span, with the run's span id.
    let roots: Vec<&Span> = spans
        .iter()
        .copied()
        .filter(|s| !by_id.contains_key(&hex(&s.parent_span_id)))
        .collect();
    assert_eq!(names(&roots), ["deploy"], "{:?}", names(&spans));
    let action = roots[0];
    assert_eq!(hex(&action.parent_span_id), PARENT_SPAN_ID);
    assert_eq!(action.status.as_ref().map(|s| s.code), Some(STATUS_CODE_ERROR));
    assert_eq!(attributes(&action.attributes)["executor.outcome"], "Partial");
    let lines = json_lines(&run);
    let run_line = lines
        .iter()
        .find(|l| l.get("component").is_none())
        .expect("a log line of the run");
    assert_eq!(run_line["trace_id"], TRACE_ID);
    assert_eq!(
        run_line["span_id"],
        hex(&action.span_id),
        "the run's log lines carry its span id"
    );

    // The phases, in the action span.
    let phases = children(action);
    assert_eq!(
        names(&phases),
        [
            "bootstrap",
            "orchestration",
            "preflight",
            "report",
            "state",
            "verification"
        ]
    );
    let bootstrap = phases.iter().find(|s| s.name == "bootstrap").unwrap();
    let applied = names(&children(bootstrap));
    assert!(
        applied.iter().any(|n| n == "bootstrap namespaces") && applied.iter().any(|n| n == "bootstrap workloads"),
        "bootstrap phases: {applied:?}"
    );

    // A span per node under orchestration, with its steps as children.
    let orchestration = phases.iter().find(|s| s.name == "orchestration").unwrap();
    let nodes = children(orchestration);
    assert_eq!(names(&nodes), ["cache", "db", "web"]);
    let node = |name: &str| *nodes.iter().find(|s| s.name == name).unwrap();

    let db = node("db");
    let db_attributes = attributes(&db.attributes);
    assert_eq!(db_attributes["executor.node"], "db");
    assert_eq!(db_attributes["executor.stack"], "data");
    assert!(
        db_attributes["executor.application"].ends_with("/db"),
        "{db_attributes:?}"
    );
    assert_eq!(db_attributes["executor.revision"], "main");
    assert_eq!(db_attributes["executor.outcome"], "Failed", "{:?}", db.status);
    assert!(db_attributes["executor.attempt"].parse::<u32>().unwrap() >= 1);
    let status = db.status.as_ref().unwrap();
    assert_eq!(status.code, STATUS_CODE_ERROR);
    assert!(status.message.contains("Degraded"), "{}", status.message);
    assert_eq!(names(&children(db)), ["hook preSync", "sync", "wait"]);
    let wait = children(db).into_iter().find(|s| s.name == "wait").unwrap();
    assert_eq!(wait.status.as_ref().map(|s| s.code), Some(STATUS_CODE_ERROR));
    // The node's log lines carry the node span's id.
    let db_line = lines
        .iter()
        .find(|l| l["component"] == "db" && l["message"] == "db pre-sync")
        .expect("the hook's log line");
    assert_eq!(db_line["span_id"], hex(&db.span_id));

    let cache = node("cache");
    assert_eq!(attributes(&cache.attributes)["executor.outcome"], "Succeeded");
    assert_ne!(cache.status.as_ref().map(|s| s.code), Some(STATUS_CODE_ERROR));
    assert_eq!(names(&children(cache)), ["hook preSync", "sync", "wait"]);
    for step in children(cache) {
        assert!(step.start_time_unix_nano >= cache.start_time_unix_nano);
        assert!(step.end_time_unix_nano <= cache.end_time_unix_nano);
    }

    let web = node("web");
    assert_eq!(attributes(&web.attributes)["executor.outcome"], "Skipped");
    assert!(web.status.as_ref().unwrap().message.contains("db"));
}

/// A collector that is down (a closed port) or that never answers costs a
/// warning, never the run: exit 0, and the end of the run waits for the
/// spans at most the flush bound (5 s).
#[test]
fn an_unreachable_collector_costs_a_warning_not_the_run() {
    let mut platform = Platform::start(demo_sim_config());
    platform.sandbox.config_file(
        "dag.yaml",
        "stacks:\n  - name: one\n    apps:\n      - {name: solo, path: stacks/foundation/sealed-secrets, namespace: solo}\n",
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    platform.sandbox.set(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        &format!("http://{closed}/v1/traces"),
    );
    let started = Instant::now();
    let run = platform.run(&["deploy"]);
    let closed_took = started.elapsed();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let warning = json_lines(&run)
        .into_iter()
        .find(|l| l["level"] == "warn" && l["phase"] == "traces")
        .unwrap_or_else(|| panic!("no warning about the spans\n{}", run.stderr));
    assert!(
        warning["message"].as_str().unwrap().contains(&closed.to_string()),
        "{warning}"
    );

    // A collector that takes the connection and never answers: the run
    // still ends, within the bound (the re-deploy itself is a no-op).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    platform.sandbox.set(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        &format!("http://{}/v1/traces", silent.local_addr().unwrap()),
    );
    let started = Instant::now();
    let run = platform.run(&["deploy"]);
    let silent_took = started.elapsed();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("\"phase\":\"traces\""), "{}", run.stderr);
    assert!(
        silent_took < closed_took + Duration::from_secs(5) + Duration::from_secs(3),
        "a silent collector held the run {silent_took:?} (a closed port: {closed_took:?})"
    );
    drop(silent);
}

#[test]
fn bad_otel_variables_are_refused_before_the_cluster() {
    let mut sandbox = crate::harness::Sandbox::new();
    sandbox.set("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318");
    let run = sandbox.run(&["deploy"]);
    run.assert_invalid("OTEL_EXPORTER_OTLP_ENDPOINT");
    sandbox.assert_no_network();

    let mut sandbox = crate::harness::Sandbox::new();
    sandbox
        .set("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
        .set("OTEL_EXPORTER_OTLP_HEADERS", &format!("Authorization: Bearer {TOKEN}"));
    let run = sandbox.run(&["deploy"]);
    run.assert_invalid("OTEL_EXPORTER_OTLP_HEADERS");
    assert!(!run.stderr.contains(TOKEN) && !run.stdout.contains(TOKEN));
    sandbox.assert_no_network();
}

/// `ORCHESTRATION=workflow`: each node runs as a task pod (kube-sim's pod
/// runner runs this executor for the task image). The tasks' spans join the
/// driver's trace under its action span, and reach the collector with the
/// same headers, which travel in the Workflow's Secret (the secret file
/// `otel-exporter-otlp-headers`), never in the Workflow's spec.
#[test]
fn workflow_tasks_send_their_spans_into_the_drivers_trace() {
    let collector = Collector::start();
    let mut config = demo_sim_config();
    config.images.insert("executor:*".to_owned(), executor_bin().to_owned());
    // The Workflow's Secret (it holds the headers) is written just after
    // the Workflow it is owned by: hold that write back, so a task pod that
    // did not wait for its Secret would start without the headers. The
    // kubelet keeps a pod whose required secret volume is missing in
    // ContainerCreating ("MountVolume.SetUp failed ... secret not found"),
    // https://kubernetes.io/docs/concepts/configuration/secret/#restriction-secret-must-exist
    config.faults = serde_json::from_value(serde_json::json!([
        {"match": {"verb": "patch", "resource": "secrets", "namespace": "argo", "user": "admin"}, "latency": "2s"}
    ]))
    .unwrap();
    let mut platform = platform_of(config);
    platform
        .sandbox
        .set("ORCHESTRATION", "workflow")
        .set("EXECUTOR_IMAGE", "executor:test")
        .set("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://{}", collector.addr))
        .set("OTEL_EXPORTER_OTLP_HEADERS", &format!("Authorization=Bearer%20{TOKEN}"))
        .set("TRACE_ID", TRACE_ID);
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 2, "partial\n{}", run.stderr);
    let report = run.report();
    assert_eq!(report["orchestration"]["engine"], "argo-workflows", "{report:#}");

    let received = collector.received.lock().unwrap();
    for (_, auth) in &received.requests {
        assert_eq!(auth.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
    }
    let spans: Vec<&Span> = received.spans.iter().map(|(_, s)| s).collect();
    assert!(
        spans.iter().all(|s| hex(&s.trace_id) == TRACE_ID),
        "a span outside the run's trace"
    );
    // The driver's action span is the one root; each task's own action span
    // hangs under it, and the task's node span (with its sync and wait) under that.
    let ids: std::collections::BTreeSet<String> = spans.iter().map(|s| hex(&s.span_id)).collect();
    let roots: Vec<&&Span> = spans
        .iter()
        .filter(|s| !ids.contains(&hex(&s.parent_span_id)))
        .collect();
    assert_eq!(
        roots.len(),
        1,
        "one root: {:?}",
        roots.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let driver = hex(&roots[0].span_id);
    let tasks: Vec<&&Span> = spans
        .iter()
        .filter(|s| s.name == "deploy" && hex(&s.parent_span_id) == driver)
        .collect();
    // web never runs: the Workflow omits it once db fails.
    assert_eq!(tasks.len(), 2, "one action span per task that ran (db, cache)");
    let node_spans: std::collections::BTreeSet<String> = spans
        .iter()
        .filter(|s| attributes(&s.attributes).contains_key("executor.node"))
        .filter(|s| {
            // Under a task's action span (through its orchestration phase).
            let mut parent = hex(&s.parent_span_id);
            while let Some(up) = spans.iter().find(|p| hex(&p.span_id) == parent) {
                if tasks.iter().any(|t| t.span_id == up.span_id) {
                    return true;
                }
                parent = hex(&up.parent_span_id);
            }
            false
        })
        .map(|s| s.name.clone())
        .collect();
    assert!(
        node_spans.contains("db") && node_spans.contains("cache"),
        "the tasks' node spans: {node_spans:?}"
    );
    drop(received);

    // The credential is in no Workflow, no pod and no log line.
    let kubeconfig = platform.sandbox.dir.path().join("kubectl-kubeconfig");
    std::fs::write(&kubeconfig, platform.sim.kubeconfig("admin")).unwrap();
    let output = std::process::Command::new("kubectl")
        .args(["get", "workflows,pods", "-A", "-o", "json"])
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let objects = String::from_utf8(output.stdout).unwrap();
    assert!(objects.contains("otel-endpoint"), "the Workflow passes the endpoint on");
    assert!(
        !objects.contains(TOKEN),
        "the header's credential is in a Workflow or pod spec"
    );
    assert!(
        !run.stderr.contains(TOKEN),
        "the header's credential leaked into the log"
    );
}
