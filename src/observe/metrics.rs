//! Prometheus metrics of a run, in the text exposition format.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `executor_action_duration_seconds` | histogram | `action`, `environment`, `status` |
//! | `executor_action_status` | gauge: 1 for the current status, 0 for the others | `action`, `environment`, `status` (`running`, `succeeded`, `failed`, `partial`, `invalid`, `timed_out`) |
//! | `executor_component_health` | gauge: 1 for the current health, 0 for the others | `component`, `stack`, `kind`, `health` (`Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing`, `Unknown`, or another value the run saw), `environment` |
//! | `executor_errors_total` | counter | `type` (`config`, `api`, `timeout`, `script`, `health`, `sync`, `preflight`, `policy`, `interrupted`) |
//! | `executor_last_success_timestamp_seconds` | gauge (only after a success) | `action`, `environment` |
//! | `executor_api_requests_total` | counter | `verb` (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`) |
//! | `executor_api_retries_total` | counter | — |
//!
//! Component health is a label rather than an encoded number so that an
//! alert reads `executor_component_health{health!="Healthy"} == 1`.
//!
//! Every known label value of a labelled metric is present from the first
//! scrape, at 0 (Prometheus' "avoid missing metrics" advice,
//! <https://prometheus.io/docs/practices/instrumentation/#avoid-missing-metrics>):
//! a clean run's textfile already has `executor_errors_total{type="sync"} 0`,
//! so `increase()` over it sees the first error. The one exception is
//! `executor_last_success_timestamp_seconds`, which a 0 would misstate.

use std::collections::BTreeMap;

use prometheus::{
    Encoder as _, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

use crate::outcome::Outcome;
use crate::report::{ComponentKind, Report};

/// Every status `executor_action_status` can take.
pub const STATUSES: [&str; 6] = ["running", "succeeded", "failed", "partial", "invalid", "timed_out"];

/// Every `type` of `executor_errors_total`: the values of [`crate::report::FailureReason::error_type`].
pub const ERROR_TYPES: [&str; 9] = [
    "config",
    "api",
    "timeout",
    "script",
    "health",
    "sync",
    "preflight",
    "policy",
    "interrupted",
];

/// Every `verb` of `executor_api_requests_total` (the Kubernetes verbs
/// [`crate::k8s::stats::kube_verb`] names).
pub const API_VERBS: [&str; 8] = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

/// The health statuses of Argo CD (and `Unknown`) `executor_component_health`
/// shows for each component: 1 for its health, 0 for the others.
pub const HEALTHS: [&str; 6] = ["Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"];

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
                "1 for each component's health (the `health` label), 0 for its other known healths.",
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
        metrics.start_at_zero();
        Ok(metrics)
    }

    fn set_status(&self, current: &str) {
        for status in STATUSES {
            self.status
                .with_label_values(&[&self.action, &self.environment, status])
                .set(if status == current { 1.0 } else { 0.0 });
        }
    }

    /// Creates every known series of the labelled counters and histograms
    /// at 0, so they exist before anything happens.
    fn start_at_zero(&self) {
        for kind in ERROR_TYPES {
            self.errors.with_label_values(&[kind]).inc_by(0);
        }
        for verb in API_VERBS {
            self.api_requests.with_label_values(&[verb]).inc_by(0);
        }
        for status in STATUSES.iter().filter(|s| **s != "running") {
            let _ = self
                .duration
                .with_label_values(&[self.action.as_str(), self.environment.as_str(), status]);
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
            for known in HEALTHS.iter().chain((!HEALTHS.contains(&health)).then_some(&health)) {
                self.component_health
                    .with_label_values(&[&component.name, &component.stack, kind, known, &self.environment])
                    .set(if *known == health { 1.0 } else { 0.0 });
            }
        }
        let mut errors: BTreeMap<&str, u64> = BTreeMap::new();
        for failure in &report.failures {
            *errors.entry(failure.reason.error_type()).or_default() += 1;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_error_type_is_a_known_label_value() {
        for reason in [
            "Invalid",
            "TimedOut",
            "ScriptError",
            "Degraded",
            "SyncFailed",
            "PreflightFailed",
            "PolicyFailed",
            "Interrupted",
            "SomethingElse",
        ] {
            let error_type = crate::report::FailureReason::from(reason).error_type();
            assert!(ERROR_TYPES.contains(&error_type), "{reason}");
        }
    }

    #[test]
    fn labelled_series_exist_at_zero_before_anything_happens() {
        let metrics = RunMetrics::new("deploy", "development").unwrap();
        let text = metrics.render();
        for kind in ERROR_TYPES {
            assert!(
                text.contains(&format!("executor_errors_total{{type=\"{kind}\"}} 0\n")),
                "{kind}:\n{text}"
            );
        }
        for verb in API_VERBS {
            assert!(
                text.contains(&format!("executor_api_requests_total{{verb=\"{verb}\"}} 0\n")),
                "{verb}"
            );
        }
        assert!(text.contains(
            "executor_action_duration_seconds_count{action=\"deploy\",environment=\"development\",status=\"failed\"} 0\n"
        ));
    }
}
