//! The three actions of the contract: deploy, validate, teardown.
//!
//! Each run follows the same frame: read the output settings, start logging,
//! validate every input (exit 3 with a report listing the problems, before
//! any network activity), run the action, write the report, return the
//! outcome for `main` to turn into an exit code.

pub mod execute;

use std::sync::Arc;

use jiff::Timestamp;
use tracing::error;

use crate::cli::GlobalArgs;
use crate::config::{self, Action, Problem, Problems};
use crate::observe::delivery;
use crate::observe::log::{self, RunFields};
use crate::observe::metrics::RunMetrics;
use crate::observe::{otel, span};
use crate::outcome::Outcome;
use crate::report::{Failure, Report, render};

/// Runs `action` with the given inputs and returns its outcome.
pub fn run(action: Action, args: &GlobalArgs) -> Outcome {
    run_with(action, args, Vec::new())
}

/// Refuses `action` for a command line that could not be parsed (an
/// unknown flag, a value that is not UTF-8): the report and logs name it
/// like every other input problem, exit 3, nothing touched. `args` are the
/// settings the environment gives (where the report goes, its format).
pub fn refuse(action: Action, args: &GlobalArgs, command_line: Problem) -> Outcome {
    refuse_all(action, args, vec![command_line])
}

/// [`refuse`] with several problems (each variable whose value is not UTF-8).
pub fn refuse_all(action: Action, args: &GlobalArgs, problems: Vec<Problem>) -> Outcome {
    run_with(action, args, problems)
}

fn run_with(action: Action, args: &GlobalArgs, given: Vec<Problem>) -> Outcome {
    let started = Timestamp::now();
    let mut problems = Problems::default();
    problems.extend(given);
    let output = config::output_settings(args, &mut problems);
    log::init(
        output.log_format,
        output.log_level,
        RunFields {
            action: Some(action.name().to_owned()),
            environment: output.tier.map(|t| t.to_string()),
            trace_id: Some(output.trace.trace_id.clone()),
            span_id: Some(output.trace.span_id.clone()),
            trace_in_text: args.text(&config::inputs::TRACE_ID.spec).is_some(),
        },
    );
    let environment = output.tier.map_or_else(|| "unknown".to_owned(), |t| t.to_string());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(256)
        .enable_all()
        .thread_name("executor")
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            error!(phase = "run", "cannot start the runtime: {error}");
            return Outcome::Failed;
        }
    };
    if let Some(settings) = &output.otel
        && let Err(message) = otel::start(settings, runtime.handle().clone())
    {
        tracing::warn!(phase = "traces", "{message}");
    }
    let action_span = span::action(
        &output.trace,
        action.name(),
        output.tier.map(|t| t.to_string()).as_deref(),
    );
    let attached = action_span.clone().attach();
    let metrics = match RunMetrics::new(action.name(), &environment) {
        Ok(metrics) => Some(Arc::new(metrics)),
        Err(error) => {
            error!(phase = "metrics", "{error}");
            None
        }
    };
    let server = match (output.metrics.addr, &metrics) {
        (Some(addr), Some(metrics)) => match runtime.block_on(delivery::serve(addr, metrics.clone())) {
            Ok(server) => Some(server),
            Err(message) => {
                error!(phase = "metrics", "{message}");
                None
            }
        },
        _ => None,
    };

    let request = config::load(action, args, &output);
    let mut report = Report::new(action.name(), output.scope_text.clone(), output.dry_run, started);
    report.summary.environment = output.tier.map(|t| t.to_string());
    report.summary.trace_id = Some(output.trace.trace_id.clone());

    let outcome = match request {
        Err(more) => {
            problems.extend(more);
            invalid(&mut report, problems.into_vec())
        }
        Ok(_) if !problems.is_empty() => invalid(&mut report, problems.into_vec()),
        Ok(request) => {
            report.summary.environment_name = Some(request.environment.name.clone());
            let live_view = output.log_format == log::LogFormat::Text && log::stderr_is_terminal();
            match execute::execute(
                &runtime,
                &request,
                &output.trace,
                output.otel.as_ref(),
                &mut report,
                live_view,
            ) {
                Ok(outcome) => outcome,
                Err(execute::Refusal::Invalid(problems)) => invalid(&mut report, problems),
            }
        }
    };
    let finished = Timestamp::now();
    let report_span = span::start("report", &action_span, Vec::new());
    report.finish(outcome, started, finished);
    if let Some(metrics) = &metrics {
        metrics.finish(&report, outcome, finished);
        deliver(&runtime, metrics, &output, &environment, action);
    }
    if let Some(alerting) = output.alerting.as_ref().filter(|_| !output.dry_run) {
        let run = crate::observe::alert::AlertRun {
            environment: &environment,
            action: action.name(),
            run_url: alerting.run_url.as_deref(),
        };
        crate::observe::alert::deliver(&runtime, alerting, &report, outcome, &run);
    }
    if let Some(server) = server {
        server.abort();
    }
    let outcome = write_report(&report, outcome, &output);
    span::end(&report_span, None, Vec::new());
    end_action_span(&action_span, &report, outcome);
    drop(attached);
    otel::flush();
    outcome
}

/// Ends the action span with the run's outcome: an error status naming the
/// first failure unless the run succeeded.
fn end_action_span(cx: &opentelemetry::Context, report: &Report, outcome: Outcome) {
    let failure = (outcome != Outcome::Succeeded).then(|| match report.failures.first() {
        Some(first) => format!("{outcome:?}: {}: {}", first.component, first.message),
        None => format!("{outcome:?}"),
    });
    span::end(
        cx,
        failure.as_deref(),
        vec![
            opentelemetry::KeyValue::new("executor.outcome", format!("{outcome:?}")),
            opentelemetry::KeyValue::new("executor.exit_code", i64::from(outcome.exit_code())),
        ],
    );
}

/// Hands the metrics to the textfile collector and the Pushgateway. Failures
/// are logged; they never change the exit code.
fn deliver(
    runtime: &tokio::runtime::Runtime,
    metrics: &RunMetrics,
    output: &config::OutputSettings,
    environment: &str,
    action: Action,
) {
    let text = metrics.render();
    if let Some(path) = &output.metrics.file
        && let Err(message) = delivery::write_file(path, &text)
    {
        error!(phase = "metrics", "{message}");
    }
    if let Some(url) = &output.metrics.pushgateway {
        match runtime.block_on(delivery::push(url, environment, action.name(), text)) {
            Ok(()) => tracing::info!(
                phase = "metrics",
                "metrics pushed to {}",
                delivery::push_url(url, environment, action.name())
            ),
            Err(message) => error!(phase = "metrics", "{message}"),
        }
    }
}

fn invalid(report: &mut Report, problems: Vec<Problem>) -> Outcome {
    for problem in &problems {
        error!(phase = "config", "{problem}");
        report.failures.push(Failure {
            component: "input".to_owned(),
            reason: crate::report::FailureReason::Invalid,
            message: problem.to_string(),
            diagnostics: vec![format!("source: {}", problem.source)],
        });
    }
    report
        .recommendations
        .push("Fix the inputs listed under failures and run again; nothing was changed in the cluster.".to_owned());
    Outcome::Invalid
}

fn write_report(report: &Report, outcome: Outcome, output: &config::OutputSettings) -> Outcome {
    let rendered = render::render(report, output.report_format);
    match render::write(&rendered, output.report_file.as_deref()) {
        Ok(()) => outcome,
        Err(message) => {
            error!(phase = "report", "{message}");
            if outcome == Outcome::Succeeded {
                Outcome::Failed
            } else {
                outcome
            }
        }
    }
}
