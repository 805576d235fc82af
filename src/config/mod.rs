//! Inputs → a validated [`Request`], or every problem with them.
//!
//! This is the "hi-args" layer: [`crate::cli`] holds what the operator typed;
//! this module checks all of it (environment variables, flags, mounted files,
//! the kubeconfig, the graph) before anything touches the cluster, and
//! collects every problem instead of stopping at the first.

pub mod alerting;
pub mod criteria;
pub mod environment;
pub mod kubeconfig;
pub mod secrets;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::cli::GlobalArgs;
use crate::input::{duration, input_file};
use crate::dag::{self, Plan, Scope, ValidGraph};
use crate::observe::log::{LogFormat, LogLevel};
use crate::observe::trace::TraceContext;
use crate::report::render::ReportFormat;

pub use environment::EnvironmentConfig;
pub use kubeconfig::ClusterAccess;
pub use crate::input::problem::{Problem, Problems, Source};
pub use secrets::Secrets;

/// `CONFIG_DIR` when not set.
pub const DEFAULT_CONFIG_DIR: &str = "/config";
/// `SECRETS_DIR` when not set.
pub const DEFAULT_SECRETS_DIR: &str = "/secrets";
/// `BUNDLE_DIR` when not set: where the image keeps the bootstrap bundle.
pub const DEFAULT_BUNDLE_DIR: &str = "/bundle";

/// `ENVIRONMENT`: the kind of environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// development
    Development,
    /// staging
    Staging,
    /// production
    Production,
}

impl FromStr for Tier {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "development" => Ok(Tier::Development),
            "staging" => Ok(Tier::Staging),
            "production" => Ok(Tier::Production),
            other => Err(format!(
                "`{other}` is not an environment; expected development, staging or production"
            )),
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tier::Development => "development",
            Tier::Staging => "staging",
            Tier::Production => "production",
        })
    }
}

/// `PV_POLICY`: what teardown does with persistent volumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PvPolicy {
    /// Keep PVCs and their volumes (the default).
    #[default]
    Retain,
    /// Delete PVCs so volumes are reclaimed per their class.
    Delete,
}

impl FromStr for PvPolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "retain" => Ok(PvPolicy::Retain),
            "delete" => Ok(PvPolicy::Delete),
            _ => Err(format!("`{text}` is not a volume policy; expected retain or delete")),
        }
    }
}

impl fmt::Display for PvPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PvPolicy::Retain => "retain",
            PvPolicy::Delete => "delete",
        })
    }
}

pub use crate::dag::Action;

/// `CONCURRENCY` when not given: writes and sync requests in flight at once.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// The largest `CONCURRENCY` accepted.
pub const MAX_CONCURRENCY: usize = 1000;

/// `ORCHESTRATION`: where the graph runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Orchestration {
    /// In this process (the default).
    #[default]
    Local,
    /// As one Argo Workflow in the cluster.
    Workflow,
}

impl FromStr for Orchestration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "local" => Ok(Orchestration::Local),
            "workflow" => Ok(Orchestration::Workflow),
            other => Err(format!(
                "`{other}` is not an orchestration engine; expected local or workflow"
            )),
        }
    }
}

impl fmt::Display for Orchestration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Orchestration::Local => "local",
            Orchestration::Workflow => "workflow",
        })
    }
}

/// The largest `API_QPS` or `API_BURST` accepted.
pub const MAX_API_RATE: u32 = 100_000;

fn parse_rate(text: &str) -> Result<std::num::NonZeroU32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if n <= MAX_API_RATE => std::num::NonZeroU32::new(n)
            .ok_or_else(|| format!("`{text}` is not a rate; expected a whole number from 1 to {MAX_API_RATE}")),
        _ => Err(format!(
            "`{text}` is not a rate; expected a whole number from 1 to {MAX_API_RATE}"
        )),
    }
}

