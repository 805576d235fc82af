//! A failed run's alert, posted to an Alertmanager (`ALERTMANAGER_URL`).
//!
//! A run that ends `Failed`, `Partial`, `TimedOut` or `Invalid` posts one
//! alert `ExecutorActionFailed` to `<url>/api/v2/alerts` (a JSON array of
//! `postableAlert`, prometheus/alertmanager `api/v2/openapi.yaml`); the next
//! successful run of the same environment and action resolves it.
//!
//! Alertmanager identifies an alert by its whole label set (its
//! fingerprint), and the labels include `status` and `severity`, which a
//! succeeding run does not share. So every run posts the four label sets a
//! failure of its environment and action can carry: the one of its own
//! failure firing, the others resolved (`endsAt` now). A success resolves
//! all four; a failure with another status replaces the previous one.
//!
//! A firing alert carries an explicit `endsAt` ([`FIRING_FOR`] ahead):
//! without one, Alertmanager resolves an alert nobody re-posts after its
//! `resolve_timeout` (5 minutes by default; `api/v2/api.go`,
//! `postAlertsHandler`), and a one-shot run never re-posts.
//!
//! Delivery is bounded ([`ATTEMPTS`] attempts within [`DELIVERY_BUDGET`]);
//! a failure is a warning and never changes the exit code. Dry runs post
//! nothing: they change nothing, so they neither fail nor repair anything.

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use serde_json::{Map, Value, json};

use crate::config::alerting::{AlertCredentials, AlertSettings};
use crate::outcome::Outcome;
use crate::report::Report;

/// The alert's name (its `alertname` label).
pub const ALERT_NAME: &str = "ExecutorActionFailed";
/// How long a failure's alert stays firing unless a later run resolves it.
pub const FIRING_FOR: Duration = Duration::from_secs(7 * 24 * 3600);
/// Attempts to deliver the alerts.
pub const ATTEMPTS: u32 = 3;
/// Every attempt together, waits included.
pub const DELIVERY_BUDGET: Duration = Duration::from_secs(10);
/// One attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// The outcomes that fire the alert, each with its own label set.
pub const FAILING: [Outcome; 4] = [Outcome::Failed, Outcome::Partial, Outcome::TimedOut, Outcome::Invalid];

/// The `severity` label, by exit code: `critical` when the action did not
/// get done (1 failed, 4 timed out), `warning` when part of it is done or
/// nothing was attempted (2 partial, 3 invalid inputs: the cluster is as
/// the last run left it).
pub fn severity(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Failed | Outcome::TimedOut => "critical",
        Outcome::Partial | Outcome::Invalid | Outcome::Succeeded => "warning",
    }
}

/// What identifies a run's alerts besides its outcome.
pub struct AlertRun<'a> {
    /// The `environment` label (`ENVIRONMENT`: development, staging, production).
    pub environment: &'a str,
    /// The `action` label.
    pub action: &'a str,
    /// `RUN_URL`, the `generatorURL`.
    pub run_url: Option<&'a str>,
}

fn labels(run: &AlertRun<'_>, outcome: Outcome) -> Value {
    json!({
        "alertname": ALERT_NAME,
        "environment": run.environment,
        "action": run.action,
        "status": outcome.as_str(),
        "severity": severity(outcome),
    })
}

fn annotations(report: &Report, run: &AlertRun<'_>) -> Value {
    let mut failed: Vec<&str> = Vec::new();
    for failure in &report.failures {
        if !failed.contains(&failure.component.as_str()) {
            failed.push(&failure.component);
        }
    }
    let mut out = Map::new();
    out.insert(
        "summary".into(),
        format!(
            "executor {} of {}{} ended {} (exit {}): {} failure(s)",
            run.action,
            run.environment,
            report
                .summary
                .environment_name
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default(),
            report.summary.status.as_str(),
            report.summary.exit_code,
            report.failures.len()
        )
        .into(),
    );
    out.insert("failedComponents".into(), failed.join(", ").into());
    if let Some(first) = report.recommendations.first() {
        out.insert("recommendation".into(), first.clone().into());
    }
    if let Some(trace) = &report.summary.trace_id {
        out.insert("traceId".into(), trace.clone().into());
    }
    Value::Object(out)
}

