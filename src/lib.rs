//! # executor
//!
//! Deploys, validates and tears down a Kubernetes platform of interdependent
//! applications through Argo CD, following a dependency graph, with health
//! gating, idempotency, clear exit codes and structured output.
//!
//! The binary is a thin shell over [`run`]; inputs are validated by
//! [`config`] into a [`config::Request`], the graph and plan live in [`dag`],
//! results are reported through [`report`] and mapped to exit codes by
//! [`outcome`].

pub mod actions;
pub mod argocd;
pub mod bootstrap;
pub mod cli;
pub mod config;
pub mod dag;
pub mod embedded;
pub mod health;
pub mod input;
pub mod k8s;
pub mod memory;
pub mod observe;
pub mod orchestrate;
pub mod outcome;
pub mod redact;
pub mod report;
pub mod script;
pub mod workflow;

use std::io::Write as _;

use cli::{Cli, Command};
use outcome::Outcome;

/// Runs one command line and returns its outcome.
pub fn run(cli: Cli) -> Outcome {
    match cli.command {
        Command::Deploy => actions::run(config::Action::Deploy, &cli.global),
        Command::Validate => actions::run(config::Action::Validate, &cli.global),
        Command::Teardown => actions::run(config::Action::Teardown, &cli.global),
        Command::Plan(args) => {
            let printed = match args.format.graph_format() {
                Some(format) => {
                    config::load_plan(args.action, &cli.global).map(|plan| dag::render::render(&plan, format))
                }
                None => workflow::plan_text(args.action, &cli.global),
            };
            match printed {
                Ok(text) => print(&text),
                Err(problems) => {
                    let mut stderr = std::io::stderr().lock();
                    for problem in problems {
                        let _ = writeln!(stderr, "error: {}", redact::scrub(&problem.to_string()));
                    }
                    Outcome::Invalid
                }
            }
        }
        Command::Version => print(&version()),
        Command::Test(args) => {
            let config_dir = cli
                .global
                .os(&config::inputs::CONFIG_DIR.spec)
                .map(std::path::PathBuf::from)
                .filter(|p| p.exists())
                .unwrap_or_else(|| std::path::PathBuf::from("."));
            let mut stdout = std::io::stdout().lock();
            match script::testing::runner::run(&args.paths, &config_dir, &mut stdout) {
                Ok(totals) if totals.failed == 0 => Outcome::Succeeded,
                Ok(_) => Outcome::Failed,
                Err(message) => {
                    let _ = writeln!(std::io::stderr(), "error: {message}");
                    Outcome::Invalid
                }
            }
        }
        Command::Scripts(cli::ScriptsCommand::Docs { out, check }) => script::docs::write(&out, check),
    }
}

fn print(text: &str) -> Outcome {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => Outcome::Succeeded,
        Err(_) => Outcome::Failed,
    }
}

/// The text of `executor version`: the executor and what it bundles.
pub fn version() -> String {
    let mut out = format!("executor {}\n", env!("CARGO_PKG_VERSION"));
    if let Ok(lock) = bootstrap::lock::Lock::bundled() {
        for file in &lock.files {
            out.push_str(&format!(
                "{} {} (bootstrap bundle: {})\n",
                file.component.as_str(),
                file.version,
                file.name
            ));
        }
    }
    out.push_str(&format!("rhai {} (scripting)\n", env!("EXECUTOR_RHAI_VERSION")));
    out
}
