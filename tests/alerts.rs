//! `ALERTMANAGER_URL`: a failed run's alert reaches a test Alertmanager (a
//! loopback hyper server speaking `POST /api/v2/alerts`, prometheus/
//! alertmanager `api/v2/openapi.yaml`), a successful run resolves it, the
//! credentials never show, delivery failures never change the exit code.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use serde_json::Value;

use crate::harness::{Platform, Sandbox, b64, demo_sim_config};

const USERNAME: &str = "alerts-robot";
const PASSWORD: &str = "am-Pa55-6d1f0c2e9b";

/// One request the test Alertmanager received.
#[derive(Debug, Clone)]
struct Post {
    path: String,
    authorization: Option<String>,
    alerts: Value,
}

/// A loopback Alertmanager: records every request; answers 503 to the
/// first `fail_first` of them (to prove the executor retries), 200 after.
struct TestAlertmanager {
    url: String,
    posts: Arc<Mutex<Vec<Post>>>,
    _runtime: tokio::runtime::Runtime,
}

impl TestAlertmanager {
    fn start(fail_first: usize) -> TestAlertmanager {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let posts: Arc<Mutex<Vec<Post>>> = Arc::default();
        let recorded = posts.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                        let recorded = recorded.clone();
                        async move {
                            let path = request.uri().path().to_owned();
                            let authorization = request
                                .headers()
                                .get(http::header::AUTHORIZATION)
                                .map(|v| v.to_str().unwrap().to_owned());
                            let body = request.into_body().collect().await.unwrap().to_bytes();
                            let alerts = serde_json::from_slice(&body).unwrap_or(Value::Null);
                            let seen = {
                                let mut posts = recorded.lock().unwrap();
                                posts.push(Post {
                                    path,
                                    authorization,
                                    alerts,
                                });
                                posts.len()
                            };
                            let status = if seen <= fail_first { 503 } else { 200 };
                            http::Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::from_static(b"")))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        TestAlertmanager {
            url,
            posts,
            _runtime: runtime,
        }
    }

    fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }
}

fn with_alertmanager(sandbox: &mut Sandbox, alertmanager: &TestAlertmanager) {
    std::fs::write(sandbox.secrets_dir().join("alertmanager-username"), USERNAME).unwrap();
    std::fs::write(
        sandbox.secrets_dir().join("alertmanager-password"),
        format!("{PASSWORD}\n"),
    )
    .unwrap();
    sandbox
        .set("ALERTMANAGER_URL", &alertmanager.url)
        .set("RUN_URL", "https://ci.example.com/job/42");
}

fn assert_no_credentials(run: &crate::harness::Run) {
    for secret in [PASSWORD, &b64(&format!("{USERNAME}:{PASSWORD}"))] {
        assert!(
            !run.stderr.contains(secret),
            "a credential in the logs:\n{}",
            run.stderr
        );
        assert!(
            !run.stdout.contains(secret),
            "a credential in the report:\n{}",
            run.stdout
        );
    }
}

/// The alerts of one post whose `status` label is `status`.
fn alert<'a>(post: &'a Post, status: &str) -> &'a Value {
    post.alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["status"] == status)
        .unwrap_or_else(|| panic!("no {status} alert in {:#}", post.alerts))
}

fn ends_at(alert: &Value) -> jiff::Timestamp {
    alert["endsAt"].as_str().unwrap().parse().unwrap()
}

