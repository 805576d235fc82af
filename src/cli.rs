//! The command line: raw flags, each with its environment variable.
//!
//! Everything here is as the operator typed it (strings, mostly); turning it
//! into validated settings is the job of [`crate::config`], so that a bad
//! value becomes a clear input problem (exit 3) and a report, not a clap
//! usage error. Flags win over environment variables. The shared flags are
//! built from the table of variables ([`crate::config::inputs`]), so their
//! names, variables and help cannot drift from the reference.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Args, FromArgMatches, Parser, Subcommand, value_parser};

use crate::config::inputs::INPUTS;
use crate::config::variable::{Kind, Spec, Values};

use crate::dag::Action;
use crate::dag::render::PlanFormat;

/// Deploys, validates and tears down the platform through Argo CD,
/// following its dependency graph.
#[derive(Debug, Parser)]
#[command(name = "executor", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Options shared by every command (each also read from its variable).
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// The actions and tools of the executor.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Take the cluster from its current state to the platform in scope, healthy.
    Deploy,
    /// Check health and compliance of the platform in scope; changes nothing.
    Validate,
    /// Remove the platform in scope, dependents first (needs TEARDOWN_CONFIRM).
    Teardown,
    /// Print the plan of an action and exit; touches no cluster.
    Plan(PlanArgs),
    /// Print the version of the executor and of what it bundles.
    Version,
    /// Run Rhai script tests (`*.test.rhai`) against a fake cluster; without
    /// paths, the bundled scripts' own tests.
    Test(TestArgs),
    /// Tools for script authors.
    #[command(subcommand)]
    Scripts(ScriptsCommand),
}

/// Options of `executor test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Test files or directories (searched for `*.test.rhai`).
    pub paths: Vec<PathBuf>,
}

/// `executor scripts ...`
#[derive(Debug, Subcommand)]
pub enum ScriptsCommand {
    /// Write the primitive reference (generated from the engine's metadata).
    Docs {
        /// Where to write it.
        #[arg(long, default_value = "docs/scripting-api.md")]
        out: PathBuf,
        /// Do not write: fail if the file differs from what would be written.
        #[arg(long)]
        check: bool,
    },
}

/// Options of `executor plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: PlanOutput,
    /// The action to plan.
    #[arg(long = "for", value_enum, default_value = "deploy")]
    pub action: Action,
}

/// `executor plan --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanOutput {
    /// A table, one line per application in execution order.
    Text,
    /// The plan as JSON.
    Json,
    /// A Mermaid flowchart.
    Mermaid,
    /// A Graphviz digraph.
    Dot,
    /// The Argo Workflow ORCHESTRATION=workflow would submit (YAML).
    Workflow,
}

impl PlanOutput {
    /// The graph format, for every output but `workflow`.
    pub fn graph_format(self) -> Option<PlanFormat> {
        match self {
            PlanOutput::Text => Some(PlanFormat::Text),
            PlanOutput::Json => Some(PlanFormat::Json),
            PlanOutput::Mermaid => Some(PlanFormat::Mermaid),
            PlanOutput::Dot => Some(PlanFormat::Dot),
            PlanOutput::Workflow => None,
        }
    }
}

/// `--for`: the action whose plan `executor plan` prints.
impl clap::ValueEnum for Action {
    fn value_variants<'a>() -> &'a [Self] {
        &[Action::Deploy, Action::Validate, Action::Teardown]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let help = match self {
            Action::Deploy => "Deploy order",
            Action::Validate => "Validate (same nodes as deploy)",
            Action::Teardown => "Teardown order (reverse)",
        };
        Some(clap::builder::PossibleValue::new(self.name()).help(help))
    }
}

/// Options shared by every command: the values of the table's variables
/// ([`crate::config::inputs`]), each a flag that is also read from its
/// environment variable. The clap arguments are built from the table.
pub type GlobalArgs = Values;

/// The table's variables as clap arguments, in its order.
impl Args for Values {
    fn augment_args(command: clap::Command) -> clap::Command {
        command.args(INPUTS.iter().map(|input| argument(input.spec())))
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

/// One variable as a global flag with its environment variable.
fn argument(spec: &Spec) -> Arg {
    let arg = Arg::new(spec.env)
        .long(spec.flag)
        .env(spec.env)
        .global(true)
        .required(false)
        .value_name(spec.value_name)
        .help(spec.help)
        .hide_env_values(spec.secret)
        .hide(spec.hidden)
        .action(ArgAction::Set);
    match spec.kind {
        Kind::Text => arg.value_parser(value_parser!(String)),
        Kind::Path => arg.value_parser(value_parser!(PathBuf)),
        Kind::Switch => arg
            .value_parser(value_parser!(String))
            .num_args(0..=1)
            .default_missing_value("true"),
    }
}

impl FromArgMatches for Values {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut values = Values::default();
        for input in INPUTS {
            let spec = input.spec();
            let given = match spec.kind {
                Kind::Path => matches
                    .try_get_one::<PathBuf>(spec.env)
                    .map(|path| path.map(|path| path.clone().into_os_string())),
                Kind::Text | Kind::Switch => matches
                    .try_get_one::<String>(spec.env)
                    .map(|text| text.map(OsString::from)),
            };
            match given {
                Ok(Some(value)) => values.set(spec, value),
                Ok(None) => {}
                Err(error) => return Err(clap::Error::raw(clap::error::ErrorKind::InvalidValue, error)),
            }
        }
        Ok(values)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        let given = Self::from_arg_matches(matches)?;
        for input in INPUTS {
            let spec = input.spec();
            if let Some(value) = given.os(spec) {
                self.set(spec, value.to_owned());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;
    use crate::config::inputs::{KUBECONFIG_DATA, OTEL_EXPORTER_OTLP_HEADERS};

    /// `--help` is part of the interface: every variable of the table, its
    /// flag and its help, in the table's order (values from the
    /// environment left out, so the snapshot does not depend on it).
    #[test]
    fn help_lists_the_table() {
        let help = Cli::command()
            .term_width(100)
            .mut_args(|arg| arg.hide_env_values(true))
            .render_help()
            .to_string();
        insta::assert_snapshot!(help);
    }

    /// Secrets never show their value from the environment in `--help`.
    #[test]
    fn secrets_hide_their_values() {
        let command = Cli::command();
        let hidden: Vec<&str> = command
            .get_arguments()
            .filter(|arg| arg.is_hide_env_values_set())
            .map(|arg| arg.get_id().as_str())
            .collect();
        assert_eq!(hidden, [KUBECONFIG_DATA.spec.env, OTEL_EXPORTER_OTLP_HEADERS.spec.env]);
    }

    /// Flags and variables land in the same values the configuration reads.
    #[test]
    fn flags_fill_the_values() {
        let cli = Cli::try_parse_from([
            "executor",
            "deploy",
            "--dry-run",
            "--config-dir",
            "/x",
            "--log-level=debug",
        ])
        .unwrap();
        let values = &cli.global;
        assert_eq!(values.text(&crate::config::inputs::DRY_RUN.spec), Some("true"));
        assert_eq!(
            values.path(&crate::config::inputs::CONFIG_DIR),
            Some(PathBuf::from("/x"))
        );
        assert_eq!(values.text(&crate::config::inputs::LOG_LEVEL.spec), Some("debug"));
    }
}
