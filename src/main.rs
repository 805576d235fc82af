//! The `executor` binary: parse, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser as _;
use clap::error::ErrorKind;

/// Every build allocates with mimalloc: musl's allocator, and glibc's with
/// one arena per thread, keep far more memory resident for the executor's
/// many short-lived JSON values than is in use (docs/benchmarks.md, "Memory").
/// The `system-allocator` feature keeps the system's, for heap profilers
/// such as heaptrack.
/// Either way the allocator is wrapped in `cap`'s counting allocator, whose
/// count the script sandbox reads to bound the heap scripts build
/// (`executor::memory`).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: cap::Cap<mimalloc::MiMalloc> = cap::Cap::new(mimalloc::MiMalloc, usize::MAX);

#[cfg(feature = "system-allocator")]
#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

fn main() -> ExitCode {
    executor::memory::install(|| ALLOCATOR.allocated());
    let cli = match executor::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            if matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                return ExitCode::SUCCESS;
            }
            // An action's command line that does not parse is an input
            // problem like any other: named in its report, exit 3.
            if let Some(outcome) = refuse_action(&error) {
                return ExitCode::from(outcome.exit_code());
            }
            // Invalid arguments: the contract's exit code 3, not clap's 2.
            return ExitCode::from(executor::outcome::Outcome::Invalid.exit_code());
        }
    };
    ExitCode::from(executor::run(cli).exit_code())
}

/// For `deploy`, `validate` or `teardown` with a command line clap refused:
/// the Invalid report, with the settings the environment alone gives.
fn refuse_action(error: &clap::Error) -> Option<executor::outcome::Outcome> {
    use executor::config::{Action, Problem, Source};
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let action: Action = argv.get(1)?.to_str()?.parse().ok()?;
    // Variables whose value is not UTF-8 are named one by one; for the
    // report's other settings they count as not set.
    let mut problems = Vec::new();
    let mut command = <executor::cli::Cli as clap::CommandFactory>::command();
    if error.kind() == ErrorKind::InvalidUtf8 {
        let mut bad = Vec::new();
        for arg in command.get_arguments() {
            let Some(var) = arg.get_env() else { continue };
            if std::env::var_os(var).is_some_and(|value| value.to_str().is_none()) {
                bad.push(arg.get_id().clone());
                let var: &'static str = Box::leak(var.to_string_lossy().into_owned().into_boxed_str());
                problems.push(Problem::new(
                    Source::Var(var),
                    "the value is not UTF-8 text; expected a UTF-8 string (check the variable's encoding)",
                ));
            }
        }
        command = command.mut_args(|arg| if bad.contains(arg.get_id()) { arg.env(None) } else { arg });
    }
    let matches = command.try_get_matches_from([argv[0].clone(), argv[1].clone()]).ok()?;
    let plain = <executor::cli::Cli as clap::FromArgMatches>::from_arg_matches(&matches).ok()?;
    if problems.is_empty() {
        let rendered = error.render().to_string();
        let first = rendered
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ");
        problems.push(Problem::new(Source::Args, first.to_owned()));
    }
    Some(executor::actions::refuse_all(action, &plain.global, problems))
}