#[test]
fn a_partial_deploy_fires_the_alert_and_the_next_successful_deploy_resolves_it() {
    let mut config = demo_sim_config();
    config.apps.insert(
        "postgres-clusters".into(),
        serde_json::from_value(serde_json::json!({"health": "Degraded"})).unwrap(),
    );
    let alertmanager = TestAlertmanager::start(1);
    let mut platform = Platform::start(config.clone());
    with_alertmanager(&mut platform.sandbox, &alertmanager);

    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 2, "partial\n{}", run.stderr);
    assert_no_credentials(&run);
    let report = run.report();
    let posts = alertmanager.posts();
    // The first attempt met a 503; the executor tried again.
    assert_eq!(posts.len(), 2, "{posts:#?}");
    let post = &posts[1];
    assert_eq!(post.path, "/api/v2/alerts");
    let expected = format!("Basic {}", b64(&format!("{USERNAME}:{PASSWORD}")));
    assert_eq!(post.authorization.as_deref(), Some(expected.as_str()));
    let firing = alert(post, "Partial");
    assert_eq!(
        firing["labels"],
        serde_json::json!({
            "alertname": "ExecutorActionFailed",
            "environment": "development",
            "action": "deploy",
            "status": "Partial",
            "severity": "warning",
        })
    );
    assert!(ends_at(firing) > jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24));
    assert!(
        firing["annotations"]["failedComponents"]
            .as_str()
            .unwrap()
            .contains("postgres-clusters"),
        "{firing:#}"
    );
    assert_eq!(firing["annotations"]["traceId"], report["summary"]["traceId"]);
    assert_eq!(firing["annotations"]["recommendation"], report["recommendations"][0]);
    assert!(firing["annotations"]["summary"].as_str().unwrap().contains("Partial"));
    assert_eq!(firing["generatorURL"], "https://ci.example.com/job/42");
    // The other failing label sets are resolved, not fired.
    assert!(ends_at(alert(post, "Failed")) <= jiff::Timestamp::now());

    config.apps.remove("postgres-clusters");
    platform.sim.reload(config);
    let rerun = platform.run(&["deploy"]);
    assert_eq!(rerun.code, 0, "after the fix\n{}", rerun.stderr);
    assert_no_credentials(&rerun);
    let posts = alertmanager.posts();
    assert_eq!(posts.len(), 3, "{posts:#?}");
    let resolving = alert(&posts[2], "Partial");
    // Alertmanager matches by the whole label set: the same labels, ended.
    assert_eq!(resolving["labels"], firing["labels"]);
    assert!(ends_at(resolving) <= jiff::Timestamp::now());
    assert_eq!(posts[2].alerts.as_array().unwrap().len(), 4);
}

#[test]
fn an_invalid_run_alerts_with_warning_severity_before_touching_the_cluster() {
    let alertmanager = TestAlertmanager::start(0);
    let mut sandbox = Sandbox::new();
    with_alertmanager(&mut sandbox, &alertmanager);
    sandbox.set("TARGET_SCOPE", "nonsense:x");
    let run = sandbox.run(&["deploy"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    sandbox.assert_no_network();
    assert_no_credentials(&run);
    let posts = alertmanager.posts();
    assert_eq!(posts.len(), 1, "{posts:#?}");
    let firing = alert(&posts[0], "Invalid");
    assert_eq!(firing["labels"]["severity"], "warning");
    assert_eq!(firing["labels"]["environment"], "staging");
    assert!(ends_at(firing) > jiff::Timestamp::now());
}

#[test]
fn an_unreachable_alertmanager_is_a_warning_and_keeps_the_exit_code() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut sandbox = Sandbox::new();
    sandbox.set("ALERTMANAGER_URL", &url).set("TARGET_SCOPE", "nonsense:x");
    let started = std::time::Instant::now();
    let run = sandbox.run(&["deploy"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    let warning = run
        .stderr
        .lines()
        .find(|l| l.contains("the alert was not delivered"))
        .unwrap_or_else(|| panic!("no warning:\n{}", run.stderr));
    assert!(warning.contains("WARN") || warning.contains("warn"), "{warning}");
    assert!(warning.contains("3 attempts"), "{warning}");
}

#[test]
fn an_invalid_alertmanager_url_is_an_input_error_naming_it() {
    for url in ["alertmanager:9093", "http://user:secret-pw@am:9093"] {
        let mut sandbox = Sandbox::new();
        sandbox.set("ALERTMANAGER_URL", url);
        let run = sandbox.run(&["deploy"]);
        run.assert_invalid("ALERTMANAGER_URL");
        sandbox.assert_no_network();
        assert!(!run.stderr.contains("secret-pw"), "{}", run.stderr);
        assert!(!run.stdout.contains("secret-pw"), "{}", run.stdout);
    }
}
