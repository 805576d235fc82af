//! The `executor` binary: parse, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser as _;
use clap::error::ErrorKind;

/// Every build allocates with mimalloc: musl's allocator, and glibc's with
/// one arena per thread, keep far more memory resident for the executor's
/// many short-lived JSON values than is in use (docs/benchmarks.md, "Memory").
/// The `system-allocator` feature keeps the system's, for heap profilers
/// such as heaptrack.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match executor::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return match error.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                // Invalid arguments: the contract's exit code 3, not clap's 2.
                _ => ExitCode::from(executor::outcome::Outcome::Invalid.exit_code()),
            };
        }
    };
    ExitCode::from(executor::run(cli).exit_code())
}