/// The body posted at the end of a run that ended with `outcome`: the
/// firing alert of a failure and the resolution of every other failing
/// label set of this environment and action.
pub fn body(report: &Report, outcome: Outcome, run: &AlertRun<'_>, now: jiff::Timestamp) -> Value {
    let at = |t: jiff::Timestamp| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let until = now
        .checked_add(jiff::SignedDuration::try_from(FIRING_FOR).unwrap_or_default())
        .unwrap_or(now);
    let alerts = FAILING.iter().map(|&failing| {
        let mut alert = Map::new();
        alert.insert("labels".into(), labels(run, failing));
        if failing == outcome {
            alert.insert("annotations".into(), annotations(report, run));
            alert.insert("startsAt".into(), at(now).into());
            alert.insert("endsAt".into(), at(until).into());
        } else {
            alert.insert("endsAt".into(), at(now).into());
        }
        if let Some(url) = run.run_url {
            alert.insert("generatorURL".into(), url.into());
        }
        Value::Object(alert)
    });
    Value::Array(alerts.collect())
}

/// The URL alerts are posted to.
pub fn alerts_url(base: &str) -> String {
    format!("{}/api/v2/alerts", base.trim_end_matches('/'))
}

fn authorization(credentials: &AlertCredentials) -> String {
    match credentials {
        AlertCredentials::Basic { username, password } => format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", username.expose(), password.expose()))
        ),
        AlertCredentials::Bearer(token) => format!("Bearer {}", token.expose()),
    }
}

/// Whether an attempt's failure is worth another attempt.
enum Failure {
    Retry(String),
    Final(String),
}

async fn attempt(
    client: &super::delivery::HttpClient,
    settings: &AlertSettings,
    url: &str,
    body: &Bytes,
) -> Result<(), Failure> {
    let mut request = http::Request::post(url).header(http::header::CONTENT_TYPE, "application/json");
    if let Some(credentials) = &settings.credentials {
        let mut value = http::HeaderValue::try_from(authorization(credentials))
            .map_err(|_| Failure::Final("the Alertmanager credentials are not valid in an HTTP header".to_owned()))?;
        value.set_sensitive(true);
        request = request.header(http::header::AUTHORIZATION, value);
    }
    let request = request
        .body(Full::new(body.clone()))
        .map_err(|e| Failure::Final(format!("bad Alertmanager URL {url}: {e}")))?;
    let response = tokio::time::timeout(ATTEMPT_TIMEOUT, client.request(request))
        .await
        .map_err(|_| Failure::Retry(format!("posting to {url} timed out")))?
        .map_err(|e| Failure::Retry(format!("posting to {url} failed: {e}")))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let message = format!(
        "the Alertmanager answered {status} to {url}: {}",
        String::from_utf8_lossy(&text).trim()
    );
    if status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS {
        Err(Failure::Retry(message))
    } else {
        Err(Failure::Final(message))
    }
}

/// Posts `body` to the Alertmanager of `settings`: up to [`ATTEMPTS`]
/// attempts (connection failures, timeouts, 5xx and 429 are retried),
/// all within [`DELIVERY_BUDGET`].
///
/// # Errors
/// The last attempt's failure.
pub async fn post(settings: &AlertSettings, body: &Value) -> Result<(), String> {
    let url = alerts_url(&settings.url);
    let body = Bytes::from(body.to_string());
    // One client (and one read of the TLS roots) for every attempt.
    let client = super::delivery::http_client()?;
    let attempts = async {
        let mut last = String::new();
        for n in 1..=ATTEMPTS {
            match attempt(&client, settings, &url, &body).await {
                Ok(()) => return Ok(()),
                Err(Failure::Final(message)) => return Err(message),
                Err(Failure::Retry(message)) => last = message,
            }
            if n < ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(500) * n).await;
            }
        }
        Err(format!("{last} ({ATTEMPTS} attempts)"))
    };
    tokio::time::timeout(DELIVERY_BUDGET, attempts)
        .await
        .unwrap_or_else(|_| Err(format!("posting to {url} did not finish within {DELIVERY_BUDGET:?}")))
}

