//! The output settings: what a run needs before anything else (to log, to
//! report, to export metrics, alerts and traces), read first and always
//! available. A bad value falls back to its default and is also a problem,
//! so even an invalid run logs and reports the way it was asked to.

use std::path::Path;

use super::alerting;
use super::inputs::{
    ALERTMANAGER_URL, DRY_RUN, ENVIRONMENT, EXECUTOR_TASK, LOG_FORMAT, LOG_LEVEL, METRICS_ADDR, METRICS_FILE,
    OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME, PUSHGATEWAY_URL, REPORT_FILE, REPORT_FORMAT, RUN_URL, SECRETS_DIR,
    SPAN_ID, TARGET_SCOPE, TRACE_ID, boolean,
};
use super::settings::{MetricsSettings, OutputSettings};
use super::variable::Values;
use crate::input::input_file;
use crate::input::problem::{Problem, Problems, Source};
use crate::observe::log::{self, LogFormat};
use crate::observe::otel::{self, OtelSettings};
use crate::observe::trace::{TraceContext, TraceError};

/// Reads the output settings, recording problems with them.
pub fn output_settings(values: &Values, problems: &mut Problems) -> OutputSettings {
    // The order of the reads is the order of the problems in the report.
    let log_format = match values.text(&LOG_FORMAT.spec) {
        Some(_) => values.read_optional(&LOG_FORMAT, problems).unwrap_or(LogFormat::Json),
        None if log::stderr_is_terminal() => LogFormat::Text,
        None => LogFormat::Json,
    };
    let log_level = values.read(&LOG_LEVEL, problems);
    let report_format = values.read(&REPORT_FORMAT, problems);
    let trace = trace_context(values, problems);
    let tier = values.read_optional(&ENVIRONMENT, problems);
    let dry_run = values.read(&DRY_RUN, problems);
    let metrics = MetricsSettings {
        file: values.path(&METRICS_FILE),
        pushgateway: values.read_optional(&PUSHGATEWAY_URL, problems),
        addr: values.read_optional(&METRICS_ADDR, problems),
    };
    // The destinations are checked before the run, not after it: a report
    // that cannot be written goes to stdout instead, and the run stops here.
    let report_file = values.path(&REPORT_FILE).filter(|path| {
        writable_destination(path)
            .map_err(|why| problems.push(Problem::new(Source::Var(REPORT_FILE.spec.env), why)))
            .is_ok()
    });
    if let Some(path) = &metrics.file
        && let Err(why) = writable_destination(path)
    {
        problems.push(Problem::new(Source::Var(METRICS_FILE.spec.env), why));
    }
    let task = values
        .text(&EXECUTOR_TASK.spec)
        .and_then(|t| boolean(t).ok())
        .unwrap_or(false);
    let alerting = alerting::load(
        values.text(&ALERTMANAGER_URL.spec),
        values.text(&RUN_URL.spec),
        &values.path(&SECRETS_DIR).unwrap_or_default(),
        task,
        problems,
    );
    OutputSettings {
        otel: otel_settings(values, problems),
        scope_text: values
            .text_or_default(&TARGET_SCOPE.spec)
            .unwrap_or_default()
            .to_owned(),
        log_format,
        log_level,
        report_format,
        report_file,
        trace,
        tier,
        dry_run,
        metrics,
        alerting,
    }
}

/// The run's trace context from `TRACE_ID` and `SPAN_ID`; a new trace when
/// they are not valid (a problem naming the one that is wrong).
fn trace_context(values: &Values, problems: &mut Problems) -> TraceContext {
    let trace_id = values.raw(&TRACE_ID.spec);
    let span_id = values.raw(&SPAN_ID.spec);
    match TraceContext::from_inputs(trace_id, span_id) {
        Ok(context) => context,
        Err(error) => {
            let var = if trace_id.is_some_and(|t| !t.trim().is_empty())
                && !matches!(error, TraceError::SpanWithoutTrace)
                && TraceContext::from_inputs(trace_id, None).is_err()
            {
                TRACE_ID.spec.env
            } else {
                SPAN_ID.spec.env
            };
            problems.push(Problem::new(Source::Var(var), error.to_string()));
            TraceContext::new_root()
        }
    }
}

/// Where the run's spans go (`None`: traces off, or a problem with the
/// `OTEL_*` variables). Without `OTEL_EXPORTER_OTLP_HEADERS`, the headers
/// come from the file of `$SECRETS_DIR` if there is one.
fn otel_settings(values: &Values, problems: &mut Problems) -> Option<OtelSettings> {
    let headers = values.raw(&OTEL_EXPORTER_OTLP_HEADERS.spec);
    let headers_file: Option<String> = headers
        .is_none()
        .then(|| {
            let secrets_dir = values.path(&SECRETS_DIR).unwrap_or_default();
            let path = secrets_dir.join(otel::HEADERS_FILE);
            input_file::read_text(&path, input_file::MAX_SECRET, Some(&secrets_dir)).ok()
        })
        .flatten();
    let inputs = otel::OtelInputs {
        endpoint: values.raw(&OTEL_EXPORTER_OTLP_ENDPOINT.spec),
        traces_endpoint: values.raw(&OTEL_EXPORTER_OTLP_TRACES_ENDPOINT.spec),
        headers: headers.or(headers_file.as_deref()),
        service_name: values.raw(&OTEL_SERVICE_NAME.spec),
        resource_attributes: values.raw(&OTEL_RESOURCE_ATTRIBUTES.spec),
    };
    otel::settings(&inputs).unwrap_or_else(|found| {
        for (var, why) in found {
            problems.push(Problem::new(Source::Var(var), why));
        }
        None
    })
}

/// Whether a file can be written at `path` the way reports and metrics
/// are (a temporary file beside it, renamed over it): its directory exists
/// and takes a new file, and `path` is not a directory.
fn writable_destination(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err(format!("{} is a directory; expected a file path", path.display()));
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let probe = dir.join(format!(".executor-probe.{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map(|_| {
            let _ = std::fs::remove_file(&probe);
        })
        .map_err(|e| format!("cannot write in {}: {}", dir.display(), e.kind()))
}