fn parse_concurrency(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_CONCURRENCY).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{text}` is not a concurrency; expected a whole number from 1 to {MAX_CONCURRENCY}"
        )),
    }
}

/// An optional input: parsed when given (a problem naming `var` when it
/// does not parse), else `default`.
/// A wait that may be zero (`0`, `0s`: do not wait), else a duration.
fn parse_wait(text: &str) -> Result<Duration, String> {
    if text.trim().trim_end_matches('s') == "0" {
        return Ok(Duration::ZERO);
    }
    text.parse::<duration::Span>()
        .map(|span| span.0)
        .map_err(|e| format!("{e}, or 0 not to wait"))
}

fn parsed<T>(
    value: &Option<String>,
    var: &'static str,
    parse: impl Fn(&str) -> Result<T, String>,
    default: T,
    problems: &mut Problems,
) -> T {
    match given(value).map(parse) {
        Some(Ok(value)) => value,
        Some(Err(message)) => {
            problems.push(Problem::new(Source::Var(var), message));
            default
        }
        None => default,
    }
}

/// Settings needed before anything else (to log and to report), always
/// available: a bad value falls back to its default and is also a problem.
#[derive(Debug, Clone)]
pub struct OutputSettings {
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `LOG_LEVEL`.
    pub log_level: LogLevel,
    /// `REPORT_FORMAT`.
    pub report_format: ReportFormat,
    /// `REPORT_FILE`.
    pub report_file: Option<PathBuf>,
    /// Trace context from `TRACE_ID`/`SPAN_ID` (a new trace when unset or invalid).
    pub trace: TraceContext,
    /// `ENVIRONMENT`, when valid (recorded on every log line).
    pub tier: Option<Tier>,
    /// `TARGET_SCOPE` as given, for the report.
    pub scope_text: String,
    /// `DRY_RUN`, when valid.
    pub dry_run: bool,
    /// Where metrics go.
    pub metrics: MetricsSettings,
    /// `ALERTMANAGER_URL` and its credentials: where a failed run's alert goes.
    pub alerting: Option<alerting::AlertSettings>,
    /// Where traces go (`None`: traces off).
    pub otel: Option<crate::observe::otel::OtelSettings>,
}

/// `METRICS_FILE`, `PUSHGATEWAY_URL`, `METRICS_ADDR`.
#[derive(Debug, Clone, Default)]
pub struct MetricsSettings {
    /// Write the exposition here at the end (textfile collector).
    pub file: Option<PathBuf>,
    /// Push it here at the end.
    pub pushgateway: Option<String>,
    /// Serve `/metrics` here during the run.
    pub addr: Option<std::net::SocketAddr>,
}

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Request {
    /// The action.
    pub action: Action,
    /// `ENVIRONMENT`.
    pub tier: Tier,
    /// environment.yaml.
    pub environment: EnvironmentConfig,
    /// `TARGET_SCOPE`.
    pub scope: Scope,
    /// `DRY_RUN`.
    pub dry_run: bool,
    /// The kubeconfig.
    pub cluster: ClusterAccess,
    /// Files of `SECRETS_DIR`.
    pub secrets: Secrets,
    /// The validated graph.
    pub graph: ValidGraph,
    /// The plan of this action.
    pub plan: Plan,
    /// `ACTION_TIMEOUT`.
    pub action_timeout: Option<Duration>,
    /// `LOCK_TIMEOUT` (zero: do not wait).
    pub lock_timeout: Duration,
    /// `PV_POLICY`.
    pub pv_policy: PvPolicy,
    /// `CONFIG_DIR`.
    pub config_dir: PathBuf,
    /// `BUNDLE_DIR`.
    pub bundle_dir: PathBuf,
    /// `TEARDOWN_CRDS`.
    pub teardown_crds: bool,
    /// `EXECUTOR_IMAGE`.
    pub executor_image: String,
    /// Criticality of each application (`health-criteria.yaml`).
    pub critical: std::collections::BTreeMap<String, bool>,
    /// `ORCHESTRATION` (always local for a task).
    pub orchestration: Orchestration,
    /// `CONCURRENCY`.
    pub concurrency: usize,
    /// `API_QPS` and `API_BURST`: the client-side rate limit of API requests.
    pub api_rate: (std::num::NonZeroU32, std::num::NonZeroU32),
    /// `EXECUTOR_TASK`: one task of an orchestration Workflow.
    pub task: bool,
    /// `TEARDOWN_CONFIRM` as given (checked against the environment's name).
    pub teardown_confirm: Option<String>,
}

/// The image the workflow templates run when `EXECUTOR_IMAGE` is not set.
pub fn default_executor_image() -> String {
    format!("executor:{}", env!("CARGO_PKG_VERSION"))
}

/// A non-empty value of an optional input.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("`{text}` is not a boolean; expected true or false")),
    }
}

/// Reads the output settings, recording problems with them.
pub fn output_settings(args: &GlobalArgs, problems: &mut Problems) -> OutputSettings {
    let log_format = match given(&args.log_format).map(str::parse::<LogFormat>) {
        Some(Ok(format)) => format,
        Some(Err(message)) => {
            problems.push(Problem::new(Source::Var("LOG_FORMAT"), message));
            LogFormat::Json
        }
        None if crate::observe::log::stderr_is_terminal() => LogFormat::Text,
        None => LogFormat::Json,
    };
    let log_level = match given(&args.log_level).map(str::parse::<LogLevel>) {
        Some(Ok(level)) => level,
        Some(Err(message)) => {
            problems.push(Problem::new(Source::Var("LOG_LEVEL"), message));
            LogLevel(tracing::Level::INFO)
        }
        None => LogLevel(tracing::Level::INFO),
    };
    let report_format = match given(&args.report_format).map(str::parse::<ReportFormat>) {
        Some(Ok(format)) => format,
        Some(Err(message)) => {
            problems.push(Problem::new(Source::Var("REPORT_FORMAT"), message));
            ReportFormat::Json
        }
        None => ReportFormat::Json,
    };
    let trace = match TraceContext::from_inputs(args.trace_id.as_deref(), args.span_id.as_deref()) {
        Ok(trace) => trace,
        Err(error) => {
            let var = if args.trace_id.as_deref().is_some_and(|t| !t.trim().is_empty())
                && !matches!(error, crate::observe::trace::TraceError::SpanWithoutTrace)
                && TraceContext::from_inputs(args.trace_id.as_deref(), None).is_err()
            {
                "TRACE_ID"
            } else {
                "SPAN_ID"
            };
            problems.push(Problem::new(Source::Var(var), error.to_string()));
            TraceContext::from_inputs(None, None).unwrap_or_else(|_| TraceContext {
                trace_id: crate::observe::trace::random_hex(16),
                parent_span_id: None,
                span_id: crate::observe::trace::random_hex(8),
            })
        }
    };
    let tier = match given(&args.environment).map(str::parse::<Tier>) {
        Some(Ok(tier)) => Some(tier),
        Some(Err(message)) => {
            problems.push(Problem::new(Source::Var("ENVIRONMENT"), message));
            None
        }
        None => None,
    };
    let dry_run = match given(&args.dry_run).map(parse_bool) {
        Some(Ok(value)) => value,
        Some(Err(message)) => {
            problems.push(Problem::new(Source::Var("DRY_RUN"), message));
            false
        }
        None => false,
    };
    let metrics = MetricsSettings {
        file: args.metrics_file.clone().filter(|p| !p.as_os_str().is_empty()),
        pushgateway: match given(&args.pushgateway_url) {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => Some(url.to_owned()),
            Some(url) => {
                problems.push(Problem::new(
                    Source::Var("PUSHGATEWAY_URL"),
                    format!("`{url}` is not a URL; expected http://host:9091 or https://..."),
                ));
                None
            }
            None => None,
        },
        addr: match given(&args.metrics_addr).map(str::parse::<std::net::SocketAddr>) {
            Some(Ok(addr)) => Some(addr),
            Some(Err(_)) => {
                problems.push(Problem::new(
                    Source::Var("METRICS_ADDR"),
                    format!(
                        "`{}` is not an address; expected host:port such as 0.0.0.0:9464",
                        given(&args.metrics_addr).unwrap_or_default()
                    ),
                ));
                None
            }
            None => None,
        },
    };
    // The destinations are checked before the run, not after it: a report
    // that cannot be written goes to stdout instead, and the run stops here.
    let mut report_file = args.report_file.clone().filter(|p| !p.as_os_str().is_empty());
    if let Some(path) = &report_file
        && let Err(why) = writable_destination(path)
    {
        problems.push(Problem::new(Source::Var("REPORT_FILE"), why));
        report_file = None;
    }
    if let Some(path) = &metrics.file
        && let Err(why) = writable_destination(path)
    {
        problems.push(Problem::new(Source::Var("METRICS_FILE"), why));
    }
    let alerting = alerting::load(
        given(&args.alertmanager_url),
        given(&args.run_url),
        &dir_or(&args.secrets_dir, DEFAULT_SECRETS_DIR),
        given(&args.task).and_then(|t| parse_bool(t).ok()).unwrap_or(false),
        problems,
    );
    let secrets_dir = dir_or(&args.secrets_dir, DEFAULT_SECRETS_DIR);
    let headers_file: Option<String> = args
        .otel_exporter_otlp_headers
        .is_none()
        .then(|| {
            let path = secrets_dir.join(crate::observe::otel::HEADERS_FILE);
            input_file::read_text(&path, input_file::MAX_SECRET, Some(&secrets_dir)).ok()
        })
        .flatten();
    let otel = match crate::observe::otel::settings(&crate::observe::otel::OtelInputs {
        endpoint: args.otel_exporter_otlp_endpoint.as_deref(),
        traces_endpoint: args.otel_exporter_otlp_traces_endpoint.as_deref(),
        headers: args.otel_exporter_otlp_headers.as_deref().or(headers_file.as_deref()),
        service_name: args.otel_service_name.as_deref(),
        resource_attributes: args.otel_resource_attributes.as_deref(),
    }) {
        Ok(otel) => otel,
        Err(found) => {
            for (var, why) in found {
                problems.push(Problem::new(Source::Var(var), why));
            }
            None
        }
    };
    OutputSettings {
        metrics,
        alerting,
        otel,
        log_format,
        log_level,
        report_format,
        report_file,
        trace,
        tier,
        scope_text: given(&args.target_scope).unwrap_or("platform").to_owned(),
        dry_run,
    }
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

/// The directories of a run, with their defaults.
pub fn config_dir(args: &GlobalArgs) -> PathBuf {
    dir_or(&args.config_dir, DEFAULT_CONFIG_DIR)
}

fn dir_or(value: &Option<PathBuf>, default: &str) -> PathBuf {
    value
        .clone()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from(default))
}

fn scope(args: &GlobalArgs, problems: &mut Problems) -> Scope {
    match given(&args.target_scope).map(str::parse::<Scope>) {
        Some(Ok(scope)) => scope,
        Some(Err(message)) => {
            problems.push(Problem::new(Source::Var("TARGET_SCOPE"), message));
            Scope::Platform
        }
        None => Scope::Platform,
    }
}

/// Loads the graph and computes the plan for `executor plan`: needs no
/// cluster credentials; environment.yaml is read only if present (for its
/// default timeouts).
///
/// # Errors
/// Every problem with the scope, environment.yaml or the graph.
pub fn load_plan(action: Action, args: &GlobalArgs) -> Result<Plan, Vec<Problem>> {
    let mut problems = Problems::default();
    let config_dir = config_dir(args);
    let scope = scope(args, &mut problems);
    let env_path = config_dir.join("environment.yaml");
    let timeouts = if env_path.exists() {
        match environment::load(&env_path) {
            Ok(env) => env.timeouts,
            Err(more) => {
                problems.extend(more);
                environment::Timeouts::default()
            }
        }
    } else {
        environment::Timeouts::default()
    };
    let graph = match dag::load(&config_dir) {
        Ok(graph) => Some(graph),
        Err(more) => {
            problems.extend(more);
            None
        }
    };
    let plan = graph.and_then(|g| problems.take(dag::plan::build(&g, action, &scope, timeouts)));
    match plan {
        Some(plan) if problems.is_empty() => Ok(plan),
        _ => Err(problems.into_vec()),
    }
}

/// Validates every input of an action.
///
/// # Errors
/// Every problem found, in a stable order (variables, then files).
pub fn load(action: Action, args: &GlobalArgs, output: &OutputSettings) -> Result<Request, Vec<Problem>> {
    let mut problems = Problems::default();
    let config_dir = config_dir(args);
    let secrets_dir = dir_or(&args.secrets_dir, DEFAULT_SECRETS_DIR);
    let bundle_dir = dir_or(&args.bundle_dir, DEFAULT_BUNDLE_DIR);

    if given(&args.environment).is_none() {
        problems.push(Problem::new(
            Source::Var("ENVIRONMENT"),
            "not set; expected development, staging or production",
        ));
    }
    let scope = scope(args, &mut problems);
    let action_timeout = match given(&args.action_timeout).map(str::parse::<duration::Span>) {
        Some(Ok(span)) => Some(span.0),
        Some(Err(error)) => {
            problems.push(Problem::new(Source::Var("ACTION_TIMEOUT"), error.to_string()));
            None
        }
        None => None,
    };
    let lock_timeout = parsed(
        &args.lock_timeout,
        "LOCK_TIMEOUT",
        parse_wait,
        Duration::ZERO,
        &mut problems,
    );
    let pv_policy = match given(&args.pv_policy).map(str::parse::<PvPolicy>) {
        Some(Ok(policy)) => policy,
        Some(Err(message)) => {
            problems.push(Problem::new(Source::Var("PV_POLICY"), message));
            PvPolicy::Retain
        }
        None => PvPolicy::Retain,
    };
    let teardown_crds = parsed(&args.teardown_crds, "TEARDOWN_CRDS", parse_bool, false, &mut problems);
    let orchestration = parsed(
        &args.orchestration,
        "ORCHESTRATION",
        str::parse,
        Orchestration::Local,
        &mut problems,
    );
    let concurrency = parsed(
        &args.concurrency,
        "CONCURRENCY",
        parse_concurrency,
        DEFAULT_CONCURRENCY,
        &mut problems,
    );
    let mut rate = |value: &Option<String>, var, default| {
        parsed(
            value,
            var,
            parse_rate,
            std::num::NonZeroU32::new(default).unwrap_or(std::num::NonZeroU32::MIN),
            &mut problems,
        )
    };
    let api_rate = (
        rate(&args.api_qps, "API_QPS", crate::k8s::throttle::DEFAULT_QPS),
        rate(&args.api_burst, "API_BURST", crate::k8s::throttle::DEFAULT_BURST),
    );
    let task = parsed(&args.task, "EXECUTOR_TASK", parse_bool, false, &mut problems);
    if task && !matches!(scope, Scope::App(_)) {
        problems.push(Problem::new(
            Source::Var("EXECUTOR_TASK"),
            format!("a task runs one application: TARGET_SCOPE must be app:<name>, not {scope}"),
        ));
    }
    let cluster = problems.take(kubeconfig::load(kubeconfig::KubeconfigInput {
        data: given(&args.kubeconfig_data),
        path: args.kubeconfig_path.as_deref().filter(|p| !p.as_os_str().is_empty()),
    }));
    let environment = match environment::load(&config_dir.join("environment.yaml")) {
        Ok(env) => Some(env),
        Err(more) => {
            problems.extend(more);
            None
        }
    };
    let secrets = match Secrets::load(&secrets_dir) {
        Ok(secrets) => Some(secrets),
        Err(more) => {
            problems.extend(more);
            None
        }
    };
    let graph = match dag::load(&config_dir) {
        Ok(graph) => Some(graph),
        Err(more) => {
            problems.extend(more);
            None
        }
    };
    let critical = match &graph {
        Some(graph) => match criteria::load(&config_dir, graph) {
            Ok(critical) => Some(critical),
            Err(more) => {
                problems.extend(more);
                None
            }
        },
        None => None,
    };
    let plan = match (&graph, &environment) {
        (Some(graph), Some(env)) => problems.take(dag::plan::build(graph, action, &scope, env.timeouts)),
        (Some(graph), None) => {
            // Still check the scope against the graph so its problem is reported too.
            let _ = problems.take(dag::plan::build(
                graph,
                action,
                &scope,
                environment::Timeouts::default(),
            ));
            None
        }
        _ => None,
    };
    // A task runs its one node; the Workflow ran its dependencies.
    let plan = plan.map(|mut plan| {
        if task {
            plan.nodes.retain(|n| n.role == dag::plan::Role::Target);
        }
        plan
    });
    if action == Action::Teardown
        && !output.dry_run
        && let Some(env) = &environment
    {
        confirm_teardown(args, env, &mut problems);
    }

    match (output.tier, environment, cluster, secrets, graph, plan) {
        (Some(tier), Some(environment), Some(cluster), Some(secrets), Some(graph), Some(plan))
            if problems.is_empty() =>
        {
            Ok(Request {
                action,
                tier,
                environment,
                scope,
                dry_run: output.dry_run,
                cluster,
                secrets,
                graph,
                plan,
                action_timeout,
                lock_timeout,
                pv_policy,
                config_dir,
                bundle_dir,
                teardown_crds,
                executor_image: given(&args.executor_image).map_or_else(default_executor_image, str::to_owned),
                critical: critical.unwrap_or_default(),
                orchestration: if task { Orchestration::Local } else { orchestration },
                concurrency,
                api_rate,
                task,
                teardown_confirm: given(&args.teardown_confirm).map(str::to_owned),
            })
        }
        _ => Err(problems.into_vec()),
    }
}

fn confirm_teardown(args: &GlobalArgs, env: &EnvironmentConfig, problems: &mut Problems) {
    match given(&args.teardown_confirm) {
        Some(token) if token == env.name => {}
        Some(_) => problems.push(Problem::new(
            Source::Var("TEARDOWN_CONFIRM"),
            format!(
                "does not match the environment's name; to remove the platform set TEARDOWN_CONFIRM={}",
                env.name
            ),
        )),
        None => problems.push(Problem::new(
            Source::Var("TEARDOWN_CONFIRM"),
            format!(
                "teardown removes the platform and needs explicit confirmation: set TEARDOWN_CONFIRM to the environment's name ({})",
                env.name
            ),
        )),
    }
}
