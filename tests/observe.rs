//! Observability through the real binary: metrics (file, Pushgateway,
//! served), trace propagation, the live view, and redaction everywhere.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;

use base64::Engine as _;

use crate::harness::{Platform, demo_sim_config, describe};

fn parse_metrics(text: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("valid Prometheus exposition")
}

fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(ref h) => h.last().map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => f64::NAN,
        })
}

/// A Pushgateway stand-in: answers `status` to one request and returns the
/// request line and body.
fn receiver(status: u16) -> (String, std::thread::JoinHandle<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream);
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            if header.trim().is_empty() {
                break;
            }
            if let Some(value) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).unwrap();
        let mut stream = reader.into_inner();
        write!(
            stream,
            "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        (request_line.trim().to_owned(), String::from_utf8(body).unwrap())
    });
    (url, handle)
}

/// Prometheus' "avoid missing metrics"
/// (https://prometheus.io/docs/practices/instrumentation/#avoid-missing-metrics):
/// a clean run's textfile already has every known label value of every
/// labelled metric, at 0, so `increase()` sees the first error.
#[test]
fn a_clean_runs_metrics_have_every_labelled_series_at_zero() {
    let mut platform = Platform::start(demo_sim_config());
    let file = platform.sandbox.dir.path().join("metrics.prom");
    platform.sandbox.set("METRICS_FILE", file.to_str().unwrap());
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&file).unwrap();
    let scrape = parse_metrics(&text);
    for kind in [
        "config",
        "api",
        "timeout",
        "script",
        "health",
        "sync",
        "preflight",
        "policy",
        "interrupted",
    ] {
        assert_eq!(
            value(&scrape, "executor_errors_total", &[("type", kind)]),
            Some(0.0),
            "executor_errors_total{{type=\"{kind}\"}}:\n{text}"
        );
    }
    for verb in [
        "get",
        "list",
        "watch",
        "create",
        "update",
        "patch",
        "delete",
        "deletecollection",
    ] {
        assert!(
            value(&scrape, "executor_api_requests_total", &[("verb", verb)]).is_some(),
            "executor_api_requests_total{{verb=\"{verb}\"}}"
        );
    }
    assert_eq!(
        value(&scrape, "executor_api_requests_total", &[("verb", "deletecollection")]),
        Some(0.0)
    );
    for status in ["failed", "partial", "invalid", "timed_out"] {
        assert_eq!(
            value(
                &scrape,
                "executor_action_duration_seconds_count",
                &[("action", "deploy"), ("status", status)]
            ),
            Some(0.0),
            "{status}"
        );
        assert_eq!(
            value(
                &scrape,
                "executor_action_status",
                &[("action", "deploy"), ("status", status)]
            ),
            Some(0.0),
            "{status}"
        );
    }
    for health in ["Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"] {
        let expected = if health == "Healthy" { 1.0 } else { 0.0 };
        assert_eq!(
            value(
                &scrape,
                "executor_component_health",
                &[("component", "vault"), ("health", health)]
            ),
            Some(expected),
            "{health}"
        );
    }
}

#[test]
fn metrics_file_and_pushgateway_describe_the_run() {
    let mut platform = Platform::start(demo_sim_config());
    let file = platform.sandbox.dir.path().join("metrics.prom");
    let (url, pushed) = receiver(200);
    platform
        .sandbox
        .set("METRICS_FILE", file.to_str().unwrap())
        .set("PUSHGATEWAY_URL", &url);
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.report();

    let text = std::fs::read_to_string(&file).unwrap();
    let scrape = parse_metrics(&text);
    let labels = [("action", "deploy"), ("environment", "development")];
    assert_eq!(
        value(
            &scrape,
            "executor_action_status",
            &[labels[0], labels[1], ("status", "succeeded")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&scrape, "executor_action_status", &[labels[0], ("status", "running")]),
        Some(0.0)
    );
    assert_eq!(
        value(
            &scrape,
            "executor_action_duration_seconds_count",
            &[labels[0], ("status", "succeeded")]
        ),
        Some(1.0)
    );
    assert!(value(&scrape, "executor_last_success_timestamp_seconds", &labels).unwrap() > 1.7e9);
    // One series at 1 per component (its health), the others at 0.
    let components = scrape
        .samples
        .iter()
        .filter(|s| {
            s.metric == "executor_component_health" && matches!(s.value, prometheus_parse::Value::Gauge(v) if v == 1.0)
        })
        .count();
    assert_eq!(components, report["components"].as_array().unwrap().len());
    assert_eq!(
        value(
            &scrape,
            "executor_component_health",
            &[("component", "vault"), ("health", "Healthy"), ("stack", "security")]
        ),
        Some(1.0)
    );
    let requests: f64 = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "executor_api_requests_total")
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum();
    assert_eq!(requests as u64, report["metrics"]["apiRequestsTotal"].as_u64().unwrap());

    let (request_line, body) = pushed.join().unwrap();
    assert_eq!(
        request_line,
        "PUT /metrics/job/executor/environment/development/action/deploy HTTP/1.1"
    );
    let pushed = parse_metrics(&body);
    assert_eq!(
        value(&pushed, "executor_action_status", &[("status", "succeeded")]),
        Some(1.0)
    );
}