/// Posts the alerts of a run that ended with `outcome`, on `runtime`;
/// logs the result (a failure is a warning, never the run's outcome).
pub fn deliver(
    runtime: &tokio::runtime::Runtime,
    settings: &AlertSettings,
    report: &Report,
    outcome: Outcome,
    run: &AlertRun<'_>,
) {
    let body = body(report, outcome, run, jiff::Timestamp::now());
    match runtime.block_on(post(settings, &body)) {
        Ok(()) if outcome == Outcome::Succeeded => tracing::info!(
            phase = "alert",
            "{ALERT_NAME} of {} {} resolved at {}",
            run.environment,
            run.action,
            alerts_url(&settings.url)
        ),
        Ok(()) => tracing::info!(
            phase = "alert",
            "{ALERT_NAME} ({}) posted to {}",
            outcome.as_str(),
            alerts_url(&settings.url)
        ),
        Err(message) => tracing::warn!(phase = "alert", "the alert was not delivered: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> AlertRun<'static> {
        AlertRun {
            environment: "staging",
            action: "deploy",
            run_url: Some("https://ci.example.com/job/42"),
        }
    }

    fn report(outcome: Outcome) -> Report {
        let now = jiff::Timestamp::now();
        let mut report = Report::new("deploy", "platform".into(), false, now);
        report.summary.environment = Some("staging".into());
        report.failures.push(crate::report::Failure {
            component: "postgres-clusters".into(),
            reason: "Degraded".into(),
            message: "not healthy".into(),
            diagnostics: Vec::new(),
        });
        report.recommendations.push("Fix postgres and run again.".into());
        report.finish(outcome, now, now);
        report
    }

    #[test]
    fn a_partial_run_fires_its_label_set_and_resolves_the_others() {
        let now = jiff::Timestamp::now();
        let body = body(&report(Outcome::Partial), Outcome::Partial, &run(), now);
        let alerts = body.as_array().unwrap();
        assert_eq!(alerts.len(), 4);
        let firing: Vec<&Value> = alerts.iter().filter(|a| a.get("startsAt").is_some()).collect();
        assert_eq!(firing.len(), 1);
        assert_eq!(firing[0]["labels"]["status"], "Partial");
        assert_eq!(firing[0]["labels"]["severity"], "warning");
        assert_eq!(firing[0]["annotations"]["failedComponents"], "postgres-clusters");
        assert_eq!(
            firing[0]["annotations"]["recommendation"],
            "Fix postgres and run again."
        );
        assert_eq!(firing[0]["generatorURL"], "https://ci.example.com/job/42");
        let ends: jiff::Timestamp = firing[0]["endsAt"].as_str().unwrap().parse().unwrap();
        assert!(ends > now + jiff::SignedDuration::from_hours(24));
    }

    #[test]
    fn a_success_resolves_every_failing_label_set() {
        let now = jiff::Timestamp::now();
        let body = body(&report(Outcome::Succeeded), Outcome::Succeeded, &run(), now);
        let statuses: Vec<&str> = body
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let ends: jiff::Timestamp = a["endsAt"].as_str().unwrap().parse().unwrap();
                assert!(ends <= jiff::Timestamp::now(), "{a}");
                a["labels"]["status"].as_str().unwrap()
            })
            .collect();
        assert_eq!(statuses, ["Failed", "Partial", "TimedOut", "Invalid"]);
    }

    #[test]
    fn severity_by_exit_code() {
        assert_eq!(FAILING.map(severity), ["critical", "warning", "critical", "warning"]);
    }
}
