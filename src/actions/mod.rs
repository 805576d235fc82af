//! The three actions of the contract: deploy, validate, teardown.
//!
//! Each run follows the same frame: read the output settings, start logging,
//! validate every input (exit 3 with a report listing the problems, before
//! any network activity), run the action, write the report, return the
//! outcome for `main` to turn into an exit code.

pub mod context;
pub mod execute;
pub mod outcome;

use jiff::Timestamp;
use tracing::error;

use crate::cli::GlobalArgs;
use crate::config::{self, Action, Problem, Problems};
use crate::observe::log::{self, RunFields};
use crate::outcome::Outcome;
use crate::report::{Failure, Report, render};

/// Runs `action` with the given inputs and returns its outcome.
pub fn run(action: Action, args: &GlobalArgs) -> Outcome {
    let started = Timestamp::now();
    let mut problems = Problems::default();
    let output = config::output_settings(args, &mut problems);
    log::init(
        output.log_format,
        output.log_level,
        RunFields {
            action: Some(action.name().to_owned()),
            environment: output.tier.map(|t| t.to_string()),
            trace_id: Some(output.trace.trace_id.clone()),
            span_id: Some(output.trace.span_id.clone()),
            trace_in_text: args.trace_id.as_deref().is_some_and(|t| !t.trim().is_empty()),
        },
    );
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
            match execute::execute(&request, &output.trace, &mut report) {
                Ok(outcome) => outcome,
                Err(execute::Refusal::Invalid(problems)) => invalid(&mut report, problems),
            }
        }
    };
    finish(report, outcome, started, &output)
}

fn invalid(report: &mut Report, problems: Vec<Problem>) -> Outcome {
    for problem in &problems {
        error!(phase = "config", "{problem}");
        report.failures.push(Failure {
            component: "input".to_owned(),
            reason: "Invalid".to_owned(),
            message: problem.to_string(),
            diagnostics: vec![format!("source: {}", problem.source)],
        });
    }
    report
        .recommendations
        .push("Fix the inputs listed under failures and run again; nothing was changed in the cluster.".to_owned());
    Outcome::Invalid
}

fn finish(mut report: Report, outcome: Outcome, started: Timestamp, output: &config::OutputSettings) -> Outcome {
    report.finish(outcome, started, Timestamp::now());
    let rendered = render::render(&report, output.report_format);
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