#[test]
fn a_failed_push_is_logged_and_the_exit_code_stands() {
    let mut platform = Platform::start(demo_sim_config());
    let (url, pushed) = receiver(500);
    platform.sandbox.set("PUSHGATEWAY_URL", &url).set("DRY_RUN", "true");
    let run = platform.run(&["deploy"]);
    pushed.join().unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("the Pushgateway answered 500"), "{}", run.stderr);

    // A failed run reports its failure: errors by type, status failed.
    let file = platform.sandbox.dir.path().join("metrics.prom");
    platform
        .sandbox
        .unset("PUSHGATEWAY_URL")
        .set("METRICS_FILE", file.to_str().unwrap())
        .set("ENVIRONMENT", "qa");
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 3);
    let scrape = parse_metrics(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(
        value(
            &scrape,
            "executor_action_status",
            &[("status", "invalid"), ("environment", "unknown")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&scrape, "executor_errors_total", &[("type", "config")]),
        Some(1.0)
    );
    assert!(value(&scrape, "executor_last_success_timestamp_seconds", &[]).is_none());
}

#[test]
fn metrics_are_served_while_the_run_lasts() {
    let mut platform = Platform::start(demo_sim_config());
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    platform.sandbox.set("METRICS_ADDR", &format!("127.0.0.1:{port}"));
    let mut child = std::process::Command::new(crate::harness::executor_bin())
        .arg("deploy")
        .env_clear()
        .envs(&platform.sandbox.env)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let scraped = loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            write!(stream, "GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).unwrap();
            break response;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the metrics endpoint never answered"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(child.wait().unwrap().success());
    assert!(scraped.starts_with("HTTP/1.1 200"), "{scraped}");
    let body = scraped.split("\r\n\r\n").nth(1).unwrap();
    let scrape = parse_metrics(body);
    assert_eq!(
        value(&scrape, "executor_action_status", &[("status", "running")]),
        Some(1.0)
    );
}

#[test]
fn the_trace_is_propagated_to_logs_requests_and_applications() {
    let mut platform = Platform::start(demo_sim_config());
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    platform
        .sandbox
        .set("TRACE_ID", trace)
        .set("SPAN_ID", "00f067aa0ba902b7");
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // Every log line carries the trace; node lines have their own spans.
    let lines: Vec<serde_json::Value> = run.stderr.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(
        lines.iter().all(|l| l["trace_id"] == trace),
        "every line carries trace_id"
    );
    let run_span = lines[0]["span_id"].as_str().unwrap().to_owned();
    let vault_span = lines.iter().find(|l| l["component"] == "vault").unwrap()["span_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(run_span, vault_span, "a node has its own span");
    assert_ne!(run_span, "00f067aa0ba902b7", "the run is a child of the caller's span");

    // Every request the executor sends carries traceparent.
    let audit = platform.audit();
    let ours: Vec<_> = audit.iter().filter(|e| e.user.username == "admin").collect();
    assert!(!ours.is_empty());
    for event in &ours {
        let header = event
            .annotations
            .get("kube-sim.io/traceparent")
            .unwrap_or_else(|| panic!("no traceparent on {}", event.request_uri));
        assert!(header.starts_with(&format!("00-{trace}-")), "{header}");
    }

    // Every Application it wrote names the trace.
    let kubeconfig = platform.sandbox.env["KUBECONFIG_PATH"].clone();
    let out = std::process::Command::new("kubectl")
        .args(["get", "applications", "-n", "argocd", "-o", "json"])
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .unwrap();
    let apps: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for app in apps["items"].as_array().unwrap() {
        let annotation = app["metadata"]["annotations"]["executor.io/traceparent"]
            .as_str()
            .unwrap();
        assert!(annotation.starts_with(&format!("00-{trace}-")), "{annotation}");
    }

    // A new trace alone does not make a re-deploy write.
    platform
        .sandbox
        .set("TRACE_ID", "0af7651916cd43dd8448eb211c80319c")
        .set("SPAN_ID", "b7ad6b7169203331");
    let mark = platform.audit().len();
    assert_eq!(platform.run(&["deploy"]).code, 0);
    let writes = platform.writes_since(mark);
    assert!(writes.is_empty(), "{:#?}", describe(&writes));
}

#[test]
fn the_live_view_shows_progress_on_a_terminal() {
    if std::process::Command::new("script").arg("--version").output().is_err() {
        eprintln!("`script` (util-linux) not found: the live-view test was skipped");
        return;
    }
    let mut platform = Platform::start(demo_sim_config());
    let report = platform.sandbox.dir.path().join("report.json");
    platform
        .sandbox
        .set("LOG_FORMAT", "text")
        .set("REPORT_FILE", report.to_str().unwrap())
        .set("COLUMNS", "160");
    let command = format!("{} deploy", crate::harness::executor_bin().display());
    let output = std::process::Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env_clear()
        .envs(&platform.sandbox.env)
        .env("TERM", "xterm")
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{screen}");
    assert!(screen.contains("critical path"), "the summary line is drawn:\n{screen}");
    assert!(screen.contains("running"), "{screen}");
    // The report went to its file, whole.
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["summary"]["status"], "Succeeded");
}

#[test]
fn no_secret_leaks_from_any_action_at_debug_level() {
    let mut platform = Platform::start(demo_sim_config());
    let token = "admin";
    let key =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/client.key"))
            .unwrap();
    let cert =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/client.crt"))
            .unwrap();
    // The simulator's kubeconfig, with a client certificate and key added.
    let mut kubeconfig: serde_json::Value = serde_saphyr::from_str(&platform.sim.kubeconfig(token)).unwrap();
    let b64 = |t: &str| base64::engine::general_purpose::STANDARD.encode(t);
    kubeconfig["users"][0]["user"]["client-certificate-data"] = serde_json::json!(b64(&cert));
    kubeconfig["users"][0]["user"]["client-key-data"] = serde_json::json!(b64(&key));
    let text = serde_json::to_string(&kubeconfig).unwrap();
    let git_password = "gIt-PaSsWoRd-4c1d-secret";
    let registry = r#"{"auths":{"registry.example.com":{"auth":"cmVnaXN0cnktYXV0aC1zZWNyZXQ="}}}"#;
    std::fs::write(platform.sandbox.secrets_dir().join("git-username"), "deploy-bot").unwrap();
    std::fs::write(platform.sandbox.secrets_dir().join("git-password"), git_password).unwrap();
    std::fs::write(
        platform.sandbox.secrets_dir().join("registry-dockerconfigjson"),
        registry,
    )
    .unwrap();
    let metrics = platform.sandbox.dir.path().join("metrics.prom");
    platform
        .sandbox
        .unset("KUBECONFIG_PATH")
        .set("KUBECONFIG_DATA", &b64(&text))
        .set("LOG_LEVEL", "debug")
        .set("METRICS_FILE", metrics.to_str().unwrap())
        .set("TEARDOWN_CONFIRM", "demo");
    let key_body: Vec<&str> = key.lines().filter(|l| !l.starts_with("-----")).collect();
    let planted = [git_password, "cmVnaXN0cnktYXV0aC1zZWNyZXQ=", key_body[0], &b64(&key)];
    let check = |what: &str, text: &str| {
        for secret in planted {
            assert!(!text.contains(secret), "a secret leaked into {what}");
        }
    };
    for action in ["deploy", "validate", "teardown"] {
        let run = platform.run(&[action]);
        assert!(run.code == 0, "{action}: {}\n{}", run.code, run.stderr);
        check(&format!("{action} stderr"), &run.stderr);
        check(&format!("{action} stdout"), &run.stdout);
        check(
            &format!("{action} metrics"),
            &std::fs::read_to_string(&metrics).unwrap(),
        );
        if action == "deploy" {
            // Objects it wrote: everything but the repository Secret, which is
            // where the git password belongs.
            let kubeconfig = platform.sandbox.dir.path().join("kubeconfig");
            std::fs::write(&kubeconfig, platform.sim.kubeconfig("admin")).unwrap();
            for kind in [
                "applications",
                "configmaps",
                "secrets",
                "deployments",
                "statefulsets",
                "appprojects",
                "workflowtemplates",
            ] {
                let out = std::process::Command::new("kubectl")
                    .args(["get", kind, "-A", "-o", "json"])
                    .env("KUBECONFIG", &kubeconfig)
                    .output()
                    .unwrap();
                let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                for item in list["items"].as_array().unwrap() {
                    let is_repo_secret = item["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "repository";
                    if !is_repo_secret {
                        check(&format!("{kind} {}", item["metadata"]["name"]), &item.to_string());
                    }
                }
            }
        }
    }
}
