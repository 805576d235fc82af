//! The command line: raw flags, each with its environment variable.
//!
//! Everything here is as the operator typed it (strings, mostly); turning it
//! into validated settings is the job of [`crate::config`], so that a bad
//! value becomes a clear input problem (exit 3) and a report, not a clap
//! usage error. Flags win over environment variables.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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

/// Options shared by every command.
#[derive(Debug, Args, Default)]
pub struct GlobalArgs {
    /// Base64-encoded kubeconfig (one of this or --kubeconfig-path).
    #[arg(
        long,
        env = "KUBECONFIG_DATA",
        hide_env_values = true,
        global = true,
        value_name = "BASE64"
    )]
    pub kubeconfig_data: Option<String>,
    /// Path to a mounted kubeconfig file.
    #[arg(long, env = "KUBECONFIG_PATH", global = true, value_name = "FILE")]
    pub kubeconfig_path: Option<PathBuf>,
    /// Target environment: development, staging or production.
    #[arg(long, env = "ENVIRONMENT", global = true)]
    pub environment: Option<String>,
    /// What to act on: platform (default), stack:NAME or app:NAME.
    #[arg(long, env = "TARGET_SCOPE", global = true, value_name = "SCOPE")]
    pub target_scope: Option<String>,
    /// Go up to the point of change, report what would change, change nothing.
    #[arg(long, env = "DRY_RUN", global = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub dry_run: Option<String>,
    /// Log verbosity: debug, info, warn or error.
    #[arg(long, env = "LOG_LEVEL", global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log format: text or json (default: text on a terminal, json otherwise).
    #[arg(long, env = "LOG_FORMAT", global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Directory holding environment.yaml, dag.yaml and script overrides.
    #[arg(long, env = "CONFIG_DIR", global = true, value_name = "DIR")]
    pub config_dir: Option<PathBuf>,
    /// Directory holding credential files.
    #[arg(long, env = "SECRETS_DIR", global = true, value_name = "DIR")]
    pub secrets_dir: Option<PathBuf>,
    /// Directory holding the bootstrap bundle's upstream manifests.
    #[arg(long, env = "BUNDLE_DIR", global = true, value_name = "DIR")]
    pub bundle_dir: Option<PathBuf>,
    /// Write the report to this file instead of stdout.
    #[arg(long, env = "REPORT_FILE", global = true, value_name = "FILE")]
    pub report_file: Option<PathBuf>,
    /// Report format: json (default), yaml, text, junit, markdown or html.
    #[arg(long, env = "REPORT_FORMAT", global = true, value_name = "FORMAT")]
    pub report_format: Option<String>,
    /// Overall deadline of the action, e.g. 30m.
    #[arg(long, env = "ACTION_TIMEOUT", global = true, value_name = "DURATION")]
    pub action_timeout: Option<String>,
    /// How long deploy and teardown wait for another run's lock on the
    /// environment (default 0: fail at once), e.g. 10m.
    #[arg(long, env = "LOCK_TIMEOUT", global = true, value_name = "DURATION")]
    pub lock_timeout: Option<String>,
    /// Teardown confirmation: must equal the environment's name.
    #[arg(long, env = "TEARDOWN_CONFIRM", global = true, value_name = "NAME")]
    pub teardown_confirm: Option<String>,
    /// Whether teardown also removes the bootstrap CRDs (default false: they
    /// may serve others).
    #[arg(long, env = "TEARDOWN_CRDS", global = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub teardown_crds: Option<String>,
    /// Image the Argo Workflows templates run (default: this executor's image name).
    #[arg(long, env = "EXECUTOR_IMAGE", global = true, value_name = "IMAGE")]
    pub executor_image: Option<String>,
    /// Where the graph runs: local (default: this process) or workflow (one
    /// Argo Workflow in the cluster, each task this image scoped to one node).
    #[arg(long, env = "ORCHESTRATION", global = true, value_name = "ENGINE")]
    pub orchestration: Option<String>,
    /// Writes and sync requests in flight at once (default 16, 1-1000).
    #[arg(long, env = "CONCURRENCY", global = true, value_name = "N")]
    pub concurrency: Option<String>,
    /// API requests per second, all callers together (default 200).
    #[arg(long, env = "API_QPS", global = true, value_name = "N")]
    pub api_qps: Option<String>,
    /// API requests that may go at once after a quiet spell (default 400).
    #[arg(long, env = "API_BURST", global = true, value_name = "N")]
    pub api_burst: Option<String>,
    /// Run as one task of an orchestration Workflow: only the node of
    /// TARGET_SCOPE=app:NAME, its dependencies left to the Workflow.
    #[arg(long, env = "EXECUTOR_TASK", global = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", hide = true)]
    pub task: Option<String>,
    /// What teardown does with volumes: retain (default) or delete.
    #[arg(long, env = "PV_POLICY", global = true, value_name = "POLICY")]
    pub pv_policy: Option<String>,
    /// Write the metrics (Prometheus text format) to this file at the end.
    #[arg(long, env = "METRICS_FILE", global = true, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
    /// Push the metrics to this Pushgateway at the end.
    #[arg(long, env = "PUSHGATEWAY_URL", global = true, value_name = "URL")]
    pub pushgateway_url: Option<String>,
    /// Serve /metrics on this address while the run lasts.
    #[arg(long, env = "METRICS_ADDR", global = true, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,
    /// Post an alert to this Alertmanager when the run fails; resolve it
    /// when it succeeds (credentials: $SECRETS_DIR/alertmanager-*).
    #[arg(long, env = "ALERTMANAGER_URL", global = true, value_name = "URL")]
    pub alertmanager_url: Option<String>,
    /// This run's page (e.g. the CI job's URL), linked from its alert.
    #[arg(long, env = "RUN_URL", global = true, value_name = "URL")]
    pub run_url: Option<String>,
    /// Parent trace id (W3C, 32 hex digits).
    #[arg(long, env = "TRACE_ID", global = true, value_name = "HEX")]
    pub trace_id: Option<String>,
    /// Parent span id (W3C, 16 hex digits).
    #[arg(long, env = "SPAN_ID", global = true, value_name = "HEX")]
    pub span_id: Option<String>,
    /// Send the run's spans over OTLP/HTTP to this collector (`/v1/traces` appended).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true, value_name = "URL")]
    pub otel_exporter_otlp_endpoint: Option<String>,
    /// Send the run's spans to exactly this OTLP/HTTP URL (wins over the endpoint).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", global = true, value_name = "URL")]
    pub otel_exporter_otlp_traces_endpoint: Option<String>,
    /// Headers of the OTLP requests, `key=value,...` (secret: never logged).
    #[arg(
        long,
        env = "OTEL_EXPORTER_OTLP_HEADERS",
        global = true,
        value_name = "HEADERS",
        hide_env_values = true
    )]
    pub otel_exporter_otlp_headers: Option<String>,
    /// The traces' service name (default executor).
    #[arg(long, env = "OTEL_SERVICE_NAME", global = true, value_name = "NAME")]
    pub otel_service_name: Option<String>,
    /// More resource attributes of the traces, `key=value,...`.
    #[arg(long, env = "OTEL_RESOURCE_ATTRIBUTES", global = true, value_name = "PAIRS")]
    pub otel_resource_attributes: Option<String>,
}
