//! Prometheus metrics of a run, in the text exposition format.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `executor_action_duration_seconds` | histogram | `action`, `environment`, `status` |
//! | `executor_action_status` | gauge: 1 for the current status, 0 for the others | `action`, `environment`, `status` (`running`, `succeeded`, `failed`, `partial`, `invalid`, `timed_out`) |
//! | `executor_component_health` | gauge: 1, with the health as a label | `component`, `stack`, `kind`, `health`, `environment` |
//! | `executor_errors_total` | counter | `type` (`config`, `api`, `timeout`, `script`, `health`, `sync`, `delete`, `preflight`, `policy`, `interrupted`) |
//! | `executor_last_success_timestamp_seconds` | gauge (only after a success) | `action`, `environment` |
//! | `executor_api_requests_total` | counter | `verb` |
//! | `executor_api_retries_total` | counter | — |
//!
//! Component health is a label rather than an encoded number so that an
//! alert reads `executor_component_health{health!="Healthy"} == 1`.

use std::collections::BTreeMap;

use prometheus::{
    Encoder as _, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

use crate::outcome::Outcome;
use crate::report::{ComponentKind, Report};

/// Every status `executor_action_status` can take.
pub const STATUSES: [&str; 6] = ["running", "succeeded", "failed", "partial", "invalid", "timed_out"];

/// The metrics of one run.
pub struct RunMetrics {
    registry: Registry,
    action: String,
    environment: String,
    duration: HistogramVec,
    status: GaugeVec,
    component_health: GaugeVec,
    errors: IntCounterVec,
    last_success: GaugeVec,
    api_requests: IntCounterVec,
    api_retries: IntCounter,
}

/// Why metrics could not be built or rendered (a programming error).
#[derive(Debug, thiserror::Error)]
#[error("metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

/// The `executor_errors_total` type of a failure reason.
pub fn error_type(reason: &str) -> &'static str {
    match reason {
        "Invalid" | "DependentsOutsideScope" => "config",
        "TimedOut" | "DeleteTimedOut" => "timeout",
        "ScriptError" | "InternalError" => "script",
        "Degraded" | "NotHealthy" | "HealthHook" | "HookFailed" | "Missing" | "Unknown" => "health",
        "SyncFailed" => "sync",
        "PreflightFailed" | "Forbidden" | "Unreachable" => "preflight",
        "PolicyFailed" => "policy",
        "Interrupted" => "interrupted",
        _ => "api",
    }
}

impl RunMetrics {
    /// Metrics of a run of `action` in `environment` (`ENVIRONMENT`, or `unknown`).
    ///
    /// # Errors
    /// Only if a metric definition is invalid (a bug caught by the tests).
    pub fn new(action: &str, environment: &str) -> Result<RunMetrics, MetricsError> {
        let registry = Registry::new();
        let duration = HistogramVec::new(
            HistogramOpts::new("executor_action_duration_seconds", "Wall time of an executor action.").buckets(vec![
                1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0,
            ]),
            &["action", "environment", "status"],
        )?;
        let status = GaugeVec::new(
            Opts::new(
                "executor_action_status",
                "1 for the current status of the action, 0 for the others.",
            ),
            &["action", "environment", "status"],
        )?;
        let component_health = GaugeVec::new(
            Opts::new(
                "executor_component_health",
                "1 for each component, with its health as the `health` label.",
            ),
            &["component", "stack", "kind", "health", "environment"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new("executor_errors_total", "Errors of the run, by type."),
            &["type"],
        )?;
        let last_success = GaugeVec::new(
            Opts::new(
                "executor_last_success_timestamp_seconds",
                "Unix time of the action's last success (set by a successful run).",
            ),
            &["action", "environment"],
        )?;
        let api_requests = IntCounterVec::new(
            Opts::new("executor_api_requests_total", "Kubernetes API requests, by verb."),
            &["verb"],
        )?;
        let api_retries = IntCounter::new(
            "executor_api_retries_total",
            "Retries of transient Kubernetes API failures.",
        )?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(status.clone()))?;
        registry.register(Box::new(component_health.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(last_success.clone()))?;
        registry.register(Box::new(api_requests.clone()))?;
        registry.register(Box::new(api_retries.clone()))?;
        let metrics = RunMetrics {
            registry,
            action: action.to_owned(),
            environment: environment.to_owned(),
            duration,
            status,
            component_health,
            errors,
            last_success,
            api_requests,
            api_retries,
        };
        metrics.set_status("running");
        Ok(metrics)
    }

    fn set_status(&self, current: &str) {
        for status in STATUSES {
            self.status
                .with_label_values(&[&self.action, &self.environment, status])
                .set(if status == current { 1.0 } else { 0.0 });
        }
    }

    /// Records the finished run from its report.
    pub fn finish(&self, report: &Report, outcome: Outcome, finished: jiff::Timestamp) {
        let status = outcome.label();
        self.set_status(status);
        self.duration
            .with_label_values(&[&self.action, &self.environment, status])
            .observe(report.summary.duration_seconds);
        if outcome == Outcome::Succeeded {
            self.last_success
                .with_label_values(&[&self.action, &self.environment])
                .set(finished.as_millisecond() as f64 / 1000.0);
        }
        for component in &report.components {
            let kind = match component.kind {
                ComponentKind::App => "app",
                ComponentKind::Stack => "stack",
                ComponentKind::Bootstrap => "bootstrap",
            };
            let health = if component.health.is_empty() {
                "Unknown"
            } else {
                component.health.as_str()
            };
            self.component_health
                .with_label_values(&[&component.name, &component.stack, kind, health, &self.environment])
                .set(1.0);
        }
        let mut errors: BTreeMap<&str, u64> = BTreeMap::new();
        for failure in &report.failures {
            *errors.entry(error_type(&failure.reason)).or_default() += 1;
        }
        for (kind, count) in errors {
            self.errors.with_label_values(&[kind]).inc_by(count);
        }
        if let Some(by_verb) = report.metrics.get("apiRequests").and_then(|v| v.as_object()) {
            for (verb, count) in by_verb {
                self.api_requests
                    .with_label_values(&[verb])
                    .inc_by(count.as_u64().unwrap_or(0));
            }
        }
        if let Some(retries) = report.metrics.get("retries").and_then(serde_json::Value::as_u64) {
            self.api_retries.inc_by(retries);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        crate::redact::scrub(&String::from_utf8_lossy(&buffer)).into_owned()
    }
}
